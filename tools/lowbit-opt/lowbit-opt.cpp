//===- lowbit-opt.cpp - mlir-opt for lowbit's dialects and passes ---------===//

#include "lowbit/Compiler/Registration.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  lowbit::registerAllDialects(registry);
  lowbit::registerAllPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "lowbit optimizer: runs lowbit and upstream passes on MLIR\n", registry));
}
