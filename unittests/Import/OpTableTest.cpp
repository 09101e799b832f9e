//===- OpTableTest.cpp - The importer's operator table --------------------===//

#include "lowbit/Import/OnnxImporter.h"

#include <gtest/gtest.h>

#include <set>

namespace {
TEST(SupportedOnnxOps, SortedUniqueWithAscendingVersions) {
  auto ops = lowbit::getSupportedOnnxOps();
  ASSERT_FALSE(ops.empty());
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto &op : ops) {
    EXPECT_TRUE(seen.insert({op.domain, op.name}).second) << op.name << " listed twice";
    ASSERT_FALSE(op.versions.empty()) << op.name;
    for (size_t i = 1; i < op.versions.size(); ++i)
      EXPECT_LT(op.versions[i - 1], op.versions[i]) << op.name;
    EXPECT_LE(op.versions.back(), 28) << op.name << " is newer than the newest known opset";
  }
}

TEST(SupportedOnnxOps, CoversTheTransformerOperators) {
  std::set<std::string> names;
  for (const auto &op : lowbit::getSupportedOnnxOps())
    names.insert(op.name);
  for (const char *name :
       {"MatMul", "Gemm", "LayerNormalization", "Softmax", "Gather", "Reshape", "Transpose",
        "Concat", "Split", "Slice", "Where", "Trilu", "QuantizeLinear", "DequantizeLinear",
        "MatMulInteger", "DynamicQuantizeLinear", "Range", "Expand", "ReduceMean"})
    EXPECT_TRUE(names.count(name)) << name;
}
} // namespace
