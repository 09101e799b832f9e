// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=4 group-size=2}))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=4 group-size=2 symmetric=false}))' | FileCheck %s --check-prefix=ASYM
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=8 group-size=0 exclude=head}))' | FileCheck %s --check-prefix=EXCLUDE
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=8 group-size=0 layers=mlp,head exclude=lm}))' 2>&1 | FileCheck %s --check-prefix=ONLY

// W is [K=4, N=2]; groups of 2 along K. Worked by hand (GPTQ's grid):
//   channel 0, group 0 {1.5, -0.62}: s = 2 * 1.5 / 15 = 0.2,        q = {7 (7.5 clamped), -3}
//   channel 0, group 1 {0.7, 0.13}:  s = 2 * 0.7 / 15 = 0.0933333,  q = {7, 1}
//   channel 1, group 0 {-0.4, 0.9}:  s = 2 * 0.9 / 15 = 0.12,       q = {-3, 7}
//   channel 1, group 1 {2.0, -0.33}: s = 2 * 2.0 / 15 = 0.2666667,  q = {7, -1}
// Levels [N, K] = [[7, -3, 7, 1], [-3, 7, 7, -1]] (bytes 07 FD 07 01 FD 07 07 FF);
// scales [N, G] = [[0.2, 0.0933333], [0.12, 0.2666667]] as f32 little-endian.
// CHECK-LABEL: func @layer
// CHECK: %[[Q:.*]] = onnx.Constant dense_resource<[[QKEY:.*]]> : tensor<2x4xi8>
// CHECK: %[[S:.*]] = onnx.Constant dense_resource<[[SKEY:.*]]> : tensor<2x2xf32>
// CHECK: lowbit.quantized_matmul %arg0, %[[Q]], %[[S]] {bits = 4 : i64, group_size = 2 : i64} : (tensor<?x4xf32>, tensor<2x4xi8>, tensor<2x2xf32>) -> tensor<?x2xf32>
// CHECK-NOT: onnx.MatMul
// CHECK: [[QKEY]]: "0x0100000007FD0701FD0707FF"
// CHECK: [[SKEY]]: "0x04000000CDCC4C3E8C25BF3D8FC2F53D8988883E"

// Asymmetric: the range [min(w, 0), max(w, 0)] in 15 steps, zero point on a
// level (signed: unsigned minus 8):
//   channel 0, group 0 {1.5, -0.62}: s = 2.12 / 15, z = round(0.62 / s) - 8 = -4, q = {7, -8}
//   channel 0, group 1 {0.7, 0.13}:  s = 0.7 / 15,  z = -8,                       q = {7, -5}
// ASYM-LABEL: func @layer
// ASYM: lowbit.quantized_matmul %arg0, %{{.*}}, %{{.*}} zero_points %{{.*}} {bits = 4 : i64, group_size = 2 : i64}
// ASYM: .q4: "0x0100000007F807FBF80707F8"
// ASYM: .zeros: "0x01000000FCF8FDFA"
func.func @layer(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = onnx.Constant dense<[[1.5, -0.4], [-0.62, 0.9], [0.7, 2.0], [0.13, -0.33]]> : tensor<4x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Not linear layers: a weight computed at run time, a 3-D weight. With
// exclude=head, the layer named "lm_head" stays in floating point; at 8 bits
// per channel (group-size=0) the other one's group size is K.
// CHECK-LABEL: func @others
// CHECK: onnx.MatMul %arg0, %arg1
// CHECK: onnx.MatMul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<2x4x2xf32>)
// EXCLUDE-LABEL: func @others
// EXCLUDE: onnx.MatMul %arg0, %arg1
// EXCLUDE: onnx.MatMul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<2x4x2xf32>)
// EXCLUDE: onnx.MatMul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
// EXCLUDE: lowbit.quantized_matmul %arg0, %{{.*}}, %{{.*}} {bits = 8 : i64, group_size = 4 : i64} : (tensor<?x4xf32>, tensor<2x4xi8>, tensor<2x1xf32>) -> tensor<?x2xf32>
// With layers=mlp,head exclude=lm only "layers.0.mlp" is quantized: "lm_head"
// is selected, then excluded; the first function has no such layers.
// ONLY: warning: layers=mlp matches no linear layer
// ONLY-LABEL: func @others
// ONLY: onnx.MatMul %arg0, %{{.*}} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
// ONLY: lowbit.quantized_matmul %arg0
// ONLY-NOT: quantized_matmul
func.func @others(%x: tensor<?x4xf32>, %w: tensor<4x2xf32>) -> (tensor<?x2xf32>, tensor<2x?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %a = onnx.MatMul %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %w3 = onnx.Constant dense<1.0> : tensor<2x4x2xf32>
  %b = onnx.MatMul %x, %w3 : (tensor<?x4xf32>, tensor<2x4x2xf32>) -> tensor<2x?x2xf32>
  %w2 = onnx.Constant dense<0.5> : tensor<4x2xf32>
  %c = onnx.MatMul %x, %w2 : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("lm_head")
  %d = onnx.MatMul %x, %w2 : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("layers.0.mlp")
  return %a, %b, %c, %d : tensor<?x2xf32>, tensor<2x?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// A head tied to the embedding multiplies by Transpose(embedding [N, K]):
// still a linear layer, its weight the transpose. With rtn.mlir's first
// weight stored transposed, the same levels; the embedding stays for its
// other reader.
// CHECK-LABEL: func @tied
// CHECK: %[[E:.*]] = onnx.Constant dense<{{.*}}> : tensor<2x4xf32>
// CHECK: onnx.Gather %[[E]]
// CHECK: lowbit.quantized_matmul %arg0, %{{.*}}, %{{.*}} {bits = 4 : i64, group_size = 2 : i64} : (tensor<?x4xf32>, tensor<2x4xi8>, tensor<2x2xf32>) -> tensor<?x2xf32>
// CHECK-NOT: onnx.Transpose
// CHECK: tied.q4: "0x0100000007FD0701FD0707FF"
func.func @tied(%x: tensor<?x4xf32>, %ids: tensor<3xi64>) -> (tensor<?x2xf32>, tensor<3x4xf32>) {
  %e = onnx.Constant dense<[[1.5, -0.62, 0.7, 0.13], [-0.4, 0.9, 2.0, -0.33]]> : tensor<2x4xf32>
  %rows = onnx.Gather %e, %ids : (tensor<2x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  %w = onnx.Transpose %e {perm = array<i64: 1, 0>} : (tensor<2x4xf32>) -> tensor<4x2xf32>
  %y = onnx.MatMul %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("tied")
  return %y, %rows : tensor<?x2xf32>, tensor<3x4xf32>
}
