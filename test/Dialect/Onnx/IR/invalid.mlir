// RUN: lowbit-opt %s -split-input-file -verify-diagnostics

// Shapes that do not broadcast: 3 against 4 in the trailing dimension.
func.func @add_not_broadcastable(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'onnx.Add' op operands are not broadcast-compatible: [2, 3] vs [4]}}
  %0 = onnx.Add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

// Add needs one element type; only Pow may mix them.
func.func @add_mixed_types(%a: tensor<3xf32>, %b: tensor<3xf16>) {
  // expected-error @+1 {{'onnx.Add' op operands must have one element type, got 'f32' and 'f16'}}
  %0 = onnx.Add %a, %b : (tensor<3xf32>, tensor<3xf16>) -> tensor<3xf32>
  return
}

// -----

// A result type must not contradict the inferred one: 3 vs 4 columns.
func.func @result_contradicts(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'onnx.Relu' op result #0 has type 'tensor<2x4xf32>', which contradicts the inferred type 'tensor<2x3xf32>'}}
  %0 = onnx.Relu %a : (tensor<2x3xf32>) -> tensor<2x4xf32>
  return
}

// -----

// Comparisons produce i1, not the operands' element type.
func.func @equal_result_type(%a: tensor<3xf32>) {
  // expected-error @+1 {{result #0 has type 'tensor<3xf32>', which contradicts the inferred type 'tensor<3xi1>'}}
  %0 = onnx.Equal %a, %a : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

// MatMul's contracted sizes must agree.
func.func @matmul_k_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'onnx.MatMul' op contracted dimensions differ: 3 vs 4}}
  %0 = onnx.MatMul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

// Gemm takes 2-D operands only.
func.func @gemm_rank(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'onnx.Gemm' op A and B must be 2-D}}
  %0 = onnx.Gemm %a, %b : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

// Reshape cannot change the element count (6 elements into 8).
func.func @reshape_count(%a: tensor<2x3xf32>) {
  %s = onnx.Constant dense<[2, 4]> : tensor<2xi64>
  // expected-error @+1 {{'onnx.Reshape' op cannot reshape 6 elements into 8}}
  %0 = onnx.Reshape %a, %s : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  return
}

// -----

// At most one -1 in a Reshape's shape.
func.func @reshape_two_minus_one(%a: tensor<2x3xf32>) {
  %s = onnx.Constant dense<[-1, -1]> : tensor<2xi64>
  // expected-error @+1 {{'onnx.Reshape' op shape may contain -1 at most once}}
  %0 = onnx.Reshape %a, %s : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  return
}

// -----

// Transpose's perm must be a permutation of [0, rank).
func.func @transpose_perm(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'onnx.Transpose' op perm must be a permutation of [0, rank)}}
  %0 = onnx.Transpose %a {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  return
}

// -----

// An axis outside [-r, r-1].
func.func @softmax_axis(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'onnx.Softmax' op axis 2 is out of range [-2, 1] for rank 2}}
  %0 = onnx.Softmax %a {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

// Squeezing a dimension whose static size is not 1.
func.func @squeeze_not_one(%a: tensor<2x3xf32>) {
  %axes = onnx.Constant dense<0> : tensor<1xi64>
  // expected-error @+1 {{'onnx.Squeeze' op cannot squeeze dimension 0 of size 2}}
  %0 = onnx.Squeeze %a axes %axes : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<3xf32>
  return
}

// -----

// Concat inputs must agree outside the concatenation axis.
func.func @concat_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'onnx.Concat' op inputs differ in size at dimension 0: 2 vs 4}}
  %0 = onnx.Concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x8xf32>
  return
}

// -----

// Split sizes must cover the axis exactly.
func.func @split_sum(%a: tensor<6xf32>) {
  %s = onnx.Constant dense<[2, 2]> : tensor<2xi64>
  // expected-error @+1 {{'onnx.Split' op split sizes sum to 4 but the axis has size 6}}
  %0:2 = onnx.Split %a split %s : (tensor<6xf32>, tensor<2xi64>) -> (tensor<2xf32>, tensor<2xf32>)
  return
}

// -----

