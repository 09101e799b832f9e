// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-instrument-calibration))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-instrument-calibration{exclude=head}),func.func(lowbit-instrument-calibration))' | FileCheck %s --check-prefix=TWICE

// Each linear layer reads its input through a tap named after the layer;
// two layers sharing an input get one tap each; a MatMul by a run-time value
// is not a linear layer.
// CHECK-LABEL: func @layers
// CHECK: %[[Q:.*]] = lowbit.calibration_tap %arg0 {name = "layers.0.q"} : tensor<?x4xf32>
// CHECK: onnx.MatMul %[[Q]], %{{.*}}
// CHECK: %[[K:.*]] = lowbit.calibration_tap %arg0 {name = "layers.0.k"} : tensor<?x4xf32>
// CHECK: onnx.MatMul %[[K]], %{{.*}}
// CHECK: %[[H:.*]] = lowbit.calibration_tap %{{.*}} {name = "lm_head"} : tensor<?x4xf32>
// CHECK: onnx.MatMul %[[H]], %{{.*}}
// CHECK: onnx.MatMul %arg0, %arg1
// CHECK-NOT: calibration_tap
// Run twice (the first time excluding the head): one tap per layer, the
// head tapped by the second run.
// TWICE-LABEL: func @layers
// TWICE-COUNT-3: lowbit.calibration_tap
// TWICE-NOT: lowbit.calibration_tap
func.func @layers(%x: tensor<?x4xf32>, %r: tensor<4x2xf32>) -> (tensor<?x4xf32>, tensor<?x2xf32>) {
  %wq = onnx.Constant dense<1.0> : tensor<4x4xf32>
  %wk = onnx.Constant dense<2.0> : tensor<4x4xf32>
  %wh = onnx.Constant dense<0.5> : tensor<4x4xf32>
  %q = onnx.MatMul %x, %wq : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("layers.0.q")
  %k = onnx.MatMul %x, %wk : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("layers.0.k")
  %s = onnx.Add %q, %k : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %h = onnx.MatMul %s, %wh : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32> loc("lm_head")
  %d = onnx.MatMul %x, %r : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %h, %d : tensor<?x4xf32>, tensor<?x2xf32>
}
