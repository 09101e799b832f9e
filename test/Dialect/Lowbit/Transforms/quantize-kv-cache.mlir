// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{bits=4}))' | FileCheck %s --check-prefix=FOUR
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{window=2}))' | FileCheck %s --check-prefix=WINDOW
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{window=2 key-scales=channel}))' | FileCheck %s --check-prefix=CHANNEL

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
// With bits=4 the levels are stored two per byte (head_dim 4 -> 2 bytes);
// the shape read doubles the levels' last dimension back; new levels are
// packed before they are appended, and the attention reads them unpacked.
// FOUR-LABEL: func @cache
// FOUR-SAME: %[[PAST:[^:]*]]: tensor<?x2x?x2xi8> {onnx.name = "past.0.key"}
// FOUR-SAME: tensor<?x2x?x2xi8> {onnx.name = "present.0.key"}
// FOUR: %[[LSHAPE:.*]] = onnx.Shape %[[PAST]] : (tensor<?x2x?x2xi8>) -> tensor<4xi64>
// FOUR: %[[DOUBLE:.*]] = onnx.Constant dense<[1, 1, 1, 2]> : tensor<4xi64>
// FOUR: onnx.Mul %[[LSHAPE]], %[[DOUBLE]]
// FOUR: %[[Q:.*]], %{{.*}} = lowbit.dynamic_quantize %{{.*}} {bits = 4 : i64} : (tensor<?x2x?x4xf32>) -> (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>)
// FOUR: %[[P:.*]] = lowbit.pack_nibbles %[[Q]] : tensor<?x2x?x4xi8> -> tensor<?x2x?x2xi8>
// FOUR: %[[LEVELS:.*]] = onnx.Concat %[[PAST]], %[[P]] {axis = 2 : i64}
// FOUR: %[[U:.*]] = lowbit.unpack_nibbles %[[LEVELS]] : tensor<?x2x?x2xi8> -> tensor<?x2x?x4xi8>
// FOUR: lowbit.dequantize %[[U]], %{{.*}}
// FOUR: return %{{.*}}, %[[LEVELS]], %{{.*}}
// With window=2: a third input and output, past.0.key.window (f32). The
// shape read counts levels and window (Shape of the levels plus the
// window's length at the sequence axis); the window and the new keys are
// concatenated, and what exceeds 2 tokens, max(length - 2, 0) from the
// start, is quantized and appended to the levels; the rest is the new
// window, read by the attention after the dequantized levels.
// WINDOW-LABEL: func @cache
// WINDOW-SAME: %[[PAST:[^:]*]]: tensor<?x2x?x4xi8> {onnx.name = "past.0.key"}, %[[SCALES:[^:]*]]: tensor<?x2x?x1xf32> {onnx.name = "past.0.key.scales"}, %[[WIN:[^:]*]]: tensor<?x2x?x4xf32> {onnx.name = "past.0.key.window"})
// WINDOW-SAME: -> (tensor<?x2x?x4xf32> {onnx.name = "scores"}, tensor<?x2x?x4xi8> {onnx.name = "present.0.key"}, tensor<?x2x?x1xf32> {onnx.name = "present.0.key.scales"}, tensor<?x2x?x4xf32> {onnx.name = "present.0.key.window"})
// WINDOW: %[[LSHAPE:.*]] = onnx.Shape %[[PAST]] : (tensor<?x2x?x4xi8>) -> tensor<4xi64>
// WINDOW: %[[WLEN:.*]] = onnx.Shape %[[WIN]] {end = 3 : i64, start = 2 : i64}
// WINDOW: %[[ONEHOT:.*]] = onnx.Constant dense<[0, 0, 1, 0]> : tensor<4xi64>
// WINDOW: %[[EXTRA:.*]] = onnx.Mul %[[ONEHOT]], %[[WLEN]]
// WINDOW: %[[FULL:.*]] = onnx.Add %[[LSHAPE]], %[[EXTRA]]
// WINDOW: %[[NEW:.*]] = onnx.Reshape %{{.*}}, %[[FULL]]
// WINDOW: %[[ALL:.*]] = onnx.Concat %[[WIN]], %[[NEW]] {axis = 2 : i64}
// WINDOW: %[[W:.*]] = onnx.Constant dense<2> : tensor<1xi64>
// WINDOW: %[[LEN:.*]] = onnx.Shape %[[ALL]] {end = 3 : i64, start = 2 : i64}
// WINDOW: %[[EXCESS:.*]] = onnx.Sub %[[LEN]], %[[W]]
// WINDOW: %[[OVER:.*]] = onnx.Max %[[EXCESS]], %{{.*}}
// WINDOW: %[[OLD:.*]] = onnx.Slice %[[ALL]], %{{.*}}, %[[OVER]] axes
// WINDOW: %[[RECENT:.*]] = onnx.Slice %[[ALL]], %[[OVER]], %{{.*}} axes
// WINDOW: %[[Q:.*]], %[[S:.*]] = lowbit.dynamic_quantize %[[OLD]]
// WINDOW: %[[LEVELS:.*]] = onnx.Concat %[[PAST]], %[[Q]]
// WINDOW: %[[ALLS:.*]] = onnx.Concat %[[SCALES]], %[[S]]
// WINDOW: %[[DQ:.*]] = lowbit.dequantize %[[LEVELS]], %[[ALLS]]
// WINDOW: %[[KEYS:.*]] = onnx.Concat %[[DQ]], %[[RECENT]] {axis = 2 : i64}
// WINDOW: onnx.Mul %[[KEYS]], %[[KEYS]]
// WINDOW: return %{{.*}}, %[[LEVELS]], %[[ALLS]], %[[RECENT]]
// With key-scales=channel (a key cache): scales [batch, heads, groups,
// head_dim]; whole groups of 2 tokens move, (length / 2) * 2 of them; each
// group is reshaped to [b, h, g, 2, d] and transposed so that a row is one
// channel over the group's tokens, quantized per row, and transposed back;
// the attention reads the levels by groups times their scales.
// CHANNEL-LABEL: func @cache
// CHANNEL-SAME: %[[SCALES:[^:]*]]: tensor<?x2x?x4xf32> {onnx.name = "past.0.key.scales"}
// CHANNEL: %[[ALL:.*]] = onnx.Concat %{{.*}}, %{{.*}} {axis = 2 : i64}
// CHANNEL: %[[GROUPS:.*]] = onnx.Div %{{.*}}, %{{.*}} : (tensor<1xi64>, tensor<1xi64>)
// CHANNEL: %[[MOVED:.*]] = onnx.Mul %[[GROUPS]], %{{.*}} : (tensor<1xi64>, tensor<1xi64>)
// CHANNEL: %[[OLD:.*]] = onnx.Slice %[[ALL]], %{{.*}}, %[[MOVED]] axes
// CHANNEL: %[[G5:.*]] = onnx.Reshape %[[OLD]], %{{.*}} -> tensor<?x2x?x2x4xf32>
// CHANNEL: %[[T:.*]] = onnx.Transpose %[[G5]] {perm = array<i64: 0, 1, 2, 4, 3>} : (tensor<?x2x?x2x4xf32>) -> tensor<?x2x?x4x2xf32>
// CHANNEL: %{{.*}}, %[[S:.*]] = lowbit.dynamic_quantize %[[T]] {bits = 8 : i64} : (tensor<?x2x?x4x2xf32>) -> (tensor<?x2x?x4x2xi8>, tensor<?x2x?x4x1xf32>)
// CHANNEL: %[[S4:.*]] = onnx.Reshape %[[S]], %{{.*}} -> tensor<?x2x?x4xf32>
// CHANNEL: onnx.Concat %[[SCALES]], %[[S4]] {axis = 2 : i64}
// CHANNEL: lowbit.dequantize %{{.*}}, %{{.*}} : (tensor<?x2x?x2x4xi8>, tensor<?x2x?x1x4xf32>) -> tensor<?x2x?x2x4xf32>
func.func @cache(%x: tensor<?x4xf32>, %past: tensor<?x2x?x4xf32> {onnx.name = "past.0.key"})
    -> (tensor<?x2x?x4xf32> {onnx.name = "scores"}, tensor<?x2x?x4xf32> {onnx.name = "present.0.key"}) {
  %shape = onnx.Shape %past : (tensor<?x2x?x4xf32>) -> tensor<4xi64>
  %new = onnx.Reshape %x, %shape : (tensor<?x4xf32>, tensor<4xi64>) -> tensor<?x2x?x4xf32>
  %present = onnx.Concat %past, %new {axis = 2 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %scores = onnx.Mul %present, %present : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %scores, %present : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}
