// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-fold-repeat-kv))' | FileCheck %s

// repeat_kv as torch.onnx writes it (2 KV heads, 2 query heads each), then
// K^T: the query's heads split into (2, 2), the cache unsqueezed and
// transposed, broadcast over the group by the MatMul; no Expand.
// CHECK-LABEL: func @keys
// CHECK-SAME: (%[[Q:.*]]: tensor<?x4x?x8xf32>, %[[K:.*]]: tensor<?x2x?x8xf32>
// CHECK-NOT: onnx.Expand
// CHECK-DAG: %[[U:.*]] = onnx.Unsqueeze %[[K]], %{{.*}} : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x1x?x8xf32>
// CHECK-DAG: %[[Q5:.*]] = onnx.Reshape %[[Q]], %{{.*}} : (tensor<?x4x?x8xf32>, tensor<5xi64>) -> tensor<?x2x2x?x8xf32>
// CHECK-DAG: %[[KT:.*]] = onnx.Transpose %[[U]] {perm = array<i64: 0, 1, 2, 4, 3>} : (tensor<?x2x1x?x8xf32>) -> tensor<?x2x1x8x?xf32>
// CHECK: %[[S5:.*]] = onnx.MatMul %[[Q5]], %[[KT]] : (tensor<?x2x2x?x8xf32>, tensor<?x2x1x8x?xf32>) -> tensor<?x2x2x?x?xf32>
// CHECK: %[[S:.*]] = onnx.Reshape %[[S5]], %{{.*}} : (tensor<?x2x2x?x?xf32>, tensor<4xi64>) -> tensor<?x4x?x?xf32>
// CHECK: return %[[S]]
func.func @keys(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>, %batch: tensor<1xi64>, %len: tensor<1xi64>)
    -> tensor<?x4x?x?xf32> {
  %axis = onnx.Constant dense<2> : tensor<1xi64>
  %kv = onnx.Constant dense<2> : tensor<1xi64>
  %rep = onnx.Constant dense<2> : tensor<1xi64>
  %d = onnx.Constant dense<8> : tensor<1xi64>
  %heads = onnx.Constant dense<4> : tensor<1xi64>
  %minus = onnx.Constant dense<-1> : tensor<5xi64>
  %ones = onnx.Constant dense<1> : tensor<5xi64>
  %u = onnx.Unsqueeze %k, %axis : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x1x?x8xf32>
  %s5 = onnx.Concat %batch, %kv, %rep, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<5xi64>
  %eq = onnx.Equal %s5, %minus : (tensor<5xi64>, tensor<5xi64>) -> tensor<5xi1>
  %s5w = onnx.Where %eq, %ones, %s5 : (tensor<5xi1>, tensor<5xi64>, tensor<5xi64>) -> tensor<5xi64>
  %e = onnx.Expand %u, %s5w : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %s4 = onnx.Concat %batch, %heads, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %r = onnx.Reshape %e, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x?xf32>
  %t = onnx.Transpose %r {perm = array<i64: 0, 1, 3, 2>} : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %s = onnx.MatMul %q, %t : (tensor<?x4x?x8xf32>, tensor<?x?x?x?xf32>) -> tensor<?x4x?x?xf32>
  return %s : tensor<?x4x?x?xf32>
}

// -----

// PV: the same without the Transpose.
// CHECK-LABEL: func @values
// CHECK-NOT: onnx.Expand
// CHECK: onnx.MatMul %{{.*}}, %{{.*}} : (tensor<?x2x2x?x?xf32>, tensor<?x2x1x?x8xf32>) -> tensor<?x2x2x?x8xf32>
func.func @values(%p: tensor<?x4x?x?xf32>, %v: tensor<?x2x?x8xf32>, %batch: tensor<1xi64>, %len: tensor<1xi64>)
    -> tensor<?x4x?x8xf32> {
  %axis = onnx.Constant dense<2> : tensor<1xi64>
  %kv = onnx.Constant dense<2> : tensor<1xi64>
  %rep = onnx.Constant dense<2> : tensor<1xi64>
  %d = onnx.Constant dense<8> : tensor<1xi64>
  %heads = onnx.Constant dense<4> : tensor<1xi64>
  %u = onnx.Unsqueeze %v, %axis : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x1x?x8xf32>
  %s5 = onnx.Concat %batch, %kv, %rep, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<5xi64>
  %e = onnx.Expand %u, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %s4 = onnx.Concat %batch, %heads, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %r = onnx.Reshape %e, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x?xf32>
  %o = onnx.MatMul %p, %r : (tensor<?x4x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// -----

// Kept: the Reshape's heads are not kv_heads * rep (3 != 2 * 2), so it does
// not merge the Expand's two head axes.
// CHECK-LABEL: func @other_reshape
// CHECK: onnx.Expand
// CHECK: onnx.MatMul %{{.*}}, %{{.*}} : (tensor<?x4x?x?xf32>, tensor<?x?x?x?xf32>)
func.func @other_reshape(%p: tensor<?x4x?x?xf32>, %v: tensor<?x2x?x8xf32>, %batch: tensor<1xi64>, %len: tensor<1xi64>)
    -> tensor<?x4x?x8xf32> {
  %axis = onnx.Constant dense<2> : tensor<1xi64>
  %kv = onnx.Constant dense<2> : tensor<1xi64>
  %rep = onnx.Constant dense<2> : tensor<1xi64>
  %d = onnx.Constant dense<8> : tensor<1xi64>
  %heads = onnx.Constant dense<3> : tensor<1xi64>
  %u = onnx.Unsqueeze %v, %axis : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x1x?x8xf32>
  %s5 = onnx.Concat %batch, %kv, %rep, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<5xi64>
  %e = onnx.Expand %u, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %s4 = onnx.Concat %batch, %heads, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %r = onnx.Reshape %e, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x?xf32>
  %o = onnx.MatMul %p, %r : (tensor<?x4x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// -----

// The Expand's (kv_heads, rep) as one two-element constant, as
// lowbit.testing.synthetic writes it.
// CHECK-LABEL: func @two_element_piece
// CHECK-NOT: onnx.Expand
// CHECK: onnx.MatMul %{{.*}}, %{{.*}} : (tensor<?x2x2x?x?xf32>, tensor<?x2x1x?x8xf32>) -> tensor<?x2x2x?x8xf32>
func.func @two_element_piece(%p: tensor<?x4x?x?xf32>, %v: tensor<?x2x?x8xf32>, %batch: tensor<1xi64>, %len: tensor<1xi64>)
    -> tensor<?x4x?x8xf32> {
  %axis = onnx.Constant dense<2> : tensor<1xi64>
  %kvrep = onnx.Constant dense<[2, 2]> : tensor<2xi64>
  %d = onnx.Constant dense<8> : tensor<1xi64>
  %heads = onnx.Constant dense<4> : tensor<1xi64>
  %u = onnx.Unsqueeze %v, %axis : (tensor<?x2x?x8xf32>, tensor<1xi64>) -> tensor<?x2x1x?x8xf32>
  %s5 = onnx.Concat %batch, %kvrep, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<2xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<5xi64>
  %e = onnx.Expand %u, %s5 : (tensor<?x2x1x?x8xf32>, tensor<5xi64>) -> tensor<?x2x?x?x8xf32>
  %s4 = onnx.Concat %batch, %heads, %len, %d {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  %r = onnx.Reshape %e, %s4 : (tensor<?x2x?x?x8xf32>, tensor<4xi64>) -> tensor<?x?x?x?xf32>
  %o = onnx.MatMul %p, %r : (tensor<?x4x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}
