// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(convert-lowbit-to-linalg)' | FileCheck %s

// One contraction that dequantizes as it multiplies: loops (batch, k, m, n),
// levels read at (n, k), scales and zero points at (n, k floordiv 32), the
// marker for lowbit-lower-to-ukernels (carrying the bit width).
// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1)>
// CHECK-DAG: #[[Q:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d1)>
// CHECK-DAG: #[[G:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d1 floordiv 32)>
// CHECK-DAG: #[[Y:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func @asymmetric
// CHECK: %[[INIT:.*]] = linalg.fill
// CHECK: linalg.generic {indexing_maps = [#[[X]], #[[Q]], #[[G]], #[[G]], #[[Y]]], iterator_types = ["parallel", "reduction", "parallel", "parallel"]}
// CHECK-SAME: ins(%arg0, %arg1, %arg2, %arg3 : tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf32>, tensor<64x6xi8>) outs(%[[INIT]] : tensor<?x?x64xf32>)
// CHECK-SAME: attrs = {lowbit.quantized_contraction = 4 : i64}
// CHECK: ^bb0(%[[XV:.*]]: f32, %[[QV:.*]]: i8, %[[SV:.*]]: f32, %[[ZV:.*]]: i8, %[[OUT:.*]]: f32):
// CHECK: %[[QF:.*]] = arith.sitofp %[[QV]] : i8 to f32
// CHECK: %[[ZF:.*]] = arith.sitofp %[[ZV]] : i8 to f32
// CHECK: %[[LEVEL:.*]] = arith.subf %[[QF]], %[[ZF]]
// CHECK: %[[W:.*]] = arith.mulf %[[LEVEL]], %[[SV]]
// CHECK: %[[P:.*]] = arith.mulf %[[XV]], %[[W]]
// CHECK: %[[SUM:.*]] = arith.addf %[[OUT]], %[[P]]
// CHECK: linalg.yield %[[SUM]]
func.func @asymmetric(%x: tensor<?x?x172xf32>, %q: tensor<64x172xi8>, %s: tensor<64x6xf32>, %z: tensor<64x6xi8>) -> tensor<?x?x64xf32> {
  %0 = lowbit.quantized_matmul %x, %q, %s zero_points %z {bits = 4 : i64, group_size = 32 : i64}
     : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf32>, tensor<64x6xi8>) -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// Symmetric with f16 scales: no zero point, the scale extended to f32.
