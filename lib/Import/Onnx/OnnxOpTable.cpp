//===- OnnxOpTable.cpp - The ONNX operators lowbit imports ----------------===//
//
// Each supported operator with the operator versions (since_version) whose
// semantics the onnx dialect implements. For every operator, the list is the
// tail of the operator's ONNX history from the first version supported, so a
// model's opset resolves to the right version by taking the largest listed
// version not above it. The importer turns older forms (attribute axes, Split
// sizes) into the dialect's single, newest form.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Import/OnnxImporter.h"

#include <algorithm>

std::vector<lowbit::SupportedOnnxOp> lowbit::getSupportedOnnxOps() {
  std::vector<SupportedOnnxOp> ops = {
      {"", "Abs", {6, 13}, ""},
      {"", "Add", {7, 13, 14}, ""},
      {"", "And", {7}, ""},
      {"", "Cast", {6, 9, 13, 19, 21, 23, 24, 25, 28}, "no strings"},
      {"", "Clip", {11, 12, 13}, ""},
      {"", "Concat", {4, 11, 13}, ""},
      {"", "Constant", {1, 9, 11, 12, 13, 19, 21, 23, 24, 25}, "no sparse or string values"},
      {"", "ConstantOfShape", {9, 20, 21, 23, 24, 25}, ""},
      {"", "DequantizeLinear", {10, 13, 19, 21, 23, 24, 25, 28}, ""},
      {"", "Div", {7, 13, 14}, ""},
      {"", "DynamicQuantizeLinear", {11}, ""},
      {"", "Equal", {7, 11, 13, 19}, ""},
      {"", "Erf", {9, 13}, ""},
      {"", "Exp", {6, 13}, ""},
      {"", "Expand", {8, 13}, ""},
      {"", "Flatten", {9, 11, 13, 21, 23, 24, 25}, ""},
      {"", "Gather", {11, 13}, ""},
      {"", "Gelu", {20}, ""},
      {"", "Gemm", {11, 13}, ""},
      {"", "Greater", {7, 9, 13}, ""},
      {"", "Identity", {1, 13, 14, 16, 19, 21, 23, 24, 25}, "tensors only"},
      {"", "LayerNormalization", {17}, ""},
      {"", "Less", {7, 9, 13}, ""},
      {"", "Log", {6, 13}, ""},
      {"", "LogSoftmax", {13}, ""},
      {"", "MatMul", {9, 13}, ""},
      {"", "MatMulInteger", {10}, ""},
      {"", "Max", {8, 12, 13}, ""},
      {"", "Min", {8, 12, 13}, ""},
      {"", "Mul", {7, 13, 14}, ""},
      {"", "Neg", {6, 13}, ""},
      {"", "Not", {1}, ""},
      {"", "Pow", {7, 12, 13, 15}, ""},
      {"", "QuantizeLinear", {10, 13, 19, 21, 23, 24, 25, 28}, ""},
      {"", "RMSNormalization", {23}, ""},
      {"", "Range", {11, 27}, ""},
      {"", "Reciprocal", {6, 13}, ""},
      {"", "ReduceMax", {11, 12, 13, 18, 20}, ""},
      {"", "ReduceMean", {11, 13, 18}, ""},
      {"", "ReduceSum", {11, 13}, ""},
      {"", "Relu", {6, 13, 14}, ""},
      {"", "Reshape", {5, 13, 14, 19, 21, 23, 24, 25}, ""},
      {"", "Shape", {1, 13, 15, 19, 21, 23, 24, 25}, ""},
      {"", "Sigmoid", {6, 13}, ""},
      {"",
       "SimplifiedLayerNormalization",
       {1},
       "ONNX Runtime's RMSNorm; imported as onnx.RMSNormalization"},
      {"com.microsoft", "SimplifiedLayerNormalization", {1}, "imported as onnx.RMSNormalization"},
      {"com.microsoft",
       "MatMulNBits",
       {1},
       "f32; 2, 4 or 8 bits; constant weights; no act-order g_idx; run as lowbit.quantized_matmul "
       "(int8 activations where accuracy_level = 4)"},
      {"", "Slice", {10, 11, 13}, ""},
      {"", "Softmax", {13}, "not the opset-11 form that flattens to 2-D"},
      {"", "Split", {11, 13, 18}, ""},
      {"", "Sqrt", {6, 13}, ""},
      {"", "Squeeze", {11, 13, 21, 23, 24, 25}, ""},
      {"", "Sub", {7, 13, 14}, ""},
      {"", "Tanh", {6, 13}, ""},
      {"", "Tile", {6, 13}, ""},
      {"", "Transpose", {1, 13, 21, 23, 24, 25}, ""},
      {"", "Trilu", {14}, ""},
      {"", "Unsqueeze", {11, 13, 21, 23, 24, 25}, ""},
      {"", "Where", {9, 16}, ""},
  };
  std::sort(ops.begin(), ops.end(), [](const auto &a, const auto &b) {
    return std::tie(a.name, a.domain) < std::tie(b.name, b.domain);
  });
  return ops;
}
