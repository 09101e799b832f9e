// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=8 group-size=0 activation-bits=8 static-activations=true}))'

// A static activation scale needs the input's calibrated range.
func.func @uncalibrated(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = onnx.Constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  // expected-error @+1 {{lowbit-rtn: a linear layer has no calibration abs_max for a static activation scale}}
  %y = onnx.MatMul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// A tap without abs_max (only a Hessian) does not do either.
func.func @no_abs_max(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.0], [2.0]]> : tensor<2x1xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 4 : i64,
      hessian = dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>} : tensor<?x2xf32>
  // expected-error @+1 {{lowbit-rtn: layer 'fc' has no calibration abs_max}}
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}

// -----

// RUN: not lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=8 group-size=0 static-activations=true}))' 2>&1 | FileCheck %s --check-prefix=NEEDS-INT8
// NEEDS-INT8: lowbit-rtn: static-activations needs activation-bits=8
