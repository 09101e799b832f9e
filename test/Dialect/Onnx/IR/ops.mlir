// RUN: lowbit-opt %s | lowbit-opt | FileCheck %s
// RUN: lowbit-opt %s --mlir-print-op-generic | lowbit-opt | FileCheck %s

// Round trip of every onnx op's assembly format.

// CHECK-LABEL: func @elementwise
func.func @elementwise(%a: tensor<?x8xf32>, %b: tensor<8xf32>, %c: tensor<?x8xi1>) -> tensor<?x8xf32> {
  // CHECK: onnx.Add %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %0 = onnx.Add %a, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %1 = onnx.Sub %0, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = onnx.Mul %1, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %3 = onnx.Div %2, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %4 = onnx.Pow %3, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.Equal {{.*}} -> tensor<?x8xi1>
  %5 = onnx.Equal %4, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
  %6 = onnx.Less %4, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
  %7 = onnx.Greater %4, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xi1>
  %8 = onnx.And %5, %6 : (tensor<?x8xi1>, tensor<?x8xi1>) -> tensor<?x8xi1>
  %9 = onnx.Not %8 : (tensor<?x8xi1>) -> tensor<?x8xi1>
  // CHECK: onnx.Where {{.*}} : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %10 = onnx.Where %9, %4, %b : (tensor<?x8xi1>, tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.Max {{.*}} : (tensor<?x8xf32>, tensor<8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %11 = onnx.Max %10, %b, %a : (tensor<?x8xf32>, tensor<8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %12 = onnx.Min %11, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %13 = onnx.Abs %12 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %14 = onnx.Neg %13 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %15 = onnx.Sqrt %14 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %16 = onnx.Reciprocal %15 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %17 = onnx.Exp %16 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %18 = onnx.Log %17 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %19 = onnx.Erf %18 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %20 = onnx.Tanh %19 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %21 = onnx.Sigmoid %20 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %22 = onnx.Relu %21 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK: onnx.Gelu %{{.*}} {approximate = "tanh"}
  %23 = onnx.Gelu %22 {approximate = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %lo = onnx.Constant dense<0.0> : tensor<f32>
  // CHECK: onnx.Clip %{{.*}} max %{{.*}} : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  %24 = onnx.Clip %23 max %lo : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf32>
  // CHECK: onnx.Clip %{{.*}} min %{{.*}} max %{{.*}} :
  %25 = onnx.Clip %24 min %lo max %lo : (tensor<?x8xf32>, tensor<f32>, tensor<f32>) -> tensor<?x8xf32>
  %26 = onnx.Identity %25 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %26 : tensor<?x8xf32>
}

// CHECK-LABEL: func @shapes
func.func @shapes(%x: tensor<?x?x64xf32>) -> (tensor<3xi64>, tensor<?x?x1xf32>, tensor<1x?x64xf16>) {
  // CHECK: onnx.Constant dense<[0, -1, 8]> : tensor<3xi64>
  %c = onnx.Constant dense<[0, -1, 8]> : tensor<3xi64>
  // CHECK: onnx.Shape %{{.*}} {start = 1 : i64} : (tensor<?x?x64xf32>) -> tensor<2xi64>
  %s = onnx.Shape %x {start = 1 : i64} : (tensor<?x?x64xf32>) -> tensor<2xi64>
  // CHECK: onnx.ConstantOfShape %{{.*}} {value = dense<1> : tensor<1xi64>}
  %k = onnx.ConstantOfShape %s {value = dense<1> : tensor<1xi64>} : (tensor<2xi64>) -> tensor<?x?xi64>
  %axes = onnx.Constant dense<-1> : tensor<1xi64>
  // CHECK: onnx.ReduceMean %{{.*}} axes %{{.*}} : (tensor<?x?x64xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  %m = onnx.ReduceMean %x axes %axes : (tensor<?x?x64xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  // CHECK: onnx.ReduceSum %{{.*}} {keepdims = 0 : i64} : (tensor<?x?x64xf32>) -> tensor<f32>
  %r = onnx.ReduceSum %x {keepdims = 0 : i64} : (tensor<?x?x64xf32>) -> tensor<f32>
  %rm = onnx.ReduceMax %x axes %axes : (tensor<?x?x64xf32>, tensor<1xi64>) -> tensor<?x?x1xf32>
  %sl = onnx.Slice %x, %axes, %axes axes %axes steps %axes : (tensor<?x?x64xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?x0xf32>
  // CHECK: onnx.Cast %{{.*}} {to = f16} : (tensor<?x?x64xf32>) -> tensor<?x?x64xf16>
  %h = onnx.Cast %x {to = f16} : (tensor<?x?x64xf32>) -> tensor<?x?x64xf16>
  %r3 = onnx.Reshape %h, %c : (tensor<?x?x64xf16>, tensor<3xi64>) -> tensor<?x?x8xf16>
  %t = onnx.Transpose %r3 {perm = array<i64: 1, 0, 2>} : (tensor<?x?x8xf16>) -> tensor<?x?x8xf16>
  %f = onnx.Flatten %t {axis = 2 : i64} : (tensor<?x?x8xf16>) -> tensor<?x8xf16>
  %one = onnx.Constant dense<0> : tensor<1xi64>
  %u = onnx.Unsqueeze %f, %one : (tensor<?x8xf16>, tensor<1xi64>) -> tensor<1x?x8xf16>
  %q = onnx.Squeeze %u axes %one : (tensor<1x?x8xf16>, tensor<1xi64>) -> tensor<?x8xf16>
  %cat = onnx.Concat %q, %q {axis = 1 : i64} : (tensor<?x8xf16>, tensor<?x8xf16>) -> tensor<?x16xf16>
  // CHECK: onnx.Split %{{.*}} {axis = 1 : i64, num_outputs = 2 : i64} : (tensor<?x16xf16>) -> (tensor<?x8xf16>, tensor<?x8xf16>)
  %p:2 = onnx.Split %cat {axis = 1 : i64, num_outputs = 2 : i64} : (tensor<?x16xf16>) -> (tensor<?x8xf16>, tensor<?x8xf16>)
  %sizes = onnx.Constant dense<[2, 6]> : tensor<2xi64>
  %p2:2 = onnx.Split %p#0 split %sizes {axis = 1 : i64} : (tensor<?x8xf16>, tensor<2xi64>) -> (tensor<?x2xf16>, tensor<?x6xf16>)
  %e = onnx.Expand %p#1, %s : (tensor<?x8xf16>, tensor<2xi64>) -> tensor<?x?xf16>
  %two = onnx.Constant dense<[1, 2]> : tensor<2xi64>
  %tl = onnx.Tile %p#1, %two : (tensor<?x8xf16>, tensor<2xi64>) -> tensor<?x16xf16>
  %kk = onnx.Constant dense<1> : tensor<i64>
  // CHECK: onnx.Trilu %{{.*}} k %{{.*}} {upper = 0 : i64}
  %tr = onnx.Trilu %tl k %kk {upper = 0 : i64} : (tensor<?x16xf16>, tensor<i64>) -> tensor<?x16xf16>
  %g = onnx.Gather %x, %one {axis = 0 : i64} : (tensor<?x?x64xf32>, tensor<1xi64>) -> tensor<1x?x64xf32>
  %gh = onnx.Cast %g {to = f16} : (tensor<1x?x64xf32>) -> tensor<1x?x64xf16>
  %st = onnx.Constant dense<0> : tensor<i64>
  %lim = onnx.Constant dense<10> : tensor<i64>
  %rg = onnx.Range %st, %lim, %kk : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<10xi64>
  return %c, %m, %gh : tensor<3xi64>, tensor<?x?x1xf32>, tensor<1x?x64xf16>
}

// CHECK-LABEL: func @linear
func.func @linear(%x: tensor<?x?x64xf32>, %w: tensor<64x172xf32>, %s: tensor<64xf32>) -> tensor<?x?x172xf32> {
  // CHECK: onnx.LayerNormalization %{{.*}}, %{{.*}} bias %{{.*}} {epsilon = 1.000000e-03 : f32} : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %ln = onnx.LayerNormalization %x, %s bias %s {epsilon = 1.0e-03 : f32} : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // CHECK: onnx.LayerNormalization {{.*}} -> (tensor<?x?x64xf32>, tensor<?x?x1xf32>, tensor<?x?x1xf32>)
  %ln3:3 = onnx.LayerNormalization %ln, %s : (tensor<?x?x64xf32>, tensor<64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x1xf32>, tensor<?x?x1xf32>)
  %rms = onnx.RMSNormalization %ln3#0, %s : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %sm = onnx.Softmax %rms {axis = -1 : i64} : (tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %lsm = onnx.LogSoftmax %sm : (tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  // CHECK: onnx.MatMul %{{.*}}, %{{.*}} : (tensor<?x?x64xf32>, tensor<64x172xf32>) -> tensor<?x?x172xf32>
  %y = onnx.MatMul %lsm, %w : (tensor<?x?x64xf32>, tensor<64x172xf32>) -> tensor<?x?x172xf32>
  return %y : tensor<?x?x172xf32>
}

// CHECK-LABEL: func @gemm_and_quant
func.func @gemm_and_quant(%a: tensor<4x64xf32>, %b: tensor<172x64xf32>, %c: tensor<172xf32>) -> tensor<4x172xi32> {
  // CHECK: onnx.Gemm %{{.*}}, %{{.*}} bias %{{.*}} {transB = 1 : i64} : (tensor<4x64xf32>, tensor<172x64xf32>, tensor<172xf32>) -> tensor<4x172xf32>
  %y = onnx.Gemm %a, %b bias %c {transB = 1 : i64} : (tensor<4x64xf32>, tensor<172x64xf32>, tensor<172xf32>) -> tensor<4x172xf32>
  %scale = onnx.Constant dense<0.5> : tensor<f32>
  %zp = onnx.Constant dense<0> : tensor<i8>
  // CHECK: onnx.QuantizeLinear %{{.*}}, %{{.*}} zero_point %{{.*}} : (tensor<4x172xf32>, tensor<f32>, tensor<i8>) -> tensor<4x172xi8>
  %q = onnx.QuantizeLinear %y, %scale zero_point %zp : (tensor<4x172xf32>, tensor<f32>, tensor<i8>) -> tensor<4x172xi8>
  %dq = onnx.DequantizeLinear %q, %scale zero_point %zp : (tensor<4x172xi8>, tensor<f32>, tensor<i8>) -> tensor<4x172xf32>
  // CHECK: onnx.DynamicQuantizeLinear %{{.*}} : (tensor<4x172xf32>) -> (tensor<4x172xui8>, tensor<f32>, tensor<ui8>)
  %dy:3 = onnx.DynamicQuantizeLinear %dq : (tensor<4x172xf32>) -> (tensor<4x172xui8>, tensor<f32>, tensor<ui8>)
  %w = onnx.Constant dense<1> : tensor<172x172xui8>
  // CHECK: onnx.MatMulInteger %{{.*}}, %{{.*}} a_zero_point %{{.*}} : (tensor<4x172xui8>, tensor<172x172xui8>, tensor<ui8>) -> tensor<4x172xi32>
  %mm = onnx.MatMulInteger %dy#0, %w a_zero_point %dy#2 : (tensor<4x172xui8>, tensor<172x172xui8>, tensor<ui8>) -> tensor<4x172xi32>
  return %mm : tensor<4x172xi32>
}

// CHECK-LABEL: func @matmul_nbits
func.func @matmul_nbits(%a: tensor<?x?x128xf32>, %b: tensor<64x4x16xui8>, %s: tensor<64x4xf32>, %z: tensor<64x2xui8>, %bias: tensor<64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x64xf32>) {
  // CHECK: onnx.MatMulNBits %{{.*}}, %{{.*}}, %{{.*}} {K = 128 : i64, N = 64 : i64, bits = 4 : i64, block_size = 32 : i64} : (tensor<?x?x128xf32>, tensor<64x4x16xui8>, tensor<64x4xf32>) -> tensor<?x?x64xf32>
  %0 = onnx.MatMulNBits %a, %b, %s {K = 128 : i64, N = 64 : i64, bits = 4 : i64, block_size = 32 : i64} : (tensor<?x?x128xf32>, tensor<64x4x16xui8>, tensor<64x4xf32>) -> tensor<?x?x64xf32>
  // CHECK: onnx.MatMulNBits %{{.*}}, %{{.*}}, %{{.*}} zero_points %{{.*}} bias %{{.*}} {K = 128 : i64, N = 64 : i64, accuracy_level = 4 : i64, bits = 4 : i64, block_size = 32 : i64}
  %1 = onnx.MatMulNBits %a, %b, %s zero_points %z bias %bias {K = 128 : i64, N = 64 : i64, bits = 4 : i64, block_size = 32 : i64, accuracy_level = 4 : i64} : (tensor<?x?x128xf32>, tensor<64x4x16xui8>, tensor<64x4xf32>, tensor<64x2xui8>, tensor<64xf32>) -> tensor<?x?x64xf32>
  return %0, %1 : tensor<?x?x64xf32>, tensor<?x?x64xf32>
}
