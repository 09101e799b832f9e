// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-fold-dequantize-into-matmul))' | FileCheck %s

// Keys: K^T's one scale per column comes out of the sum, after it.
// CHECK-LABEL: func @keys
// CHECK-SAME: (%[[Q:.*]]: tensor<?x2x?x4xf32>, %[[L:.*]]: tensor<?x2x?x4xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>)
// CHECK-NOT: lowbit.dequantize
// CHECK-DAG: %[[LT:.*]] = onnx.Transpose %[[L]] {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x4xi8>) -> tensor<?x2x4x?xi8>
// CHECK-DAG: %[[ST:.*]] = onnx.Transpose %[[S]] {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x1xf32>) -> tensor<?x2x1x?xf32>
// CHECK: %[[P:.*]] = lowbit.mixed_matmul %[[Q]], %[[LT]] : (tensor<?x2x?x4xf32>, tensor<?x2x4x?xi8>) -> tensor<?x2x?x?xf32>
// CHECK: %[[R:.*]] = onnx.Mul %[[P]], %[[ST]] : (tensor<?x2x?x?xf32>, tensor<?x2x1x?xf32>) -> tensor<?x2x?x?xf32>
// CHECK: return %[[R]]
func.func @keys(%q: tensor<?x2x?x4xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x1xf32>) -> tensor<?x2x?x?xf32> {
  %k = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %kt = onnx.Transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x4xf32>) -> tensor<?x2x4x?xf32>
  %r = onnx.MatMul %q, %kt : (tensor<?x2x?x4xf32>, tensor<?x2x4x?xf32>) -> tensor<?x2x?x?xf32>
  return %r : tensor<?x2x?x?xf32>
}

// -----

