//===- FoldQDQWeights.cpp - QDQ weights as lowbit.quantized_matmul ---------===//
//
// Implements `lowbit-fold-qdq-weights` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"

namespace lowbit {
#define GEN_PASS_DEF_FOLDQDQWEIGHTSPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// A constant 8- or 4-bit weight [K, N] and its dequantization, in
/// lowbit's form.
struct FoldedWeight {
  quant::QuantizedWeight weight;
  int64_t bits = 8, groupSize = 0;
};

/// `dequantize` in lowbit's form when it reads a constant 2-D 8- or 4-bit tensor
/// with one scale (per tensor), a scale per column (axis 1) or per block
/// of rows (axis 0 with block_size), from constant scales and zero points.
std::optional<FoldedWeight> foldable(onnx::DequantizeLinearOp dequantize) {
  auto type = dyn_cast<RankedTensorType>(dequantize.getX().getType());
  auto element = type ? dyn_cast<IntegerType>(type.getElementType()) : IntegerType();
  if (!type || type.getRank() != 2 || !type.hasStaticShape() || !element ||
      (element.getWidth() != 8 && element.getWidth() != 4) || dequantize.getOutputDtype())
    return std::nullopt;
  unsigned bits = element.getWidth();
  FailureOr<std::vector<uint8_t>> bytes = quant::constantBytes(dequantize.getX(), bits);
  ElementsAttr scaleAttr;
  std::vector<float> scale;
  if (failed(bytes) || !matchPattern(dequantize.getXScale(), m_Constant(&scaleAttr)) ||
      !quant::readFloats(scaleAttr, scale))
    return std::nullopt;
  std::vector<uint8_t> zeroBytes;
  if (Value zp = dequantize.getXZeroPoint()) {
    FailureOr<std::vector<uint8_t>> read = quant::constantBytes(zp, bits);
    if (failed(read) || read->size() != scale.size())
      return std::nullopt;
    zeroBytes = std::move(*read);
  }
  FoldedWeight folded;
  folded.bits = bits;
  quant::QuantizedWeight &w = folded.weight;
  w.k = type.getDimSize(0);
  w.n = type.getDimSize(1);
  int64_t axis = dequantize.getAxis() < 0 ? dequantize.getAxis() + 2 : dequantize.getAxis();
  int64_t block = dequantize.getBlockSize();
  // The scale of group g of column n is scale[g * groupStride + n *
  // columnStride]: per tensor, per column, or per block of rows.
  int64_t groupStride = 0, columnStride = 0;
  if (scale.size() == 1) {
    folded.groupSize = w.k;
  } else if (block == 0 && axis == 1 && int64_t(scale.size()) == w.n) {
    folded.groupSize = w.k;
    columnStride = 1;
  } else if (block > 0 && axis == 0 && int64_t(scale.size()) == (w.k + block - 1) / block * w.n) {
    folded.groupSize = std::min(block, w.k);
    groupStride = w.n;
    columnStride = 1;
  } else {
    return std::nullopt; // a scale per row of W (axis 0, no blocks): not group-wise
  }
  // Unsigned levels are lowbit's signed ones + 2^(bits-1); signed ones
  // come zero-extended from `bits` bits.
  int half = 1 << (bits - 1);
  auto level = [&](uint8_t value) {
    return int8_t(element.isUnsigned() ? int(value) - half
                  : int(value) >= half ? int(value) - 2 * half
                                       : int(value));
  };
  int64_t groups = w.groups = (w.k + folded.groupSize - 1) / folded.groupSize;
  w.levels.resize(w.n * w.k);
  w.scales.resize(w.n * groups);
  w.zeros.assign(zeroBytes.empty() ? 0 : w.n * groups, 0);
  bool symmetric = true;
  for (int64_t n = 0; n < w.n; ++n) {
    for (int64_t k = 0; k < w.k; ++k)
      w.levels[n * w.k + k] = level((*bytes)[k * w.n + n]);
    for (int64_t g = 0; g < groups; ++g) {
      int64_t i = g * groupStride + n * columnStride;
      w.scales[n * groups + g] = scale[i];
      if (!zeroBytes.empty()) {
        w.zeros[n * groups + g] = level(zeroBytes[i]);
        symmetric &= w.zeros[n * groups + g] == 0;
      }
    }
  }
  if (symmetric)
    w.zeros.clear();
  return folded;
}

struct FoldQDQWeightsPass : lowbit::impl::FoldQDQWeightsPassBase<FoldQDQWeightsPass> {
  void runOnOperation() override {
    SmallVector<onnx::DequantizeLinearOp> dequantizes;
    getOperation().walk([&](onnx::DequantizeLinearOp op) { dequantizes.push_back(op); });
    int64_t index = 0;
    for (onnx::DequantizeLinearOp dequantize : dequantizes) {
      SmallVector<onnx::MatMulOp> products;
      for (Operation *user : dequantize->getUsers())
        if (auto matmul = dyn_cast<onnx::MatMulOp>(user);
            matmul && matmul.getB() == dequantize.getY() && matmul.getA() != dequantize.getY())
          products.push_back(matmul);
      if (products.empty())
        continue;
      std::optional<FoldedWeight> w = foldable(dequantize);
      if (!w)
        continue;
      OpBuilder b(dequantize);
      Location loc = dequantize.getLoc();
      std::string key = "qdq_weight" + std::to_string(index++);
      if (auto name = dyn_cast<NameLoc>(loc))
        key = name.getName().str();
      // One set of constants for every product by this weight.
      quant::QuantizedConstants constants =
          quant::makeQuantizedConstants(b, loc, w->weight, w->bits, key);
      for (onnx::MatMulOp matmul : products) {
        auto input = dyn_cast<RankedTensorType>(matmul.getA().getType());
        if (!input || input.getRank() < 1 || !input.getElementType().isF32())
          continue;
        OpBuilder at(matmul);
        auto quantized = QuantizedMatMulOp::create(
            at, matmul.getLoc(), matmul.getResult().getType(), matmul.getA(), constants.levels,
            constants.scales, constants.zeros, Value(), Value(), at.getI64IntegerAttr(w->bits),
            at.getI64IntegerAttr(w->groupSize), IntegerAttr(), FloatAttr());
        matmul.getResult().replaceAllUsesWith(quantized.getResult());
        matmul.erase();
        ++numFolded;
      }
      if (dequantize->use_empty())
        quant::eraseWithUnusedInputs(dequantize);
    }
  }
};
} // namespace
