// RUN: lowbit-opt %s -split-input-file -lowbit-lower-to-ukernels | FileCheck %s
// RUN: lowbit-opt %s -split-input-file -lowbit-lower-to-ukernels=pack-nibbles=true | FileCheck %s --check-prefix=NIBBLES

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// A 2-D contraction (loops k, m, n): one call, A, B and C described by
// address, offset and (row, column) strides, then m, n and k.
// CHECK: func.func private @lowbit_uk_matmul_f32(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func @plain
// CHECK-SAME: (%[[X:.*]]: memref<?x64xf32>, %[[W:.*]]: memref<64x172xf32>, %[[Y:.*]]: memref<?x172xf32>)
// CHECK-NOT: scf.for
// CHECK: %[[XB:.*]], %[[XOFF:.*]], %[[XSIZES:.*]]:2, %[[XSTRIDES:.*]]:2 = memref.extract_strided_metadata %[[X]]
// CHECK: %[[XPTR:.*]] = memref.extract_aligned_pointer_as_index %[[X]]
// CHECK-DAG: %[[XADDR:.*]] = arith.index_cast %[[XPTR]] : index to i64
// CHECK-DAG: %[[XO:.*]] = arith.index_cast %[[XOFF]] : index to i64
// CHECK-DAG: %[[XRS:.*]] = arith.index_cast %[[XSTRIDES]]#0 : index to i64
// CHECK-DAG: %[[XCS:.*]] = arith.index_cast %[[XSTRIDES]]#1 : index to i64
// CHECK-DAG: %[[K:.*]] = arith.index_cast %[[XSIZES]]#1 : index to i64
// CHECK: memref.extract_strided_metadata %[[W]]
// CHECK: %[[YB:.*]], %[[YOFF:.*]], %[[YSIZES:.*]]:2, %[[YSTRIDES:.*]]:2 = memref.extract_strided_metadata %[[Y]]
// CHECK-DAG: %[[M:.*]] = arith.index_cast %[[YSIZES]]#0 : index to i64
// CHECK-DAG: %[[N:.*]] = arith.index_cast %[[YSIZES]]#1 : index to i64
// CHECK: call @lowbit_uk_matmul_f32(%[[XADDR]], %[[XO]], %[[XRS]], %[[XCS]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[M]], %[[N]], %[[K]])
// CHECK-NOT: linalg.generic
// CHECK-NOT: lowbit.contraction
func.func @plain(%x: memref<?x64xf32>, %w: memref<64x172xf32>, %y: memref<?x172xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : memref<?x64xf32>, memref<64x172xf32>) outs(%y : memref<?x172xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2) -> (d0, d1)>
#b = affine_map<(d0, d1, d2) -> (d2, d0)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// Gemm with transA and transB: A indexed (k, m) and B (n, k). The strides
// are passed swapped, so no copy is made; the product may be written y * x
// and the sum x + out.
// CHECK-LABEL: func @transposed
// CHECK: %{{.*}}, %{{.*}}, %[[AS:.*]]:2, %[[AST:.*]]:2 = memref.extract_strided_metadata %arg0
// CHECK-DAG: %[[ACOL:.*]] = arith.index_cast %[[AST]]#0 : index to i64
// CHECK-DAG: %[[AROW:.*]] = arith.index_cast %[[AST]]#1 : index to i64
// CHECK-DAG: %[[K:.*]] = arith.index_cast %[[AS]]#0 : index to i64
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}:2, %[[BST:.*]]:2 = memref.extract_strided_metadata %arg1
// CHECK-DAG: %[[BCOL:.*]] = arith.index_cast %[[BST]]#0 : index to i64
// CHECK-DAG: %[[BROW:.*]] = arith.index_cast %[[BST]]#1 : index to i64
// CHECK: call @lowbit_uk_matmul_f32(%{{.*}}, %{{.*}}, %[[AROW]], %[[ACOL]], %{{.*}}, %{{.*}}, %[[BROW]], %[[BCOL]], {{.*}}, %[[K]])
func.func @transposed(%a: memref<64x8xf32>, %b: memref<32x64xf32>, %c: memref<8x32xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%a, %b : memref<64x8xf32>, memref<32x64xf32>) outs(%c : memref<8x32xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in_0, %in : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d2)>
#b = affine_map<(d0, d1, d2, d3, d4) -> (d0, 0, d2, d4)>
#c = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>

