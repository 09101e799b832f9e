//===- Pipelines.h - lowbit's pass pipelines --------------------*- C++ -*-===//

#ifndef LOWBIT_COMPILER_PIPELINES_H
#define LOWBIT_COMPILER_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace lowbit {
/// `lowbit-onnx-cleanup-pipeline`: graph cleanup right after import. Refines
/// types and folds exporter shape arithmetic (lowbit-infer-shapes), fuses
/// decomposed norms (lowbit-fuse-normalization), then canonicalize and cse.
void populateOnnxCleanupPipeline(mlir::OpPassManager &pm);

/// Registers lowbit's pipelines with the global pass registry.
void registerPipelines();
} // namespace lowbit

#endif // LOWBIT_COMPILER_PIPELINES_H
