// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(convert-onnx-to-linalg))' | FileCheck %s

// f32 -> float8 E4M3FN, saturating: a binary search over the 128 positive
// values (7 lookups, the first folded to a constant), the midpoint to the
// next value decides rounding up (a tie goes to the even code), past the
// largest finite code (126 = 448) saturates to it, the sign bit from x,
// NaN to the type's NaN (127) with x's sign; the code bitcast to the type.
// CHECK-LABEL: func @to_e4m3fn
// CHECK-DAG: %[[BOUNDS:.*]] = arith.constant dense<"0x00000000{{.*}}0000807F"> : tensor<128xf32>
// CHECK-DAG: %[[MAX:.*]] = arith.constant 126 : i32
// CHECK: linalg.generic
// CHECK: math.absf
// CHECK-COUNT-6: tensor.extract %[[BOUNDS]]
// CHECK: tensor.extract
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpi sgt, %{{.*}}, %[[MAX]]
// CHECK: arith.select %{{.*}}, %[[MAX]]
// CHECK: arith.cmpf uno
// CHECK: arith.trunci %{{.*}} : i32 to i8
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
func.func @to_e4m3fn(%x: tensor<8xf32>) -> tensor<8xf8E4M3FN> {
  %y = onnx.Cast %x {to = f8E4M3FN} : (tensor<8xf32>) -> tensor<8xf8E4M3FN>
  return %y : tensor<8xf8E4M3FN>
}

// -----

// Not saturating, E5M2 overflows to its infinity (code 124).
// CHECK-LABEL: func @to_e5m2_no_saturate
// CHECK: %[[INF:.*]] = arith.constant 124 : i32
// CHECK: linalg.generic
// CHECK: arith.select %{{.*}}, %[[INF]]
func.func @to_e5m2_no_saturate(%x: tensor<8xf32>) -> tensor<8xf8E5M2> {
  %y = onnx.Cast %x {to = f8E5M2, saturate = 0 : i64} : (tensor<8xf32>) -> tensor<8xf8E5M2>
  return %y : tensor<8xf8E5M2>
}

// -----

// Decoding reads the value of the code from a table of all 16 values of
// float4 E2M1 (6.0 = 0x40C00000 at code 7), then converts f32 to f16.
// CHECK-LABEL: func @from_f4
// CHECK: %[[VALUES:.*]] = arith.constant dense<[0.000000e+00, 5.000000e-01, 1.000000e+00, 1.500000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 6.000000e+00, -0.000000e+00, {{.*}}]> : tensor<16xf32>
// CHECK: linalg.generic
// CHECK: %[[BITS:.*]] = arith.bitcast %{{.*}} : f4E2M1FN to i4
// CHECK: arith.extui %[[BITS]] : i4 to i32
// CHECK: tensor.extract %[[VALUES]]
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @from_f4(%x: tensor<8xf4E2M1FN>) -> tensor<8xf16> {
  %y = onnx.Cast %x {to = f16} : (tensor<8xf4E2M1FN>) -> tensor<8xf16>
  return %y : tensor<8xf16>
}

// -----

// E8M0 rounds up by the f32 exponent: +1 where the mantissa is not zero,
// except at the largest exponent (254) when saturating; NaN and inf to 255.
// CHECK-LABEL: func @to_e8m0
// CHECK: linalg.generic
// CHECK: arith.shrui
// CHECK: arith.andi %{{.*}}, %c8388607_i32
// CHECK: arith.cmpi ne, %{{.*}}, %c254_i32
// CHECK: arith.addi
// CHECK: arith.select
// CHECK: arith.bitcast %{{.*}} : i8 to f8E8M0FNU
func.func @to_e8m0(%x: tensor<8xf32>) -> tensor<8xf8E8M0FNU> {
  %y = onnx.Cast %x {to = f8E8M0FNU, round_mode = "up"} : (tensor<8xf32>) -> tensor<8xf8E8M0FNU>
  return %y : tensor<8xf8E8M0FNU>
}

