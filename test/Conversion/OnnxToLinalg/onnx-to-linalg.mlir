// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(convert-onnx-to-linalg))' | FileCheck %s

// Broadcasting elementwise op: the size-1 / missing dimensions of an operand
// read index 0 / are dropped from its indexing map; dynamic sizes come from
// tensor.dim of the operand that has them.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[BIAS:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-DAG: #[[MASK:.*]] = affine_map<(d0, d1, d2) -> (d0, 0, d2)>
// CHECK-LABEL: func @add_broadcast
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x8xf32>, %[[B:.*]]: tensor<8xf32>, %[[M:.*]]: tensor<?x1x8xf32>)
// CHECK: %[[D0:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[D1:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[INIT:.*]] = tensor.empty(%[[D0]], %[[D1]]) : tensor<?x?x8xf32>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[BIAS]], #[[ID]]], iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-SAME: ins(%[[X]], %[[B]] : tensor<?x?x8xf32>, tensor<8xf32>) outs(%[[INIT]] : tensor<?x?x8xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[MASK]], #[[ID]]]
// CHECK: arith.mulf
func.func @add_broadcast(%x: tensor<?x?x8xf32>, %b: tensor<8xf32>, %m: tensor<?x1x8xf32>) -> tensor<?x?x8xf32> {
  %0 = onnx.Add %x, %b : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %1 = onnx.Mul %0, %m : (tensor<?x?x8xf32>, tensor<?x1x8xf32>) -> tensor<?x?x8xf32>
  return %1 : tensor<?x?x8xf32>
}

// -----

// MatMul of activations by a 2-D weight: one contraction, the weight's map
// has no batch dimensions; the loops are (batch, k, m, n), k the reduction,
// so that the innermost loop walks rows of the weight and the result.
// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func @matmul
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[ACC:.*]] = linalg.fill ins(%[[ZERO]] : f32)
// CHECK: linalg.generic {indexing_maps = [#[[A]], #[[W]], #[[C]]], iterator_types = ["parallel", "reduction", "parallel", "parallel"]}
// CHECK-SAME: lowbit.contraction
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @matmul(%x: tensor<?x?x64xf32>, %w: tensor<64x172xf32>) -> tensor<?x?x172xf32> {
  %0 = onnx.MatMul %x, %w : (tensor<?x?x64xf32>, tensor<64x172xf32>) -> tensor<?x?x172xf32>
  return %0 : tensor<?x?x172xf32>
}

// -----

// Reshape with a run-time shape: 0 copies the input's size, -1 is solved
// from the element count, and the result is a tensor.reshape.
// CHECK-LABEL: func @reshape_runtime
// CHECK: tensor.extract %{{.*}}[%c0] : tensor<4xi64>
// CHECK: arith.cmpi eq
// CHECK: arith.divsi
// CHECK: %[[SHAPE:.*]] = tensor.from_elements {{.*}} : tensor<4xindex>
// CHECK: tensor.reshape %{{.*}}(%[[SHAPE]]) : (tensor<?x?x64xf32>, tensor<4xindex>) -> tensor<?x?x8x8xf32>
func.func @reshape_runtime(%x: tensor<?x?x64xf32>, %s: tensor<4xi64>) -> tensor<?x?x8x8xf32> {
  %0 = onnx.Reshape %x, %s : (tensor<?x?x64xf32>, tensor<4xi64>) -> tensor<?x?x8x8xf32>
  return %0 : tensor<?x?x8x8xf32>
}

// -----

