// RUN: lowbit-opt %s --lowbit-cpu-codegen-pipeline -mlir-print-ir-after=lowbit-lower-to-ukernels -o /dev/null 2>&1 | FileCheck %s

// A layer as lowbit-split-outliers then w8a8 leave it reaches the micro-
// kernel as one call: lowbit-fuse-outlier-split folds it into one
// quantized_matmul, whose outlier product the kernel lowering takes into
// the quantized kernel's call (its last argument, the outlier count, a
// value rather than the constant 0 of a layer without outliers).
// CHECK: IR Dump After LowerToUKernelsPass
// CHECK-NOT: lowbit.outlier_product
// CHECK: call @lowbit_uk_quantized_matmul_f32({{.*}}, %{{[0-9]+}}) : (i64
// CHECK-NOT: lowbit.outlier_product
func.func @main_graph(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %mask = onnx.Constant dense<[1.0, 0.0, 1.0]> : tensor<3xf32>
  %xn = onnx.Mul %x, %mask : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %q = onnx.Constant dense<[[21, 0, 106], [42, 0, 127]]> : tensor<2x3xi8>
  %s = onnx.Constant dense<[[0.0472], [0.05]]> : tensor<2x1xf32>
  %yi = lowbit.quantized_matmul %xn, %q, %s {activation_bits = 8 : i64, bits = 8 : i64, group_size = 3 : i64}
      : (tensor<?x3xf32>, tensor<2x3xi8>, tensor<2x1xf32>) -> tensor<?x2xf32>
  %idx = onnx.Constant dense<1> : tensor<1xi64>
  %xo = onnx.Gather %x, %idx {axis = 1 : i64} : (tensor<?x3xf32>, tensor<1xi64>) -> tensor<?x1xf32>
  %wo = onnx.Constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %yo = onnx.MatMul %xo, %wo {lowbit.keep_float} : (tensor<?x1xf32>, tensor<1x2xf32>) -> tensor<?x2xf32>
  %y = onnx.Add %yi, %yo : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
