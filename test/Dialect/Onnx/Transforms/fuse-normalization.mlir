// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-fuse-normalization),canonicalize)' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-fuse-normalization{rms-norm=false}),canonicalize)' | FileCheck %s --check-prefix=NORMS
// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-fuse-normalization{layer-norm=false}),canonicalize)' | FileCheck %s --check-prefix=NOLN

// RMSNorm as PyTorch exports it for LLaMA-style models (the shared models).
// CHECK-LABEL: func @rms_norm_llama
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x64xf32>, %[[W:.*]]: tensor<64xf32>)
// CHECK-NEXT: %[[Y:.*]] = onnx.RMSNormalization %[[X]], %[[W]] {epsilon = 9.99999997E-7 : f32} : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
// CHECK-NEXT: return %[[Y]]
// NORMS-LABEL: func @rms_norm_llama
// NORMS: onnx.Pow
// NOLN-LABEL: func @rms_norm_llama
// NOLN: onnx.RMSNormalization
func.func @rms_norm_llama(%x: tensor<?x?x64xf32>, %w: tensor<64xf32>) -> tensor<?x?x64xf32> {
  %two = onnx.Constant dense<2.0> : tensor<f32>
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-6> : tensor<f32>
  %one = onnx.Constant dense<1.0> : tensor<f32>
  %sq = onnx.Pow %x, %two : (tensor<?x?x64xf32>, tensor<f32>) -> tensor<?x?x64xf32>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<?x?x64xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  %add = onnx.Add %mean, %eps : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %root = onnx.Sqrt %add : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %inv = onnx.Div %one, %root : (tensor<f32>, tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %n = onnx.Mul %x, %inv : (tensor<?x?x64xf32>, tensor<?x?x1xf32>) -> tensor<?x?x64xf32>
  %y = onnx.Mul %n, %w : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// The other spellings: x*x, eps first, Div(x, sqrt), weight on the left.
// CHECK-LABEL: func @rms_norm_div
// The f16 eps keeps its f16 value (1.0e-5 rounds to 1.00135803e-5).
// CHECK: onnx.RMSNormalization %{{.*}}, %{{.*}} {epsilon = 1.00135803E-5 : f32}
// CHECK-NOT: onnx.Sqrt
func.func @rms_norm_div(%x: tensor<2x8xf16>, %w: tensor<8xf16>) -> tensor<2x8xf16> {
  %axes = onnx.Constant dense<1> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-5> : tensor<f16>
  %sq = onnx.Mul %x, %x : (tensor<2x8xf16>, tensor<2x8xf16>) -> tensor<2x8xf16>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<2x8xf16>, tensor<1xi64>) -> tensor<2x1xf16>
  %add = onnx.Add %eps, %mean : (tensor<f16>, tensor<2x1xf16>) -> tensor<2x1xf16>
  %root = onnx.Sqrt %add : (tensor<2x1xf16>) -> tensor<2x1xf16>
  %n = onnx.Div %x, %root : (tensor<2x8xf16>, tensor<2x1xf16>) -> tensor<2x8xf16>
  %y = onnx.Mul %w, %n : (tensor<8xf16>, tensor<2x8xf16>) -> tensor<2x8xf16>
  return %y : tensor<2x8xf16>
}

// -----

// Reciprocal(Sqrt(...)); the intermediate RMS is also returned, so it stays
// computed for that user while the norm itself is fused.
// CHECK-LABEL: func @rms_norm_shared_intermediate
// CHECK: %[[ROOT:.*]] = onnx.Sqrt
// CHECK: %[[Y:.*]] = onnx.RMSNormalization
// CHECK: return %[[Y]], %[[ROOT]]
func.func @rms_norm_shared_intermediate(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>) {
  %two = onnx.Constant dense<2.0> : tensor<f32>
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-6> : tensor<f32>
  %sq = onnx.Pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<4x1xf32>
  %add = onnx.Add %mean, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %root = onnx.Sqrt %add : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %inv = onnx.Reciprocal %root : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = onnx.Mul %inv, %x : (tensor<4x1xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = onnx.Mul %n, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y, %root : tensor<4x8xf32>, tensor<4x1xf32>
}

// -----

// LayerNorm as exported for BERT-style models.
// CHECK-LABEL: func @layer_norm_bert
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x32xf32>, %[[G:.*]]: tensor<32xf32>, %[[B:.*]]: tensor<32xf32>)
// CHECK-NEXT: %[[Y:.*]] = onnx.LayerNormalization %[[X]], %[[G]] bias %[[B]] {epsilon = 9.99999996E-13 : f32}
// CHECK-NEXT: return %[[Y]]
// NORMS-LABEL: func @layer_norm_bert
// NORMS: onnx.LayerNormalization
// NOLN-LABEL: func @layer_norm_bert
// NOLN-NOT: onnx.LayerNormalization
func.func @layer_norm_bert(%x: tensor<?x?x32xf32>, %g: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<?x?x32xf32> {
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  %two = onnx.Constant dense<2.0> : tensor<f32>
  %eps = onnx.Constant dense<1.0e-12> : tensor<f32>
  %mean = onnx.ReduceMean %x axes %axes : (tensor<?x?x32xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  %d = onnx.Sub %x, %mean : (tensor<?x?x32xf32>, tensor<?x?x1xf32>) -> tensor<?x?x32xf32>
  %sq = onnx.Pow %d, %two : (tensor<?x?x32xf32>, tensor<f32>) -> tensor<?x?x32xf32>
  %var = onnx.ReduceMean %sq axes %axes : (tensor<?x?x32xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  %add = onnx.Add %var, %eps : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %std = onnx.Sqrt %add : (tensor<?x?x1xf32>) -> tensor<?x?x1xf32>
  %n = onnx.Div %d, %std : (tensor<?x?x32xf32>, tensor<?x?x1xf32>) -> tensor<?x?x32xf32>
  %s = onnx.Mul %n, %g : (tensor<?x?x32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  %y = onnx.Add %s, %b : (tensor<?x?x32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// Negative cases: each differs from an RMSNorm in one way that changes its
// meaning, so nothing is fused.

// The mean runs over the first dimension, not the last.
// CHECK-LABEL: func @not_last_axis
// CHECK-NOT: onnx.RMSNormalization
func.func @not_last_axis(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %two = onnx.Constant dense<2.0> : tensor<f32>
  %axes = onnx.Constant dense<0> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-6> : tensor<f32>
  %sq = onnx.Pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<1x8xf32>
  %add = onnx.Add %mean, %eps : (tensor<1x8xf32>, tensor<f32>) -> tensor<1x8xf32>
  %root = onnx.Sqrt %add : (tensor<1x8xf32>) -> tensor<1x8xf32>
  %n = onnx.Div %x, %root : (tensor<4x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  %y = onnx.Mul %n, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The exponent is 3: not a mean square.
// CHECK-LABEL: func @cube
// CHECK-NOT: onnx.RMSNormalization
func.func @cube(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %three = onnx.Constant dense<3.0> : tensor<f32>
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-6> : tensor<f32>
  %sq = onnx.Pow %x, %three : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<4x1xf32>
  %add = onnx.Add %mean, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %root = onnx.Sqrt %add : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = onnx.Div %x, %root : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = onnx.Mul %n, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The square is of another tensor than the one normalized.
// CHECK-LABEL: func @other_tensor
// CHECK-NOT: onnx.RMSNormalization
func.func @other_tensor(%x: tensor<4x8xf32>, %z: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %two = onnx.Constant dense<2.0> : tensor<f32>
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-6> : tensor<f32>
  %sq = onnx.Pow %z, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<4x1xf32>
  %add = onnx.Add %mean, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %root = onnx.Sqrt %add : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = onnx.Div %x, %root : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = onnx.Mul %n, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The "weight" is a full matrix, not a per-channel vector.
// CHECK-LABEL: func @matrix_weight
// CHECK-NOT: onnx.RMSNormalization
func.func @matrix_weight(%x: tensor<4x8xf32>, %w: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %two = onnx.Constant dense<2.0> : tensor<f32>
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  %eps = onnx.Constant dense<1.0e-6> : tensor<f32>
  %sq = onnx.Pow %x, %two : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %mean = onnx.ReduceMean %sq axes %axes : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<4x1xf32>
  %add = onnx.Add %mean, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %root = onnx.Sqrt %add : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = onnx.Div %x, %root : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y = onnx.Mul %n, %w : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
