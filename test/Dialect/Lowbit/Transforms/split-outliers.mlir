// RUN: lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-split-outliers))' | FileCheck %s
// RUN: lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-split-outliers,lowbit-rtn{bits=8 group-size=0 activation-bits=8}))' | FileCheck %s --check-prefix=W8A8

// max |x| = [1, 10, 2], threshold 6: channel 1 is an outlier.
//   x W = (x * [1, 0, 1]) [[1, 2], [0, 0], [5, 6]] + x[:, [1]] [[3, 4]]
// CHECK-LABEL: func @split
// CHECK: %[[T:.*]] = lowbit.calibration_tap %arg0
// CHECK: %[[MASK:.*]] = onnx.Constant dense_resource<fc.normal_channels> : tensor<3xf32>
// CHECK: %[[XN:.*]] = onnx.Mul %[[T]], %[[MASK]]
// CHECK: %[[WI:.*]] = onnx.Constant dense_resource<fc.inliers> : tensor<3x2xf32>
// CHECK: %[[YI:.*]] = onnx.MatMul %[[XN]], %[[WI]]
// CHECK: %[[IDX:.*]] = onnx.Constant dense<1> : tensor<1xi64>
// CHECK: %[[XO:.*]] = onnx.Gather %[[T]], %[[IDX]] {axis = 1 : i64} : (tensor<?x3xf32>, tensor<1xi64>) -> tensor<?x1xf32>
// CHECK: %[[WO:.*]] = onnx.Constant dense_resource<fc.outliers> : tensor<1x2xf32>
// CHECK: %[[YO:.*]] = onnx.MatMul %[[XO]], %[[WO]] {lowbit.keep_float}
// CHECK: onnx.Add %[[YI]], %[[YO]]
// A layer without outliers is left alone.
// CHECK: onnx.MatMul %{{.*}}, %{{.*}} : (tensor<?x3xf32>, tensor<3x2xf32>)
// CHECK-NOT: onnx.Gather
// CHECK: fc.normal_channels: "0x040000000000803F000000000000803F"
// CHECK: fc.inliers: "0x040000000000803F0000004000000000000000000000A0400000C040"
// CHECK: fc.outliers: "0x040000000000404000008040"
// W8A8 after it quantizes the inlier product and the untouched layer, not
// the outliers' product.
// W8A8-LABEL: func @split
// W8A8: lowbit.quantized_matmul
// W8A8: onnx.MatMul %{{.*}}, %{{.*}} {lowbit.keep_float}
// W8A8: lowbit.quantized_matmul
// W8A8-NOT: onnx.MatMul
func.func @split(%x: tensor<?x3xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w = onnx.Constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64,
      abs_max = dense<[1.0, 10.0, 2.0]> : tensor<3xf32>} : tensor<?x3xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32> loc("fc")
  %t2 = lowbit.calibration_tap %x {name = "calm", tokens = 4 : i64,
      abs_max = dense<[1.0, 5.0, 2.0]> : tensor<3xf32>} : tensor<?x3xf32>
  %z = onnx.MatMul %t2, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32> loc("calm")
  return %y, %z : tensor<?x2xf32>, tensor<?x2xf32>
}
