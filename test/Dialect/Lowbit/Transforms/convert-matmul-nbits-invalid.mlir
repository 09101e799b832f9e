// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-convert-matmul-nbits))'

// Weights that are not constants cannot be unpacked at compile time.
func.func @weights_not_constant(%x: tensor<?x4xf32>, %b: tensor<1x1x2xui8>) -> tensor<?x1xf32> {
  %s = onnx.Constant dense<[1.0]> : tensor<1xf32>
  // expected-error @+1 {{lowbit-convert-matmul-nbits: B must be a constant ui8 tensor}}
  %y = onnx.MatMulNBits %x, %b, %s {K = 4 : i64, N = 1 : i64, bits = 4 : i64, block_size = 4 : i64} : (tensor<?x4xf32>, tensor<1x1x2xui8>, tensor<1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// An act-order g_idx that permutes rows among blocks.
func.func @act_order(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %b = onnx.Constant dense<[[[1], [2]]]> : tensor<1x2x1xui8>
  %s = onnx.Constant dense<[1.0, 2.0]> : tensor<2xf32>
  %g = onnx.Constant dense<[1, 0, 0, 1]> : tensor<4xi64>
  // expected-error @+1 {{g_idx (act-order block indices) other than row / block_size is not supported}}
  %y = onnx.MatMulNBits %x, %b, %s g_idx %g {K = 4 : i64, N = 1 : i64, bits = 4 : i64, block_size = 2 : i64} : (tensor<?x4xf32>, tensor<1x2x1xui8>, tensor<2xf32>, tensor<4xi64>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// Float zero points (as some quantizers write them).
func.func @float_zero_points(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %b = onnx.Constant dense<[[[1, 2]]]> : tensor<1x1x2xui8>
  %s = onnx.Constant dense<[1.0]> : tensor<1xf32>
  %z = onnx.Constant dense<[8.0]> : tensor<1xf32>
  // expected-error @+1 {{float zero points are not supported}}
  %y = onnx.MatMulNBits %x, %b, %s zero_points %z {K = 4 : i64, N = 1 : i64, bits = 4 : i64, block_size = 4 : i64} : (tensor<?x4xf32>, tensor<1x1x2xui8>, tensor<1xf32>, tensor<1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// fp16 activations and scales.
func.func @half(%x: tensor<?x4xf16>) -> tensor<?x1xf16> {
  %b = onnx.Constant dense<[[[1, 2]]]> : tensor<1x1x2xui8>
  %s = onnx.Constant dense<[1.0]> : tensor<1xf16>
  // expected-error @+1 {{A and scales must be f32}}
  %y = onnx.MatMulNBits %x, %b, %s {K = 4 : i64, N = 1 : i64, bits = 4 : i64, block_size = 4 : i64} : (tensor<?x4xf16>, tensor<1x1x2xui8>, tensor<1xf16>) -> tensor<?x1xf16>
  return %y : tensor<?x1xf16>
}

// -----

// Fewer scales than blocks.
func.func @scales_count(%x: tensor<?x4xf32>) -> tensor<?x1xf32> {
  %b = onnx.Constant dense<[[[1], [2]]]> : tensor<1x2x1xui8>
  %s = onnx.Constant dense<[1.0]> : tensor<1xf32>
  // expected-error @+1 {{scales must be a constant of N * ceil(K / block_size) f32 values}}
  %y = onnx.MatMulNBits %x, %b, %s {K = 4 : i64, N = 1 : i64, bits = 4 : i64, block_size = 2 : i64} : (tensor<?x4xf32>, tensor<1x2x1xui8>, tensor<1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