// Slice with run-time bounds: clamped offsets and sizes (steps of 1).
// CHECK-LABEL: func @slice_runtime
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, 0] [%{{.*}}, 4] [1, 1] : tensor<512x4xf32> to tensor<?x4xf32>
func.func @slice_runtime(%cos: tensor<512x4xf32>, %start: tensor<1xi64>, %end: tensor<1xi64>) -> tensor<?x4xf32> {
  %axes = onnx.Constant dense<0> : tensor<1xi64>
  %0 = onnx.Slice %cos, %start, %end axes %axes : (tensor<512x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Gather (embedding lookup): a generic over the result, reading the table
// with tensor.extract at the (negative-wrapped) index.
// CHECK-LABEL: func @gather
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x?xi64>) outs(%{{.*}} : tensor<?x?x64xf32>)
// CHECK: arith.index_cast
// CHECK: arith.select
// CHECK: linalg.index 2
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<512x64xf32>
func.func @gather(%table: tensor<512x64xf32>, %ids: tensor<?x?xi64>) -> tensor<?x?x64xf32> {
  %0 = onnx.Gather %table, %ids : (tensor<512x64xf32>, tensor<?x?xi64>) -> tensor<?x?x64xf32>
  return %0 : tensor<?x?x64xf32>
}

// -----

// Softmax: max-reduce, exp of the shifted input, sum-reduce, divide.
// CHECK-LABEL: func @softmax
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.divf
func.func @softmax(%x: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %0 = onnx.Softmax %x {axis = -1 : i64} : (tensor<4x?xf32>) -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

// Weights stay dense_resource constants; shape ops become tensor.dim.
// CHECK-LABEL: func @constants_and_shape
// CHECK: arith.constant dense_resource<w> : tensor<2x2xf32>
// CHECK: %[[D:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?x2xf32>
// CHECK: %[[I:.*]] = arith.index_cast %[[D]] : index to i64
// CHECK: tensor.from_elements %[[I]], %{{.*}} : tensor<2xi64>
func.func @constants_and_shape(%x: tensor<?x2xf32>) -> (tensor<2x2xf32>, tensor<2xi64>) {
  %w = onnx.Constant dense_resource<w> : tensor<2x2xf32>
  %s = onnx.Shape %x : (tensor<?x2xf32>) -> tensor<2xi64>
  return %w, %s : tensor<2x2xf32>, tensor<2xi64>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F000000400000404000008040"
    }
  }
#-}

// -----

// Concat: tensor.concat along the axis; a statically empty input (RoPE's
// pass-through part when the rotary width is the whole head) is dropped, a
// dynamically sized one (an empty KV cache) is kept.
// CHECK-LABEL: func @concat_empty_parts
// CHECK-SAME: (%[[A:.*]]: tensor<2x4xf32>, %[[E:.*]]: tensor<2x0xf32>, %[[P:.*]]: tensor<2x?xf32>)
// CHECK: tensor.concat dim(1) %[[A]], %[[P]] : (tensor<2x4xf32>, tensor<2x?xf32>) -> tensor<2x?xf32>
func.func @concat_empty_parts(%a: tensor<2x4xf32>, %e: tensor<2x0xf32>, %p: tensor<2x?xf32>) -> tensor<2x?xf32> {
  %0 = onnx.Concat %a, %e, %p {axis = -1 : i64} : (tensor<2x4xf32>, tensor<2x0xf32>, tensor<2x?xf32>) -> tensor<2x?xf32>
  return %0 : tensor<2x?xf32>
}

// -----

// MatMul with a 1-D operand (numpy semantics): a vector A becomes one row, a
// vector B one column; the unit dimension is then dropped from the product.
// CHECK-LABEL: func @matmul_vector
// CHECK: tensor.reshape %{{.*}} : (tensor<8xf32>, tensor<2xindex>) -> tensor<1x8xf32>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x1x16xf32>) attrs = {lowbit.contraction}
// CHECK: tensor.reshape %{{.*}} : (tensor<2x1x16xf32>, tensor<2xindex>) -> tensor<2x16xf32>
// CHECK: tensor.reshape %{{.*}} : (tensor<8xf32>, tensor<2xindex>) -> tensor<8x1xf32>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<3x1xf32>) attrs = {lowbit.contraction}
// CHECK: tensor.reshape %{{.*}} : (tensor<3x1xf32>, tensor<1xindex>) -> tensor<3xf32>
func.func @matmul_vector(%v: tensor<8xf32>, %w: tensor<2x8x16xf32>, %m: tensor<3x8xf32>) -> (tensor<2x16xf32>, tensor<3xf32>) {
  %0 = onnx.MatMul %v, %w : (tensor<8xf32>, tensor<2x8x16xf32>) -> tensor<2x16xf32>
  %1 = onnx.MatMul %m, %v : (tensor<3x8xf32>, tensor<8xf32>) -> tensor<3xf32>
  return %0, %1 : tensor<2x16xf32>, tensor<3xf32>
}

// -----

// Slice with a negative step: a generic over the result reading
// data[start + i * step] (tensor.extract_slice takes positive strides only).
// CHECK-LABEL: func @slice_backwards
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<3x4xf32>
// CHECK: linalg.generic {{.*}} outs(%[[INIT]] : tensor<3x4xf32>)
// CHECK: %[[I:.*]] = linalg.index 0 : index
// CHECK: %[[STEP:.*]] = arith.muli %[[I]], %c-2
// CHECK: %[[ROW:.*]] = arith.addi %[[STEP]], %c5
// CHECK: %[[COL:.*]] = linalg.index 1 : index
// CHECK: tensor.extract %{{.*}}[%[[ROW]], %[[COL]]] : tensor<6x4xf32>
func.func @slice_backwards(%x: tensor<6x4xf32>) -> tensor<3x4xf32> {
  %starts = onnx.Constant dense<5> : tensor<1xi64>
  %ends = onnx.Constant dense<-9223372036854775808> : tensor<1xi64>
  %axes = onnx.Constant dense<0> : tensor<1xi64>
  %steps = onnx.Constant dense<-2> : tensor<1xi64>
  %0 = onnx.Slice %x, %starts, %ends axes %axes steps %steps : (tensor<6x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// Slice with axes and steps given at run time: each dimension's offset,
// size and step selected by the axis when the model runs (the step's sign
// picks the clamping), then a generic reading data[offset + i * step].
// CHECK-LABEL: func @slice_runtime_axes_steps
// CHECK-DAG: %[[AXIS:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-DAG: arith.cmpi sgt
// CHECK-DAG: arith.ceildivsi
// CHECK: %[[INIT:.*]] = tensor.empty(%{{.*}}, %{{.*}}) : tensor<?x?xf32>
// CHECK: linalg.generic {{.*}} outs(%[[INIT]] : tensor<?x?xf32>)
// CHECK: linalg.index 0 : index
// CHECK: arith.muli
// CHECK: linalg.index 1 : index
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<6x4xf32>
func.func @slice_runtime_axes_steps(%x: tensor<6x4xf32>, %axes: tensor<1xi64>, %steps: tensor<1xi64>) -> tensor<?x?xf32> {
  %starts = onnx.Constant dense<5> : tensor<1xi64>
  %ends = onnx.Constant dense<-9223372036854775808> : tensor<1xi64>
  %0 = onnx.Slice %x, %starts, %ends axes %axes steps %steps : (tensor<6x4xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// Unsqueeze with its axes given at run time (the backend tests' form): the
// static result type says where the 1s go, and the data does not move, so
// it is a reshape to that type.
// CHECK-LABEL: func @unsqueeze_runtime_axes
// CHECK: tensor.reshape %arg0(%{{.*}}) : (tensor<3x4x5xf32>, tensor<4xindex>) -> tensor<1x3x4x5xf32>
func.func @unsqueeze_runtime_axes(%x: tensor<3x4x5xf32>, %axes: tensor<1xi64>) -> tensor<1x3x4x5xf32> {
  %0 = onnx.Unsqueeze %x, %axes : (tensor<3x4x5xf32>, tensor<1xi64>) -> tensor<1x3x4x5xf32>
  return %0 : tensor<1x3x4x5xf32>
}

// -----

// A reduction with its axes given at run time and keepdims: the dimensions
// the static result type makes 1 are the reduced ones (here 1 of [3, 2, 2]).
// CHECK-LABEL: func @reduce_runtime_axes
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]
func.func @reduce_runtime_axes(%x: tensor<3x2x2xf32>, %axes: tensor<1xi64>) -> tensor<3x1x2xf32> {
  %0 = onnx.ReduceSum %x axes %axes : (tensor<3x2x2xf32>, tensor<1xi64>) -> tensor<3x1x2xf32>
  return %0 : tensor<3x1x2xf32>
}

// -----

// Unsigned integers: the body works on signless integers of the same bits
// (unrealized casts, gone once LLVM takes over), with the unsigned forms
// where the sign matters: division, comparisons, min/max.
// CHECK-LABEL: func @unsigned
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.*]]: ui8, %[[Y:.*]]: ui8, %{{.*}}: ui8):
// CHECK-DAG: %[[XS:.*]] = builtin.unrealized_conversion_cast %[[X]] : ui8 to i8
// CHECK-DAG: %[[YS:.*]] = builtin.unrealized_conversion_cast %[[Y]] : ui8 to i8
// CHECK: %[[Q:.*]] = arith.divui %[[XS]], %[[YS]] : i8
// CHECK: builtin.unrealized_conversion_cast %[[Q]] : i8 to ui8
// CHECK: linalg.generic
// CHECK: arith.cmpi ult, %{{.*}}, %{{.*}} : i16
// CHECK: linalg.generic
// CHECK: arith.maxui %{{.*}}, %{{.*}} : i32
func.func @unsigned(%x: tensor<4xui8>, %y: tensor<4xui8>, %a: tensor<4xui16>, %b: tensor<4xui16>,
                    %c: tensor<4xui32>, %d: tensor<4xui32>) -> (tensor<4xui8>, tensor<4xi1>, tensor<4xui32>) {
  %0 = onnx.Div %x, %y : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  %1 = onnx.Less %a, %b : (tensor<4xui16>, tensor<4xui16>) -> tensor<4xi1>
  %2 = onnx.Max %c, %d : (tensor<4xui32>, tensor<4xui32>) -> tensor<4xui32>
  return %0, %1, %2 : tensor<4xui8>, tensor<4xi1>, tensor<4xui32>
}

// -----

// QuantizeLinear per axis: x / scale rounded half to even, plus the zero
// point, clamped to ui8's range; the scale and zero point read at x's axis
// 1. DequantizeLinear per block of 2 along axis 1: (x - zp) in i32, times
// the block's scale.
// CHECK-DAG: #[[AXIS:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[BLOCK:.*]] = affine_map<(d0, d1) -> (d0, d1 floordiv 2)>
// CHECK-LABEL: func @quantize_dequantize
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[AXIS]], #[[AXIS]], #{{.*}}]
// CHECK-DAG: arith.divf
// CHECK-DAG: arith.uitofp %{{.*}} : i8 to f32
// CHECK: math.roundeven
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK: arith.minimumf
// CHECK: arith.fptosi
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : i8 to ui8
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[BLOCK]], #[[BLOCK]], #{{.*}}]
// CHECK: arith.extsi %{{.*}} : i8 to i32
// CHECK: arith.subi
// CHECK: arith.sitofp %{{.*}} : i32 to f32
// CHECK: arith.mulf
func.func @quantize_dequantize(%x: tensor<2x4xf32>, %s: tensor<4xf32>, %z: tensor<4xui8>,
                               %q: tensor<2x4xi8>, %bs: tensor<2x2xf32>, %bz: tensor<2x2xi8>)
    -> (tensor<2x4xui8>, tensor<2x4xf32>) {
  %0 = onnx.QuantizeLinear %x, %s zero_point %z {axis = 1 : i64} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xui8>) -> tensor<2x4xui8>
  %1 = onnx.DequantizeLinear %q, %bs zero_point %bz {axis = 1 : i64, block_size = 2 : i64} : (tensor<2x4xi8>, tensor<2x2xf32>, tensor<2x2xi8>) -> tensor<2x4xf32>
  return %0, %1 : tensor<2x4xui8>, tensor<2x4xf32>
}

