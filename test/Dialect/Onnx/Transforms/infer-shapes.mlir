// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-infer-shapes))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-infer-shapes{max-iterations=1}))' | FileCheck %s --check-prefix=ONE

// Unranked results as an importer might leave them are refined from the
// operands; the Reshape's target shape then folds in a later round and the
// function type follows.
// CHECK-LABEL: func @refine_and_fold
// CHECK-SAME: -> tensor<2x3x8x8xf32>
// CHECK-NOT: onnx.Shape
// CHECK: onnx.Reshape {{.*}} -> tensor<2x3x8x8xf32>
// ONE-LABEL: func @refine_and_fold
// ONE: onnx.Reshape {{.*}} -> tensor<?x?x?x?xf32>
func.func @refine_and_fold(%x: tensor<2x3x64xf32>) -> tensor<*xf32> {
  %y = onnx.Relu %x : (tensor<2x3x64xf32>) -> tensor<*xf32>
  %shape = onnx.Shape %y : (tensor<*xf32>) -> tensor<?xi64>
  %i = onnx.Constant dense<[0, 1]> : tensor<2xi64>
  %bs = onnx.Gather %shape, %i {axis = 0 : i64} : (tensor<?xi64>, tensor<2xi64>) -> tensor<*xi64>
  %heads = onnx.Constant dense<[8, -1]> : tensor<2xi64>
  %target = onnx.Concat %bs, %heads {axis = 0 : i64} : (tensor<*xi64>, tensor<2xi64>) -> tensor<*xi64>
  %r = onnx.Reshape %y, %target : (tensor<*xf32>, tensor<*xi64>) -> tensor<*xf32>
  return %r : tensor<*xf32>
}

// -----

// Dynamic dimensions stay dynamic; static ones are propagated through
// broadcasting and MatMul.
// CHECK-LABEL: func @partially_dynamic
// CHECK: onnx.MatMul {{.*}} -> tensor<?x?x172xf32>
// CHECK: onnx.Add {{.*}} -> tensor<?x?x172xf32>
func.func @partially_dynamic(%x: tensor<?x?x64xf32>, %w: tensor<64x172xf32>, %b: tensor<172xf32>) -> tensor<*xf32> {
  %m = onnx.MatMul %x, %w : (tensor<?x?x64xf32>, tensor<64x172xf32>) -> tensor<*xf32>
  %a = onnx.Add %m, %b : (tensor<*xf32>, tensor<172xf32>) -> tensor<*xf32>
  return %a : tensor<*xf32>
}

