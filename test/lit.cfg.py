# -*- Python -*-
import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "lowbit"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.lowbit_obj_root, "test")

llvm_config.with_system_environment(["HOME", "PATH", "PYTHONPATH"])
llvm_config.use_default_substitutions()

# Our tools first, then FileCheck & co. from the LLVM installation.
llvm_config.with_environment("PATH", config.lowbit_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["lowbit-opt", "lowbitc"], [config.lowbit_tools_dir])

python = config.python_executable or shutil.which("python3")
config.substitutions.append(("%python", python))
# Writes tiny ONNX models for the importer tests: %make-model KIND OUT.onnx
config.substitutions.append(
    ("%make-model", f"{python} {os.path.join(config.test_source_root, 'Import', 'Inputs', 'make_model.py')}"))
config.substitutions.append(("%shared", os.path.join(config.lowbit_src_root, "..", "shared")))

# The CUDA kernels' PTX (built where nvcc is): ptxas checks them on every
# machine, GPU or not.
if config.lowbit_cuda_ptx_dir and os.path.isdir(config.lowbit_cuda_ptx_dir):
    config.available_features.add("cuda-toolkit")
    config.substitutions.append(("%cuda_ptx", config.lowbit_cuda_ptx_dir))
    config.substitutions.append(("%ptxas", config.lowbit_ptxas))

if os.path.isdir(os.path.join(config.lowbit_src_root, "..", "shared", "models")):
    config.available_features.add("shared-models")
