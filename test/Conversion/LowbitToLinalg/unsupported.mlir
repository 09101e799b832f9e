// RUN: lowbit-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(convert-lowbit-to-linalg)' -o /dev/null

// A 1-D input (a single vector) is not lowered yet.
func.func @vector_input(%x: tensor<64xf32>, %q: tensor<8x64xi8>, %s: tensor<8x1xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{cannot lower lowbit.quantized_matmul to linalg}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 8 : i64, group_size = 64 : i64}
     : (tensor<64xf32>, tensor<8x64xi8>, tensor<8x1xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
