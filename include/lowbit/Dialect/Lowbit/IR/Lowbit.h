//===- Lowbit.h - The lowbit (quantization) dialect -------------*- C++ -*-===//
//
// Quantized linear layers, activation quantization and calibration taps
// (see LowbitOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_DIALECT_LOWBIT_IR_LOWBIT_H
#define LOWBIT_DIALECT_LOWBIT_IR_LOWBIT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "lowbit/Dialect/Lowbit/IR/LowbitOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "lowbit/Dialect/Lowbit/IR/LowbitOps.h.inc"

#endif // LOWBIT_DIALECT_LOWBIT_IR_LOWBIT_H
