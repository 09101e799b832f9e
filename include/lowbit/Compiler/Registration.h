//===- Registration.h - Everything lowbit's tools register ------*- C++ -*-===//

#ifndef LOWBIT_COMPILER_REGISTRATION_H
#define LOWBIT_COMPILER_REGISTRATION_H

#include "mlir/IR/DialectRegistry.h"

namespace lowbit {
/// Adds lowbit's dialects and the upstream dialects its pipelines use.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers lowbit's passes and pipelines, and the upstream passes that its
/// tools expose (canonicalize, cse, ...), with the global pass registry.
void registerAllPasses();
} // namespace lowbit

#endif // LOWBIT_COMPILER_REGISTRATION_H