// Gelu knows two forms only.
func.func @gelu_approximate(%a: tensor<3xf32>) {
  // expected-error @+1 {{'onnx.Gelu' op approximate must be "none" or "tanh", got "erf"}}
  %0 = onnx.Gelu %a {approximate = "erf"} : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

// Trilu works on matrices.
func.func @trilu_rank(%a: tensor<3xf32>) {
  // expected-error @+1 {{'onnx.Trilu' op input must have rank 2 or more}}
  %0 = onnx.Trilu %a : (tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

// Where's condition is i1 (checked by the op's type constraint).
func.func @where_condition(%c: tensor<3xf32>, %a: tensor<3xf32>) {
  // expected-error @+1 {{'onnx.Where' op operand #0 must be tensor of 1-bit signless integer values}}
  %0 = onnx.Where %c, %a, %a : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return
}

// -----

// MatMulInteger takes 8-bit integers.
func.func @matmul_integer_types(%a: tensor<2x3xi32>, %b: tensor<3x4xi32>) {
  // expected-error @+1 {{'onnx.MatMulInteger' op A and B must be 8-bit integer tensors}}
  %0 = onnx.MatMulInteger %a, %b : (tensor<2x3xi32>, tensor<3x4xi32>) -> tensor<2x4xi32>
  return
}

// -----

// LayerNormalization has at most three results.
func.func @layer_norm_results(%x: tensor<2x3xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{'onnx.LayerNormalization' op has 4 results; expected Y and optionally Mean and InvStdDev}}
  %0:4 = onnx.LayerNormalization %x, %s : (tensor<2x3xf32>, tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x1xf32>, tensor<2x1xf32>, tensor<2x1xf32>)
  return
}

// -----

// Range's operands are scalars of one type.
func.func @range_types(%a: tensor<i64>, %b: tensor<f32>) {
  // expected-error @+1 {{'onnx.Range' op start, limit and delta must have one element type}}
  %0 = onnx.Range %a, %b, %a : (tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<?xi64>
  return
}

// -----

// Expand's target shape cannot hold negative sizes.
func.func @expand_negative(%a: tensor<3xf32>) {
  %s = onnx.Constant dense<[-2, 3]> : tensor<2xi64>
  // expected-error @+1 {{'onnx.Expand' op shape entries must be non-negative}}
  %0 = onnx.Expand %a, %s : (tensor<3xf32>, tensor<2xi64>) -> tensor<?x3xf32>
  return
}

// -----

// Split sizes cannot be negative, even when they sum to the axis size.
func.func @split_negative(%a: tensor<6xf32>) {
  %s = onnx.Constant dense<[8, -2]> : tensor<2xi64>
  // expected-error @+1 {{'onnx.Split' op split sizes must be non-negative}}
  %0:2 = onnx.Split %a split %s : (tensor<6xf32>, tensor<2xi64>) -> (tensor<?xf32>, tensor<?xf32>)
  return
}

// -----

// MatMulNBits: B's shape follows from K, N, bits and block_size.
func.func @matmul_nbits_packed_shape(%a: tensor<2x128xf32>, %b: tensor<64x4x32xui8>, %s: tensor<256xf32>) {
  // expected-error @+1 {{'onnx.MatMulNBits' op B must be [N, ceil(K / block_size), block_size * bits / 8] = [64, 4, 16]}}
  %0 = onnx.MatMulNBits %a, %b, %s {K = 128 : i64, N = 64 : i64, bits = 4 : i64, block_size = 32 : i64} : (tensor<2x128xf32>, tensor<64x4x32xui8>, tensor<256xf32>) -> tensor<2x64xf32>
  return
}

// -----

// MatMulNBits: 3-bit levels do not pack into whole bytes.
func.func @matmul_nbits_bits(%a: tensor<2x128xf32>, %b: tensor<64x4x12xui8>, %s: tensor<256xf32>) {
  // expected-error @+1 {{'onnx.MatMulNBits' op bits must be 2, 4 or 8, got 3}}
  %0 = onnx.MatMulNBits %a, %b, %s {K = 128 : i64, N = 64 : i64, bits = 3 : i64, block_size = 32 : i64} : (tensor<2x128xf32>, tensor<64x4x12xui8>, tensor<256xf32>) -> tensor<2x64xf32>
  return
}

// -----

// MatMulNBits: A's last dimension is K.
func.func @matmul_nbits_k(%a: tensor<2x100xf32>, %b: tensor<64x4x16xui8>, %s: tensor<256xf32>) {
  // expected-error @+1 {{'onnx.MatMulNBits' op A's last dimension must be K = 128}}
  %0 = onnx.MatMulNBits %a, %b, %s {K = 128 : i64, N = 64 : i64, bits = 4 : i64, block_size = 32 : i64} : (tensor<2x100xf32>, tensor<64x4x16xui8>, tensor<256xf32>) -> tensor<2x64xf32>
  return
}
