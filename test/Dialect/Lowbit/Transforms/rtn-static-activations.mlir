// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=8 group-size=0 activation-bits=8 static-activations=true}))' | FileCheck %s

// One int8 activation scale per layer from calibration: the largest
// abs_max over the input channels, 2.54, over 127 = 0.02.
// CHECK-LABEL: func @from_tap
// CHECK: lowbit.quantized_matmul %{{.*}} {activation_bits = 8 : i64, activation_scale = 2.000000e-02 : f32, bits = 8 : i64, group_size = 3 : i64}
func.func @from_tap(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = onnx.Constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64,
      abs_max = dense<[1.0, 2.54, 0.5]> : tensor<3xf32>} : tensor<?x3xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32> loc("fc")
  return %y : tensor<?x2xf32>
}

// -----

// Through a multiply by a constant vector (a split layer's mask of normal
// channels): channel 1 is masked off, the others scale by 1 and 2, so the
// range is max(1.0 * 1, 0.635 * 2) = 1.27 and the scale 0.01.
// CHECK-LABEL: func @through_mask
// CHECK: lowbit.quantized_matmul %{{.*}} {activation_bits = 8 : i64, activation_scale = 0.00999999977 : f32, bits = 8 : i64, group_size = 3 : i64}
func.func @through_mask(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = onnx.Constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64,
      abs_max = dense<[1.0, 10.0, 0.635]> : tensor<3xf32>} : tensor<?x3xf32>
  %mask = onnx.Constant dense<[1.0, 0.0, 2.0]> : tensor<3xf32>
  %xn = onnx.Mul %t, %mask : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %y = onnx.MatMul %xn, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32> loc("fc")
  return %y : tensor<?x2xf32>
}
