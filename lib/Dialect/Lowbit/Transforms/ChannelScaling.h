//===- ChannelScaling.h - x W = (x / s)(s W) ---------------------*- C++ -*-===//
//
// What AWQ and SmoothQuant share: the linear layers that read one
// activation, and moving a per-input-channel scale between that activation
// and their weights without changing what the model computes.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_DIALECT_LOWBIT_TRANSFORMS_CHANNELSCALING_H
#define LOWBIT_LIB_DIALECT_LOWBIT_TRANSFORMS_CHANNELSCALING_H

#include "Quantize.h"

#include <Eigen/Core>

namespace lowbit::quant {
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Linear layers whose calibration taps read one activation (q, k and v
/// after a norm; gate and up): a scale of its channels serves them all.
struct ScaleGroup {
  mlir::Value input;
  llvm::SmallVector<LinearLayer *> layers;

  /// The first layer's tap (the group's taps hold the same statistics).
  CalibrationTapOp tap() const;
  int64_t channels() const { return layers.front()->k; }
};

/// `layers` grouped by the activation their taps read, in IR order. A layer
/// without a tap for which `hasStatistics` holds is an error naming it and
/// `needed` (the statistics), reported in the name of `pass`.
mlir::FailureOr<std::vector<ScaleGroup>>
groupByInput(std::vector<LinearLayer> &layers, llvm::StringRef pass, llvm::StringRef needed,
             llvm::function_ref<bool(CalibrationTapOp)> hasStatistics);

/// x W = (x / s)(s W) for every layer of `group`: each weight's row j is
/// multiplied by s_j (the layer's constant and `weight` updated), 1/s is
/// folded into what produces x (a norm's scale and bias, a preceding
/// MatMul's columns, through an added bias or one factor of a product)
/// where every reader of x is one of the group's taps, else applied by an
/// onnx.Mul before them, and the taps' statistics are rescaled to describe
/// x / s. New constants are named after the layers plus `.<tag>`. Returns
/// whether 1/s was folded.
bool scaleInputChannels(ScaleGroup &group, llvm::ArrayRef<float> s, llvm::StringRef tag);

/// The output error tr(Dᵀ H D) of `layer` when its input channels are
/// scaled by `s` for rounding: D = W - RTN(s W) / s, rounded to nearest on
/// `scheme`'s grid (W and D [K][N], H the input's Hessian [K, K]).
double scaledRoundingError(const LinearLayer &layer, llvm::ArrayRef<float> s, const Scheme &scheme,
                           const MatrixF &hessian);

/// Replaces a layer's weight (constant and `weight`) by `values` [K][N].
void setWeight(LinearLayer &layer, std::vector<float> values, llvm::StringRef tag);
} // namespace lowbit::quant

#endif // LOWBIT_LIB_DIALECT_LOWBIT_TRANSFORMS_CHANNELSCALING_H