// CHECK-LABEL: func @symmetric_f16_scales
// CHECK: ^bb0(%[[XV:.*]]: f32, %[[QV:.*]]: i8, %[[SV:.*]]: f16, %[[OUT:.*]]: f32):
// CHECK: %[[QF:.*]] = arith.sitofp %[[QV]] : i8 to f32
// CHECK: %[[S32:.*]] = arith.extf %[[SV]] : f16 to f32
// CHECK: arith.mulf %[[QF]], %[[S32]]
func.func @symmetric_f16_scales(%x: tensor<4x64xf32>, %q: tensor<8x64xi8>, %s: tensor<8x1xf16>) -> tensor<4x8xf32> {
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 8 : i64, group_size = 64 : i64}
     : (tensor<4x64xf32>, tensor<8x64xi8>, tensor<8x1xf16>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// activation_bits = 8: the input goes through a row-wise int8 quantize and
// restore (max |x| over the last dimension, then roundeven(x / s) clamped to
// [-127, 127] times s) before the contraction, which is also marked.
// CHECK-LABEL: func @int8_activations
// CHECK: %[[AMAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: math.absf
// CHECK: arith.maximumf
// CHECK: %[[XQ:.*]] = linalg.generic {{.*}} ins(%arg0, %[[AMAX]] : tensor<4x64xf32>, tensor<4x1xf32>)
// CHECK: arith.divf
// CHECK: arith.select
// CHECK: math.roundeven
// CHECK: arith.minimumf
// CHECK: linalg.generic {{.*}} ins(%[[XQ]], %arg1, %arg2 : {{.*}} attrs = {lowbit.activation_bits = 8 : i64, lowbit.quantized_contraction = 8 : i64}
func.func @int8_activations(%x: tensor<4x64xf32>, %q: tensor<8x64xi8>, %s: tensor<8x1xf32>) -> tensor<4x8xf32> {
  %0 = lowbit.quantized_matmul %x, %q, %s {activation_bits = 8 : i64, bits = 8 : i64, group_size = 64 : i64}
     : (tensor<4x64xf32>, tensor<8x64xi8>, tensor<8x1xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// A static activation_scale: no reduction, every element divided by the
// one scale (0.5), rounded and clamped; the contraction carries the scale.
// CHECK-LABEL: func @static_int8_activations
// CHECK-NOT: iterator_types = ["parallel", "reduction"]
// CHECK: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[XQ:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x64xf32>)
// CHECK: arith.divf %{{.*}}, %[[HALF]]
// CHECK: math.roundeven
// CHECK: linalg.generic {{.*}} ins(%[[XQ]], %arg1, %arg2 : {{.*}} attrs = {lowbit.activation_bits = 8 : i64, lowbit.activation_scale = 5.000000e-01 : f32, lowbit.quantized_contraction = 8 : i64}
func.func @static_int8_activations(%x: tensor<4x64xf32>, %q: tensor<8x64xi8>, %s: tensor<8x1xf32>) -> tensor<4x8xf32> {
  %0 = lowbit.quantized_matmul %x, %q, %s {activation_bits = 8 : i64, activation_scale = 0.5 : f32, bits = 8 : i64, group_size = 64 : i64}
     : (tensor<4x64xf32>, tensor<8x64xi8>, tensor<8x1xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Outlier channels 1 and 6: the input is multiplied by a mask that is 0 on
// them before the row quantization; the channels are gathered
// (tensor.extract at the listed index) and multiplied by the outlier
// weights into the accumulator (lowbit.outlier_product), which the
// quantized contraction then adds to, right after it.
// CHECK-LABEL: func @outliers
// CHECK-DAG: %[[MASK:.*]] = arith.constant dense<[1.000000e+00, 0.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 0.000000e+00, 1.000000e+00]> : tensor<8xf32>
// CHECK-DAG: %[[IDX:.*]] = arith.constant dense<[1, 6]> : tensor<2xi64>
// CHECK: %[[ZERO:.*]] = linalg.fill
// CHECK: %[[MASKED:.*]] = linalg.generic {{.*}} ins(%arg0, %[[MASK]] : tensor<4x8xf32>, tensor<8xf32>)
// CHECK: arith.mulf
// CHECK: %[[XQ:.*]] = linalg.generic {{.*}} ins(%[[MASKED]], %{{.*}} : tensor<4x8xf32>, tensor<4x1xf32>)
// CHECK: %[[GATHERED:.*]] = linalg.generic {{.*}} ins(%[[IDX]] : tensor<2xi64>)
// CHECK: tensor.extract %arg0
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[GATHERED]], %arg3 : tensor<4x2xf32>, tensor<2x2xf32>) outs(%[[ZERO]] : tensor<4x2xf32>) attrs = {lowbit.outlier_product}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK: linalg.generic {{.*}} ins(%[[XQ]], %arg1, %arg2 : {{.*}}) outs(%[[OUT]] : tensor<4x2xf32>) attrs = {lowbit.activation_bits = 8 : i64, lowbit.quantized_contraction = 8 : i64}
func.func @outliers(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>, %wo: tensor<2x2xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[1, 6]> : tensor<2xi64>
  %0 = lowbit.quantized_matmul %x, %q, %s outliers(%c, %wo) {activation_bits = 8 : i64, bits = 8 : i64, group_size = 8 : i64}
     : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<2xi64>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// Calibration taps: one without statistics records its input's rows
// (buffer address and offset, rows = 2 * 5, channels, row stride) under tap
// id 0; one that already holds statistics is just its input.
// CHECK: func.func private @lowbit_calibration_record(i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func @taps
// CHECK-DAG: %[[CHANNELS:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[ROWS:.*]] = arith.constant 10 : i64
// CHECK-DAG: %[[ID:.*]] = arith.constant 0 : i64
// CHECK: %[[BUF:.*]] = bufferization.to_buffer %arg0 read_only : tensor<2x5x8xf32> to memref<2x5x8xf32, strided<[?, ?, ?], offset: ?>>
// CHECK: %{{.*}}, %[[OFF:.*]], %{{.*}}:3, %[[STRIDES:.*]]:3 = memref.extract_strided_metadata %[[BUF]]
// CHECK: %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[BUF]]
// CHECK: %[[ADDR:.*]] = arith.index_cast %[[PTR]] : index to i64
// CHECK: %[[OFF64:.*]] = arith.index_cast %[[OFF]] : index to i64
// CHECK: %[[STRIDE:.*]] = arith.index_cast %[[STRIDES]]#1 : index to i64
// CHECK: call @lowbit_calibration_record(%[[ID]], %[[ADDR]], %[[OFF64]], %[[ROWS]], %[[CHANNELS]], %[[STRIDE]]) : (i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: calibration_tap
// CHECK: return %arg0, %arg0
func.func @taps(%x: tensor<2x5x8xf32>) -> (tensor<2x5x8xf32>, tensor<2x5x8xf32>) {
  %a = lowbit.calibration_tap %x {name = "first"} : tensor<2x5x8xf32>
  %b = lowbit.calibration_tap %x {name = "done", tokens = 10 : i64} : tensor<2x5x8xf32>
  return %a, %b : tensor<2x5x8xf32>, tensor<2x5x8xf32>
}

// -----

// Per-row quantization: max |x| by a reduction, the scale (1 for a row of
// zeros), the levels rounded half to even and clamped to +-127; and back.
// CHECK-LABEL: func @quantize_rows
// CHECK: linalg.generic
// CHECK: math.absf
// CHECK: arith.maximumf
// CHECK: linalg.generic
// CHECK: arith.cmpf oeq
// CHECK: arith.select
// CHECK: linalg.generic
// CHECK: math.roundeven
// CHECK: arith.fptosi %{{.*}} : f32 to i8
// CHECK: linalg.generic
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK: arith.mulf
// CHECK-NOT: lowbit.
func.func @quantize_rows(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %q, %s = lowbit.dynamic_quantize %x {bits = 8 : i64} : (tensor<?x16xf32>) -> (tensor<?x16xi8>, tensor<?x1xf32>)
  %y = lowbit.dequantize %q, %s : (tensor<?x16xi8>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A float-by-levels MatMul: the MatMul contraction (loops b, h, k, m, n,
// marked for the micro-kernels) converting each level in its body.
// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d2)>
// CHECK-DAG: #[[B:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-LABEL: func @mixed_matmul
// CHECK: linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "reduction", "parallel", "parallel"]}
// CHECK-SAME: ins(%arg0, %arg1 : tensor<?x2x1x8xf32>, tensor<?x2x8x?xi8>)
// CHECK-SAME: {lowbit.contraction}
// CHECK: ^bb0(%[[X:.*]]: f32, %[[L:.*]]: i8, %[[OUT:.*]]: f32):
// CHECK: %[[F:.*]] = arith.sitofp %[[L]] : i8 to f32
// CHECK: %[[P:.*]] = arith.mulf %[[X]], %[[F]] : f32
// CHECK: arith.addf %[[OUT]], %[[P]] : f32
func.func @mixed_matmul(%q: tensor<?x2x1x8xf32>, %k: tensor<?x2x8x?xi8>) -> tensor<?x2x1x?xf32> {
  %0 = lowbit.mixed_matmul %q, %k : (tensor<?x2x1x8xf32>, tensor<?x2x8x?xi8>) -> tensor<?x2x1x?xf32>
  return %0 : tensor<?x2x1x?xf32>
}

// -----

// Nibbles: packing reads levels 2j and 2j + 1 through the maps and stores
// (l0 + 8) | (l1 + 8) << 4; unpacking reads byte k floordiv 2 and shifts by
// 4 * (k mod 2).
// CHECK-DAG: #[[LOW:.*]] = affine_map<(d0, d1) -> (d0, d1 * 2)>
// CHECK-DAG: #[[HIGH:.*]] = affine_map<(d0, d1) -> (d0, d1 * 2 + 1)>
// CHECK-DAG: #[[BYTE:.*]] = affine_map<(d0, d1) -> (d0, d1 floordiv 2)>
// CHECK-LABEL: func @nibbles
// CHECK: linalg.generic {indexing_maps = [#[[LOW]], #[[HIGH]], #{{.*}}]
// CHECK: arith.shli
// CHECK: arith.ori
// CHECK: linalg.generic {indexing_maps = [#[[BYTE]], #{{.*}}]
// CHECK: linalg.index 1
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: arith.subi
func.func @nibbles(%q: tensor<3x8xi8>) -> tensor<3x8xi8> {
  %p = lowbit.pack_nibbles %q : tensor<3x8xi8> -> tensor<3x4xi8>
  %u = lowbit.unpack_nibbles %p : tensor<3x4xi8> -> tensor<3x8xi8>
  return %u : tensor<3x8xi8>
}

// -----

// A product over levels unpacked along its reduction (K^T's head_dim) or
// its columns (V's) reads the bytes: k floordiv 2 (or n floordiv 2) in B's
// map, the nibble picked by that loop's index in the body; no unpacked copy.
// CHECK-DAG: #[[KB:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2 floordiv 2, d4)>
// CHECK-DAG: #[[VB:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4 floordiv 2)>
// CHECK-LABEL: func @mixed_matmul_nibbles
// CHECK-NOT: lowbit.
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[KB]], #{{.*}}]
// CHECK-SAME: ins(%arg0, %arg1 : tensor<?x2x1x8xf32>, tensor<?x2x4x?xi8>)
// CHECK: ^bb0(%{{.*}}: f32, %[[BYTE:.*]]: i8, %{{.*}}: f32):
// CHECK: %[[K:.*]] = linalg.index 2 : index
// CHECK: arith.index_cast %[[K]] : index to i8
// CHECK: arith.shrui %[[BYTE]]
// CHECK: arith.sitofp
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[VB]], #{{.*}}]
// CHECK-SAME: ins(%arg2, %arg3 : tensor<?x2x1x?xf32>, tensor<?x2x?x4xi8>)
// CHECK: linalg.index 4 : index
// CHECK-NOT: linalg.generic
func.func @mixed_matmul_nibbles(%q: tensor<?x2x1x8xf32>, %kt: tensor<?x2x4x?xi8>,
                                %p: tensor<?x2x1x?xf32>, %v: tensor<?x2x?x4xi8>) -> (tensor<?x2x1x?xf32>, tensor<?x2x1x8xf32>) {
  %k = lowbit.unpack_nibbles %kt {axis = 2 : i64} : tensor<?x2x4x?xi8> -> tensor<?x2x8x?xi8>
  %s = lowbit.mixed_matmul %q, %k : (tensor<?x2x1x8xf32>, tensor<?x2x8x?xi8>) -> tensor<?x2x1x?xf32>
  %l = lowbit.unpack_nibbles %v : tensor<?x2x?x4xi8> -> tensor<?x2x?x8xi8>
  %o = lowbit.mixed_matmul %p, %l : (tensor<?x2x1x?xf32>, tensor<?x2x?x8xi8>) -> tensor<?x2x1x8xf32>
  return %s, %o : tensor<?x2x1x?xf32>, tensor<?x2x1x8xf32>
}
