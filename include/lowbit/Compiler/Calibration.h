//===- Calibration.h - Calibration statistics back into the IR --*- C++ -*-===//
//
// The driver's half of calibration: `lowbit-run --calibrate` runs the data
// through a model built with taps and writes what each tap saw to a folder;
// this reads that folder into the taps of a module, where the quantization
// passes find it.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_COMPILER_CALIBRATION_H
#define LOWBIT_COMPILER_CALIBRATION_H

#include "mlir/IR/BuiltinOps.h"

namespace lowbit {
/// Fills in the statistics of `module`'s calibration taps (those without
/// any) from `dir`, as `lowbit-run --calibration-out=DIR` writes it: the
/// taps are matched by name, in order. Vectors with more than
/// `inlineLimit` elements and every Hessian become resources. Fails, with
/// a diagnostic naming the file or tap, if a file is missing or malformed
/// or a tap of the module has no statistics in `dir`.
mlir::LogicalResult readCalibrationStatistics(mlir::ModuleOp module, llvm::StringRef dir,
                                              int64_t inlineLimit);

/// Removes the statistics of every calibration tap of `module`, so that the
/// next calibration run fills them in again (sequential calibration).
void clearCalibrationStatistics(mlir::ModuleOp module);
} // namespace lowbit

#endif // LOWBIT_COMPILER_CALIBRATION_H
