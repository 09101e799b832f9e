// RUN: lowbit-opt %s -split-input-file -verify-diagnostics

func.func @bits(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op bits must be 2, 3, 4 or 8, got 5}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 5 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @k_mismatch(%x: tensor<4x9xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op input has 9 inputs per row but the weights have K = 8}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x9xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

// K = 172 in groups of 32 is 6 groups (the last one of 12), not 5.
func.func @groups(%x: tensor<4x172xf32>, %q: tensor<2x172xi8>, %s: tensor<2x5xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op scales must be [N, ceil(K / group_size)] = [2, 6], got [2, 5]}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 32 : i64} : (tensor<4x172xf32>, tensor<2x172xi8>, tensor<2x5xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @result_n(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op result has 3 outputs per row but the weights have N = 2}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @zero_points_shape(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>, %z: tensor<2x2xi8>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op zero_points must have the shape of scales}}
  %0 = lowbit.quantized_matmul %x, %q, %s zero_points %z {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<2x2xi8>) -> tensor<4x2xf32>
  return
}

// -----

// A constant level outside the signed 4-bit range [-8, 7].
func.func @level_range(%x: tensor<4x2xf32>, %s: tensor<1x1xf32>) {
  %q = arith.constant dense<[[3, 8]]> : tensor<1x2xi8>
  // expected-error @+1 {{'lowbit.quantized_matmul' op weight level 8 is outside [-8, 7] for 4 bits}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 2 : i64} : (tensor<4x2xf32>, tensor<1x2xi8>, tensor<1x1xf32>) -> tensor<4x1xf32>
  return
}

// -----

func.func @group_size_positive(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{attribute 'group_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = lowbit.quantized_matmul %x, %q, %s {bits = 4 : i64, group_size = 0 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @dynamic_quantize_scales(%x: tensor<3x16xf32>) {
  // expected-error @+1 {{'lowbit.dynamic_quantize' op scales must have the input's shape with a last dimension of 1}}
  %q, %s = lowbit.dynamic_quantize %x {bits = 8 : i64} : (tensor<3x16xf32>) -> (tensor<3x16xi8>, tensor<3x16xf32>)
  return
}

// -----

func.func @dynamic_quantize_bits(%x: tensor<3x16xf32>) {
  // expected-error @+1 {{'lowbit.dynamic_quantize' op bits must be between 2 and 8, got 16}}
  %q, %s = lowbit.dynamic_quantize %x {bits = 16 : i64} : (tensor<3x16xf32>) -> (tensor<3x16xi8>, tensor<3x1xf32>)
  return
}

// -----

func.func @dequantize_broadcast(%q: tensor<3x16xi8>, %s: tensor<3xf32>) {
  // expected-error @+1 {{'lowbit.dequantize' op scales do not broadcast to the shape of quantized}}
  %x = lowbit.dequantize %q, %s : (tensor<3x16xi8>, tensor<3xf32>) -> tensor<3x16xf32>
  return
}

// -----

func.func @mixed_matmul_rank(%a: tensor<8xf32>, %b: tensor<8x5xi8>) {
  // expected-error @+1 {{'lowbit.mixed_matmul' op needs lhs and levels of rank 2 or more}}
  %0 = lowbit.mixed_matmul %a, %b : (tensor<8xf32>, tensor<8x5xi8>) -> tensor<5xf32>
  return
}

// -----

func.func @mixed_matmul_reduction(%a: tensor<3x8xf32>, %b: tensor<7x5xi8>) {
  // expected-error @+1 {{'lowbit.mixed_matmul' op lhs columns and levels rows differ}}
  %0 = lowbit.mixed_matmul %a, %b : (tensor<3x8xf32>, tensor<7x5xi8>) -> tensor<3x5xf32>
  return
}

// -----

func.func @mixed_matmul_result(%a: tensor<3x8xf32>, %b: tensor<8x5xi8>) {
  // expected-error @+1 {{'lowbit.mixed_matmul' op result must be [..., lhs rows, levels columns]}}
  %0 = lowbit.mixed_matmul %a, %b : (tensor<3x8xf32>, tensor<8x5xi8>) -> tensor<5x3xf32>
  return
}

// -----

func.func @mixed_matmul_batch(%a: tensor<2x3x8xf32>, %b: tensor<4x8x5xi8>) {
  // expected-error @+1 {{'lowbit.mixed_matmul' op batch dimension 0 does not broadcast}}
  %0 = lowbit.mixed_matmul %a, %b : (tensor<2x3x8xf32>, tensor<4x8x5xi8>) -> tensor<4x3x5xf32>
  return
}

// -----

func.func @mixed_matmul_levels_type(%a: tensor<3x8xf32>, %b: tensor<8x5xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 8-bit signless integer values}}
  %0 = lowbit.mixed_matmul %a, %b : (tensor<3x8xf32>, tensor<8x5xf32>) -> tensor<3x5xf32>
  return
}

