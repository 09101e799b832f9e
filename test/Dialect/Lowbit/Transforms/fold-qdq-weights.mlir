// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-fold-qdq-weights))' | FileCheck %s

// int8 levels with a scale and zero point per column of W (axis 1): one
// group of K per output channel; the levels transposed to [N, K]. W
// [[1, -2], [3, 4], [-5, 6]] -> rows 01 03 FB, FE 04 06; zero points 0 and
// -1 (00 FF); scales 0.5 and 2.
// CHECK-LABEL: func @per_column
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>)
// CHECK-DAG: %[[Q:.*]] = onnx.Constant dense_resource<[[QKEY:qdq_weight0.q8]]> : tensor<2x3xi8>
// CHECK-DAG: %[[S:.*]] = onnx.Constant dense_resource<[[SKEY:qdq_weight0.scales]]> : tensor<2x1xf32>
// CHECK-DAG: %[[Z:.*]] = onnx.Constant dense_resource<[[ZKEY:qdq_weight0.zeros]]> : tensor<2x1xi8>
// CHECK: %[[Y:.*]] = lowbit.quantized_matmul %[[X]], %[[Q]], %[[S]] zero_points %[[Z]] {bits = 8 : i64, group_size = 3 : i64}
// CHECK-NOT: onnx.DequantizeLinear
// CHECK-NOT: onnx.MatMul
// CHECK: return %[[Y]]
// CHECK: [[QKEY]]: "0x010000000103FBFE0406"
// CHECK: [[SKEY]]: "0x040000000000003F00000040"
// CHECK: [[ZKEY]]: "0x0100000000FF"
func.func @per_column(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %q = onnx.Constant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xi8>
  %s = onnx.Constant dense<[0.5, 2.0]> : tensor<2xf32>
  %z = onnx.Constant dense<[0, -1]> : tensor<2xi8>
  %w = onnx.DequantizeLinear %q, %s zero_point %z {axis = 1 : i64} : (tensor<3x2xi8>, tensor<2xf32>, tensor<2xi8>) -> tensor<3x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// uint8 levels, one scale, zero point 128: levels less 128, the symmetric
// form. W [[128, 129], [127, 0], [255, 128]] -> rows 0 -1 127 (00 FF 7F)
// and 1 -128 0 (01 80 00).
// CHECK-LABEL: func @per_tensor_unsigned
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {bits = 8 : i64, group_size = 3 : i64} : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x1xf32>) -> tensor<?x2xf32>
// CHECK: qdq_weight0.q8: "0x0100000000FF7F018000"
func.func @per_tensor_unsigned(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %q = onnx.Constant dense<[[128, 129], [127, 0], [255, 128]]> : tensor<3x2xui8>
  %s = onnx.Constant dense<0.25> : tensor<f32>
  %z = onnx.Constant dense<128> : tensor<ui8>
  %w = onnx.DequantizeLinear %q, %s zero_point %z : (tensor<3x2xui8>, tensor<f32>, tensor<ui8>) -> tensor<3x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A scale per block of 2 rows (axis 0, block_size 2; the last block
// ragged): groups of 2; scales [ceil(3 / 2), N] -> [N, 2].
// CHECK-LABEL: func @blocked
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {bits = 8 : i64, group_size = 2 : i64} : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x2xf32>) -> tensor<?x2xf32>
// CHECK: qdq_weight0.scales: "0x040000000000803F000040400000004000008040"
func.func @blocked(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %q = onnx.Constant dense<[[1, 2], [3, 4], [5, 6]]> : tensor<3x2xi8>
  %s = onnx.Constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w = onnx.DequantizeLinear %q, %s {axis = 0 : i64, block_size = 2 : i64} : (tensor<3x2xi8>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// 4-bit levels (ONNX's int4 / uint4, imported one per byte): signed ones
// as they are, unsigned ones less 8; blocks of 2 rows.
// W int4 [[1, -2], [-8, 7], [3, 0]] -> rows 01 F8 03, FE 07 00.
// W uint4 [[8, 9], [0, 15], [7, 8]], zero points 8 8 / 9 8 -> rows 00 F8
// FF, 01 07 00; zero points 00 01, 00 00.
// CHECK-LABEL: func @four_bits
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {bits = 4 : i64, group_size = 2 : i64} : (tensor<?x3xf32>, tensor<2x3xi8>
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} zero_points %{{.*}} {bits = 4 : i64, group_size = 2 : i64}
// CHECK: qdq_weight0.q4: "0x0100000001F803FE0700"
// CHECK: qdq_weight1.q4: "0x0100000000F8FF010700"
// CHECK: qdq_weight1.zeros: "0x0100000000010000"
func.func @four_bits(%x: tensor<?x3xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %q = onnx.Constant dense<[[1, -2], [-8, 7], [3, 0]]> : tensor<3x2xi4>
  %s = onnx.Constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w = onnx.DequantizeLinear %q, %s {axis = 0 : i64, block_size = 2 : i64} : (tensor<3x2xi4>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  %uq = onnx.Constant dense<[[8, 9], [0, 15], [7, 8]]> : tensor<3x2xui4>
  %uz = onnx.Constant dense<[[8, 8], [9, 8]]> : tensor<2x2xui4>
  %uw = onnx.DequantizeLinear %uq, %s zero_point %uz {axis = 0 : i64, block_size = 2 : i64} : (tensor<3x2xui4>, tensor<2x2xf32>, tensor<2x2xui4>) -> tensor<3x2xf32>
  %uy = onnx.MatMul %x, %uw : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y, %uy : tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// Left as they are: a scale per row of W (axis 0, no blocks), and weights
// that are not constants.
// CHECK-LABEL: func @not_group_wise
// CHECK: onnx.DequantizeLinear
// CHECK: onnx.MatMul
// CHECK: onnx.DequantizeLinear
// CHECK: onnx.MatMul
// CHECK-NOT: lowbit.quantized_matmul
func.func @not_group_wise(%x: tensor<?x3xf32>, %levels: tensor<3x2xi8>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %q = onnx.Constant dense<[[1, 2], [3, 4], [5, 6]]> : tensor<3x2xi8>
  %s = onnx.Constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %w = onnx.DequantizeLinear %q, %s {axis = 0 : i64} : (tensor<3x2xi8>, tensor<3xf32>) -> tensor<3x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  %s2 = onnx.Constant dense<[1.0, 2.0]> : tensor<2xf32>
  %w2 = onnx.DequantizeLinear %levels, %s2 {axis = 1 : i64} : (tensor<3x2xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  %y2 = onnx.MatMul %x, %w2 : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y, %y2 : tensor<?x2xf32>, tensor<?x2xf32>
}
