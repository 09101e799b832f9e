//===- ConvertMatMulNBits.cpp - ONNX Runtime's 4-bit products as lowbit's ---===//
//
// Implements `lowbit-convert-matmul-nbits` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "Quantize.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"

namespace lowbit {
#define GEN_PASS_DEF_CONVERTMATMULNBITSPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
/// Unsigned field `index` of `bits` bits in `bytes` (fields packed from
/// the low bits of each byte up, as ONNX Runtime packs them).
unsigned field(ArrayRef<uint8_t> bytes, int64_t index, int64_t bits) {
  int64_t bit = index * bits;
  return (bytes[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
}

struct ConvertMatMulNBitsPass : lowbit::impl::ConvertMatMulNBitsPassBase<ConvertMatMulNBitsPass> {
  using ConvertMatMulNBitsPassBase::ConvertMatMulNBitsPassBase;

  /// Replaces `op` by lowbit.quantized_matmul (and an onnx.Add of the bias).
  LogicalResult convert(onnx::MatMulNBitsOp op) {
    int64_t k = op.getK(), n = op.getN(), bits = op.getBits(), block = op.getBlockSize();
    int64_t groups = (k + block - 1) / block, blob = block * bits / 8;
    int64_t half = int64_t(1) << (bits - 1);
    // The ONNX node's name (the importer's location), for messages and keys.
    std::string name;
    if (auto loc = dyn_cast<NameLoc>(op.getLoc()))
      name = loc.getName().str();
    std::string node = name.empty() ? "" : "node '" + name + "': ";
    auto fail = [&](const Twine &why) -> LogicalResult {
      return op.emitError() << "lowbit-convert-matmul-nbits: " << node << why;
    };
    if (!elementTypeIsF32(op.getA()) || !elementTypeIsF32(op.getScales()))
      return fail("A and scales must be f32 (lowbit runs f32 models)");
    FailureOr<std::vector<uint8_t>> packed = quant::constantBytes(op.getB());
    if (failed(packed) || int64_t(packed->size()) != n * groups * blob)
      return fail("B must be a constant ui8 tensor of N * ceil(K / block_size) * block_size * "
                  "bits / 8 bytes");
    ElementsAttr scalesAttr;
    std::vector<float> scales;
    if (!matchPattern(op.getScales(), m_Constant(&scalesAttr)) ||
        !quant::readFloats(scalesAttr, scales) || int64_t(scales.size()) != n * groups)
      return fail("scales must be a constant of N * ceil(K / block_size) f32 values");
    if (Value gIdx = op.getGIdx()) {
      // Act-order models permute the rows of W by block; the identity
      // order (row k in block k / block_size) is the plain layout.
      std::optional<SmallVector<int64_t>> order = onnx::getConstantIntValues(gIdx);
      bool plain = order && int64_t(order->size()) == k;
      for (int64_t row = 0; plain && row < k; ++row)
        plain = (*order)[row] == row / block;
      if (!plain)
        return fail("g_idx (act-order block indices) other than row / block_size is not "
                    "supported");
    }
    std::vector<int8_t> zeros;
    if (Value zeroPoints = op.getZeroPoints()) {
      FailureOr<std::vector<uint8_t>> zp = quant::constantBytes(zeroPoints);
      int64_t rowBytes = (groups * bits + 7) / 8;
      if (failed(zp) || int64_t(zp->size()) != n * rowBytes)
        return fail("zero_points must be a constant ui8 tensor of N * ceil(ceil(K / "
                    "block_size) * bits / 8) bytes (float zero points are not supported)");
      zeros.resize(n * groups);
      bool symmetric = true;
      for (int64_t c = 0; c < n; ++c)
        for (int64_t g = 0; g < groups; ++g) {
          auto row = ArrayRef<uint8_t>(*zp).slice(c * rowBytes, rowBytes);
          zeros[c * groups + g] = int8_t(int64_t(field(row, g, bits)) - half);
          symmetric &= zeros[c * groups + g] == 0;
        }
      if (symmetric) // every zero point the default: lowbit's symmetric form
        zeros.clear();
    }
    std::vector<int8_t> levels(n * k);
    for (int64_t c = 0; c < n; ++c)
      for (int64_t g = 0; g < groups; ++g) {
        auto bytes = ArrayRef<uint8_t>(*packed).slice((c * groups + g) * blob, blob);
        for (int64_t i = 0; i < block && g * block + i < k; ++i)
          levels[c * k + g * block + i] = int8_t(int64_t(field(bytes, i, bits)) - half);
      }

    OpBuilder b(op);
    Location loc = op.getLoc();
    quant::QuantizedWeight weight{
        n, k, groups, std::move(levels), std::move(scales), std::move(zeros)};
    quant::QuantizedConstants constants = quant::makeQuantizedConstants(
        b, loc, weight, bits, name.empty() ? "matmul_nbits" + std::to_string(converted) : name);
    // ONNX Runtime's accuracy level 4 is its int8 compute.
    bool int8 = activations == "int8" || (activations == "as-model" && op.getAccuracyLevel() == 4);
    Type resultType = op.getY().getType();
    Value result = QuantizedMatMulOp::create(
        b, loc, resultType, op.getA(), constants.levels, constants.scales, constants.zeros, Value(),
        Value(), b.getI64IntegerAttr(bits), b.getI64IntegerAttr(std::min(block, k)),
        int8 ? b.getI64IntegerAttr(8) : IntegerAttr(), FloatAttr());
    numInt8 += int8;
    if (Value bias = op.getBias())
      result = onnx::AddOp::create(b, loc, resultType, result, bias);
    op.getY().replaceAllUsesWith(result);
    quant::eraseWithUnusedInputs(op); // and the packed constants, now unused
    ++converted;
    return success();
  }

  static bool elementTypeIsF32(Value v) {
    auto type = dyn_cast<ShapedType>(v.getType());
    return type && type.getElementType().isF32();
  }

  void runOnOperation() override {
    if (activations != "as-model" && activations != "f32" && activations != "int8") {
      getOperation().emitError() << "lowbit-convert-matmul-nbits: activations must be as-model, "
                                    "f32 or int8, got '"
                                 << activations << "'";
      return signalPassFailure();
    }
    SmallVector<onnx::MatMulNBitsOp> ops;
    getOperation().walk([&](onnx::MatMulNBitsOp op) { ops.push_back(op); });
    bool ok = true;
    for (onnx::MatMulNBitsOp op : ops)
      ok &= succeeded(convert(op));
    if (!ok)
      return signalPassFailure();
    numConverted += converted;
  }

  int64_t converted = 0;
};
} // namespace
