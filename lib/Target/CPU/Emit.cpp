//===- Emit.cpp - LLVM dialect module to LLVM IR and object code ----------===//

#include "lowbit/Target/CPU/Emit.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;

namespace {
/// A TargetMachine for `cpu` ("host": the CPU this compiler runs on, with
/// its features) plus `extra` features (+name or -name, comma-separated).
std::unique_ptr<llvm::TargetMachine> targetMachine(const lowbit::cpu::Target &cpu,
                                                   std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  bool host = cpu.cpu.empty() || cpu.cpu == "host";
  std::string name = host ? llvm::sys::getHostCPUName().str() : cpu.cpu;
  llvm::SubtargetFeatures features;
  if (host)
    for (const auto &[feature, enabled] : llvm::sys::getHostCPUFeatures())
      features.AddFeature(feature, enabled);
  llvm::SmallVector<llvm::StringRef> extra;
  llvm::StringRef(cpu.features).split(extra, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef feature : extra) {
    feature = feature.trim();
    if (!feature.starts_with("+") && !feature.starts_with("-")) {
      error = "target feature '" + feature.str() + "' must start with + or -";
      return nullptr;
    }
    features.AddFeature(feature);
  }
  // Checked against the target's tables (a generic subtarget knows every
  // CPU and feature name) before LLVM, which warns or aborts on unknown ones.
  std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple, "generic", ""));
  if (!info || !info->isCPUStringValid(name)) {
    error = "unknown target CPU '" + name + "' (`llc -mcpu=help` lists them)";
    return nullptr;
  }
  for (llvm::StringRef feature : extra) {
    llvm::StringRef key = feature.trim().drop_front();
    if (!llvm::any_of(info->getAllProcessorFeatures(),
                      [&](const llvm::SubtargetFeatureKV &kv) { return key == kv.Key; })) {
      error = "unknown target feature '" + key.str() + "' (`llc -mattr=help` lists them)";
      return nullptr;
    }
  }
  llvm::TargetOptions options;
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(triple, name, features.getString(), options, llvm::Reloc::PIC_,
                                  std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

/// `void lowbit_<name>_packed(void **args)`: calls `_mlir_ciface_<name>`
/// with the pointers in args (the result struct first, then the inputs).
void addPackedEntry(llvm::Module &module, llvm::Function &ciface, llvm::StringRef name) {
  llvm::LLVMContext &context = module.getContext();
  auto *ptr = llvm::PointerType::get(context, 0);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(context), {ptr}, false);
  auto *packed = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                        ("lowbit_" + name + "_packed").str(), module);
  llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", packed));
  llvm::SmallVector<llvm::Value *> args;
  for (unsigned i = 0; i < ciface.arg_size(); ++i) {
    llvm::Value *slot = builder.CreateConstGEP1_64(ptr, packed->getArg(0), i);
    args.push_back(builder.CreateLoad(ptr, slot));
  }
  builder.CreateCall(&ciface, args);
  builder.CreateRetVoid();
}

/// LLVM's default -O<level> pipeline for `machine`, with glibc's vector math
/// library (libmvec) known to the vectorizers, so that loops over exp, log,
/// tanh, ... vectorize into calls such as _ZGVeN16v_expf.
void optimize(llvm::Module &module, llvm::TargetMachine &machine, unsigned optLevel) {
  llvm::OptimizationLevel level = optLevel == 0   ? llvm::OptimizationLevel::O0
                                  : optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : optLevel == 2 ? llvm::OptimizationLevel::O2
                                                  : llvm::OptimizationLevel::O3;
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager cgscc;
  llvm::ModuleAnalysisManager modules;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = tuning.LoopInterleaving = tuning.LoopVectorization =
      tuning.SLPVectorization = optLevel > 1;
  llvm::PassBuilder builder(&machine, tuning);
  llvm::TargetLibraryInfoImpl library(module.getTargetTriple(), llvm::VectorLibrary::LIBMVEC);
  functions.registerPass([&] { return llvm::TargetLibraryAnalysis(library); });
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(cgscc);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, cgscc, modules);
  llvm::ModulePassManager passes = level == llvm::OptimizationLevel::O0
                                       ? builder.buildO0DefaultPipeline(level)
                                       : builder.buildPerModuleDefaultPipeline(level);
  passes.run(module, modules);
}
} // namespace

std::unique_ptr<llvm::Module> lowbit::cpu::translateToLLVMIR(ModuleOp module,
                                                             llvm::LLVMContext &context,
                                                             unsigned optLevel, const Target &cpu) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  module->getContext()->appendDialectRegistry(registry);
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, context);
  if (!llvmModule) {
    module.emitError("cannot translate the module to LLVM IR");
    return nullptr;
  }
  llvm::SmallVector<llvm::Function *> entries;
  for (llvm::Function &function : *llvmModule)
    if (function.getName().starts_with("_mlir_ciface_") && !function.isDeclaration())
      entries.push_back(&function);
  for (llvm::Function *entry : entries)
    addPackedEntry(*llvmModule, *entry, entry->getName().drop_front(strlen("_mlir_ciface_")));

  std::string error;
  auto machine = targetMachine(cpu, error);
  if (!machine) {
    module.emitError() << error;
    return nullptr;
  }
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  optimize(*llvmModule, *machine, optLevel);
  return llvmModule;
}

