// RUN: lowbit-opt %s | lowbit-opt | FileCheck %s
// RUN: lowbit-opt %s --mlir-print-op-generic | lowbit-opt | FileCheck %s

// Round trip of every lowbit op's assembly format.

// A W4 g32 layer with a ragged last group (K = 172 = 5 * 32 + 12), symmetric
// and asymmetric, and a per-channel W8 one (group_size = K) with int8
// activations.
// CHECK-LABEL: func @quantized_matmul
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {bits = 4 : i64, group_size = 32 : i64} : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf32>) -> tensor<?x?x64xf32>
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} zero_points %{{.*}} {bits = 4 : i64, group_size = 32 : i64} : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf16>, tensor<64x6xi8>) -> tensor<?x?x64xf32>
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} {activation_bits = 8 : i64, bits = 8 : i64, group_size = 172 : i64} : (tensor<4x172xf32>, tensor<64x172xi8>, tensor<64x1xf32>) -> tensor<4x64xf32>
// With two outlier channels (and a static activation scale), and with zero
// points as well.
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} outliers(%{{.*}}, %{{.*}}) {activation_bits = 8 : i64, activation_scale = 5.000000e-01 : f32, bits = 8 : i64, group_size = 172 : i64} : (tensor<4x172xf32>, tensor<64x172xi8>, tensor<64x1xf32>, tensor<2xi64>, tensor<2x64xf32>) -> tensor<4x64xf32>
// CHECK: lowbit.quantized_matmul %{{.*}}, %{{.*}}, %{{.*}} zero_points %{{.*}} outliers(%{{.*}}, %{{.*}}) {bits = 4 : i64, group_size = 32 : i64} : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf16>, tensor<64x6xi8>, tensor<2xi64>, tensor<2x64xf32>) -> tensor<?x?x64xf32>
func.func @quantized_matmul(%x: tensor<?x?x172xf32>, %x2: tensor<4x172xf32>, %q: tensor<64x172xi8>,
                            %s: tensor<64x6xf32>, %s16: tensor<64x6xf16>, %z: tensor<64x6xi8>,
                            %s1: tensor<64x1xf32>, %oc: tensor<2xi64>, %ow: tensor<2x64xf32>) {
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 32 : i64}
     : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf32>) -> tensor<?x?x64xf32>
  %1 = lowbit.quantized_matmul %x, %q, %s16 zero_points %z {bits = 4 : i64, group_size = 32 : i64}
     : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf16>, tensor<64x6xi8>) -> tensor<?x?x64xf32>
  %2 = lowbit.quantized_matmul %x2, %q, %s1 {activation_bits = 8 : i64, bits = 8 : i64, group_size = 172 : i64}
     : (tensor<4x172xf32>, tensor<64x172xi8>, tensor<64x1xf32>) -> tensor<4x64xf32>
  %3 = lowbit.quantized_matmul %x2, %q, %s1 outliers(%oc, %ow) {activation_bits = 8 : i64, activation_scale = 0.5 : f32, bits = 8 : i64, group_size = 172 : i64}
     : (tensor<4x172xf32>, tensor<64x172xi8>, tensor<64x1xf32>, tensor<2xi64>, tensor<2x64xf32>) -> tensor<4x64xf32>
  %4 = lowbit.quantized_matmul %x, %q, %s16 zero_points %z outliers(%oc, %ow) {bits = 4 : i64, group_size = 32 : i64}
     : (tensor<?x?x172xf32>, tensor<64x172xi8>, tensor<64x6xf16>, tensor<64x6xi8>, tensor<2xi64>, tensor<2x64xf32>) -> tensor<?x?x64xf32>
  return
}

