//===- lowbitc.cpp - The lowbit compiler driver ---------------------------===//
//
// lowbitc MODEL.onnx [--emit=onnx-ir] [-o OUT]
//
// Imports an ONNX model, cleans up the graph (lowbit-onnx-cleanup-pipeline:
// type refinement, folding of exporter shape arithmetic, norm fusion) and
// writes the result. Later stages (quantize,
// lower, emit code) plug in behind --emit.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Compiler/Diagnostics.h"
#include "lowbit/Compiler/Pipelines.h"
#include "lowbit/Compiler/Registration.h"
#include "lowbit/Dialect/Onnx/Transforms/Passes.h"
#include "lowbit/Import/OnnxImporter.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/Format.h"

#include <chrono>
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {
enum class Emit { OnnxIR, LowbitIR, LLVMIR, Obj, Lib, Exe };

cl::OptionCategory category("lowbitc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.onnx>"), cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"), cl::cat(category));
cl::opt<Emit> emit(
    "emit", cl::desc("What to produce"), cl::init(Emit::OnnxIR), cl::cat(category),
    cl::values(clEnumValN(Emit::OnnxIR, "onnx-ir", "the imported onnx dialect IR (default)"),
               clEnumValN(Emit::LowbitIR, "lowbit-ir", "IR after quantization (not yet)"),
               clEnumValN(Emit::LLVMIR, "llvm-ir", "LLVM IR (not yet)"),
               clEnumValN(Emit::Obj, "obj", "an object file (not yet)"),
               clEnumValN(Emit::Lib, "lib", "a shared library (not yet)"),
               clEnumValN(Emit::Exe, "exe", "a standalone executable (not yet)")));
cl::opt<bool> simplify("simplify",
                       cl::desc("Clean up the graph after import: refine types, fold "
                                "shape arithmetic, fuse norms "
                                "(lowbit-onnx-cleanup-pipeline; default: true)"),
                       cl::init(true), cl::cat(category));
cl::opt<bool> onnxShapeInference(
    "onnx-shape-inference",
    cl::desc("Use libonnx shape inference as a hint while importing (default: true)"),
    cl::init(true), cl::cat(category));
cl::opt<int64_t> inlineLimit("inline-limit",
                             cl::desc("Tensors with more elements than this become "
                                      "dense_resource blobs (default: 64)"),
                             cl::init(64), cl::cat(category));
cl::opt<bool> elideWeights("elide-weights",
                           cl::desc("Print weight blobs as __elided__ (the output can "
                                    "then not be parsed back)"),
                           cl::init(false), cl::cat(category));
cl::opt<bool> listOps("list-ops", cl::desc("List the supported ONNX operators and exit"),
                      cl::init(false), cl::cat(category));
cl::opt<bool> quiet("quiet", cl::desc("No progress output on stderr"), cl::init(false),
                    cl::cat(category));

StringRef emitName(Emit e) {
  switch (e) {
  case Emit::OnnxIR: return "onnx-ir";
  case Emit::LowbitIR: return "lowbit-ir";
  case Emit::LLVMIR: return "llvm-ir";
  case Emit::Obj: return "obj";
  case Emit::Lib: return "lib";
  case Emit::Exe: return "exe";
  }
  return "?";
}

void printSupportedOps() {
  for (const auto &op : lowbit::getSupportedOnnxOps()) {
    llvm::outs() << (op.domain.empty() ? "" : op.domain + ".") << op.name << "  versions";
    for (int v : op.versions)
      llvm::outs() << " " << v;
    if (!op.note.empty())
      llvm::outs() << "  (" << op.note << ")";
    llvm::outs() << "\n";
  }
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "lowbitc 0.1 (MLIR 22)\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "lowbit compiler: ONNX model -> quantized, fused CPU/CUDA code\n\n"
      "  lowbitc model.onnx --emit=onnx-ir -o model.mlir\n\n"
      "Imports the model (external data is read from the model's folder only),\n"
      "refines types, folds exporter shape arithmetic, fuses decomposed norms,\n"
      "and writes the onnx dialect IR. Errors name the file, the ONNX node and\n"
      "the reason, and exit 1; nothing is written on failure.\n");
  if (listOps) {
    printSupportedOps();
    return 0;
  }
  if (inputFile.empty()) {
    llvm::errs() << "lowbitc: no input model (see lowbitc --help)\n";
    return 1;
  }
  if (emit != Emit::OnnxIR) {
    llvm::errs() << "lowbitc: --emit=" << emitName(emit)
                 << " is not implemented yet; only --emit=onnx-ir is\n";
    return 1;
  }

  DialectRegistry registry;
  lowbit::registerAllDialects(registry);
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler handler(&context, [](Diagnostic &diag) {
    lowbit::printDiagnostic(diag, llvm::errs());
    return success();
  });

  DefaultTimingManager timing;
  timing.setEnabled(false);
  auto start = std::chrono::steady_clock::now();
  auto elapsedMs = [&]() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };

  lowbit::OnnxImportOptions options;
  options.useOnnxShapeInference = onnxShapeInference;
  options.inlineElementLimit = inlineLimit;
  OwningOpRef<ModuleOp> module = lowbit::importOnnxModel(inputFile, context, options);
  if (!module)
    return 1;
  if (!quiet)
    llvm::errs() << "lowbitc: imported " << inputFile << " ("
                 << module->getBody()->front().getRegion(0).front().getOperations().size()
                 << " ops) in " << llvm::format("%.0f", elapsedMs()) << " ms\n";

  if (simplify) {
    PassManager pm(&context);
    lowbit::populateOnnxCleanupPipeline(pm);
    if (failed(pm.run(*module)))
      return 1;
    if (!quiet)
      llvm::errs() << "lowbitc: simplified to "
                   << module->getBody()->front().getRegion(0).front().getOperations().size()
                   << " ops in " << llvm::format("%.0f", elapsedMs()) << " ms\n";
  }

  // Write to a temporary file that replaces the output only on success.
  std::string error;
  auto output = openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "lowbitc: " << error << "\n";
    return 1;
  }
  OpPrintingFlags flags;
  if (elideWeights)
    flags.elideLargeResourceString(0);
  module->print(output->os(), flags);
  output->os().flush();
  if (output->os().has_error()) {
    llvm::errs() << "lowbitc: cannot write " << outputFile << "\n";
    output->os().clear_error();
    return 1;
  }
  output->keep();
  return 0;
}
