//===- TypeInferenceTest.cpp - onnx result-type inference ------------------===//
//
// The type lattice the importer and lowbit-infer-shapes rely on (compatible
// types and their meet), and inference through the C++ builder API.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace lowbit::onnx;

namespace {
class OnnxTypes : public ::testing::Test {
protected:
  OnnxTypes() : builder(&context) { context.loadDialect<OnnxDialect, func::FuncDialect>(); }

  Type tensor(ArrayRef<int64_t> shape, Type element = nullptr) {
    return RankedTensorType::get(shape, element ? element : builder.getF32Type());
  }
  Type unranked() { return UnrankedTensorType::get(builder.getF32Type()); }

  MLIRContext context;
  OpBuilder builder;
  static constexpr int64_t kDyn = ShapedType::kDynamic;
};

TEST_F(OnnxTypes, CompatibleWhereStaticSizesAgree) {
  EXPECT_TRUE(isCompatibleResultType(tensor({2, 3}), tensor({2, 3})));
  EXPECT_TRUE(isCompatibleResultType(tensor({2, 3}), tensor({kDyn, 3})));
  EXPECT_TRUE(isCompatibleResultType(tensor({kDyn, 3}), tensor({2, kDyn})));
  EXPECT_TRUE(isCompatibleResultType(tensor({2, 3}), unranked()));
  EXPECT_TRUE(isCompatibleResultType(unranked(), tensor({2, 3})));
}

TEST_F(OnnxTypes, IncompatibleSizesRanksOrElements) {
  EXPECT_FALSE(isCompatibleResultType(tensor({2, 3}), tensor({2, 4})));
  EXPECT_FALSE(isCompatibleResultType(tensor({2, 3}), tensor({2, 3, 1})));
  EXPECT_FALSE(isCompatibleResultType(tensor({2, 3}), tensor({2, 3}, builder.getF16Type())));
  EXPECT_FALSE(isCompatibleResultType(unranked(), tensor({2}, builder.getI64Type())));
}

TEST_F(OnnxTypes, MeetTakesTheStaticSizeOfEither) {
  EXPECT_EQ(meetTypes(tensor({kDyn, 3}), tensor({2, kDyn})), tensor({2, 3}));
  EXPECT_EQ(meetTypes(unranked(), tensor({kDyn, 3})), tensor({kDyn, 3}));
  EXPECT_EQ(meetTypes(tensor({kDyn, 3}), unranked()), tensor({kDyn, 3}));
  EXPECT_EQ(meetTypes(tensor({2, 3}), tensor({2, 4})), Type());
}

/// Builds `func @f(args) { op; return }` and returns the inferred types of
/// `build`'s op, or an empty vector when inference failed.
class OnnxInference : public OnnxTypes {
protected:
  template <typename BuildFn>
  SmallVector<Type> infer(ArrayRef<Type> args, BuildFn build) {
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
    auto func = func::FuncOp::create(builder, builder.getUnknownLoc(), "f",
                                     builder.getFunctionType(args, {}));
    Block *entry = func.addEntryBlock();
    builder.setInsertionPointToEnd(entry);
    Operation *op = build(entry->getArguments());
    SmallVector<Type> inferred;
    // Diagnostics are expected for the failing cases; keep them quiet.
    ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
    if (failed(cast<InferResultTypesOpInterface>(op).inferResultTypes(inferred)))
      return {};
    return inferred;
  }
  Value i64Constant(ArrayRef<int64_t> values) {
    auto type = RankedTensorType::get({int64_t(values.size())}, builder.getI64Type());
    return ConstantOp::create(builder, builder.getUnknownLoc(),
                              DenseIntElementsAttr::get(type, values));
  }
  OwningOpRef<ModuleOp> module;
};

TEST_F(OnnxInference, BroadcastDynamicAgainstStatic) {
  auto types = infer({tensor({kDyn, 1, 8}), tensor({4, 1})}, [&](ValueRange args) {
    return AddOp::create(builder, builder.getUnknownLoc(), unranked(), args[0], args[1])
        .getOperation();
  });
  ASSERT_EQ(types.size(), 1u);
  EXPECT_EQ(types[0], tensor({kDyn, 4, 8}));
}

TEST_F(OnnxInference, BroadcastMismatchFails) {
  auto types = infer({tensor({3}), tensor({4})}, [&](ValueRange args) {
    return MulOp::create(builder, builder.getUnknownLoc(), unranked(), args[0], args[1])
        .getOperation();
  });
  EXPECT_TRUE(types.empty());
}

TEST_F(OnnxInference, ReshapeWithCopyAndInferredSizes) {
  auto types = infer({tensor({kDyn, 6, 8})}, [&](ValueRange args) {
    Value shape = i64Constant({0, 3, -1});
    return ReshapeOp::create(builder, builder.getUnknownLoc(), unranked(), args[0], shape)
        .getOperation();
  });
  ASSERT_EQ(types.size(), 1u);
  // 0 copies the dynamic batch; -1 cannot be solved while it is dynamic.
  EXPECT_EQ(types[0], tensor({kDyn, 3, kDyn}));
}

TEST_F(OnnxInference, MatMulPromotesVectors) {
  auto types = infer({tensor({8}), tensor({2, 8, 5})}, [&](ValueRange args) {
    return MatMulOp::create(builder, builder.getUnknownLoc(), unranked(), args[0], args[1])
        .getOperation();
  });
  ASSERT_EQ(types.size(), 1u);
  EXPECT_EQ(types[0], tensor({2, 5}));
}

TEST_F(OnnxInference, SliceClampsLikeNumpy) {
  auto types = infer({tensor({10, 4})}, [&](ValueRange args) {
    Value starts = i64Constant({-3}), ends = i64Constant({INT64_MAX}), axes = i64Constant({0});
    return SliceOp::create(builder, builder.getUnknownLoc(), unranked(), args[0], starts, ends,
                           axes, Value())
        .getOperation();
  });
  ASSERT_EQ(types.size(), 1u);
  EXPECT_EQ(types[0], tensor({3, 4}));
}
} // namespace
