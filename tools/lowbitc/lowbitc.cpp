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

#include "lowbit/Compiler/Calibration.h"
#include "lowbit/Compiler/Diagnostics.h"
#include "lowbit/Compiler/Pipelines.h"
#include "lowbit/Compiler/QuantizeSteps.h"
#include "lowbit/Compiler/Recipe.h"
#include "lowbit/Compiler/Registration.h"
#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"
#include "lowbit/Dialect/Onnx/Transforms/Passes.h"
#include "lowbit/Import/OnnxImporter.h"
#include "lowbit/Target/CPU/Emit.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/Format.h"

#include <chrono>
#include <map>

#include "RuntimeHeader.inc"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {
enum class Emit { OnnxIR, LowbitIR, LLVMIR, Obj, Lib, Exe, Ptx };

cl::OptionCategory category("lowbitc options");

cl::opt<std::string> inputFile(cl::Positional,
                               cl::desc("<model.onnx, or IR saved by lowbitc (.mlir)>"),
                               cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file ('-' for stdout)"),
                                cl::value_desc("file"), cl::init("-"), cl::cat(category));
cl::opt<Emit>
    emit("emit", cl::desc("What to produce"), cl::init(Emit::OnnxIR), cl::cat(category),
         cl::values(clEnumValN(Emit::OnnxIR, "onnx-ir",
                               "the imported onnx dialect IR (the default, unless -o ends in "
                               ".so, .o or .ll, which choose lib, obj and llvm-ir)"),
                    clEnumValN(Emit::LowbitIR, "lowbit-ir",
                               "the IR after the --quantize steps (onnx and lowbit dialects; "
                               "the default with --quantize)"),
                    clEnumValN(Emit::LLVMIR, "llvm-ir", "LLVM IR for the host CPU"),
                    clEnumValN(Emit::Obj, "obj", "an object file for the host CPU"),
                    clEnumValN(Emit::Lib, "lib", "a shared library for the host CPU"),
                    clEnumValN(Emit::Exe, "exe",
                               "a standalone executable: lowbit-run with the model built in "
                               "(run it with --help)"),
                    clEnumValN(Emit::Ptx, "ptx",
                               "the device code a --target=cpu,cuda library embeds, as PTX for "
                               "inspection: the CUDA kernels (the same for every model until the "
                               "graph itself is compiled for the GPU), one module per kernel "
                               "file and architecture")));
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
cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level (0-3, default 3)"), cl::init(3),
                           cl::Prefix, cl::cat(category));
cl::list<std::string> quantize(
    "quantize",
    cl::desc("A quantization step, applied in the order given (repeatable): "
             "STEP[,key=value...], e.g. rtn,bits=4,group-size=32 or "
             "gptq,bits=4,group-size=128,symmetric=false,exclude=head. Steps: rtn "
             "(lowbit-rtn), gptq (lowbit-gptq), awq (lowbit-awq; before another step it "
             "only rescales), smoothquant (lowbit-smoothquant; rescales), split-outliers "
             "(lowbit-split-outliers), w8a8 (int8 weights per channel and activations per "
             "token), kv-cache (lowbit-quantize-kv-cache; keys: bits, window, key-scales). Keys of rtn, "
             "gptq, awq: "
             "bits, group-size (0: per channel), symmetric, "
             "activation-bits (8: int8 activations); of all: layers and exclude (repeatable: "
             "parts of layer names); gptq also act-order, static-groups, clip, "
             "damp-percent, block-size, sequential (calibrate each stage of layers on the "
             "quantized ones "
             "before it); awq also grid, duo-scaling, clip, quantize; smoothquant alpha, "
             "search-alpha; split-outliers threshold; rtn and w8a8 static-activations (one "
             "int8 activation scale per layer from calibration). All but rtn and w8a8 need "
             "--calib (they too with static-activations). See docs/Quantization.md"),
    cl::value_desc("step"), cl::cat(category));

cl::opt<std::string>
    recipeFile("recipe",
               cl::desc("Quantization steps from a YAML or JSON file, with per-layer overrides and "
                        "optionally the calibration data (instead of --quantize; see "
                        "docs/Quantization.md)"),
               cl::value_desc("file"), cl::cat(category));

