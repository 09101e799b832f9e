//===- Quantize.h - What the weight quantization passes share ---*- C++ -*-===//
//
// Finding linear layers, the quantization grid (GPTQ's convention), and
// replacing a layer by lowbit.quantized_matmul.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_DIALECT_LOWBIT_TRANSFORMS_QUANTIZE_H
#define LOWBIT_LIB_DIALECT_LOWBIT_TRANSFORMS_QUANTIZE_H

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <optional>
#include <string>
#include <vector>

namespace lowbit::quant {
struct Scheme {
  int64_t bits = 4;
  int64_t groupSize = 128; // 0: one group per output channel
  bool symmetric = true;
  int64_t activationBits = 0; // 8: int8 activations per row

  int64_t groupsFor(int64_t k) const {
    int64_t g = groupSize > 0 ? groupSize : k;
    return (k + g - 1) / g;
  }
  int64_t effectiveGroupSize(int64_t k) const { return groupSize > 0 ? groupSize : k; }
};

/// An onnx.MatMul by a constant 2-D f32 weight.
struct LinearLayer {
  onnx::MatMulOp op;
  std::string name; // the ONNX node name, else the weight's
  int64_t k = 0, n = 0;
  std::vector<float> weight; // [K][N], row-major, as in the model
};

/// Marks an onnx.MatMul by a constant that is not a linear layer to
/// quantize (the floating-point part of a split layer).
inline constexpr llvm::StringLiteral kKeepFloat = "lowbit.keep_float";

/// Which linear layers a pass works on: those whose name (the ONNX node's,
/// else its weight's, else its calibration tap's) or weight name contains
/// one of `only` (all if empty) and none of `exclude`.
struct LayerSelection {
  std::vector<std::string> only, exclude;
};

/// Calls `visit(op, name)` for each selected linear layer of `func` (an
/// onnx.MatMul by a constant 2-D f32 weight of static shape). Warns about
/// patterns that match no layer.
void forEachLinearLayer(mlir::func::FuncOp func, const LayerSelection &selection,
                        llvm::function_ref<void(onnx::MatMulOp, llvm::StringRef)> visit);

/// "layer 'NAME'" for messages, or "a linear layer" if it has no name.
std::string describe(const LinearLayer &layer);

/// The selected linear layers of `func`, weights read.
std::vector<LinearLayer> findLinearLayers(mlir::func::FuncOp func, const LayerSelection &selection);

/// Checks the options every weight quantization pass takes, reporting on
/// `op` in the name of `pass`.
mlir::LogicalResult verifyScheme(mlir::Operation *op, llvm::StringRef pass, const Scheme &scheme);

/// The f32 values of a constant's attribute (inline or a resource), or false.
bool readFloats(mlir::ElementsAttr value, std::vector<float> &out);

/// The elements of a constant integer tensor of `bits` bits (8 or fewer;
/// inline or a resource), each zero-extended to a byte, or failure when
/// `value` is not one.
mlir::FailureOr<std::vector<uint8_t>> constantBytes(mlir::Value value, unsigned bits = 8);

/// The calibration tap with statistics that feeds `layer`, or null.
CalibrationTapOp calibrationTapOf(onnx::MatMulOp layer);

/// A group's grid: w ~ (q - zero) * scale with q in [-2^(bits-1), 2^(bits-1) -
/// 1].
struct Grid {
  float scale = 1;
  int zero = 0;
};

/// The grid fitted to a group with minimum `lo` and maximum `hi`.
Grid fitGrid(float lo, float hi, const Scheme &scheme);

/// The level nearest to w on `grid`.
int quantizeValue(float w, Grid grid, int64_t bits);

/// The value a level stands for.
inline float dequantizeValue(int level, Grid grid) { return float(level - grid.zero) * grid.scale; }

/// A quantized weight in the lowbit layout: levels [N][K], scales and zero
/// points [N][G] (zeros empty when symmetric).
struct QuantizedWeight {
  int64_t n = 0, k = 0, groups = 0;
  std::vector<int8_t> levels;
  std::vector<float> scales;
  std::vector<int8_t> zeros;
};

/// Round to nearest: each group of each output channel on its own grid.
QuantizedWeight roundToNearest(const LinearLayer &layer, const Scheme &scheme);

/// `data` as a resource named `key` (large tensors stay out of the printed
/// IR).
template <typename T>
mlir::ElementsAttr resourceAttr(mlir::RankedTensorType type, llvm::ArrayRef<T> data,
                                llvm::StringRef key);

/// An onnx.Constant holding `data` as a resource named `key`.
template <typename T>
mlir::Value makeConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                         llvm::ArrayRef<T> data, llvm::StringRef key);

/// `weight`'s levels [N, K], scales and zero points [N, G] (null when
/// symmetric) as constants before `b`'s insertion point, resources named
/// `key`.q<bits>, `key`.scales and `key`.zeros: lowbit.quantized_matmul's
/// operands.
struct QuantizedConstants {
  mlir::Value levels, scales, zeros;
};
QuantizedConstants makeQuantizedConstants(mlir::OpBuilder &b, mlir::Location loc,
                                          const QuantizedWeight &weight, int64_t bits,
                                          llvm::StringRef key);

/// Erases `op`, then the pure ops that defined its operands and have no
/// other use (the constants a replaced op read).
void eraseWithUnusedInputs(mlir::Operation *op);

/// Replaces `layer.op` by lowbit.quantized_matmul over `weight`; the levels,
/// scales and zero points become constants (resources named after the layer).
/// `activationScale`: one int8 scale for every row of the input (static).
void replaceWithQuantized(const LinearLayer &layer, const QuantizedWeight &weight,
                          const Scheme &scheme,
                          std::optional<float> activationScale = std::nullopt);

/// The static int8 scale of `layer`'s input, max|x| / 127 from the
/// calibration tap that feeds it (directly, or through an onnx.Mul by a
/// constant vector: the masked inputs of a split layer, an explicit AWQ or
/// SmoothQuant scaling), or failure (reported on the layer, for `pass`).
mlir::FailureOr<float> staticActivationScale(const LinearLayer &layer, llvm::StringRef pass);
} // namespace lowbit::quant

#endif // LOWBIT_LIB_DIALECT_LOWBIT_TRANSFORMS_QUANTIZE_H
