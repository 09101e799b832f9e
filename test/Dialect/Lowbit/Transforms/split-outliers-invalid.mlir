// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-split-outliers))'
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-split-outliers{threshold=0}))' 2>&1 | FileCheck %s --check-prefix=THRESHOLD

// THRESHOLD: lowbit-split-outliers: threshold must be positive, got 0

func.func @uncalibrated(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  // expected-error @+1 {{lowbit-split-outliers: a linear layer has no calibration statistics: its input needs a lowbit.calibration_tap with `abs_max`}}
  %y = onnx.MatMul %x, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
