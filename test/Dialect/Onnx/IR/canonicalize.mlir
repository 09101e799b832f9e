// RUN: lowbit-opt %s -canonicalize -split-input-file | FileCheck %s

// Shape of a static tensor is a constant; Gather, Unsqueeze and Concat of
// constants fold, so the exporter's shape chain feeding Reshape collapses.
// CHECK-LABEL: func @shape_chain
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x64xf32>)
// CHECK-NOT: onnx.Shape
// CHECK-NOT: onnx.Gather
// CHECK-NOT: onnx.Concat
// CHECK: %[[SHAPE:.*]] = onnx.Constant dense<[2, 3, 8, 8]> : tensor<4xi64>
// CHECK: %[[R:.*]] = onnx.Reshape %[[X]], %[[SHAPE]]
// CHECK: return %[[R]]
func.func @shape_chain(%x: tensor<2x3x64xf32>) -> tensor<2x3x8x8xf32> {
  %shape = onnx.Shape %x : (tensor<2x3x64xf32>) -> tensor<3xi64>
  %i0 = onnx.Constant dense<0> : tensor<i64>
  %i1 = onnx.Constant dense<1> : tensor<i64>
  %b = onnx.Gather %shape, %i0 {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %s = onnx.Gather %shape, %i1 {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %axes = onnx.Constant dense<0> : tensor<1xi64>
  %bu = onnx.Unsqueeze %b, %axes : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %su = onnx.Unsqueeze %s, %axes : (tensor<i64>, tensor<1xi64>) -> tensor<1xi64>
  %heads = onnx.Constant dense<[8, 8]> : tensor<2xi64>
  %target = onnx.Concat %bu, %su, %heads {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>, tensor<2xi64>) -> tensor<4xi64>
  %r = onnx.Reshape %x, %target : (tensor<2x3x64xf32>, tensor<4xi64>) -> tensor<2x3x8x8xf32>
  return %r : tensor<2x3x8x8xf32>
}

// -----

// With a dynamic dimension, only the static part of the shape folds.
// CHECK-LABEL: func @dynamic_shape_chain
// CHECK-DAG: %[[D:.*]] = onnx.Constant dense<64> : tensor<i64>
// CHECK-DAG: %[[SHAPE:.*]] = onnx.Shape
// CHECK: %[[B:.*]] = onnx.Gather %[[SHAPE]]
// CHECK: return %[[B]], %[[D]]
func.func @dynamic_shape_chain(%x: tensor<?x3x64xf32>) -> (tensor<i64>, tensor<i64>) {
  %shape = onnx.Shape %x : (tensor<?x3x64xf32>) -> tensor<3xi64>
  %i0 = onnx.Constant dense<0> : tensor<i64>
  %i2 = onnx.Constant dense<2> : tensor<i64>
  // The batch size stays a Gather of the Shape; the static 64 folds.
  %b = onnx.Gather %shape, %i0 {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  %d = onnx.Gather %shape, %i2 {axis = 0 : i64} : (tensor<3xi64>, tensor<i64>) -> tensor<i64>
  return %b, %d : tensor<i64>, tensor<i64>
}

// -----

// A Gather of a computed (not constant, not Shape) index vector stays (its
// fold once crashed looking for the Shape).
// CHECK-LABEL: func @gather_of_computed_shape
// CHECK: %[[SUM:.*]] = onnx.Add
// CHECK: onnx.Gather %[[SUM]]
func.func @gather_of_computed_shape(%x: tensor<?x3xf32>, %y: tensor<2xi64>) -> tensor<i64> {
  %shape = onnx.Shape %x : (tensor<?x3xf32>) -> tensor<2xi64>
  %sum = onnx.Add %shape, %y : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %i0 = onnx.Constant dense<0> : tensor<i64>
  %g = onnx.Gather %sum, %i0 {axis = 0 : i64} : (tensor<2xi64>, tensor<i64>) -> tensor<i64>
  return %g : tensor<i64>
}

// -----

// Integer arithmetic, comparisons and Where on small constants fold.
// CHECK-LABEL: func @arith
// CHECK-DAG: onnx.Constant dense<[4, 7]> : tensor<2xi64>
// CHECK-DAG: onnx.Constant dense<[true, false]> : tensor<2xi1>
// CHECK-DAG: onnx.Constant dense<[2, 4]> : tensor<2xi64>
// CHECK-DAG: onnx.Constant dense<2.500000e+00> : tensor<2xf32>
// CHECK-NOT: onnx.Add
// CHECK-NOT: onnx.Div
func.func @arith() -> (tensor<2xi64>, tensor<2xi1>, tensor<2xi64>, tensor<2xf32>) {
  %a = onnx.Constant dense<[2, 3]> : tensor<2xi64>
  %b = onnx.Constant dense<[3, 4]> : tensor<2xi64>
  %sum = onnx.Add %a, %b : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %lt = onnx.Less %a, %sum : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi1>
  %eq = onnx.Equal %a, %a : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi1>
  %two = onnx.Constant dense<2> : tensor<i64>
  %c = onnx.Constant dense<[true, false]> : tensor<2xi1>
  %and = onnx.And %lt, %c : (tensor<2xi1>, tensor<2xi1>) -> tensor<2xi1>
  %div = onnx.Div %sum, %two : (tensor<2xi64>, tensor<i64>) -> tensor<2xi64>
  %sel = onnx.Where %and, %div, %b : (tensor<2xi1>, tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %f = onnx.Constant dense<5.0> : tensor<2xf32>
  %f2 = onnx.Constant dense<2.0> : tensor<f32>
  %half = onnx.Div %f, %f2 : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
  %m = onnx.Sub %sel, %b : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %n = onnx.Add %sum, %m : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  return %n, %and, %sel, %half : tensor<2xi64>, tensor<2xi1>, tensor<2xi64>, tensor<2xf32>
}

// -----

// Integer division by zero is not folded: it is left for run time.
// CHECK-LABEL: func @div_by_zero
// CHECK: onnx.Div
func.func @div_by_zero() -> tensor<i64> {
  %a = onnx.Constant dense<1> : tensor<i64>
  %z = onnx.Constant dense<0> : tensor<i64>
  %d = onnx.Div %a, %z : (tensor<i64>, tensor<i64>) -> tensor<i64>
  return %d : tensor<i64>
}

// -----

// ConstantOfShape, Cast, Range, Slice, Squeeze and Identity on constants.
// CHECK-LABEL: func @misc
// CHECK-DAG: onnx.Constant dense<0xFF800000> : tensor<2x3xf32>
// CHECK-DAG: onnx.Constant dense<[0.000000e+00, 2.000000e+00, 4.000000e+00]> : tensor<3xf32>
// CHECK-DAG: onnx.Constant dense<[4, 2]> : tensor<2xi64>
// CHECK-DAG: onnx.Constant dense<7> : tensor<i64>
// CHECK-NOT: onnx.Range
// CHECK-NOT: onnx.Identity
func.func @misc() -> (tensor<2x3xf32>, tensor<3xf32>, tensor<2xi64>, tensor<i64>) {
  %shape = onnx.Constant dense<[2, 3]> : tensor<2xi64>
  %fill = onnx.ConstantOfShape %shape {value = dense<0xFF800000> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<2x3xf32>
  %s = onnx.Constant dense<0> : tensor<i64>
  %l = onnx.Constant dense<6> : tensor<i64>
  %d = onnx.Constant dense<2> : tensor<i64>
  %r = onnx.Range %s, %l, %d : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<3xi64>
  %rf = onnx.Cast %r {to = f32} : (tensor<3xi64>) -> tensor<3xf32>
  %v = onnx.Constant dense<[0, 2, 4, 6]> : tensor<4xi64>
  %start = onnx.Constant dense<-2> : tensor<1xi64>
  %end = onnx.Constant dense<0> : tensor<1xi64>
  %step = onnx.Constant dense<-1> : tensor<1xi64>
  %axes = onnx.Constant dense<0> : tensor<1xi64>
  %sl = onnx.Slice %v, %start, %end axes %axes steps %step : (tensor<4xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
  %one = onnx.Constant dense<7> : tensor<1xi64>
  %sq = onnx.Squeeze %one axes %axes : (tensor<1xi64>, tensor<1xi64>) -> tensor<i64>
  %id = onnx.Identity %sq : (tensor<i64>) -> tensor<i64>
  return %fill, %rf, %sl, %id : tensor<2x3xf32>, tensor<3xf32>, tensor<2xi64>, tensor<i64>
}

// -----

// A Reshape with a fully static result gets a constant shape, and a
// Reshape of a Reshape reads from the original input.
// CHECK-LABEL: func @reshape
// CHECK-SAME: (%[[X:.*]]: tensor<4x6xf32>, %[[S:.*]]: tensor<2xi64>)
// CHECK: %[[C:.*]] = onnx.Constant dense<[3, 8]> : tensor<2xi64>
// CHECK: %[[R:.*]] = onnx.Reshape %[[X]], %[[C]] {allowzero = 1 : i64}
// CHECK: return %[[R]]
func.func @reshape(%x: tensor<4x6xf32>, %s: tensor<2xi64>) -> tensor<3x8xf32> {
  %a = onnx.Reshape %x, %s : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<2x12xf32>
  %b = onnx.Reshape %a, %s : (tensor<2x12xf32>, tensor<2xi64>) -> tensor<3x8xf32>
  return %b : tensor<3x8xf32>
}

// -----

// Large constants are never computed on (the fold limit keeps weights as
// they are).
// CHECK-LABEL: func @no_large_fold
// CHECK: onnx.Add
func.func @no_large_fold() -> tensor<5000xf32> {
  %a = onnx.Constant dense<1.0> : tensor<5000xf32>
  %b = onnx.Constant dense<[[1.0]]> : tensor<1x1xf32>
  %c = onnx.Add %a, %a : (tensor<5000xf32>, tensor<5000xf32>) -> tensor<5000xf32>
  return %c : tensor<5000xf32>
}
