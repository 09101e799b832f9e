// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-gptq{bits=4 group-size=0}))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-gptq{bits=4 group-size=0 act-order=true}))' | FileCheck %s --check-prefix=ACT
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-gptq{bits=4 group-size=2}))' | FileCheck %s --check-prefix=GROUPS
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-gptq{bits=4 group-size=2 act-order=true static-groups=true block-size=1}))' | FileCheck %s --check-prefix=GROUPS

// One output, K = 2, per channel: s = 2 * 1.5 / 15 = 0.2 for both inputs.
// With H = [[1, b], [b, c]] (damped: + 0.01 * mean diag on the diagonal),
// rounding input 0 moves input 1 by (w0 - q0) * b / c':
//   q0 = round(1.5 / 0.2) = 7 (clamped)   w0 - q0 s = 0.1
//   w1 = 0.5 + 0.1 * 0.9 / 1.01 = 0.5891  q1 = round(2.9455) = 3
// where rounding to nearest would give round(2.5) = 2.
// CHECK-LABEL: func @correlated
// CHECK: lowbit.quantized_matmul %{{.*}} {bits = 4 : i64, group_size = 2 : i64}
// CHECK: -> tensor<?x1xf32>
// CHECK-LABEL: func @ordered
// CHECK: lowbit.quantized_matmul
// CHECK: correlated.q4: "0x010000000703"
// CHECK: correlated.scales: "0x04000000CDCC4C3E"
// H = [[1, 0.9], [0.9, 4]], in the model's order: q0 = 7, then
//   w1 = 0.5 + 0.1 * 0.9 / 4.025 = 0.5224, q1 = round(2.61) = 3.
// CHECK: ordered.q4: "0x010000000703"
// With act-order input 1 (H = 4) goes first: q1 = round(2.5) = 2, error
// 0.1, then w0 = 1.5 + 0.1 * 0.9 / 1.025 = 1.588, q0 = 7 (clamped).
// ACT: correlated.q4: "0x010000000703"
// ACT: ordered.q4: "0x010000000702"
func.func @correlated(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  %t = lowbit.calibration_tap %x {name = "correlated", tokens = 16 : i64,
                                  hessian = dense<[[1.0, 0.9], [0.9, 1.0]]> : tensor<2x2xf32>} : tensor<?x2xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32> loc("correlated")
  return %y : tensor<?x1xf32>
}
func.func @ordered(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[1.5], [0.5]]> : tensor<2x1xf32>
  %t = lowbit.calibration_tap %x {name = "ordered", tokens = 16 : i64,
                                  hessian = dense<[[1.0, 0.9], [0.9, 4.0]]> : tensor<2x2xf32>} : tensor<?x2xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32> loc("ordered")
  return %y : tensor<?x1xf32>
}

// -----

// A diagonal Hessian feeds no error forward: GPTQ rounds to nearest, the
// levels and scales of rtn.mlir's worked example (groups of 2), with or
// without act order and static groups.
// GROUPS-LABEL: func @diagonal
// GROUPS: lowbit.quantized_matmul %{{.*}} {bits = 4 : i64, group_size = 2 : i64} : (tensor<?x4xf32>, tensor<2x4xi8>, tensor<2x2xf32>) -> tensor<?x2xf32>
// GROUPS: diagonal.q4: "0x0100000007FD0701FD0707FF"
// GROUPS: diagonal.scales: "0x04000000CDCC4C3E8C25BF3D8FC2F53D8988883E"
func.func @diagonal(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = onnx.Constant dense<[[1.5, -0.4], [-0.62, 0.9], [0.7, 2.0], [0.13, -0.33]]> : tensor<4x2xf32>
  %t = lowbit.calibration_tap %x {name = "diagonal", tokens = 8 : i64,
                                  hessian = dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0],
                                                   [0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 4.0]]> : tensor<4x4xf32>} : tensor<?x4xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32> loc("diagonal")
  return %y : tensor<?x2xf32>
}

// -----

// clip=true: one channel, 2 bits, asymmetric (scale (hi - lo) / 3). On the
// full range [0, 4] the scale is 4/3 and 1, 2, 3 round to 4/3, 8/3, 8/3:
// sum |e|^2.4 = 1.35. The range shrunk by p = 0.84 to [0, 3.36] has scale
// 1.12: 1, 2 and 3 round to 1.12, 2.24 and 3.36 (3 a level up), 4 clamps
// to 3.36, and the sum is 0.54, the least over p = 1, 0.99, ..., 0.21. The
// Hessian is diagonal, so GPTQ keeps these levels.
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-gptq{bits=2 group-size=0 symmetric=false}))' | FileCheck %s --check-prefix=FULL
// RUN: lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-gptq{bits=2 group-size=0 symmetric=false clip=true}))' | FileCheck %s --check-prefix=CLIP
// FULL: clipped.q2: "0x01000000FEFFFF0000000001"
// FULL: clipped.scales: "0x04000000ABAAAA3F"
// CLIP: clipped.q2: "0x01000000FEFFFF0000000101"
// CLIP: clipped.scales: "0x04000000295C8F3F"
func.func @clipped(%x: tensor<?x8xf32>) -> tensor<?x1xf32> {
  %w = onnx.Constant dense<[[0.0], [1.0], [1.0], [2.0], [2.0], [2.0], [3.0], [4.0]]> : tensor<8x1xf32>
  %t = lowbit.calibration_tap %x {name = "clipped", tokens = 8 : i64,
                                  hessian = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                                                   [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                                                   [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                                                   [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
                                                   [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                                                   [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                                                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                                                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf32>} : tensor<?x8xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x8xf32>, tensor<8x1xf32>) -> tensor<?x1xf32> loc("clipped")
  return %y : tensor<?x1xf32>
}