// -----

func.func @pack_odd(%q: tensor<2x7xi8>) {
  // expected-error @+1 {{'lowbit.pack_nibbles' op the levels' dimension 1 must be static and even, the packed one half of it}}
  %p = lowbit.pack_nibbles %q : tensor<2x7xi8> -> tensor<2x3xi8>
  return
}

// -----

func.func @unpack_size(%p: tensor<2x4xi8>) {
  // expected-error @+1 {{'lowbit.unpack_nibbles' op the levels' dimension 1 must be static and even, the packed one half of it}}
  %q = lowbit.unpack_nibbles %p : tensor<2x4xi8> -> tensor<2x6xi8>
  return
}

// -----

func.func @unpack_axis_size(%p: tensor<2x4xi8>) {
  // expected-error @+1 {{'lowbit.unpack_nibbles' op the levels' dimension 0 must be static and even, the packed one half of it}}
  %q = lowbit.unpack_nibbles %p {axis = 0 : i64} : tensor<2x4xi8> -> tensor<2x8xi8>
  return
}

// -----

func.func @unpack_axis_range(%p: tensor<2x4xi8>) {
  // expected-error @+1 {{'lowbit.unpack_nibbles' op axis out of range for rank 2}}
  %q = lowbit.unpack_nibbles %p {axis = 2 : i64} : tensor<2x4xi8> -> tensor<2x8xi8>
  return
}

// -----

func.func @tap_stats_shape(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'lowbit.calibration_tap' op abs_max must be f32 of shape [4] (the input's 4 channels)}}
  %0 = lowbit.calibration_tap %x {name = "q", abs_max = dense<1.0> : tensor<5xf32>} : tensor<?x4xf32>
  return
}

// -----

func.func @tap_hessian_shape(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'lowbit.calibration_tap' op hessian must be f32 of shape [4, 4] (the input's 4 channels)}}
  %0 = lowbit.calibration_tap %x {name = "q", hessian = dense<1.0> : tensor<4x3xf32>} : tensor<?x4xf32>
  return
}

// -----

func.func @tap_name(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'lowbit.calibration_tap' op needs a non-empty name}}
  %0 = lowbit.calibration_tap %x {name = ""} : tensor<?x4xf32>
  return
}

// -----

func.func @activation_bits(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op activation_bits must be 8 (int8 activations), got 4}}
  %0 = lowbit.quantized_matmul %x, %q, %s {activation_bits = 4 : i64, bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @activation_scale_without_bits(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op activation_scale needs activation_bits = 8}}
  %0 = lowbit.quantized_matmul %x, %q, %s {activation_scale = 0.5 : f32, bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @activation_scale_negative(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op activation_scale must be positive and finite, got -5.000000e-01}}
  %0 = lowbit.quantized_matmul %x, %q, %s {activation_bits = 8 : i64, activation_scale = -0.5 : f32, bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @outliers_without_weights(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>, %c: tensor<1xi64>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op outlier_channels and outlier_weights go together}}
  %0 = "lowbit.quantized_matmul"(%x, %q, %s, %c) {bits = 4 : i64, group_size = 8 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0>} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<1xi64>) -> tensor<4x2xf32>
  return
}

// -----

func.func @outlier_weights_shape(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>, %c: tensor<1xi64>, %w: tensor<1x3xf32>) {
  // expected-error @+1 {{'lowbit.quantized_matmul' op outliers must be channels [C] and weights [C, N = 2]}}
  %0 = lowbit.quantized_matmul %x, %q, %s outliers(%c, %w) {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<1xi64>, tensor<1x3xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @outlier_channel_range(%x: tensor<4x8xf32>, %q: tensor<2x8xi8>, %s: tensor<2x1xf32>, %w: tensor<1x2xf32>) {
  %c = arith.constant dense<8> : tensor<1xi64>
  // expected-error @+1 {{'lowbit.quantized_matmul' op outlier channel 8 is not an input channel (K = 8)}}
  %0 = lowbit.quantized_matmul %x, %q, %s outliers(%c, %w) {bits = 4 : i64, group_size = 8 : i64} : (tensor<4x8xf32>, tensor<2x8xi8>, tensor<2x1xf32>, tensor<1xi64>, tensor<1x2xf32>) -> tensor<4x2xf32>
  return
}
