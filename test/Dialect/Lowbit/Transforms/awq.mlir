// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-awq{bits=4 group-size=0 exclude=gate,up}))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-awq{bits=4 group-size=0 exclude=gate,up quantize=false clip=false}))' | FileCheck %s --check-prefix=SCALED

// Input channel 0 carries activations 50x the others' but small weights:
// rounding on the per-channel grid set by the large weights zeroes it, an
// error that H (diag 2500, 1, 1, 1) weighs 2500-fold. Scaling channel 0 up
// (alpha > 0) is then better, and 1/s folds into the norm's scale; both
// layers reading the norm share s.
// CHECK-LABEL: func @norm
// CHECK: %[[SCALE:.*]] = onnx.Constant dense_resource<{{.*}}awq> : tensor<4xf32>
// CHECK: %[[N:.*]] = onnx.RMSNormalization %arg0, %[[SCALE]]
// CHECK: %[[TQ:.*]] = lowbit.calibration_tap %[[N]]
// CHECK: lowbit.quantized_matmul %[[TQ]]
// CHECK: %[[TK:.*]] = lowbit.calibration_tap %[[N]]
// CHECK: lowbit.quantized_matmul %[[TK]]
// CHECK-NOT: onnx.MatMul
// Without rounding: the weights are scaled (new constants) and the taps'
// statistics describe x / s (channel 0's mean |x| is no longer 50).
// SCALED-LABEL: func @norm
// SCALED: onnx.RMSNormalization
// SCALED: lowbit.calibration_tap %{{.*}} {abs_max = dense<[{{[^5]}}
// SCALED: onnx.MatMul %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
func.func @norm(%x: tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %g = onnx.Constant dense<1.0> : tensor<4xf32>
  %n = "onnx.RMSNormalization"(%x, %g) : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %wq = onnx.Constant dense<[[0.05, -0.04], [1.0, 0.3], [-0.9, -1.0], [0.7, 0.45]]> : tensor<4x2xf32>
  %wk = onnx.Constant dense<[[0.03, 0.06], [-0.8, 0.9], [0.6, -0.2], [0.1, 1.0]]> : tensor<4x2xf32>
  %tq = lowbit.calibration_tap %n {name = "q", tokens = 1 : i64,
      abs_max = dense<[50.0, 1.0, 1.0, 1.0]> : tensor<4xf32>,
      mean_abs = dense<[50.0, 1.0, 1.0, 1.0]> : tensor<4xf32>,
      hessian = dense<[[2500.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : tensor<?x4xf32>
  %q = onnx.MatMul %tq, %wq : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("q")
  %tk = lowbit.calibration_tap %n {name = "k", tokens = 1 : i64,
      abs_max = dense<[50.0, 1.0, 1.0, 1.0]> : tensor<4xf32>,
      mean_abs = dense<[50.0, 1.0, 1.0, 1.0]> : tensor<4xf32>,
      hessian = dense<[[2500.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : tensor<?x4xf32>
  %k = onnx.MatMul %tk, %wk : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("k")
  return %q, %k : tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// Nothing to fold into (a function argument): an explicit multiply by 1/s.
// CHECK-LABEL: func @argument
// SCALED-LABEL: func @argument
// SCALED: %[[INV:.*]] = onnx.Constant dense_resource<{{.*}}inverse_scale> : tensor<4xf32>
// SCALED: %[[X:.*]] = onnx.Mul %arg0, %[[INV]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
// SCALED: lowbit.calibration_tap %[[X]]
// SCALED: onnx.MatMul
func.func @argument(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = onnx.Constant dense<[[0.05, -0.04], [1.0, 0.3], [-0.9, -1.0], [0.7, 0.45]]> : tensor<4x2xf32>
  %t = lowbit.calibration_tap %x {name = "fc", tokens = 1 : i64,
      mean_abs = dense<[50.0, 1.0, 1.0, 1.0]> : tensor<4xf32>,
      hessian = dense<[[2500.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : tensor<?x4xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("fc")
  return %y : tensor<?x2xf32>
}

// -----

// down(silu(gate x) * up x): down's 1/s folds into up's output columns.
// SCALED-LABEL: func @mlp
// SCALED: %[[WU:.*]] = onnx.Constant dense_resource<up.awq> : tensor<4x4xf32>
// SCALED: %[[UP:.*]] = onnx.MatMul %arg0, %[[WU]] : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
// SCALED: %[[H:.*]] = onnx.Mul %{{.*}}, %[[UP]]
// SCALED: %[[T:.*]] = lowbit.calibration_tap %[[H]]
// SCALED: onnx.MatMul %[[T]]
// SCALED-NOT: inverse_scale
func.func @mlp(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %wg = onnx.Constant dense<0.5> : tensor<4x4xf32>
  %wu = onnx.Constant dense<[[1.0, 0.5, -0.5, 0.25], [0.1, 0.2, 0.3, 0.4], [-1.0, 1.0, 0.5, 0.0], [0.3, -0.2, 0.1, 0.9]]> : tensor<4x4xf32>
  %gate = onnx.MatMul %x, %wg : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("gate")
  %act = onnx.Sigmoid %gate : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %up = onnx.MatMul %x, %wu : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("up")
  %h = onnx.Mul %act, %up : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %w = onnx.Constant dense<[[0.05, -0.04], [1.0, 0.3], [-0.9, -1.0], [0.7, 0.45]]> : tensor<4x2xf32>
  %t = lowbit.calibration_tap %h {name = "down", tokens = 1 : i64,
      mean_abs = dense<[50.0, 1.0, 1.0, 1.0]> : tensor<4xf32>,
      hessian = dense<[[2500.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>} : tensor<?x4xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("down")
  return %y : tensor<?x2xf32>
}
