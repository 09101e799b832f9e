// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-awq))'
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-awq{grid=0}))' 2>&1 | FileCheck %s --check-prefix=GRID
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-awq{bits=6}))' 2>&1 | FileCheck %s --check-prefix=BITS

// GRID: lowbit-awq: grid must be positive, got 0
// BITS: lowbit-awq: bits must be 2, 3, 4 or 8, got 6

// A tap with a Hessian but no mean |x|.
func.func @no_mean(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64,
                                  hessian = dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>} : tensor<?x2xf32>
  // expected-error @+1 {{lowbit-awq: layer 'fc' has no calibration statistics}}
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

func.func @uncalibrated(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  // expected-error @+1 {{lowbit-awq: a linear layer has no calibration statistics}}
  %y = onnx.MatMul %x, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
