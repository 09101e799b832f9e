// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{bits=4}))' | FileCheck %s --check-prefix=FOUR

// The cache input becomes levels and scales; the new keys are quantized per
// token and head and appended to both; the attention reads their
// dequantization; the present output becomes levels and scales. A shape
// read of the cache (the past length) stays on the levels.
// CHECK-LABEL: func @cache
// CHECK-SAME: (%[[IDS:.*]]: tensor<?x4xf32>, %[[PAST:.*]]: tensor<?x2x?x4xi8> {onnx.name = "past.0.key"}, %[[SCALES:.*]]: tensor<?x2x?x1xf32> {onnx.name = "past.0.key.scales"})
// CHECK-SAME: -> (tensor<?x2x?x4xf32> {onnx.name = "scores"}, tensor<?x2x?x4xi8> {onnx.name = "present.0.key"}, tensor<?x2x?x1xf32> {onnx.name = "present.0.key.scales"})
// CHECK: onnx.Shape %[[PAST]]
// CHECK: %[[Q:.*]], %[[S:.*]] = lowbit.dynamic_quantize %{{.*}} {bits = 8 : i64} : (tensor<?x2x?x4xf32>) -> (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>)
// CHECK: %[[LEVELS:.*]] = onnx.Concat %[[PAST]], %[[Q]] {axis = 2 : i64}
// CHECK: %[[ALL:.*]] = onnx.Concat %[[SCALES]], %[[S]] {axis = 2 : i64}
// CHECK: %[[KEYS:.*]] = lowbit.dequantize %[[LEVELS]], %[[ALL]]
// CHECK: onnx.Mul %[[KEYS]], %[[KEYS]]
// CHECK: return %{{.*}}, %[[LEVELS]], %[[ALL]]
// FOUR: lowbit.dynamic_quantize %{{.*}} {bits = 4 : i64}
func.func @cache(%x: tensor<?x4xf32>, %past: tensor<?x2x?x4xf32> {onnx.name = "past.0.key"})
    -> (tensor<?x2x?x4xf32> {onnx.name = "scores"}, tensor<?x2x?x4xf32> {onnx.name = "present.0.key"}) {
  %shape = onnx.Shape %past : (tensor<?x2x?x4xf32>) -> tensor<4xi64>
  %new = onnx.Reshape %x, %shape : (tensor<?x4xf32>, tensor<4xi64>) -> tensor<?x2x?x4xf32>
  %present = onnx.Concat %past, %new {axis = 2 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %scores = onnx.Mul %present, %present : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %scores, %present : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}
