// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-gptq))'
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-gptq{act-order=true group-size=32}))' 2>&1 | FileCheck %s --check-prefix=ACT
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-gptq{damp-percent=0}))' 2>&1 | FileCheck %s --check-prefix=DAMP

// ACT: lowbit-gptq: act-order with group-size needs static-groups=true
// DAMP: lowbit-gptq: damp-percent must be in (0, 1), got 0

// A layer whose input was never calibrated.
func.func @uncalibrated(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  // expected-error @+1 {{lowbit-gptq: a linear layer has no calibration Hessian}}
  %y = onnx.MatMul %x, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// A tap with abs_max only.
func.func @no_hessian(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64, abs_max = dense<1.0> : tensor<2xf32>} : tensor<?x2xf32>
  // expected-error @+1 {{lowbit-gptq: layer 'fc' has no calibration Hessian}}
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// A Hessian that damping cannot make positive definite.
func.func @indefinite(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64,
                                  hessian = dense<[[1.0, 5.0], [5.0, 1.0]]> : tensor<2x2xf32>} : tensor<?x2xf32>
  // expected-error @+1 {{lowbit-gptq: layer 'fc': the damped Hessian is not positive definite}}
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