// -----

// MatMulInteger: each operand widened to i32 less its zero point (A's per
// row, B's per column), then an i32 contraction.
// CHECK-LABEL: func @matmul_integer
// CHECK: linalg.generic
// CHECK: arith.extui %{{.*}} : i8 to i32
// CHECK: arith.subi
// CHECK: linalg.generic
// CHECK: arith.extsi %{{.*}} : i8 to i32
// CHECK: arith.subi
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
// CHECK: arith.muli
// CHECK: arith.addi
func.func @matmul_integer(%a: tensor<2x3xui8>, %b: tensor<3x4xi8>, %az: tensor<2xui8>, %bz: tensor<4xi8>) -> tensor<2x4xi32> {
  %y = onnx.MatMulInteger %a, %b a_zero_point %az b_zero_point %bz : (tensor<2x3xui8>, tensor<3x4xi8>, tensor<2xui8>, tensor<4xi8>) -> tensor<2x4xi32>
  return %y : tensor<2x4xi32>
}

// -----

// Reduction axes given at run time without keepdims: [3, 2, 2] -> [3, 2]
// is axis 1 or axis 2; both are reduced and the one named by the axes
// (made non-negative) is selected when the model runs.
// CHECK-LABEL: func @runtime_axes_dropped
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: %[[A:.*]] = tensor.reshape
// CHECK: %[[IS1:.*]] = arith.cmpi eq, %{{.*}}, %c1
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]
// CHECK: %[[B:.*]] = tensor.reshape
// CHECK: arith.select %[[IS1]], %[[B]], %[[A]] : tensor<3x2xf32>
func.func @runtime_axes_dropped(%x: tensor<3x2x2xf32>, %axes: tensor<1xi64>) -> tensor<3x2xf32> {
  %0 = onnx.ReduceSum %x axes %axes {keepdims = 0 : i64} : (tensor<3x2x2xf32>, tensor<1xi64>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}
