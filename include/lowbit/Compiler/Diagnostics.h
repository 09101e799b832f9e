//===- Diagnostics.h - How lowbit's tools print diagnostics -----*- C++ -*-===//

#ifndef LOWBIT_COMPILER_DIAGNOSTICS_H
#define LOWBIT_COMPILER_DIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/raw_ostream.h"

namespace lowbit {
/// Prints `diag` (and its notes) as `FILE[: node 'NAME']: error: MESSAGE`,
/// the form users of an ONNX model need: the file, the ONNX node, the reason.
void printDiagnostic(mlir::Diagnostic &diag, llvm::raw_ostream &os);
} // namespace lowbit

#endif // LOWBIT_COMPILER_DIAGNOSTICS_H
