// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-fuse-outlier-split))' | FileCheck %s

// What split-outliers then w8a8 write for channel 1 of 3: fused, the input
// is x itself (the op zeroes the outlier channel), and the mask multiply,
// gather and fp32 product are gone.
// CHECK-LABEL: func @split
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>)
// CHECK-DAG: %[[Q:.*]] = onnx.Constant dense<{{.*}}> : tensor<2x3xi8>
// CHECK-DAG: %[[S:.*]] = onnx.Constant dense<{{.*}}> : tensor<2x1xf32>
// CHECK-DAG: %[[IDX:.*]] = onnx.Constant dense<1> : tensor<1xi64>
// CHECK-DAG: %[[WO:.*]] = onnx.Constant dense<{{\[\[}}3.000000e+00, 4.000000e+00]]> : tensor<1x2xf32>
// CHECK: %[[Y:.*]] = lowbit.quantized_matmul %[[X]], %[[Q]], %[[S]] outliers(%[[IDX]], %[[WO]]) {activation_bits = 8 : i64, bits = 8 : i64, group_size = 3 : i64} : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x1xf32>, tensor<1xi64>, tensor<1x2xf32>) -> tensor<?x2xf32>
// CHECK-NOT: onnx.Mul
// CHECK-NOT: onnx.Gather
// CHECK-NOT: onnx.MatMul
// CHECK-NOT: onnx.Add
// CHECK: return %[[Y]]
func.func @split(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %mask = onnx.Constant dense<[1.0, 0.0, 1.0]> : tensor<3xf32>
  %xn = onnx.Mul %x, %mask : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %q = onnx.Constant dense<[[21, 0, 106], [42, 0, 127]]> : tensor<2x3xi8>
  %s = onnx.Constant dense<[[0.0472], [0.0472]]> : tensor<2x1xf32>
  %yi = lowbit.quantized_matmul %xn, %q, %s {activation_bits = 8 : i64, bits = 8 : i64, group_size = 3 : i64}
      : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x1xf32>) -> tensor<?x2xf32>
  %idx = onnx.Constant dense<1> : tensor<1xi64>
  %xo = onnx.Gather %x, %idx {axis = 1 : i64} : (tensor<?x3xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %wo = onnx.Constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %yo = onnx.MatMul %xo, %wo {lowbit.keep_float} : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y = onnx.Add %yo, %yi : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Left alone: a mask that keeps channel 1 (the sum would count it twice
// after folding); a floating-point product not marked keep_float; an
// inlier product still in fp32 (nothing quantized to fuse into).
// CHECK-LABEL: func @not_split
// CHECK-COUNT-3: onnx.Add
// CHECK-NOT: outliers(
func.func @not_split(%x: tensor<?x3xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %keep = onnx.Constant dense<[1.0, 1.0, 1.0]> : tensor<3xf32>
  %mask = onnx.Constant dense<[1.0, 0.0, 1.0]> : tensor<3xf32>
  %q = onnx.Constant dense<[[21, 0, 106], [42, 0, 127]]> : tensor<2x3xi8>
  %s = onnx.Constant dense<[[0.0472], [0.0472]]> : tensor<2x1xf32>
  %w = onnx.Constant dense<[[1.0, 2.0], [0.0, 0.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %idx = onnx.Constant dense<1> : tensor<1xi64>
  %wo = onnx.Constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %xo = onnx.Gather %x, %idx {axis = 1 : i64} : (tensor<?x3xf32>, tensor<1xi64>) -> tensor<?x1xf32>

  %xk = onnx.Mul %x, %keep : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %yi0 = lowbit.quantized_matmul %xk, %q, %s {bits = 8 : i64, group_size = 3 : i64}
      : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x1xf32>) -> tensor<?x2xf32>
  %yo0 = onnx.MatMul %xo, %wo {lowbit.keep_float} : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y0 = onnx.Add %yi0, %yo0 : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>

  %xn = onnx.Mul %x, %mask : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %yi1 = lowbit.quantized_matmul %xn, %q, %s {bits = 8 : i64, group_size = 3 : i64}
      : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x1xf32>) -> tensor<?x2xf32>
  %yo1 = onnx.MatMul %xo, %wo : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y1 = onnx.Add %yi1, %yo1 : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>

  %yi2 = onnx.MatMul %xn, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  %yo2 = onnx.MatMul %xo, %wo {lowbit.keep_float} : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y2 = onnx.Add %yi2, %yo2 : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y0, %y1, %y2 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}
