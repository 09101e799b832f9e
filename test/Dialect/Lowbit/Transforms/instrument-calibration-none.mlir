// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-instrument-calibration))' | FileCheck %s

// A tap already in place (here one with statistics) is kept, and its layer
// not tapped again. Negative case: a tap whose statistics contradict its
// input is rejected before the pass runs.
// CHECK-LABEL: func @already
// CHECK-COUNT-1: lowbit.calibration_tap
// CHECK-NOT: lowbit.calibration_tap
func.func @already(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = onnx.Constant dense<1.0> : tensor<4x4xf32>
  %t = lowbit.calibration_tap %x {name = "mine", tokens = 3 : i64} : tensor<?x4xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

func.func @malformed(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'lowbit.calibration_tap' op abs_max must be f32 of shape [4] (the input's 4 channels)}}
  %t = lowbit.calibration_tap %x {name = "bad", abs_max = dense<1.0> : tensor<3xf32>} : tensor<?x4xf32>
  return %t : tensor<?x4xf32>
}
