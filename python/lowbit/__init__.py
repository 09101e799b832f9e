"""lowbit: an ahead-of-time compiler for quantized transformer inference.

The Python face of the compiler. For now it drives the command-line tools:

    import lowbit
    ir = lowbit.import_onnx("model.onnx")          # onnx dialect IR as text
    lowbit.compile("model.onnx", "model.so", emit="lib")
    outputs = lowbit.load("model.so").run({"input_ids": ids})

Tools are found in $LOWBIT_TOOLS_DIR, then in build/bin of the source tree,
then on $PATH.
"""
from ._runtime import Model, RuntimeError_ as ModelRunError, load
from ._tools import CompileError, compile, find_tool, import_onnx, supported_ops

__all__ = ["CompileError", "Model", "ModelRunError", "compile", "find_tool", "import_onnx", "load", "supported_ops"]
