// RUN: lowbit-opt %s -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-convert-matmul-nbits{activations=int4}))'

// The activations option names one of three choices; anything else is
// refused before a node is touched.
// expected-error @+1 {{lowbit-convert-matmul-nbits: activations must be as-model, f32 or int8, got 'int4'}}
func.func @unknown_activations(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %b = onnx.Constant dense<[[[33, 67]]]> : tensor<1x1x2xui8>
  %s = onnx.Constant dense<[1.0]> : tensor<1xf32>
  %y = onnx.MatMulNBits %x, %b, %s {K = 4 : i64, N = 1 : i64, bits = 4 : i64, block_size = 4 : i64} : (tensor<?x4xf32>, tensor<1x1x2xui8>, tensor<1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
