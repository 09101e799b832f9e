// RUN: lowbit-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(convert-lowbit-to-linalg)' -o /dev/null

// Activation quantization is not lowered yet: named in an error, not dropped.
func.func @dynamic_quantize(%x: tensor<?x16xf32>) -> tensor<?x16xi8> {
  // expected-error @+1 {{cannot lower lowbit.dynamic_quantize to linalg: this form is not supported yet}}
  %q, %s = lowbit.dynamic_quantize %x {bits = 8 : i64} : (tensor<?x16xf32>) -> (tensor<?x16xi8>, tensor<?x1xf32>)
  return %q : tensor<?x16xi8>
}

// -----

// A 1-D input (a single vector) is not lowered yet.
func.func @vector_input(%x: tensor<64xf32>, %q: tensor<8x64xi8>, %s: tensor<8x1xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{cannot lower lowbit.quantized_matmul to linalg}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 8 : i64, group_size = 64 : i64}
     : (tensor<64xf32>, tensor<8x64xi8>, tensor<8x1xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