// Batch loops (b0, b1, k, m, n) with B broadcast along b1: a loop over b0,
// and for each b0 one batched call over b1 (the runtime may share its items
// among threads): rank-reducing subviews that keep b1 whole where the
// operand has it, the batch strides (40 and 56; 0 for the broadcast B), the
// kind (0: f32 B) and b1's size.
// CHECK: func.func private @lowbit_uk_matmul_f32_batched(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func @batched
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NOT: scf.for
// CHECK: memref.subview %arg0[%[[I]], 0, 0, 0] [1, 3, 8, 5] [1, 1, 1, 1] : memref<2x3x8x5xf32> to memref<3x8x5xf32, strided<[40, 5, 1], offset: ?>>
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}:3, %[[AST:.*]]:3 = memref.extract_strided_metadata
// CHECK: %[[ABS:.*]] = arith.index_cast %[[AST]]#0 : index to i64
// CHECK: memref.subview %arg1[%[[I]], 0, 0, 0] [1, 1, 5, 7] [1, 1, 1, 1] : memref<2x1x5x7xf32> to memref<5x7xf32, strided<[7, 1], offset: ?>>
// CHECK: %[[BBS:.*]] = arith.constant 0 : i64
// CHECK: memref.subview %arg2[%[[I]], 0, 0, 0] [1, 3, 8, 7] [1, 1, 1, 1] : memref<2x3x8x7xf32> to memref<3x8x7xf32, strided<[56, 7, 1], offset: ?>>
// CHECK: %{{.*}}, %{{.*}}, %[[CSZ:.*]]:3, %[[CST:.*]]:3 = memref.extract_strided_metadata
// CHECK-DAG: %[[CBS:.*]] = arith.index_cast %[[CST]]#0 : index to i64
// CHECK-DAG: %[[COUNT:.*]] = arith.index_cast %[[CSZ]]#0 : index to i64
// CHECK-DAG: %[[KIND:.*]] = arith.constant 0 : i64
// CHECK: call @lowbit_uk_matmul_f32_batched(%[[KIND]], %[[COUNT]], %[[ABS]], %[[BBS]], %[[CBS]],
func.func @batched(%x: memref<2x3x8x5xf32>, %y: memref<2x1x5x7xf32>, %z: memref<2x3x8x7xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]}
      ins(%x, %y : memref<2x3x8x5xf32>, memref<2x1x5x7xf32>) outs(%z : memref<2x3x8x7xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// Left to the loop lowering, unmarked: integer elements, a body that fusion
// extended, an unmarked generic, and tensors (before bufferization).
// CHECK-LABEL: func @not_lowered
// CHECK-NOT: call
// CHECK-COUNT-4: linalg.generic
// CHECK-NOT: lowbit.contraction
func.func @not_lowered(%xi: memref<4x8xi32>, %wi: memref<8x16xi32>, %yi: memref<4x16xi32>,
                       %x: memref<4x8xf32>, %w: memref<8x16xf32>, %y: memref<4x16xf32>,
                       %tx: tensor<4x8xf32>, %tw: tensor<8x16xf32>, %ty: tensor<4x16xf32>) -> tensor<4x16xf32> {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%xi, %wi : memref<4x8xi32>, memref<8x16xi32>) outs(%yi : memref<4x16xi32>) attrs = {lowbit.contraction} {
  ^bb0(%in: i32, %in_0: i32, %out: i32):
    %0 = arith.muli %in, %in_0 : i32
    %1 = arith.addi %out, %0 : i32
    linalg.yield %1 : i32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : memref<4x8xf32>, memref<8x16xf32>) outs(%y : memref<4x16xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.mulf %in, %in : f32
    %0 = arith.mulf %s, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : memref<4x8xf32>, memref<8x16xf32>) outs(%y : memref<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%tx, %tw : tensor<4x8xf32>, tensor<8x16xf32>) outs(%ty : tensor<4x16xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#x = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1)>
#q = affine_map<(d0, d1, d2, d3) -> (d3, d1)>
#g = affine_map<(d0, d1, d2, d3) -> (d3, d1 floordiv 32)>
#y = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>

// A quantized contraction (convert-lowbit-to-linalg's form) becomes, per
// batch index, a call of the fused kernel: x, levels, scales, zero points
// and C as (address, offset, row stride, column stride), then m, n, k, the
// group size read from the scales' map, the bits per stored level (8: the
// levels are not a constant the pass could repack) and the activation bits
// (8, from lowbit.activation_bits: int8 products allowed), and the f32 bits
// of a static activation scale (0: none; 0.5 = 0x3F000000 = 1056964608),
// then nine zeros: no outlier channels.
// CHECK: func.func private @lowbit_uk_quantized_matmul_f32(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func @quantized
// CHECK: scf.for %[[B:.*]] =
// CHECK: memref.subview %arg0[%[[B]], 0, 0]
// CHECK-DAG: %[[G:.*]] = arith.constant 32 : i64
// CHECK-DAG: %[[LEVELBITS:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[ACTBITS:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[ACTSCALE:.*]] = arith.constant 1056964608 : i64
// CHECK: call @lowbit_uk_quantized_matmul_f32({{.*}}, %[[G]], %[[LEVELBITS]], %[[ACTBITS]], %[[ACTSCALE]], %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64) : (i64
// CHECK-NOT: linalg.generic
func.func @quantized(%x: memref<2x?x172xf32>, %q: memref<64x172xi8>, %s: memref<64x6xf32>,
                     %z: memref<64x6xi8>, %y: memref<2x?x64xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #g, #g, #y], iterator_types = ["parallel", "reduction", "parallel", "parallel"]}
      ins(%x, %q, %s, %z : memref<2x?x172xf32>, memref<64x172xi8>, memref<64x6xf32>, memref<64x6xi8>)
      outs(%y : memref<2x?x64xf32>) attrs = {lowbit.activation_bits = 8 : i64, lowbit.activation_scale = 5.000000e-01 : f32, lowbit.quantized_contraction = 4 : i64} {
  ^bb0(%in: f32, %lv: i8, %sc: f32, %zp: i8, %out: f32):
    %0 = arith.sitofp %lv : i8 to f32
    %1 = arith.sitofp %zp : i8 to f32
    %2 = arith.subf %0, %1 : f32
    %3 = arith.mulf %2, %sc : f32
    %4 = arith.mulf %in, %3 : f32
    %5 = arith.addf %out, %4 : f32
    linalg.yield %5 : f32
  }
  return
}

// -----

#x = affine_map<(d0, d1, d2) -> (d1, d0)>
#q = affine_map<(d0, d1, d2) -> (d2, d0)>
#g = affine_map<(d0, d1, d2) -> (d2, d0 floordiv 8)>
#y = affine_map<(d0, d1, d2) -> (d1, d2)>

// f16 scales have no kernel: the quantized contraction stays a loop nest.
// CHECK-LABEL: func @f16_scales
// CHECK-NOT: call
// CHECK: linalg.generic
// CHECK-NOT: lowbit.quantized_contraction
func.func @f16_scales(%x: memref<4x16xf32>, %q: memref<8x16xi8>, %s: memref<8x2xf16>, %y: memref<4x8xf32>) {
  linalg.generic {indexing_maps = [#x, #q, #g, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %q, %s : memref<4x16xf32>, memref<8x16xi8>, memref<8x2xf16>) outs(%y : memref<4x8xf32>)
      attrs = {lowbit.quantized_contraction} {
  ^bb0(%in: f32, %lv: i8, %sc: f16, %out: f32):
    %0 = arith.sitofp %lv : i8 to f32
    %1 = arith.extf %sc : f16 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.mulf %in, %2 : f32
    %4 = arith.addf %out, %3 : f32
    linalg.yield %4 : f32
  }
  return
}

// -----

#x = affine_map<(d0, d1, d2) -> (d1, d0)>
#q = affine_map<(d0, d1, d2) -> (d2, d0)>
#g = affine_map<(d0, d1, d2) -> (d2, d0 floordiv 2)>
#y = affine_map<(d0, d1, d2) -> (d1, d2)>

// With pack-nibbles, 4-bit levels in a constant global are repacked two to
// a byte (level k of a row in byte k / 2, low nibble first, as level + 8):
// [[-8, 7, 1, -1]] and [[0, 2, -3, 5]] become bytes F0 79 and A8 D5; the
// one-byte-per-level global goes away and the kernel is told 4 bits per
// level. Without it (the default), the bytes are passed as they are.
// NIBBLES-LABEL: memref.global "private" constant @levels.nibbles : memref<2x2xi8> = dense_resource<levels.nibbles>
// NIBBLES-NOT: memref.global "private" constant @levels :
// NIBBLES-LABEL: func @nibbles
// NIBBLES: memref.get_global @levels.nibbles : memref<2x2xi8>
// NIBBLES: %[[FOUR:.*]] = arith.constant 4 : i64
// NIBBLES: call @lowbit_uk_quantized_matmul_f32({{.*}}, %[[FOUR]], %{{.*}}) : (i64
// NIBBLES: levels.nibbles: "0x01000000F079A8D5"
// CHECK-LABEL: func @nibbles
// CHECK: memref.get_global @levels : memref<2x4xi8>
// CHECK: %[[BYTE:.*]] = arith.constant 8 : i64
// CHECK: call @lowbit_uk_quantized_matmul_f32({{.*}}, %[[BYTE]], %{{.*}}) : (i64
memref.global "private" constant @levels : memref<2x4xi8> = dense<[[-8, 7, 1, -1], [0, 2, -3, 5]]>
func.func @nibbles(%x: memref<3x4xf32>, %s: memref<2x2xf32>, %y: memref<3x2xf32>) {
  %q = memref.get_global @levels : memref<2x4xi8>
  linalg.generic {indexing_maps = [#x, #q, #g, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %q, %s : memref<3x4xf32>, memref<2x4xi8>, memref<2x2xf32>) outs(%y : memref<3x2xf32>)
      attrs = {lowbit.quantized_contraction = 4 : i64} {
  ^bb0(%in: f32, %lv: i8, %sc: f32, %out: f32):
    %0 = arith.sitofp %lv : i8 to f32
    %1 = arith.mulf %0, %sc : f32
    %2 = arith.mulf %in, %1 : f32
    %3 = arith.addf %out, %2 : f32
    linalg.yield %3 : f32
  }
  return
}

// -----

#x = affine_map<(d0, d1, d2) -> (d1, d0)>
#q = affine_map<(d0, d1, d2) -> (d2, d0)>
#g = affine_map<(d0, d1, d2) -> (d2, d0 floordiv 16)>
#y = affine_map<(d0, d1, d2) -> (d1, d2)>
#wo = affine_map<(d0, d1, d2) -> (d0, d2)>

// A split layer (convert-lowbit-to-linalg's form of quantized_matmul with
// outliers): the outlier product into C just before the quantized
// contraction on the same C. Both become one call, the gathered columns
// [4, 2] and outlier weights [2, 8] passed after the activation scale, with
// their count (2) last; the outlier generic is gone.
// CHECK-LABEL: func @outliers
// CHECK-SAME: (%[[X:.*]]: memref<4x16xf32>, %{{.*}}: memref<8x16xi8>, %{{.*}}: memref<8x1xf32>, %[[XO:.*]]: memref<4x2xf32>, %[[WO:.*]]: memref<2x8xf32>, %{{.*}}: memref<4x8xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[XOPTR:.*]] = memref.extract_aligned_pointer_as_index %[[XO]] : memref<4x2xf32>
// CHECK: %[[XOADDR:.*]] = arith.index_cast %[[XOPTR]]
// CHECK: %[[WOPTR:.*]] = memref.extract_aligned_pointer_as_index %[[WO]] : memref<2x8xf32>
// CHECK: %[[WOADDR:.*]] = arith.index_cast %[[WOPTR]]
// CHECK: call @lowbit_uk_quantized_matmul_f32({{.*}}, %[[XOADDR]], {{.*}}, %[[WOADDR]], {{.*}}) : (i64
// CHECK-NOT: linalg.generic
// A product with another output, or not right before, stays a generic.
// CHECK-LABEL: func @other_output
// CHECK: linalg.generic
// CHECK-SAME: lowbit.outlier_product
// CHECK: call @lowbit_uk_quantized_matmul_f32
func.func @outliers(%x: memref<4x16xf32>, %q: memref<8x16xi8>, %s: memref<8x1xf32>, %xo: memref<4x2xf32>,
                    %wo: memref<2x8xf32>, %y: memref<4x8xf32>) {
  linalg.generic {indexing_maps = [#x, #wo, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%xo, %wo : memref<4x2xf32>, memref<2x8xf32>) outs(%y : memref<4x8xf32>)
      attrs = {lowbit.outlier_product} {
  ^bb0(%a: f32, %w: f32, %out: f32):
    %0 = arith.mulf %a, %w : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  linalg.generic {indexing_maps = [#x, #q, #g, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %q, %s : memref<4x16xf32>, memref<8x16xi8>, memref<8x1xf32>) outs(%y : memref<4x8xf32>)
      attrs = {lowbit.activation_bits = 8 : i64, lowbit.quantized_contraction = 8 : i64} {
  ^bb0(%in: f32, %lv: i8, %sc: f32, %out: f32):
    %0 = arith.sitofp %lv : i8 to f32
    %1 = arith.mulf %0, %sc : f32
    %2 = arith.mulf %in, %1 : f32
    %3 = arith.addf %out, %2 : f32
    linalg.yield %3 : f32
  }
  return
}
func.func @other_output(%x: memref<4x16xf32>, %q: memref<8x16xi8>, %s: memref<8x1xf32>, %xo: memref<4x2xf32>,
                        %wo: memref<2x8xf32>, %y: memref<4x8xf32>, %z: memref<4x8xf32>) {
  linalg.generic {indexing_maps = [#x, #wo, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%xo, %wo : memref<4x2xf32>, memref<2x8xf32>) outs(%z : memref<4x8xf32>)
      attrs = {lowbit.outlier_product} {
  ^bb0(%a: f32, %w: f32, %out: f32):
    %0 = arith.mulf %a, %w : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  linalg.generic {indexing_maps = [#x, #q, #g, #y], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %q, %s : memref<4x16xf32>, memref<8x16xi8>, memref<8x1xf32>) outs(%y : memref<4x8xf32>)
      attrs = {lowbit.activation_bits = 8 : i64, lowbit.quantized_contraction = 8 : i64} {
  ^bb0(%in: f32, %lv: i8, %sc: f32, %out: f32):
    %0 = arith.sitofp %lv : i8 to f32
    %1 = arith.mulf %0, %sc : f32
    %2 = arith.mulf %in, %1 : f32
    %3 = arith.addf %out, %2 : f32
    linalg.yield %3 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// B as int8 levels converted in the body (lowbit.mixed_matmul): the int8-B
// kernel, same arguments.
// CHECK: func.func private @lowbit_uk_matmul_f32_i8(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func @levels_b
// CHECK: memref.extract_strided_metadata %arg1 : memref<64x9xi8>
// CHECK: call @lowbit_uk_matmul_f32_i8(
// CHECK-NOT: linalg.generic
func.func @levels_b(%x: memref<?x64xf32>, %w: memref<64x9xi8>, %y: memref<?x9xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : memref<?x64xf32>, memref<64x9xi8>) outs(%y : memref<?x9xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: i8, %out: f32):
    %f = arith.sitofp %in_0 : i8 to f32
    %0 = arith.mulf %in, %f : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// An int8 B converted otherwise (unsigned) is not a contraction the
// kernels run: left as it is.
// CHECK-LABEL: func @levels_b_other_body
// CHECK-NOT: call
// CHECK: linalg.generic
func.func @levels_b_other_body(%x: memref<?x64xf32>, %w: memref<64x9xi8>, %y: memref<?x9xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : memref<?x64xf32>, memref<64x9xi8>) outs(%y : memref<?x9xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: i8, %out: f32):
    %f = arith.uitofp %in_0 : i8 to f32
    %0 = arith.mulf %in, %f : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d2)>
#b = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d2 floordiv 2)>
#c = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>

// K^T over an int4 cache read as its bytes (convert-lowbit-to-linalg's
// fused unpacking): the int4 kind (2) of the batched entry over the heads,
// B's offset, byte strides and batch stride doubled into levels (the
// bytes' own dimension, stride 1, holds two each).
// CHECK-LABEL: func @int4_keys
// CHECK: %[[BV:.*]] = memref.subview %arg1[%{{.*}}, 0, 0, 0] [1, 2, %{{.*}}, 2] [1, 1, 1, 1] : memref<?x2x?x2xi8> to memref<2x?x2xi8, strided<[?, 2, 1], offset: ?>>
// CHECK: %{{.*}}, %[[BOFF:.*]], %{{.*}}:3, %[[BST:.*]]:3 = memref.extract_strided_metadata %[[BV]]
// CHECK-DAG: %[[BO:.*]] = arith.index_cast %[[BOFF]] : index to i64
// CHECK-DAG: %[[BRS:.*]] = arith.index_cast %[[BST]]#1 : index to i64
// CHECK-DAG: %[[BCS:.*]] = arith.index_cast %[[BST]]#2 : index to i64
// CHECK-DAG: %[[BBS:.*]] = arith.index_cast %[[BST]]#0 : index to i64
// CHECK: %[[TWO:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[LO:.*]] = arith.muli %[[BO]], %[[TWO]] : i64
// CHECK-DAG: %[[LRS:.*]] = arith.muli %[[BRS]], %[[TWO]] : i64
// CHECK-DAG: %[[LBS:.*]] = arith.muli %[[BBS]], %[[TWO]] : i64
// CHECK: %[[KIND:.*]] = arith.constant 2 : i64
// CHECK: call @lowbit_uk_matmul_f32_batched(%[[KIND]], %{{.*}}, %{{.*}}, %[[LBS]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[LO]], %[[BCS]], %[[LRS]],
// CHECK-NOT: linalg.generic
func.func @int4_keys(%q: memref<?x2x1x4xf32>, %k: memref<?x2x?x2xi8>, %s: memref<?x2x1x?xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]}
      ins(%q, %k : memref<?x2x1x4xf32>, memref<?x2x?x2xi8>) outs(%s : memref<?x2x1x?xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %byte: i8, %out: f32):
    %c1 = arith.constant 1 : i8
    %c2 = arith.constant 2 : i8
    %c15 = arith.constant 15 : i8
    %c8 = arith.constant 8 : i8
    %i = linalg.index 2 : index
    %0 = arith.index_cast %i : index to i8
    %1 = arith.andi %0, %c1 : i8
    %2 = arith.shli %1, %c2 : i8
    %3 = arith.shrui %byte, %2 : i8
    %4 = arith.andi %3, %c15 : i8
    %5 = arith.subi %4, %c8 : i8
    %6 = arith.sitofp %5 : i8 to f32
    %7 = arith.mulf %in, %6 : f32
    %8 = arith.addf %out, %7 : f32
    linalg.yield %8 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0 floordiv 2, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// Nibbles along a dimension that is not the bytes' last (adjacent levels
// a row apart): not the kernel's layout, left as loops.
// CHECK-LABEL: func @int4_not_contiguous
// CHECK-NOT: call
// CHECK: linalg.generic
func.func @int4_not_contiguous(%p: memref<1x8xf32>, %v: memref<4x8xi8>, %o: memref<1x8xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%p, %v : memref<1x8xf32>, memref<4x8xi8>) outs(%o : memref<1x8xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %byte: i8, %out: f32):
    %c1 = arith.constant 1 : i8
    %c2 = arith.constant 2 : i8
    %c15 = arith.constant 15 : i8
    %c8 = arith.constant 8 : i8
    %i = linalg.index 0 : index
    %0 = arith.index_cast %i : index to i8
    %1 = arith.andi %0, %c1 : i8
    %2 = arith.shli %1, %c2 : i8
    %3 = arith.shrui %byte, %2 : i8
    %4 = arith.andi %3, %c15 : i8
    %5 = arith.subi %4, %c8 : i8
    %6 = arith.sitofp %5 : i8 to f32
    %7 = arith.mulf %in, %6 : f32
    %8 = arith.addf %out, %7 : f32
    linalg.yield %8 : f32
  }
  return
}

// -----

#a = affine_map<(d0, d1, d2) -> (d1, d0)>
#b = affine_map<(d0, d1, d2) -> (d0, d2)>
#c = affine_map<(d0, d1, d2) -> (d1, d2)>

// A constant weight B [4, 64] is stored prepacked (the kernel's panels,
// 4 x 64 floats, no padding) and the call passes its address; the original
// global goes. A [4, 40] weight, whose panels would pad 40 columns to 64,
// stays as it is.
// CHECK-DAG: memref.global "private" constant @w.panels : memref<256xf32> = dense_resource<w.panels> {alignment = 64 : i64}
// CHECK-DAG: func.func private @lowbit_uk_matmul_f32_panels(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-NOT: memref.global "private" constant @w :
// CHECK-DAG: memref.global "private" constant @narrow : memref<4x40xf32>
// CHECK-LABEL: func @prepacked
// CHECK: %[[P:.*]] = memref.get_global @w.panels : memref<256xf32>
// CHECK: %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[P]]
// CHECK: %[[ADDR:.*]] = arith.index_cast %[[PTR]] : index to i64
// CHECK: %[[K:.*]] = arith.constant 4 : i64
// CHECK: call @lowbit_uk_matmul_f32_panels(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ADDR]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K]])
// CHECK: memref.get_global @narrow : memref<4x40xf32>
// CHECK: call @lowbit_uk_matmul_f32(
memref.global "private" constant @w : memref<4x64xf32> = dense<1.0>
memref.global "private" constant @narrow : memref<4x40xf32> = dense<2.0>
func.func @prepacked(%x: memref<?x4xf32>, %y: memref<?x64xf32>, %z: memref<?x40xf32>) {
  %w = memref.get_global @w : memref<4x64xf32>
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %w : memref<?x4xf32>, memref<4x64xf32>) outs(%y : memref<?x64xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  %n = memref.get_global @narrow : memref<4x40xf32>
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%x, %n : memref<?x4xf32>, memref<4x40xf32>) outs(%z : memref<?x40xf32>) attrs = {lowbit.contraction} {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  }
  return
}