// Values: V's one scale per row multiplies the probabilities' columns.
// CHECK-LABEL: func @values
// CHECK-SAME: (%[[P:.*]]: tensor<?x2x?x?xf32>, %[[L:.*]]: tensor<?x2x?x4xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>)
// CHECK: %[[ST:.*]] = onnx.Transpose %[[S]] {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x1xf32>) -> tensor<?x2x1x?xf32>
// CHECK: %[[PS:.*]] = onnx.Mul %[[P]], %[[ST]] : (tensor<?x2x?x?xf32>, tensor<?x2x1x?xf32>) -> tensor<?x2x?x?xf32>
// CHECK: %[[R:.*]] = lowbit.mixed_matmul %[[PS]], %[[L]] : (tensor<?x2x?x?xf32>, tensor<?x2x?x4xi8>) -> tensor<?x2x?x4xf32>
// CHECK: return %[[R]]
func.func @values(%p: tensor<?x2x?x?xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32> {
  %v = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %r = onnx.MatMul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %r : tensor<?x2x?x4xf32>
}

// -----

// GQA as exporters write repeat_kv (2 KV heads to 4): Unsqueeze, Expand and
// Reshape move to the levels and the scales (the scales keep 1 on the row
// axis: the Expand's shape gets 1 there, the Reshape's last element 1); the
// past length reads the levels.
// CHECK-LABEL: func @grouped_query
// CHECK-SAME: (%[[Q:.*]]: tensor<?x4x?x4xf32>, %[[L:.*]]: tensor<?x2x?x4xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>, %[[E:.*]]: tensor<5xi64>, %[[R:.*]]: tensor<3xi64>)
// CHECK-NOT: lowbit.dequantize
// CHECK-DAG: %[[KEEP:.*]] = onnx.Constant dense<[1, 1, 1, 1, 0]> : tensor<5xi64>
// CHECK-DAG: %[[ONE:.*]] = onnx.Constant dense<[0, 0, 0, 0, 1]> : tensor<5xi64>
// CHECK-DAG: onnx.Shape %[[L]] {end = 3 : i64, start = 2 : i64} : (tensor<?x2x?x4xi8>) -> tensor<1xi64>
// CHECK-DAG: %[[LU:.*]] = onnx.Unsqueeze %[[L]], %{{.*}} : (tensor<?x2x?x4xi8>, tensor<1xi64>) -> tensor<?x2x1x?x4xi8>
// CHECK-DAG: %[[SU:.*]] = onnx.Unsqueeze %[[S]], %{{.*}} : (tensor<?x2x?x1xf32>, tensor<1xi64>) -> tensor<?x2x1x?x1xf32>
// CHECK-DAG: %[[EM:.*]] = onnx.Mul %[[E]], %[[KEEP]]
// CHECK-DAG: %[[E1:.*]] = onnx.Add %[[EM]], %[[ONE]]
// CHECK-DAG: %[[LE:.*]] = onnx.Expand %[[LU]], %[[E]] : (tensor<?x2x1x?x4xi8>, tensor<5xi64>) -> tensor<?x2x?x?x4xi8>
// CHECK-DAG: %[[SE:.*]] = onnx.Expand %[[SU]], %[[E1]] : (tensor<?x2x1x?x1xf32>, tensor<5xi64>) -> tensor<?x2x?x?x1xf32>
// CHECK-DAG: %[[LR:.*]] = onnx.Reshape %[[LE]], %[[SHAPE:.*]] : (tensor<?x2x?x?x4xi8>, tensor<4xi64>) -> tensor<?x?x?x4xi8>
// CHECK-DAG: %[[SR:.*]] = onnx.Reshape %[[SE]], %{{.*}} : (tensor<?x2x?x?x1xf32>, tensor<4xi64>) -> tensor<?x?x?x1xf32>
// CHECK-DAG: onnx.Transpose %[[LR]] {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x?x?x4xi8>) -> tensor<?x?x4x?xi8>
// CHECK-DAG: onnx.Transpose %[[SR]] {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x?x?x1xf32>) -> tensor<?x?x1x?xf32>
// CHECK: lowbit.mixed_matmul %[[Q]], %{{.*}} : (tensor<?x4x?x4xf32>, tensor<?x?x4x?xi8>) -> tensor<?x4x?x?xf32>
func.func @grouped_query(%q: tensor<?x4x?x4xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x1xf32>,
                         %expand: tensor<5xi64>, %leading: tensor<3xi64>) -> (tensor<?x4x?x?xf32>, tensor<1xi64>) {
  %k = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %past = onnx.Shape %k {start = 2 : i64, end = 3 : i64} : (tensor<?x2x?x4xf32>) -> tensor<1xi64>
  %axis = onnx.Constant dense<2> : tensor<1xi64>
  %u = onnx.Unsqueeze %k, %axis : (tensor<?x2x?x4xf32>, tensor<1xi64>) -> tensor<?x2x1x?x4xf32>
  %e = onnx.Expand %u, %expand : (tensor<?x2x1x?x4xf32>, tensor<5xi64>) -> tensor<?x2x?x?x4xf32>
  %d = onnx.Constant dense<4> : tensor<1xi64>
  %shape = onnx.Concat %leading, %d {axis = 0 : i64} : (tensor<3xi64>, tensor<1xi64>) -> tensor<4xi64>
  %r = onnx.Reshape %e, %shape : (tensor<?x2x?x?x4xf32>, tensor<4xi64>) -> tensor<?x?x?x?xf32>
  %kt = onnx.Transpose %r {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %scores = onnx.MatMul %q, %kt : (tensor<?x4x?x4xf32>, tensor<?x?x?x?xf32>) -> tensor<?x4x?x?xf32>
  return %scores, %past : tensor<?x4x?x?xf32>, tensor<1xi64>
}

// -----

// Left as they are: zero points; scales per channel of groups of tokens
// (KIVI keys: not constant along either matrix axis); a Reshape whose last
// size is not known to stay; a reader other than a layout op or MatMul B.
// CHECK-LABEL: func @kept
// CHECK-COUNT-4: lowbit.dequantize
// CHECK-NOT: lowbit.mixed_matmul
func.func @kept(%q: tensor<?x2x?x4xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x1xf32>, %z: tensor<?x2x?x1xi8>,
                %g: tensor<?x2x?x8x4xi8>, %gs: tensor<?x2x?x1x4xf32>, %shape: tensor<4xi64>)
    -> (tensor<?x2x?x?xf32>, tensor<?x2x?x8x4xf32>, tensor<?x?x?x?xf32>, tensor<?x2x?x4xf32>) {
  %a = lowbit.dequantize %l, %s zero_points %z : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>, tensor<?x2x?x1xi8>) -> tensor<?x2x?x4xf32>
  %at = onnx.Transpose %a {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x4xf32>) -> tensor<?x2x4x?xf32>
  %r0 = onnx.MatMul %q, %at : (tensor<?x2x?x4xf32>, tensor<?x2x4x?xf32>) -> tensor<?x2x?x?xf32>
  %b = lowbit.dequantize %g, %gs : (tensor<?x2x?x8x4xi8>, tensor<?x2x?x1x4xf32>) -> tensor<?x2x?x8x4xf32>
  %r1 = onnx.Relu %b : (tensor<?x2x?x8x4xf32>) -> tensor<?x2x?x8x4xf32>
  %c = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %r2 = onnx.Reshape %c, %shape : (tensor<?x2x?x4xf32>, tensor<4xi64>) -> tensor<?x?x?x?xf32>
  %d = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %r3 = onnx.Add %d, %q : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %r0, %r1, %r2, %r3 : tensor<?x2x?x?xf32>, tensor<?x2x?x8x4xf32>, tensor<?x?x?x?xf32>, tensor<?x2x?x4xf32>
}

// -----

// A cache with a window: the levels' part and the window's part of K^T
// multiply apart, side by side; the length read adds the parts'.
// CHECK-LABEL: func @window_keys
// CHECK-SAME: (%[[Q:.*]]: tensor<?x2x?x4xf32>, %[[L:.*]]: tensor<?x2x?x4xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>, %[[W:.*]]: tensor<?x2x?x4xf32>)
// CHECK-NOT: lowbit.dequantize
// CHECK-DAG: %[[LT:.*]] = onnx.Transpose %[[L]] {perm = array<i64: 0, 1, 3, 2>}
// CHECK-DAG: %[[WT:.*]] = onnx.Transpose %[[W]] {perm = array<i64: 0, 1, 3, 2>}
// CHECK-DAG: %[[P:.*]] = lowbit.mixed_matmul %[[Q]], %[[LT]]
// CHECK-DAG: %[[PS:.*]] = onnx.Mul %[[P]], %{{.*}}
// CHECK-DAG: %[[PW:.*]] = onnx.MatMul %[[Q]], %[[WT]]
// CHECK-DAG: %[[R:.*]] = onnx.Concat %[[PS]], %[[PW]] {axis = 3 : i64}
// CHECK-DAG: %[[LS:.*]] = onnx.Shape %[[L]] :
// CHECK-DAG: %[[WS:.*]] = onnx.Shape %[[W]] :
// CHECK-DAG: %[[WL:.*]] = onnx.Mul %[[WS]], %{{.*}}
// CHECK-DAG: %[[SUM:.*]] = onnx.Add %[[LS]], %[[WL]]
// CHECK-DAG: %[[LEN:.*]] = onnx.Slice %[[SUM]]
// CHECK: return %[[R]], %[[LEN]]
func.func @window_keys(%q: tensor<?x2x?x4xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x1xf32>, %w: tensor<?x2x?x4xf32>)
    -> (tensor<?x2x?x?xf32>, tensor<1xi64>) {
  %k = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %c = onnx.Concat %k, %w {axis = 2 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %len = onnx.Shape %c {start = 2 : i64, end = 3 : i64} : (tensor<?x2x?x4xf32>) -> tensor<1xi64>
  %kt = onnx.Transpose %c {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x4xf32>) -> tensor<?x2x4x?xf32>
  %r = onnx.MatMul %q, %kt : (tensor<?x2x?x4xf32>, tensor<?x2x4x?xf32>) -> tensor<?x2x?x?xf32>
  return %r, %len : tensor<?x2x?x?xf32>, tensor<1xi64>
}

// -----

// PV with a window: the probabilities' columns split where the levels end,
// each part multiplied by its rows of V, the two summed.
// CHECK-LABEL: func @window_values
// CHECK-SAME: (%[[P:.*]]: tensor<?x2x?x?xf32>, %[[L:.*]]: tensor<?x2x?x4xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>, %[[W:.*]]: tensor<?x2x?x4xf32>)
// CHECK-DAG: %[[N:.*]] = onnx.Shape %[[L]] {end = 3 : i64, start = 2 : i64}
// CHECK-DAG: %[[P1:.*]] = onnx.Slice %[[P]], %{{.*}}, %[[N]] axes
// CHECK-DAG: %[[P2:.*]] = onnx.Slice %[[P]], %[[N]], %{{.*}} axes
// CHECK-DAG: %[[PS:.*]] = onnx.Mul %[[P1]], %{{.*}}
// CHECK-DAG: %[[A:.*]] = lowbit.mixed_matmul %[[PS]], %[[L]]
// CHECK-DAG: %[[B:.*]] = onnx.MatMul %[[P2]], %[[W]]
// CHECK: %[[R:.*]] = onnx.Add %[[A]], %[[B]]
// CHECK: return %[[R]]
func.func @window_values(%p: tensor<?x2x?x?xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x1xf32>, %w: tensor<?x2x?x4xf32>)
    -> tensor<?x2x?x4xf32> {
  %v = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %c = onnx.Concat %v, %w {axis = 2 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %r = onnx.MatMul %p, %c : (tensor<?x2x?x?xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %r : tensor<?x2x?x4xf32>
}

// -----

// int4 keys two per byte (as lowbit-quantize-kv-cache{bits=4} stores them),
// read as lowbit-fold-repeat-kv leaves GQA: the Unsqueeze and Transpose move
// to the bytes, and the unpacking follows them along head_dim, now K^T's
// rows (axis 3), so that the product can read the bytes.
// CHECK-LABEL: func @packed_keys
// CHECK-SAME: (%[[Q:.*]]: tensor<?x2x2x?x4xf32>, %[[B:.*]]: tensor<?x2x?x2xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>
// CHECK-NOT: lowbit.dequantize
// CHECK-DAG: %[[BU:.*]] = onnx.Unsqueeze %[[B]], %{{.*}} : (tensor<?x2x?x2xi8>, tensor<1xi64>) -> tensor<?x2x1x?x2xi8>
// CHECK-DAG: %[[BT:.*]] = onnx.Transpose %[[BU]] {perm = array<i64: 0, 1, 2, 4, 3>} : (tensor<?x2x1x?x2xi8>) -> tensor<?x2x1x2x?xi8>
// CHECK-DAG: %[[LT:.*]] = lowbit.unpack_nibbles %[[BT]] {axis = 3 : i64} : tensor<?x2x1x2x?xi8> -> tensor<?x2x1x4x?xi8>
// CHECK: lowbit.mixed_matmul %[[Q]], %[[LT]] : (tensor<?x2x2x?x4xf32>, tensor<?x2x1x4x?xi8>) -> tensor<?x2x2x?x?xf32>
func.func @packed_keys(%q: tensor<?x2x2x?x4xf32>, %b: tensor<?x2x?x2xi8>, %s: tensor<?x2x?x1xf32>) -> tensor<?x2x2x?x?xf32> {
  %l = lowbit.unpack_nibbles %b : tensor<?x2x?x2xi8> -> tensor<?x2x?x4xi8>
  %k = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %axes = onnx.Constant dense<[2]> : tensor<1xi64>
  %ku = onnx.Unsqueeze %k, %axes : (tensor<?x2x?x4xf32>, tensor<1xi64>) -> tensor<?x2x1x?x4xf32>
  %kt = onnx.Transpose %ku {perm = array<i64: 0, 1, 2, 4, 3>} : (tensor<?x2x1x?x4xf32>) -> tensor<?x2x1x4x?xf32>
  %r = onnx.MatMul %q, %kt : (tensor<?x2x2x?x4xf32>, tensor<?x2x1x4x?xf32>) -> tensor<?x2x2x?x?xf32>
  return %r : tensor<?x2x2x?x?xf32>
}

// -----

// int4 values: the product reads the unpacked levels as they are (packed
// along its columns, the last axis).
// CHECK-LABEL: func @packed_values
// CHECK-SAME: (%[[P:.*]]: tensor<?x2x?x?xf32>, %[[B:.*]]: tensor<?x2x?x2xi8>, %[[S:.*]]: tensor<?x2x?x1xf32>)
// CHECK: %[[L:.*]] = lowbit.unpack_nibbles %[[B]] : tensor<?x2x?x2xi8> -> tensor<?x2x?x4xi8>
// CHECK: lowbit.mixed_matmul %{{.*}}, %[[L]] : (tensor<?x2x?x?xf32>, tensor<?x2x?x4xi8>) -> tensor<?x2x?x4xf32>
func.func @packed_values(%p: tensor<?x2x?x?xf32>, %b: tensor<?x2x?x2xi8>, %s: tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32> {
  %l = lowbit.unpack_nibbles %b : tensor<?x2x?x2xi8> -> tensor<?x2x?x4xi8>
  %v = lowbit.dequantize %l, %s : (tensor<?x2x?x4xi8>, tensor<?x2x?x1xf32>) -> tensor<?x2x?x4xf32>
  %r = onnx.MatMul %p, %v : (tensor<?x2x?x?xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %r : tensor<?x2x?x4xf32>
}

// -----

// KIVI keys (lowbit-quantize-kv-cache{key-scales=channel window=2}): one
// scale per channel and group of 2 tokens, so the dequantize is per row of
// the grouped form [b, h, groups, 2, d] that a Reshape merges into tokens
// (its shape reads the grouped tensor: provably a merge of axes 2 and 3).
// With the window Concat split, the merge moves below the GQA Unsqueeze and
// the Transpose, and QK^T runs per group: the query (unsqueezed before its
// rows) times each group's scales, by the group's levels [d, 2], batched
// over the groups; the product's groups then move after its rows and merge
// into the columns. The window's product is the plain MatMul beside it.
// CHECK-LABEL: func @kivi_keys
// CHECK-SAME: (%[[Q:.*]]: tensor<?x2x2x?x4xf32>, %[[L:.*]]: tensor<?x2x?x4xi8>, %[[S:.*]]: tensor<?x2x?x4xf32>, %[[W:.*]]: tensor<?x2x?x4xf32>)
// CHECK-NOT: lowbit.dequantize
// CHECK-DAG: %[[L5:.*]] = onnx.Reshape %[[L]], %{{.*}} : (tensor<?x2x?x4xi8>, tensor<5xi64>) -> tensor<?x2x?x2x4xi8>
// CHECK-DAG: %[[LU:.*]] = onnx.Unsqueeze %[[L5]], %{{.*}} : (tensor<?x2x?x2x4xi8>, tensor<1xi64>) -> tensor<?x2x1x?x2x4xi8>
// CHECK-DAG: %[[LT:.*]] = onnx.Transpose %[[LU]] {perm = array<i64: 0, 1, 2, 3, 5, 4>} : (tensor<?x2x1x?x2x4xi8>) -> tensor<?x2x1x?x4x2xi8>
// CHECK-DAG: %[[QU:.*]] = onnx.Unsqueeze %[[Q]], %{{.*}} : (tensor<?x2x2x?x4xf32>, tensor<1xi64>) -> tensor<?x2x2x1x?x4xf32>
// CHECK-DAG: %[[QS:.*]] = onnx.Mul %[[QU]], %{{.*}} : (tensor<?x2x2x1x?x4xf32>, tensor<?x2x1x?x1x4xf32>) -> tensor<?x2x2x?x?x4xf32>
// CHECK: %[[P:.*]] = lowbit.mixed_matmul %[[QS]], %[[LT]] : (tensor<?x2x2x?x?x4xf32>, tensor<?x2x1x?x4x2xi8>) -> tensor<?x2x2x?x?x2xf32>
// CHECK: %[[PT:.*]] = onnx.Transpose %[[P]] {perm = array<i64: 0, 1, 2, 4, 3, 5>} : (tensor<?x2x2x?x?x2xf32>) -> tensor<?x2x2x?x?x2xf32>
// CHECK: %[[PS:.*]] = onnx.Shape %[[PT]] {end = 4 : i64}
// CHECK: %[[SHAPE:.*]] = onnx.Concat %[[PS]], %{{.*}} {axis = 0 : i64} : (tensor<4xi64>, tensor<1xi64>) -> tensor<5xi64>
// CHECK: %[[LEVELS:.*]] = onnx.Reshape %[[PT]], %[[SHAPE]] : (tensor<?x2x2x?x?x2xf32>, tensor<5xi64>) -> tensor<?x2x2x?x?xf32>
// CHECK: %[[RECENT:.*]] = onnx.MatMul %[[Q]], %{{.*}} : (tensor<?x2x2x?x4xf32>, tensor<?x2x1x4x?xf32>) -> tensor<?x2x2x?x?xf32>
// CHECK: onnx.Concat %[[LEVELS]], %[[RECENT]] {axis = 4 : i64}
func.func @kivi_keys(%q: tensor<?x2x2x?x4xf32>, %l: tensor<?x2x?x4xi8>, %s: tensor<?x2x?x4xf32>, %w: tensor<?x2x?x4xf32>) -> tensor<?x2x2x?x?xf32> {
  %ls = onnx.Shape %l {end = 2 : i64} : (tensor<?x2x?x4xi8>) -> tensor<2xi64>
  %t5 = onnx.Constant dense<[-1, 2, 4]> : tensor<3xi64>
  %sh5 = onnx.Concat %ls, %t5 {axis = 0 : i64} : (tensor<2xi64>, tensor<3xi64>) -> tensor<5xi64>
  %l5 = onnx.Reshape %l, %sh5 : (tensor<?x2x?x4xi8>, tensor<5xi64>) -> tensor<?x2x?x2x4xi8>
  %ss = onnx.Shape %s {end = 2 : i64} : (tensor<?x2x?x4xf32>) -> tensor<2xi64>
  %t1 = onnx.Constant dense<[-1, 1, 4]> : tensor<3xi64>
  %shs = onnx.Concat %ss, %t1 {axis = 0 : i64} : (tensor<2xi64>, tensor<3xi64>) -> tensor<5xi64>
  %s5 = onnx.Reshape %s, %shs : (tensor<?x2x?x4xf32>, tensor<5xi64>) -> tensor<?x2x?x1x4xf32>
  %d5 = lowbit.dequantize %l5, %s5 : (tensor<?x2x?x2x4xi8>, tensor<?x2x?x1x4xf32>) -> tensor<?x2x?x2x4xf32>
  %ds = onnx.Shape %d5 {end = 2 : i64} : (tensor<?x2x?x2x4xf32>) -> tensor<2xi64>
  %t4 = onnx.Constant dense<[-1, 4]> : tensor<2xi64>
  %sh4 = onnx.Concat %ds, %t4 {axis = 0 : i64} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
  %k = onnx.Reshape %d5, %sh4 : (tensor<?x2x?x2x4xf32>, tensor<4xi64>) -> tensor<?x2x?x4xf32>
  %kw = onnx.Concat %k, %w {axis = 2 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %axes = onnx.Constant dense<[2]> : tensor<1xi64>
  %ku = onnx.Unsqueeze %kw, %axes : (tensor<?x2x?x4xf32>, tensor<1xi64>) -> tensor<?x2x1x?x4xf32>
  %kt = onnx.Transpose %ku {perm = array<i64: 0, 1, 2, 4, 3>} : (tensor<?x2x1x?x4xf32>) -> tensor<?x2x1x4x?xf32>
  %r = onnx.MatMul %q, %kt : (tensor<?x2x2x?x4xf32>, tensor<?x2x1x4x?xf32>) -> tensor<?x2x2x?x?xf32>
  return %r : tensor<?x2x2x?x?xf32>
}

// -----

// A Reshape whose shape does not prove which axes it merges (here read from
// another tensor) stays, and with it the dequantize.
// CHECK-LABEL: func @unproven_merge
// CHECK: lowbit.dequantize
// CHECK: onnx.MatMul
func.func @unproven_merge(%q: tensor<?x2x?x4xf32>, %l5: tensor<?x2x?x2x4xi8>, %s5: tensor<?x2x?x1x4xf32>, %other: tensor<?x2x?x4xf32>) -> tensor<?x2x?x?xf32> {
  %d5 = lowbit.dequantize %l5, %s5 : (tensor<?x2x?x2x4xi8>, tensor<?x2x?x1x4xf32>) -> tensor<?x2x?x2x4xf32>
  %shape = onnx.Shape %other : (tensor<?x2x?x4xf32>) -> tensor<4xi64>
  %k = onnx.Reshape %d5, %shape : (tensor<?x2x?x2x4xf32>, tensor<4xi64>) -> tensor<?x2x?x4xf32>
  %kt = onnx.Transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x2x?x4xf32>) -> tensor<?x2x4x?xf32>
  %r = onnx.MatMul %q, %kt : (tensor<?x2x?x4xf32>, tensor<?x2x4x?xf32>) -> tensor<?x2x?x?xf32>
  return %r : tensor<?x2x?x?xf32>
}