// -----

// 4-bit integers: from a float truncated toward zero in i32, then wrapped;
// ui4 to i8 extends with zeros; unsigned sources and results go through
// signless bits.
// CHECK-LABEL: func @integers
// CHECK: linalg.generic
// CHECK: arith.fptosi %{{.*}} : f32 to i32
// CHECK: arith.trunci %{{.*}} : i32 to i4
// CHECK: linalg.generic
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : ui4 to i4
// CHECK: arith.extui %{{.*}} : i4 to i8
// CHECK: linalg.generic
// CHECK: arith.fptosi %{{.*}} : f32 to i64
// CHECK: arith.trunci %{{.*}} : i64 to i16
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : i16 to ui16
func.func @integers(%x: tensor<8xf32>, %u: tensor<8xui4>) -> (tensor<8xi4>, tensor<8xi8>, tensor<8xui16>) {
  %0 = onnx.Cast %x {to = i4} : (tensor<8xf32>) -> tensor<8xi4>
  %1 = onnx.Cast %u {to = i8} : (tensor<8xui4>) -> tensor<8xi8>
  %2 = onnx.Cast %x {to = ui16} : (tensor<8xf32>) -> tensor<8xui16>
  return %0, %1, %2 : tensor<8xi4>, tensor<8xi8>, tensor<8xui16>
}

// -----

// QuantizeLinear to int4 clamps to [-8, 7]; to float8 it encodes x / scale
// plus the decoded zero point. DequantizeLinear of int4 extends to i32.
// CHECK-LABEL: func @quantize_narrow
// CHECK-DAG: arith.constant -8.000000e+00 : f32
// CHECK-DAG: arith.constant 7.000000e+00 : f32
// CHECK: linalg.generic
// CHECK: math.roundeven
// CHECK: arith.trunci %{{.*}} : i32 to i4
// CHECK: linalg.generic
// CHECK: arith.divf
// CHECK: tensor.extract
// CHECK: arith.addf
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
// CHECK: linalg.generic
// CHECK: arith.extsi %{{.*}} : i4 to i32
// CHECK: arith.subi
func.func @quantize_narrow(%x: tensor<8xf32>, %s: tensor<f32>, %z4: tensor<i4>, %z8: tensor<f8E4M3FN>, %q: tensor<8xi4>)
    -> (tensor<8xi4>, tensor<8xf8E4M3FN>, tensor<8xf32>) {
  %0 = onnx.QuantizeLinear %x, %s zero_point %z4 : (tensor<8xf32>, tensor<f32>, tensor<i4>) -> tensor<8xi4>
  %1 = onnx.QuantizeLinear %x, %s zero_point %z8 : (tensor<8xf32>, tensor<f32>, tensor<f8E4M3FN>) -> tensor<8xf8E4M3FN>
  %2 = onnx.DequantizeLinear %q, %s zero_point %z4 : (tensor<8xi4>, tensor<f32>, tensor<i4>) -> tensor<8xf32>
  return %0, %1, %2 : tensor<8xi4>, tensor<8xf8E4M3FN>, tensor<8xf32>
}

// -----

// A splat of unsigned integers is filled from a signless scalar, so that
// fusion folding it into a body does not build an unsigned arith.constant.
// CHECK-LABEL: func @unsigned_splat
// CHECK: %[[BITS:.*]] = arith.constant 7 : i8
// CHECK: %[[U:.*]] = builtin.unrealized_conversion_cast %[[BITS]] : i8 to ui8
// CHECK: linalg.fill ins(%[[U]] : ui8) outs(%{{.*}} : tensor<3xui8>)
func.func @unsigned_splat() -> tensor<3xui8> {
  %0 = onnx.Constant dense<7> : tensor<3xui8>
  return %0 : tensor<3xui8>
}
