// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-tile-contractions))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-tile-contractions{m-tile=0}))' | FileCheck %s --check-prefix=OFF

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// A marked contraction (loops k, m, n) with a dynamic m: the m loop becomes
// an scf.for stepping by 16 over slices of A and C; the marker goes away.
// CHECK-LABEL: func @dynamic_m
// CHECK: %[[C16:.*]] = arith.constant 16 : index
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %[[C16]] iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x172xf32>)
// CHECK: tensor.extract_slice %{{.*}}[%[[I]], 0] [%{{.*}}, 64] [1, 1] : tensor<?x64xf32> to tensor<?x64xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
// CHECK-NOT: lowbit.contraction
// CHECK: tensor.insert_slice
// OFF-LABEL: func @dynamic_m
// OFF-NOT: scf.for
// OFF-NOT: lowbit.contraction
func.func @dynamic_m(%x: tensor<?x64xf32>, %w: tensor<64x172xf32>, %init: tensor<?x172xf32>) -> tensor<?x172xf32> {
  %0 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : tensor<?x64xf32>, tensor<64x172xf32>) outs(%init : tensor<?x172xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %1 = arith.mulf %in, %in_0 : f32
    %2 = arith.addf %out, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<?x172xf32>
  return %0 : tensor<?x172xf32>
}

// -----

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// m = 1 (a decode step) fits one tile: nothing to tile.
// CHECK-LABEL: func @single_row
// CHECK-NOT: scf.for
// CHECK: linalg.generic
// CHECK-NOT: lowbit.contraction
func.func @single_row(%x: tensor<1x64xf32>, %w: tensor<64x172xf32>, %init: tensor<1x172xf32>) -> tensor<1x172xf32> {
  %0 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : tensor<1x64xf32>, tensor<64x172xf32>) outs(%init : tensor<1x172xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %1 = arith.mulf %in, %in_0 : f32
    %2 = arith.addf %out, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<1x172xf32>
  return %0 : tensor<1x172xf32>
}

// -----

#id = affine_map<(d0) -> (d0)>

// Unmarked ops are not touched, whatever their shape.
// CHECK-LABEL: func @unmarked
// CHECK-NOT: scf.for
func.func @unmarked(%x: tensor<1024xf32>, %init: tensor<1024xf32>) -> tensor<1024xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<1024xf32>) outs(%init : tensor<1024xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1024xf32>
  return %0 : tensor<1024xf32>
}
