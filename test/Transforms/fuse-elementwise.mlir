// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-fuse-elementwise))' | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// An elementwise chain fuses into one generic; the chain's result feeds a
// marked contraction, which is not fused into and keeps its marker and its
// plain multiply-accumulate body.
// CHECK-LABEL: func @chain_then_contraction
// CHECK: %[[E:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: arith.mulf
// CHECK-NOT: linalg.generic
// CHECK: linalg.yield
// CHECK: linalg.generic {{.*}} ins(%[[E]], %{{.*}} : tensor<4x8xf32>, tensor<8x16xf32>) {{.*}} {lowbit.contraction}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
func.func @chain_then_contraction(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %init: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e0 = tensor.empty() : tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%scaled, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%init : tensor<4x16xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// The same producer feeding an unmarked contraction is fused into it, as
// upstream's linalg-fuse-elementwise-ops would.
// CHECK-LABEL: func @unmarked_consumer
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
// CHECK: math.exp
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
func.func @unmarked_consumer(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %init: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e0 = tensor.empty() : tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%exp, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%init : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

// A reshape of a contraction's result is not propagated into it (which
// would change its loops).
// CHECK-LABEL: func @reshape_after_contraction
// CHECK: %[[R:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]{{.*}}lowbit.contraction
// CHECK: tensor.expand_shape %[[R]]
#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @reshape_after_contraction(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %init: tensor<4x16xf32>) -> tensor<4x2x8xf32> {
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%init : tensor<4x16xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  %s = tensor.expand_shape %r [[0], [1, 2]] output_shape [4, 2, 8] : tensor<4x16xf32> into tensor<4x2x8xf32>
  %e = tensor.empty() : tensor<4x2x8xf32>
  %n = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<4x2x8xf32>) outs(%e : tensor<4x2x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.negf %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x2x8xf32>
  return %n : tensor<4x2x8xf32>
}

// -----

#x = affine_map<(d0, d1, d2) -> (d1, d0)>
#q = affine_map<(d0, d1, d2) -> (d2, d0)>
#g = affine_map<(d0, d1, d2) -> (d2, d0 floordiv 8)>
#y = affine_map<(d0, d1, d2) -> (d1, d2)>

// A quantized contraction whose scales are a splat constant (every channel
// on one scale) stays as it is, its marker kept: folding the splat into the
// body would take it off the micro-kernel.
// CHECK-LABEL: func @splat_scales
// CHECK: %[[S:.*]] = arith.constant dense<5.000000e-01> : tensor<2x1xf32>
// CHECK: linalg.generic {{.*}} ins(%arg0, %arg1, %[[S]] : {{.*}}) {{.*}} {lowbit.quantized_contraction = 8 : i64}
func.func @splat_scales(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>) -> tensor<4x2xf32> {
  %s = arith.constant dense<0.5> : tensor<2x1xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x2xf32>) -> tensor<4x2xf32>
  %0 = linalg.generic {indexing_maps = [#x, #q, #g, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %q, %s : tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) outs(%init : tensor<4x2xf32>)
      attrs = {lowbit.quantized_contraction = 8 : i64} {
  ^bb0(%in: f32, %lv: i8, %sc: f32, %out: f32):
    %1 = arith.sitofp %lv : i8 to f32
    %2 = arith.mulf %1, %sc : f32
    %3 = arith.mulf %in, %2 : f32
    %4 = arith.addf %out, %3 : f32
    linalg.yield %4 : f32
  } -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

#qm = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d2)>
#km = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#sm = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>

// Attention's K^T (loops b, h, k, m, n): the contraction reads K [b, h, n, k]
// in place through a permuted map, and the transposed copy is gone.
// CHECK-DAG: #[[KT:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d2)>
// CHECK-LABEL: func @transposed_keys
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x3x4xf32>, %[[K:.*]]: tensor<1x2x5x4xf32>
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[KT]], #{{.*}}]
// CHECK-SAME: ins(%[[Q]], %[[K]] : tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>)
// CHECK-SAME: lowbit.contraction
func.func @transposed_keys(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xf32>, %init: tensor<1x2x3x5xf32>)
    -> tensor<1x2x3x5xf32> {
  %e = tensor.empty() : tensor<1x2x4x5xf32>
  %kt = linalg.transpose ins(%k : tensor<1x2x5x4xf32>) outs(%e : tensor<1x2x4x5xf32>) permutation = [0, 1, 3, 2]
  %s = linalg.generic {indexing_maps = [#qm, #km, #sm], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]}
      ins(%q, %kt : tensor<1x2x3x4xf32>, tensor<1x2x4x5xf32>) outs(%init : tensor<1x2x3x5xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<1x2x3x5xf32>
  return %s : tensor<1x2x3x5xf32>
}

// -----

#qm = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d2)>
#km = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#sm = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>

// Kept: a transpose that moves a batch dimension into the matrix (the
// kernels would not take the contraction), and one whose result is read
// elsewhere too (the copy stays anyway).
// CHECK-LABEL: func @transposes_kept
// CHECK-COUNT-2: linalg.transpose
func.func @transposes_kept(%q: tensor<1x2x3x4xf32>, %k: tensor<1x4x2x5xf32>, %v: tensor<1x2x5x4xf32>,
                           %init: tensor<1x2x3x5xf32>) -> (tensor<1x2x3x5xf32>, tensor<1x2x3x5xf32>, tensor<1x2x4x5xf32>) {
  %e = tensor.empty() : tensor<1x2x4x5xf32>
  %kt = linalg.transpose ins(%k : tensor<1x4x2x5xf32>) outs(%e : tensor<1x2x4x5xf32>) permutation = [0, 2, 1, 3]
  %s = linalg.generic {indexing_maps = [#qm, #km, #sm], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]}
      ins(%q, %kt : tensor<1x2x3x4xf32>, tensor<1x2x4x5xf32>) outs(%init : tensor<1x2x3x5xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<1x2x3x5xf32>
  %vt = linalg.transpose ins(%v : tensor<1x2x5x4xf32>) outs(%e : tensor<1x2x4x5xf32>) permutation = [0, 1, 3, 2]
  %t = linalg.generic {indexing_maps = [#qm, #km, #sm], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]}
      ins(%q, %vt : tensor<1x2x3x4xf32>, tensor<1x2x4x5xf32>) outs(%init : tensor<1x2x3x5xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<1x2x3x5xf32>
  return %s, %t, %vt : tensor<1x2x3x5xf32>, tensor<1x2x3x5xf32>, tensor<1x2x4x5xf32>
}