bool lowbit::cpu::checkTarget(const Target &cpu, std::string &error) {
  return targetMachine(cpu, error) != nullptr;
}

llvm::LogicalResult lowbit::cpu::emitObjectFile(llvm::Module &module, llvm::raw_pwrite_stream &os,
                                                const Target &cpu, std::string &error) {
  auto machine = targetMachine(cpu, error);
  if (!machine)
    return llvm::failure();
  llvm::legacy::PassManager passes;
  if (machine->addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the host target cannot emit object files";
    return llvm::failure();
  }
  passes.run(module);
  return llvm::success();
}

namespace {
/// Runs the system C compiler driver (`cc`, or $LOWBIT_CC) with `args`.
llvm::LogicalResult runLinker(llvm::ArrayRef<llvm::StringRef> args, std::string &error) {
  const char *cc = std::getenv("LOWBIT_CC");
  auto driver = llvm::sys::findProgramByName(cc ? cc : "cc");
  if (!driver) {
    error = "no C compiler driver to link with (install gcc or set LOWBIT_CC)";
    return llvm::failure();
  }
  llvm::SmallVector<llvm::StringRef> command{*driver};
  command.append(args.begin(), args.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*driver, command, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    error = "linking failed (" + *driver + " exited with " + std::to_string(rc) + ")" +
            (message.empty() ? "" : ": " + message);
    return llvm::failure();
  }
  return llvm::success();
}
} // namespace

namespace {
/// The runtime archives, whole (the model object does not reference the C
/// API, which the output must export all the same, and the CUDA half is
/// reached only through the CPU runtime's weak references), then the system
/// libraries they need.
void addRuntime(llvm::SmallVectorImpl<llvm::StringRef> &args,
                llvm::ArrayRef<std::string> runtimeLibraries) {
  args.push_back("-Wl,--whole-archive");
  for (const std::string &library : runtimeLibraries)
    args.push_back(library);
  args.append({"-Wl,--no-whole-archive", "-lmvec", "-lm"});
  if (runtimeLibraries.size() > 1) // the CUDA half: dlopen of the driver, its lock
    args.append({"-ldl", "-lpthread"});
}
} // namespace

llvm::LogicalResult lowbit::cpu::linkSharedLibrary(llvm::StringRef objectPath,
                                                   llvm::StringRef outputPath,
                                                   llvm::ArrayRef<std::string> runtimeLibraries,
                                                   std::string &error) {
  llvm::SmallVector<llvm::StringRef> args = {"-shared", "-o", outputPath, objectPath};
  addRuntime(args, runtimeLibraries);
  return runLinker(args, error);
}

llvm::LogicalResult lowbit::cpu::linkExecutable(llvm::StringRef objectPath,
                                                llvm::StringRef outputPath,
                                                llvm::ArrayRef<std::string> runtimeLibraries,
                                                llvm::StringRef runMainLibrary,
                                                std::string &error) {
  llvm::SmallVector<llvm::StringRef> args = {"-o", outputPath, objectPath, runMainLibrary};
  addRuntime(args, runtimeLibraries);
  args.push_back("-lstdc++");
  return runLinker(args, error);
}

void lowbit::cpu::addStringGlobal(llvm::Module &module, llvm::StringRef name,
                                  llvm::StringRef text) {
  auto *data = llvm::ConstantDataArray::getString(module.getContext(), text, /*AddNull=*/true);
  auto *global = new llvm::GlobalVariable(module, data->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::ExternalLinkage, data, name);
  global->setAlignment(llvm::Align(1));
}

namespace {
/// `<bin>/../lib/<name>` for a tool started as `argv0`.
std::string besideTools(const char *argv0, llvm::StringRef name) {
  static int anchor;
  llvm::SmallString<256> path(llvm::sys::fs::getMainExecutable(argv0, &anchor));
  llvm::sys::path::remove_filename(path); // bin/
  llvm::sys::path::remove_filename(path); // the build or install root
  llvm::sys::path::append(path, "lib", name);
  return std::string(path);
}
} // namespace

std::string lowbit::cpu::findRuntimeLibrary(const char *argv0) {
  if (const char *path = std::getenv("LOWBIT_RUNTIME_LIB"))
    return path;
  return besideTools(argv0, "liblowbit_cpu_runtime.a");
}

std::string lowbit::cpu::findCudaRuntimeLibrary(const char *argv0) {
  std::string path = besideTools(argv0, "liblowbit_cuda_runtime.a");
  return llvm::sys::fs::exists(path) ? path : "";
}

std::string lowbit::cpu::findCudaPtxFolder(const char *argv0) { return besideTools(argv0, "cuda"); }

std::string lowbit::cpu::findRunMainLibrary(const char *argv0) {
  return besideTools(argv0, "liblowbit_run_main.a");
}

std::string lowbit::cpu::findRunTool(const char *argv0) {
  static int anchor;
  llvm::SmallString<256> path(llvm::sys::fs::getMainExecutable(argv0, &anchor));
  llvm::sys::path::remove_filename(path);
  llvm::sys::path::append(path, "lowbit-run");
  return std::string(path);
}
