// RUN: lowbit-opt %s -canonicalize -split-input-file | FileCheck %s

// Zero points that are all zero are symmetric quantization: dropped.
// CHECK-LABEL: func @zero_zero_points
// CHECK: lowbit.quantized_matmul %arg0, %arg1, %arg2 {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
func.func @zero_zero_points(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) -> tensor<4x2xf32> {
  %z = arith.constant dense<0> : tensor<2x1xi8>
  %0 = lowbit.quantized_matmul %x, %q, %s zero_points %z {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<2x1xi8>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// Non-zero zero points stay; an unused quantized matmul is dead (Pure), an
// unused calibration tap is not (it waits for calibration).
// CHECK-LABEL: func @kept
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} zero_points
// CHECK-NOT: lowbit.quantized_matmul
// CHECK: lowbit.calibration_tap
func.func @kept(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) -> tensor<4x2xf32> {
  %z = arith.constant dense<[[0], [1]]> : tensor<2x1xi8>
  %0 = lowbit.quantized_matmul %x, %q, %s zero_points %z {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<2x1xi8>) -> tensor<4x2xf32>
  %dead = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  %tap = lowbit.calibration_tap %x {name = "unused"} : tensor<4x8xf32>
  return %0 : tensor<4x2xf32>
}