cl::opt<std::string> calib(
    "calib",
    cl::desc(
        "Calibration data: token ids, one sequence per line (or an int64 .npy "
        "[sequences, length]). lowbitc builds the model with taps on every linear "
        "layer's input, runs each sequence through it as a prompt with an empty KV cache "
        "(lowbit-run --calibrate), and writes the statistics (max |x|, mean |x|, X^T X, tokens) "
        "into the taps before the --quantize steps; gptq and awq need it"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<int64_t> calibMaxLength("calib-max-len",
                                cl::desc("Tokens used from each calibration sequence, its "
                                         "first (default 512, as perplexity evaluates)"),
                                cl::init(512), cl::cat(category));

cl::opt<bool> instrumentCalibration(
    "instrument-calibration",
    cl::desc("Put a calibration tap on every linear layer's input (lowbit-instrument-calibration): "
             "the model then gathers activation statistics as it runs, read through "
             "lowbit_calibration_stats (lowbit-c/Runtime.h)"),
    cl::init(false), cl::cat(category));

enum class Weights { Auto, Embed, File };
cl::opt<Weights>
    weights("weights", cl::desc("Where the weights go (lib, obj, llvm-ir and exe)"),
            cl::init(Weights::Auto), cl::cat(category),
            cl::values(clEnumValN(Weights::Auto, "auto",
                                  "a file when they exceed 64 MiB, else embedded (the default)"),
                       clEnumValN(Weights::Embed, "embed", "constants inside the library"),
                       clEnumValN(Weights::File, "file",
                                  "OUTPUT.weights beside the output (OUTPUT minus its extension), "
                                  "memory-mapped when an instance is created; it must stay beside "
                                  "the library")));
/// Above this, --weights=auto writes a file.
constexpr uint64_t kAutoWeightsFile = 64ull << 20;
/// Constants smaller than this stay in the library.
constexpr uint64_t kMinFileWeight = 4096;

cl::opt<bool> ukernels("ukernels",
                       cl::desc("Run fp32 MatMul/Gemm through the runtime's micro-kernels "
                                "(default; --ukernels=false: tiled loops)"),
                       cl::init(true), cl::cat(category));
cl::opt<bool> foldDequantize(
    "fold-dequantize",
    cl::desc("Attention reads a quantized KV cache's levels (default; "
             "--fold-dequantize=false: an f32 copy of the cache is dequantized first, "
             "for comparison)"),
    cl::init(true), cl::cat(category));
enum class NBitsActivations { Auto, AsModel, F32, Int8 };
cl::opt<NBitsActivations> matmulNBitsActivations(
    "matmul-nbits-activations",
    cl::desc("Activations of the products in a model quantized by ONNX Runtime (MatMulNBits "
             "nodes)"),
    cl::init(NBitsActivations::Auto), cl::cat(category),
    cl::values(clEnumValN(NBitsActivations::Auto, "auto",
                          "as-model for --target=cpu, f32 where the library holds CUDA code (the "
                          "GPU kernels take f32 activations) (the default)"),
               clEnumValN(NBitsActivations::AsModel, "as-model",
                          "int8, quantized per row, where the node has accuracy_level = 4 "
                          "(ONNX Runtime's int8 compute), f32 otherwise"),
               clEnumValN(NBitsActivations::F32, "f32", "f32 for every node"),
               clEnumValN(NBitsActivations::Int8, "int8", "int8 for every node")));
cl::opt<std::string> targetCpu(
    "target-cpu",
    cl::desc("The CPU to generate code for: an LLVM CPU name such as x86-64-v3, skylake-avx512 "
             "or znver4 (`llc -mcpu=help`), or host (the default: this machine). The runtime's "
             "micro-kernels pick their instruction set when they run, whatever this is"),
    cl::value_desc("cpu"), cl::init("host"), cl::cat(category));
cl::opt<std::string>
    targetFeatures("target-features",
                   cl::desc("Extra CPU features, e.g. -avx512f,+avx2 (`llc -mattr=help`)"),
                   cl::value_desc("features"), cl::init(""), cl::cat(category));

cl::opt<std::string> target(
    "target",
    cl::desc("Where the model runs: cpu (the default), or cpu,cuda[:sm_80,sm_90]: the library "
             "also holds the CUDA kernels, and an instance runs its quantized matrix products on "
             "the GPU when one is found at run time (the rest of the graph, and everything on a "
             "machine without a GPU, on the CPU). The architectures must be among those this "
             "build's kernels were compiled for (PTX of the newest runs on later GPUs). cuda "
             "alone (the whole graph on the GPU) is not built yet"),
    cl::value_desc("cpu|cpu,cuda[:sm_XX,...]"), cl::init("cpu"), cl::cat(category));

cl::opt<bool> listOps("list-ops", cl::desc("List the supported ONNX operators and exit"),
                      cl::init(false), cl::cat(category));
cl::opt<bool> quiet("quiet", cl::desc("No progress output on stderr"), cl::init(false),
                    cl::cat(category));

StringRef emitName(Emit e) {
  switch (e) {
  case Emit::OnnxIR:
    return "onnx-ir";
  case Emit::LowbitIR:
    return "lowbit-ir";
  case Emit::LLVMIR:
    return "llvm-ir";
  case Emit::Obj:
    return "obj";
  case Emit::Lib:
    return "lib";
  case Emit::Exe:
    return "exe";
  case Emit::Ptx:
    return "ptx";
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

/// The number of operations in the module's functions (progress output).
int64_t countOps(ModuleOp module) {
  int64_t count = 0;
  for (auto func : module.getOps<func::FuncOp>())
    func.walk([&](Operation *op) { count += op != func; });
  return count;
}

/// The model's interface for the runtime, one line per input and output:
/// `in|out NAME ELEMENT RANK D0 D1 ...` with -1 for dynamic sizes.
std::string describeSignature(func::FuncOp func) {
  std::string text;
  llvm::raw_string_ostream os(text);
  auto describe = [&](StringRef kind, Type type, DictionaryAttr attrs, unsigned index) {
    auto tensor = cast<RankedTensorType>(type);
    auto name = attrs ? attrs.getAs<StringAttr>("onnx.name") : StringAttr();
    os << kind << " " << (name ? name.getValue().str() : kind.str() + std::to_string(index)) << " "
       << tensor.getElementType() << " " << tensor.getRank();
    for (int64_t d : tensor.getShape())
      os << " " << (ShapedType::isDynamic(d) ? -1 : d);
    os << "\n";
  };
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
    describe("in", type, func.getArgAttrDict(i), i);
  for (auto [i, type] : llvm::enumerate(func.getResultTypes()))
    describe("out", type, func.getResultAttrDict(i), i);
  return text;
}

/// Writes `<library without .so>.h` beside the library: the C API, headed
/// by the model's inputs and outputs.
bool writeHeader(StringRef outputFile, StringRef signature) {
  llvm::SmallString<128> path(outputFile);
  llvm::sys::path::replace_extension(path, "h");
  std::string error;
  auto output = openOutputFile(path, &error);
  if (!output) {
    llvm::errs() << "lowbitc: " << error << "\n";
    return false;
  }
  auto &os = output->os();
  os << "/* " << llvm::sys::path::filename(path) << ": the C API of "
     << llvm::sys::path::filename(outputFile) << ", compiled by lowbitc from "
     << llvm::sys::path::filename(inputFile) << ".\n *\n";
  llvm::SmallVector<StringRef> lines;
  signature.split(lines, '\n', -1, false);
  for (StringRef line : lines) {
    llvm::SmallVector<StringRef> fields;
    line.split(fields, ' ');
    os << " * " << (fields[0] == "in" ? "input  " : "output ") << fields[1] << ": " << fields[2]
       << " [";
    for (size_t i = 4; i < fields.size(); ++i)
      os << (i > 4 ? ", " : "") << (fields[i] == "-1" ? "?" : fields[i]);
    os << "]\n";
  }
  os << " */\n\n" << kRuntimeHeader;
  output->keep();
  return true;
}

/// Lowers the cleaned-up onnx module for the host CPU and writes LLVM IR, an
/// object file, a shared library or an executable (`emit`) to `outputFile`.
/// Output appears only on success.
#ifndef LOWBIT_CUDA_ARCHS
#define LOWBIT_CUDA_ARCHS "" // this build has no CUDA runtime
#endif

/// Whether --target asks for the CUDA half, and for which architectures
/// (those asked for, or all this build has); false with a message for a
/// target this build cannot produce.
bool parseTarget(bool &withCuda, SmallVectorImpl<std::string> &archs, std::string &error) {
  StringRef rest = target;
  withCuda = false;
  if (rest == "cpu")
    return true;
  if (rest == "cuda" || rest.starts_with("cuda:")) {
    error = "--target=" + target +
            ": the whole graph on the GPU is not built yet; --target=cpu,cuda runs the quantized "
            "matrix products on the GPU and the rest on the CPU";
    return false;
  }
  if (!rest.consume_front("cpu,cuda")) {
    error = "--target=" + target + ": expected cpu or cpu,cuda[:sm_XX,...]";
    return false;
  }
  StringRef built = LOWBIT_CUDA_ARCHS;
  if (built.empty()) {
    error = "--target=" + target +
            ": this build of lowbit has no CUDA runtime (nvcc was not found when it was built)";
    return false;
  }
  SmallVector<StringRef> asked, have;
  built.split(have, ',');
  if (rest.consume_front(":")) {
    rest.split(asked, ',');
    for (StringRef arch : asked) {
      StringRef number = arch;
      if (!number.consume_front("sm_") || !llvm::is_contained(have, number)) {
        error = "--target=" + target + ": '" + arch.str() +
                "' is not among the architectures this build's CUDA kernels are compiled for "
                "(sm_" +
                llvm::join(have, ", sm_") +
                "; set LOWBIT_CUDA_ARCHS when building lowbit for others)";
        return false;
      }
      archs.push_back(arch.drop_front(3).str());
    }
  } else if (!rest.empty()) {
    error = "--target=" + target + ": expected cpu or cpu,cuda[:sm_XX,...]";
    return false;
  } else {
    for (StringRef arch : have)
      archs.push_back(arch.str());
  }
  withCuda = true;
  return true;
}

/// --emit=ptx: the kernels' PTX for `archs`, each module after a comment
/// naming it, into the output.
bool writeDevicePtx(ArrayRef<std::string> archs, const char *argv0) {
  std::string folder = lowbit::cpu::findCudaPtxFolder(argv0), text;
  for (const std::string &arch : archs) {
    std::error_code ec;
    SmallVector<std::string> files;
    for (llvm::sys::fs::directory_iterator it(folder, ec), end; it != end && !ec; it.increment(ec))
      if (StringRef(it->path()).ends_with(".sm_" + arch + ".ptx"))
        files.push_back(it->path());
    llvm::sort(files);
    if (files.empty()) {
      llvm::errs() << "lowbitc: --emit=ptx: no PTX for sm_" << arch << " in " << folder << "\n";
      return false;
    }
    for (const std::string &file : files) {
      auto buffer = llvm::MemoryBuffer::getFile(file);
      if (!buffer) {
        llvm::errs() << "lowbitc: --emit=ptx: cannot read " << file << "\n";
        return false;
      }
      text += "// ===== " + llvm::sys::path::filename(file).str() + " =====\n";
      text += (*buffer)->getBuffer().str();
    }
  }
  std::string error;
  auto output = openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "lowbitc: " << error << "\n";
    return false;
  }
  output->os() << text;
  output->keep();
  return true;
}

bool emitCode(ModuleOp module, StringRef outputFile, Emit emit, Weights weights, unsigned optLevel,
              bool withCuda, const char *argv0, llvm::function_ref<double()> elapsedMs) {
  auto func = module.lookupSymbol<func::FuncOp>("main_graph");
  if (!func) {
    llvm::errs() << "lowbitc: the module has no main_graph function\n";
    return false;
  }
  for (Type type : llvm::concat<const Type>(func.getArgumentTypes(), func.getResultTypes()))
    if (!isa<RankedTensorType>(type)) {
      func.emitError("code generation needs inputs and outputs of known rank");
      return false;
    }
  std::string signature = describeSignature(func);
  // The names of the taps that will record, in tap-id order (the order
  // convert-lowbit-to-linalg numbers them in).
  std::string tapNames;
  module.walk([&](lowbit::CalibrationTapOp tap) {
    if (!tap.hasStatistics())
      tapNames += tap.getName().str() + "\n";
  });
  // The names now live in the signature; LLVM has no use for them.
  func.setAllArgAttrs(ArrayRef<DictionaryAttr>{});
  func.setAllResultAttrs(ArrayRef<DictionaryAttr>{});
  func->setAttr("llvm.emit_c_interface", UnitAttr::get(module.getContext()));
  PassManager pm(module.getContext());
  lowbit::CpuCodegenOptions codegen;
  codegen.ukernels = ukernels;
  codegen.foldDequantize = foldDequantize;
  switch (matmulNBitsActivations) {
  case NBitsActivations::Auto:
    codegen.matmulNBitsActivations = withCuda ? "f32" : "as-model";
    break;
  case NBitsActivations::AsModel:
    codegen.matmulNBitsActivations = "as-model";
    break;
  case NBitsActivations::F32:
    codegen.matmulNBitsActivations = "f32";
    break;
  case NBitsActivations::Int8:
    codegen.matmulNBitsActivations = "int8";
    break;
  }
  lowbit::populateCpuCodegenPipeline(pm, codegen);
  if (failed(pm.run(module)))
    return false;
  llvm::LLVMContext llvmContext;
  lowbit::cpu::Target target{targetCpu, targetFeatures};
  auto llvmModule = lowbit::cpu::translateToLLVMIR(module, llvmContext, optLevel, target);
  if (!llvmModule)
    return false;
  lowbit::cpu::addStringGlobal(*llvmModule, "lowbit_main_graph_signature", signature);
  if (!tapNames.empty())
    lowbit::cpu::addStringGlobal(*llvmModule, "lowbit_calibration_tap_list", tapNames);
  if (!quiet)
    llvm::errs() << "lowbitc: lowered to LLVM IR (-O" << optLevel << ") in "
                 << llvm::format("%.0f", elapsedMs()) << " ms\n";

  std::string error;
  // Weights to a file: written to WEIGHTS.partial now, renamed beside the
  // output once that is written.
  bool weightsToFile = weights == Weights::File ||
                       (weights == Weights::Auto &&
                        lowbit::cpu::weightBytes(*llvmModule, kMinFileWeight) > kAutoWeightsFile);
  llvm::SmallString<128> weightsPath(outputFile), weightsPartial;
  llvm::sys::path::replace_extension(weightsPath, "weights");
  (weightsPartial = weightsPath) += ".partial";
  llvm::FileRemover removeWeights(weightsPartial, weightsToFile);
  if (weightsToFile) {
    if (outputFile == "-") {
      llvm::errs() << "lowbitc: --weights=file needs an output file (-o)\n";
      return false;
    }
    std::error_code ec;
    llvm::raw_fd_ostream os(weightsPartial, ec);
    if (ec ||
        failed(lowbit::cpu::externalizeWeights(
            *llvmModule, kMinFileWeight, llvm::sys::path::filename(weightsPath), os, error))) {
      llvm::errs() << "lowbitc: " << weightsPath << ": "
                   << (ec ? "cannot write: " + ec.message() : error) << "\n";
      return false;
    }
    os.close();
    if (os.has_error()) {
      llvm::errs() << "lowbitc: " << weightsPath << ": " << os.error().message() << "\n";
      return false;
    }
  }
  auto keepWeights = [&]() {
    if (!weightsToFile)
      return true;
    if (llvm::sys::fs::rename(weightsPartial, weightsPath)) {
      llvm::errs() << "lowbitc: cannot write " << weightsPath << "\n";
      return false;
    }
    if (!quiet)
      llvm::errs() << "lowbitc: wrote the weights to " << weightsPath << "\n";
    return true;
  };

  if (emit == Emit::LLVMIR) {
    auto output = openOutputFile(outputFile, &error);
    if (!output) {
      llvm::errs() << "lowbitc: " << error << "\n";
      return false;
    }
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return keepWeights();
  }
  // The object goes to the output (obj) or to a temporary file (lib, exe).
  llvm::SmallString<128> objectPath(outputFile);
  bool linked = emit == Emit::Lib || emit == Emit::Exe;
  if (linked) {
    int fd;
    if (llvm::sys::fs::createTemporaryFile("lowbit-model", "o", fd, objectPath)) {
      llvm::errs() << "lowbitc: cannot create a temporary object file\n";
      return false;
    }
    llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  }
  llvm::FileRemover removeObject(objectPath, linked);
  {
    auto output = openOutputFile(objectPath, &error);
    if (!output || failed(lowbit::cpu::emitObjectFile(*llvmModule, output->os(), target, error))) {
      llvm::errs() << "lowbitc: " << error << "\n";
      return false;
    }
    output->keep();
  }
  if (emit == Emit::Obj)
    return keepWeights();
  // Link next to the final name, then rename: no half-written output.
  llvm::SmallString<128> partial(outputFile);
  partial += ".partial";
  llvm::FileRemover removePartial(partial);
  SmallVector<std::string> runtime = {lowbit::cpu::findRuntimeLibrary(argv0)};
  if (withCuda)
    runtime.push_back(lowbit::cpu::findCudaRuntimeLibrary(argv0));
  LogicalResult link =
      emit == Emit::Lib
          ? lowbit::cpu::linkSharedLibrary(objectPath, partial, runtime, error)
          : lowbit::cpu::linkExecutable(objectPath, partial, runtime,
                                        lowbit::cpu::findRunMainLibrary(argv0), error);
  if (failed(link) || !keepWeights() || llvm::sys::fs::rename(partial, outputFile)) {
    llvm::errs() << "lowbitc: " << (error.empty() ? "cannot write " + outputFile.str() : error)
                 << "\n";
    return false;
  }
  if (emit == Emit::Lib && !writeHeader(outputFile, signature))
    return false;
  if (!quiet)
    llvm::errs() << "lowbitc: wrote " << outputFile << " in " << llvm::format("%.0f", elapsedMs())
                 << " ms\n";
  return true;
}

/// Puts taps on `module`'s linear layers and fills them with the statistics
/// of --calib: a copy of the module is compiled with recording taps into a
/// temporary folder, lowbit-run runs the data through it and writes what the
/// taps saw, and that is read back into `module`.
bool calibrate(ModuleOp module, const char *argv0, llvm::function_ref<double()> elapsedMs) {
  if (!StringRef(calib).starts_with("sample:") && !llvm::sys::fs::exists(calib)) {
    llvm::errs() << "lowbitc: --calib=" << calib << ": no such file\n";
    return false;
  }
  PassManager pm(module.getContext());
  pm.addNestedPass<func::FuncOp>(lowbit::createInstrumentCalibrationPass());
  if (failed(pm.run(module)))
    return false;
  llvm::SmallString<128> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("lowbit-calibration", dir)) {
    llvm::errs() << "lowbitc: cannot create a temporary folder: " << ec.message() << "\n";
    return false;
  }
  llvm::scope_exit removeDir([&]() { llvm::sys::fs::remove_directories(dir); });
  std::string library = (dir + "/calibration.so").str();
  OwningOpRef<ModuleOp> instrumented = module.clone();
  if (!quiet)
    llvm::errs() << "lowbitc: building the calibration model\n";
  // It runs a few thousand tokens once: -O1 compiles twice as fast.
  if (!emitCode(*instrumented, library, Emit::Lib, Weights::Embed, std::min(1u, unsigned(optLevel)),
                /*withCuda=*/false, argv0, elapsedMs))
    return false;
  std::string runTool = lowbit::cpu::findRunTool(argv0);
  std::string data = "--calibrate=" + calib, out = ("--calibration-out=" + dir).str(),
              length = "--max-len=" + std::to_string(calibMaxLength);
  SmallVector<StringRef> args = {runTool, library, data, out, length};
  std::string error;
  // lowbit-run's messages go to a file: shown on failure, and as progress
  // unless --quiet.
  std::string log = (dir + "/run.log").str();
  std::optional<StringRef> redirects[] = {std::nullopt, std::nullopt, StringRef(log)};
  int status = llvm::sys::ExecuteAndWait(runTool, args, std::nullopt, redirects, 0, 0, &error);
  auto messages = llvm::MemoryBuffer::getFile(log);
  if ((status != 0 || !quiet) && messages)
    llvm::errs() << (*messages)->getBuffer();
  if (status != 0) {
    llvm::errs() << "lowbitc: calibration on " << calib << " failed"
                 << (error.empty() ? "" : ": " + error) << " (" << runTool << " exited with "
                 << status << ")\n";
    return false;
  }
  if (failed(lowbit::readCalibrationStatistics(module, dir, inlineLimit)))
    return false;
  if (!quiet)
    llvm::errs() << "lowbitc: calibrated on " << calib << " in "
                 << llvm::format("%.0f", elapsedMs()) << " ms\n";
  return true;
}

/// Runs a quantization pass a stage of linear layers at a time (see
/// lowbit::linearLayerStages), calibrating each stage on the outputs of the
/// stages already quantized: GPTQ's sequential mode.
bool quantizeSequentially(ModuleOp module, StringRef step, StringRef pipeline, const char *argv0,
                          llvm::function_ref<double()> elapsedMs) {
  if (calib.empty()) {
    llvm::errs() << "lowbitc: --quantize=" << step
                 << ": sequential=true calibrates each stage anew and needs --calib=FILE\n";
    return false;
  }
  if (pipeline.contains("layers=")) {
    llvm::errs() << "lowbitc: --quantize=" << step
                 << ": sequential=true chooses the layers of each stage itself; drop layers=\n";
    return false;
  }
  auto func = module.lookupSymbol<func::FuncOp>("main_graph");
  if (!func) {
    llvm::errs() << "lowbitc: the module has no main_graph function\n";
    return false;
  }
  std::map<int64_t, std::vector<std::string>> stages;
  for (auto &[name, stage] : lowbit::linearLayerStages(func))
    stages[stage].push_back(name);
  for (auto &[stage, names] : stages) {
    lowbit::clearCalibrationStatistics(module);
    if (!calibrate(module, argv0, elapsedMs))
      return false;
    // The pass, on this stage's layers only.
    std::string stagePipeline = pipeline.drop_back().str();
    stagePipeline += stagePipeline.back() == '{' ? "layers=" : " layers=";
    stagePipeline += llvm::join(names, ",") + "}";
    PassManager pm(module.getContext());
    if (failed(parsePassPipeline("func.func(" + stagePipeline + ")", pm, llvm::errs())) ||
        failed(pm.run(module)))
      return false;
    if (!quiet)
      llvm::errs() << "lowbitc: --quantize=" << step << ": stage " << stage + 1 << " of "
                   << stages.size() << " (" << names.size() << " layers) quantized, "
                   << llvm::format("%.0f", elapsedMs()) << " ms\n";
  }
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "lowbitc 0.1 (MLIR 22)\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "lowbit compiler: ONNX model -> quantized, fused CPU/CUDA code\n\n"
      "  lowbitc model.onnx --emit=onnx-ir -o model.mlir\n"
      "  lowbitc model.onnx -o model.so                 (or model.o, model.ll, --emit=exe)\n"
      "  lowbitc model.onnx --quantize=rtn,bits=4,group-size=32 -o model.so\n"
      "  lowbitc model.onnx --calib=tokens.txt --quantize=gptq,bits=4 -o model.so\n"
      "  lowbitc model.onnx --recipe=recipe.yaml -o model.so\n"
      "  lowbitc model-int4.onnx -o model.so             (already quantized by ONNX Runtime:\n"
      "                                                   MatMulNBits or QDQ weights)\n\n"
      "Imports the model (external data is read from the model's folder only;\n"
      "IR saved by lowbitc, .mlir, is read as it is), refines types, folds exporter\n"
      "shape arithmetic, fuses decomposed norms, calibrates (--calib: runs the data\n"
      "through a compiled copy and writes activation statistics into the IR),\n"
      "applies the --quantize steps in order, and writes the IR or compiles it for\n"
      "this CPU (a library with its C header, an object, LLVM IR or an executable).\n"
      "Errors name the file, the ONNX node and the reason, and exit 1; nothing is\n"
      "written on failure.\n");
  if (listOps) {
    printSupportedOps();
    return 0;
  }
  if (inputFile.empty()) {
    llvm::errs() << "lowbitc: no input model (see lowbitc --help)\n";
    return 1;
  }
  // The quantization steps: --quantize, or a recipe's.
  std::vector<std::string> steps(quantize.begin(), quantize.end());
  if (!recipeFile.empty()) {
    if (!steps.empty()) {
      llvm::errs() << "lowbitc: give the steps with --quantize or --recipe, not both\n";
      return 1;
    }
    lowbit::Recipe recipe;
    std::string error;
    if (!lowbit::readRecipe(recipeFile, recipe, error)) {
      llvm::errs() << "lowbitc: " << error << "\n";
      return 1;
    }
    steps = recipe.steps;
    if (calib.empty())
      calib = recipe.calib;
    if (recipe.calibMaxLength && calibMaxLength.getNumOccurrences() == 0)
      calibMaxLength = recipe.calibMaxLength;
    if (!quiet)
      for (const std::string &step : steps)
        llvm::errs() << "lowbitc: " << recipeFile << ": --quantize=" << step << "\n";
  }
  // Without --emit, the output's extension says what to produce.
  if (emit.getNumOccurrences() == 0) {
    StringRef out(outputFile);
    if (out.ends_with(".so"))
      emit = Emit::Lib;
    else if (out.ends_with(".o"))
      emit = Emit::Obj;
    else if (out.ends_with(".ll"))
      emit = Emit::LLVMIR;
    else if (!steps.empty() || instrumentCalibration || !calib.empty())
      emit = Emit::LowbitIR;
  }
  if (emit == Emit::OnnxIR && (!steps.empty() || instrumentCalibration || !calib.empty())) {
    llvm::errs()
        << "lowbitc: --quantize, --calib and --instrument-calibration write lowbit ops: use "
           "--emit=lowbit-ir (or a binary output) rather than --emit=onnx-ir\n";
    return 1;
  }
  if ((emit == Emit::Obj || emit == Emit::Lib || emit == Emit::Exe) && outputFile == "-") {
    llvm::errs() << "lowbitc: --emit=" << emitName(emit) << " needs an output file (-o)\n";
    return 1;
  }

  bool withCuda = false;
  SmallVector<std::string> cudaArchs;
  if (emit != Emit::OnnxIR && emit != Emit::LowbitIR) {
    std::string error;
    if (parseTarget(withCuda, cudaArchs, error) && withCuda &&
        lowbit::cpu::findCudaRuntimeLibrary(argv[0]).empty())
      error = "--target=" + target + ": liblowbit_cuda_runtime.a is missing from the folder of " +
              lowbit::cpu::findRuntimeLibrary(argv[0]);
    if (!error.empty() || !lowbit::cpu::checkTarget({targetCpu, targetFeatures}, error)) {
      llvm::errs() << "lowbitc: " << error << "\n";
      return 1;
    }
  }
  if (emit == Emit::Ptx) {
    if (!withCuda) {
      llvm::errs() << "lowbitc: --emit=ptx writes the CUDA kernels of --target=cpu,cuda\n";
      return 1;
    }
    return writeDevicePtx(cudaArchs, argv[0]) ? 0 : 1;
  }

  DialectRegistry registry;
  lowbit::registerAllDialects(registry);
  lowbit::registerLowbitPasses(); // what --quantize steps name
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
  // Saved IR (say, calibrated once with --calib --emit=lowbit-ir) is read
  // back as it is; a model is imported and cleaned up.
  bool savedIR = StringRef(inputFile).ends_with(".mlir");
  OwningOpRef<ModuleOp> module = savedIR ? parseSourceFile<ModuleOp>(inputFile, &context)
                                         : lowbit::importOnnxModel(inputFile, context, options);
  if (!module)
    return 1;
  if (!quiet)
    llvm::errs() << "lowbitc: " << (savedIR ? "read " : "imported ") << inputFile << " ("
                 << countOps(*module) << " ops) in " << llvm::format("%.0f", elapsedMs())
                 << " ms\n";

  if (simplify && !savedIR) {
    PassManager pm(&context);
    lowbit::populateOnnxCleanupPipeline(pm);
    if (failed(pm.run(*module)))
      return 1;
    if (!quiet)
      llvm::errs() << "lowbitc: simplified to " << countOps(*module) << " ops in "
                   << llvm::format("%.0f", elapsedMs()) << " ms\n";
  }

  // Check every step before any work.
  std::vector<lowbit::QuantizeStepPlan> plans;
  if (std::string error; failed(lowbit::planQuantizeSteps(steps, plans, error))) {
    llvm::errs() << "lowbitc: " << error << "\n";
    return 1;
  }
  bool needsCalibration =
      llvm::any_of(plans, [](const lowbit::QuantizeStepPlan &p) { return p.needsCalibration; });
  bool calibrated = false; // saved IR may carry statistics already
  module->walk([&](lowbit::CalibrationTapOp tap) { calibrated |= tap.hasStatistics(); });
  if (needsCalibration && calib.empty() && !calibrated) {
    llvm::errs() << "lowbitc: gptq, awq, smoothquant and split-outliers need calibration data: add "
                    "--calib=FILE (token ids one sequence per line, an int64 .npy, an .npz of the "
                    "model's inputs, or sample:COUNT:LENGTH)\n";
    return 1;
  }
  if (!calib.empty() && !calibrate(*module, argv[0], elapsedMs))
    return 1;

  for (const lowbit::QuantizeStepPlan &plan : plans) {
    StringRef step = plan.step, pipeline = plan.pipeline;
    if (plan.sequential) {
      if (!quantizeSequentially(*module, step, pipeline, argv[0], elapsedMs))
        return 1;
    } else {
      PassManager pm(&context);
      if (failed(parsePassPipeline(("func.func(" + pipeline + ")").str(), pm, llvm::errs())) ||
          failed(pm.run(*module)))
        return 1;
    }
    if (!quiet) {
      int64_t layers = 0, remaining = 0;
      module->walk([&](Operation *op) {
        layers += isa<lowbit::QuantizedMatMulOp>(op);
        remaining += isa<lowbit::onnx::MatMulOp>(op);
      });
      llvm::errs() << "lowbitc: --quantize=" << step << " (" << pipeline << "): " << layers
                   << " quantized linear layers, " << remaining << " MatMuls left in "
                   << "floating point, " << llvm::format("%.0f", elapsedMs()) << " ms\n";
    }
  }

  if (instrumentCalibration) {
    PassManager pm(&context);
    pm.addNestedPass<func::FuncOp>(lowbit::createInstrumentCalibrationPass());
    if (failed(pm.run(*module)))
      return 1;
  }

  if (emit != Emit::OnnxIR && emit != Emit::LowbitIR)
    return emitCode(*module, outputFile, emit, weights, optLevel, withCuda, argv[0], elapsedMs) ? 0
                                                                                                : 1;

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