// Per-token activation quantization and its inverse.
// CHECK-LABEL: func @activations
// CHECK: %[[Q:.*]], %[[S:.*]] = lowbit.dynamic_quantize %{{.*}} {bits = 8 : i64} : (tensor<?x16xf32>) -> (tensor<?x16xi8>, tensor<?x1xf32>)
// CHECK: lowbit.dequantize %[[Q]], %[[S]] : (tensor<?x16xi8>, tensor<?x1xf32>) -> tensor<?x16xf32>
// CHECK: lowbit.dequantize %{{.*}}, %{{.*}} zero_points %{{.*}} : (tensor<2x16xi8>, tensor<16xf32>, tensor<16xi8>) -> tensor<2x16xf32>
func.func @activations(%x: tensor<?x16xf32>, %c: tensor<2x16xi8>, %cs: tensor<16xf32>, %cz: tensor<16xi8>) {
  %q, %s = lowbit.dynamic_quantize %x {bits = 8 : i64} : (tensor<?x16xf32>) -> (tensor<?x16xi8>, tensor<?x1xf32>)
  %d = lowbit.dequantize %q, %s : (tensor<?x16xi8>, tensor<?x1xf32>) -> tensor<?x16xf32>
  %e = lowbit.dequantize %c, %cs zero_points %cz : (tensor<2x16xi8>, tensor<16xf32>, tensor<16xi8>) -> tensor<2x16xf32>
  return
}

// A float-by-levels MatMul, batch dimensions broadcast.
// CHECK-LABEL: func @mixed_matmul
// CHECK: lowbit.mixed_matmul %{{.*}}, %{{.*}} : (tensor<?x4x1x8xf32>, tensor<?x4x8x?xi8>) -> tensor<?x4x1x?xf32>
// CHECK: lowbit.mixed_matmul %{{.*}}, %{{.*}} : (tensor<3x8xf32>, tensor<2x8x5xi8>) -> tensor<2x3x5xf32>
func.func @mixed_matmul(%q: tensor<?x4x1x8xf32>, %k: tensor<?x4x8x?xi8>, %a: tensor<3x8xf32>,
                        %b: tensor<2x8x5xi8>) {
  %0 = lowbit.mixed_matmul %q, %k : (tensor<?x4x1x8xf32>, tensor<?x4x8x?xi8>) -> tensor<?x4x1x?xf32>
  %1 = lowbit.mixed_matmul %a, %b : (tensor<3x8xf32>, tensor<2x8x5xi8>) -> tensor<2x3x5xf32>
  return
}

// int4 levels two per byte and back.
// CHECK-LABEL: func @nibbles
// CHECK: %[[P:.*]] = lowbit.pack_nibbles %{{.*}} : tensor<?x4x?x8xi8> -> tensor<?x4x?x4xi8>
// CHECK: lowbit.unpack_nibbles %[[P]] : tensor<?x4x?x4xi8> -> tensor<?x4x?x8xi8>
// CHECK: lowbit.unpack_nibbles %{{.*}} {axis = -2 : i64} : tensor<?x4x4x?xi8> -> tensor<?x4x8x?xi8>
func.func @nibbles(%q: tensor<?x4x?x8xi8>, %t: tensor<?x4x4x?xi8>) -> (tensor<?x4x?x8xi8>, tensor<?x4x8x?xi8>) {
  %p = lowbit.pack_nibbles %q : tensor<?x4x?x8xi8> -> tensor<?x4x?x4xi8>
  %u = lowbit.unpack_nibbles %p : tensor<?x4x?x4xi8> -> tensor<?x4x?x8xi8>
  %v = lowbit.unpack_nibbles %t {axis = -2 : i64} : tensor<?x4x4x?xi8> -> tensor<?x4x8x?xi8>
  return %u, %v : tensor<?x4x?x8xi8>, tensor<?x4x8x?xi8>
}

// A tap before calibration (a name only) and after (its statistics).
// CHECK-LABEL: func @taps
// CHECK: lowbit.calibration_tap %{{.*}} {name = "layers.0.q"} : tensor<?x4xf32>
// CHECK: lowbit.calibration_tap %{{.*}} {abs_max = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>, hessian = dense<1.000000e+00> : tensor<4x4xf32>, mean_abs = dense<5.000000e-01> : tensor<4xf32>, name = "layers.0.k", tokens = 12 : i64} : tensor<?x4xf32>
func.func @taps(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = lowbit.calibration_tap %x {name = "layers.0.q"} : tensor<?x4xf32>
  %1 = lowbit.calibration_tap %0 {name = "layers.0.k", tokens = 12 : i64,
                                  abs_max = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>,
                                  mean_abs = dense<0.5> : tensor<4xf32>,
                                  hessian = dense<1.0> : tensor<4x4xf32>} : tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}
