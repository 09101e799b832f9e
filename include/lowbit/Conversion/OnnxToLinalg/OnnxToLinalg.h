//===- OnnxToLinalg.h - onnx to linalg/tensor patterns ----------*- C++ -*-===//

#ifndef LOWBIT_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H
#define LOWBIT_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace lowbit {
/// Adds the patterns that rewrite onnx ops into linalg/tensor/arith/math on
/// tensors (see the convert-onnx-to-linalg pass).
void populateOnnxToLinalgPatterns(mlir::RewritePatternSet &patterns);
} // namespace lowbit

#endif // LOWBIT_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H
