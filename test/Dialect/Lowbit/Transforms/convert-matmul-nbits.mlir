// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-convert-matmul-nbits))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-convert-matmul-nbits{activations=f32}))' | FileCheck %s --check-prefix=F32
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-convert-matmul-nbits{activations=int8}))' | FileCheck %s --check-prefix=INT8

// 4 bits, zero points, blocks of 2: ONNX Runtime's unsigned levels (low
// nibble first) and zero points (a row's blocks packed likewise) less 8.
// B row 0: 0x21 0x43 -> levels 1 2 3 4 -> -7 -6 -5 -4 (F9 FA FB FC); row 1:
// 0xF0 0x08 -> 0 15 8 0 -> -8 7 0 -8 (F8 07 00 F8). Zero points 0x98 -> 8 9
// -> 0 1; 0x08 -> 8 0 -> 0 -8. The scales stay as they are.
// CHECK-LABEL: func @asymmetric
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-DAG: %[[Q:.*]] = onnx.Constant dense_resource<[[QKEY:matmul_nbits0.q4]]> : tensor<2x4xi8>
// CHECK-DAG: %[[S:.*]] = onnx.Constant dense_resource<[[SKEY:matmul_nbits0.scales]]> : tensor<2x2xf32>
// CHECK-DAG: %[[Z:.*]] = onnx.Constant dense_resource<[[ZKEY:matmul_nbits0.zeros]]> : tensor<2x2xi8>
// CHECK: %[[Y:.*]] = lowbit.quantized_matmul %[[X]], %[[Q]], %[[S]] zero_points %[[Z]] {bits = 4 : i64, group_size = 2 : i64} : (tensor<?x4xf32>, tensor<2x4xi8>, tensor<2x2xf32>, tensor<2x2xi8>) -> tensor<?x2xf32>
// No accuracy level: f32 activations unless the option says int8.
// F32-LABEL: func @asymmetric
// F32: lowbit.quantized_matmul {{.*}} {bits = 4 : i64, group_size = 2 : i64}
// INT8-LABEL: func @asymmetric
// INT8: lowbit.quantized_matmul {{.*}} {activation_bits = 8 : i64, bits = 4 : i64, group_size = 2 : i64}
// CHECK-NOT: onnx.MatMulNBits
// CHECK-NOT: ui8
// CHECK: return %[[Y]]
// CHECK: [[QKEY]]: "0x01000000F9FAFBFCF80700F8"
// CHECK: [[SKEY]]: "0x040000000000003F0000803E0000004000008040"
// CHECK: [[ZKEY]]: "0x01000000000100F8"
func.func @asymmetric(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %b = onnx.Constant dense<[[[33], [67]], [[240], [8]]]> : tensor<2x2x1xui8>
  %s = onnx.Constant dense<[[0.5, 0.25], [2.0, 4.0]]> : tensor<2x2xf32>
  %z = onnx.Constant dense<[[152], [8]]> : tensor<2x1xui8>
  %y = onnx.MatMulNBits %x, %b, %s zero_points %z {K = 4 : i64, N = 2 : i64, bits = 4 : i64, block_size = 2 : i64} : (tensor<?x4xf32>, tensor<2x2x1xui8>, tensor<2x2xf32>, tensor<2x1xui8>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Zero points that are all the default (8) become the symmetric form; a
// ragged K (3 in blocks of 2: the last byte's high nibble is padding); the
// bias is added after; a g_idx in plain block order is accepted.
// accuracy_level = 4 (ONNX Runtime's int8 compute) gives int8 activations
// unless activations=f32.
// B: 0x9A 0x0B -> 10 9 11 (0) -> 2 1 3 (02 01 03).
// CHECK-LABEL: func @symmetric_ragged_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>, %[[BIAS:.*]]: tensor<1xf32>)
// CHECK-DAG: %[[Q:.*]] = onnx.Constant dense_resource<[[QKEY:matmul_nbits0.q4]]> : tensor<1x3xi8>
// CHECK-DAG: %[[S:.*]] = onnx.Constant dense_resource<{{.*}}> : tensor<1x2xf32>
// CHECK: %[[P:.*]] = lowbit.quantized_matmul %[[X]], %[[Q]], %[[S]] {activation_bits = 8 : i64, bits = 4 : i64, group_size = 2 : i64} : (tensor<?x3xf32>, tensor<1x3xi8>, tensor<1x2xf32>) -> tensor<?x1xf32>
// CHECK: %[[Y:.*]] = onnx.Add %[[P]], %[[BIAS]]
// CHECK: return %[[Y]]
// CHECK: [[QKEY]]: "0x01000000020103"
// F32-LABEL: func @symmetric_ragged_bias
// F32: lowbit.quantized_matmul {{.*}} {bits = 4 : i64, group_size = 2 : i64}
// INT8-LABEL: func @symmetric_ragged_bias
// INT8: lowbit.quantized_matmul {{.*}} {activation_bits = 8 : i64, bits = 4 : i64, group_size = 2 : i64}
func.func @symmetric_ragged_bias(%x: tensor<?x3xf32>, %bias: tensor<1xf32>) -> tensor<?x1xf32> {
  %b = onnx.Constant dense<[[[154], [11]]]> : tensor<1x2x1xui8>
  %s = onnx.Constant dense<[1.0, 2.0]> : tensor<2xf32>
  %z = onnx.Constant dense<[136]> : tensor<1xui8>
  %g = onnx.Constant dense<[0, 0, 1]> : tensor<3xi32>
  %y = onnx.MatMulNBits %x, %b, %s zero_points %z g_idx %g bias %bias {K = 3 : i64, N = 1 : i64, bits = 4 : i64, block_size = 2 : i64, accuracy_level = 4 : i64} : (tensor<?x3xf32>, tensor<1x2x1xui8>, tensor<2xf32>, tensor<1xui8>, tensor<3xi32>, tensor<1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// 2 bits (four levels to a byte, default zero point 2) and 8 bits (default
// zero point 128). 0xE4 -> 0 1 2 3 -> -2 -1 0 1; 0x00 0x80 0xFF 0x7F ->
// -128 0 127 -1.
// CHECK-LABEL: func @two_and_eight_bits
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {bits = 2 : i64, group_size = 4 : i64}
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {bits = 8 : i64, group_size = 4 : i64}
// CHECK: matmul_nbits0.q2: "0x01000000FEFF0001"
// CHECK: matmul_nbits1.q8: "0x0100000080007FFF"
func.func @two_and_eight_bits(%x: tensor<?x4xf32>) -> (tensor<?x1xf32>, tensor<?x1xf32>) {
  %b2 = onnx.Constant dense<[[[228]]]> : tensor<1x1x1xui8>
  %b8 = onnx.Constant dense<[[[0, 128, 255, 127]]]> : tensor<1x1x4xui8>
  %s = onnx.Constant dense<[0.5]> : tensor<1xf32>
  %y2 = onnx.MatMulNBits %x, %b2, %s {K = 4 : i64, N = 1 : i64, bits = 2 : i64, block_size = 4 : i64} : (tensor<?x4xf32>, tensor<1x1x1xui8>, tensor<1xf32>) -> tensor<?x1xf32>
  %y8 = onnx.MatMulNBits %x, %b8, %s {K = 4 : i64, N = 1 : i64, bits = 8 : i64, block_size = 4 : i64} : (tensor<?x4xf32>, tensor<1x1x4xui8>, tensor<1xf32>) -> tensor<?x1xf32>
  return %y2, %y8 : tensor<?x1xf32>, tensor<?x1xf32>
}
