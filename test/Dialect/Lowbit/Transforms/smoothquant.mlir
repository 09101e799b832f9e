// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-smoothquant))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-smoothquant{search-alpha=true}))' | FileCheck %s --check-prefix=SEARCH

// alpha = 0.5, worked by hand: max|X| = [4, 1], W = [[1, -0.5], [2, 4]]
// (rows' max 1 and 4): s = [sqrt(4 / 1), sqrt(1 / 4)] = [2, 0.5].
//   norm scale [1, 1] / s = [0.5, 2]
//   s W = [[2, -1], [1, 2]]
//   the tap's max|X| / s = [2, 2], its Hessian diag [16, 1] / s^2 = [4, 4]
// CHECK-LABEL: func @norm
// CHECK: %[[G:.*]] = onnx.Constant dense_resource<[[GKEY:.*]]> : tensor<2xf32>
// CHECK: %[[N:.*]] = onnx.RMSNormalization %arg0, %[[G]]
// CHECK: %[[T:.*]] = lowbit.calibration_tap %[[N]] {abs_max = dense<2.000000e+00> : tensor<2xf32>, hessian = dense<{{\[\[}}4.000000e+00, 0.000000e+00], [0.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[W:.*]] = onnx.Constant dense_resource<fc.smooth> : tensor<2x2xf32>
// CHECK: onnx.MatMul %[[T]], %[[W]]
// CHECK: [[GKEY]]: "0x040000000000003F00000040"
// CHECK: fc.smooth: "0x0400000000000040000080BF0000803F00000040"
// The search keeps a scale that equalizes the ranges here too (the
// outlier-free alternatives are worse for int8 activations).
// SEARCH-LABEL: func @norm
// SEARCH: onnx.Constant dense_resource<{{.*}}smooth> : tensor<2xf32>
func.func @norm(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %g = onnx.Constant dense<1.0> : tensor<2xf32>
  %n = "onnx.RMSNormalization"(%x, %g) : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %w = onnx.Constant dense<[[1.0, -0.5], [2.0, 4.0]]> : tensor<2x2xf32>
  %t = lowbit.calibration_tap %n {name = "fc", tokens = 4 : i64,
      abs_max = dense<[4.0, 1.0]> : tensor<2xf32>,
      hessian = dense<[[16.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>} : tensor<?x2xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32> loc("fc")
  return %y : tensor<?x2xf32>
}
