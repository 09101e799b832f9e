// RUN: lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-emulate-bf16))' | FileCheck %s

// f32 -> bf16: round to nearest even on the bits (add 0x7FFF plus the lowest
// kept bit, shift right 16), NaN kept quiet; no truncf left for LLVM to
// turn into a __truncsfbf2 call.
// CHECK-LABEL: func @truncate
// CHECK-NOT: arith.truncf
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.shrui
// CHECK: arith.trunci %{{.*}} : i32 to i16
// CHECK: arith.bitcast %{{.*}} : i16 to bf16
func.func @truncate(%x: f32) -> bf16 {
  %b = arith.truncf %x : f32 to bf16
  return %b : bf16
}

// bf16 -> f32: the 16 bits moved up.
// CHECK-LABEL: func @extend
// CHECK-NOT: arith.extf
// CHECK: arith.bitcast %{{.*}} : bf16 to i16
// CHECK: arith.extui %{{.*}} : i16 to i32
// CHECK: arith.shli
// CHECK: arith.bitcast %{{.*}} : i32 to f32
func.func @extend(%b: bf16) -> f32 {
  %x = arith.extf %b : bf16 to f32
  return %x : f32
}

// Other conversions stay.
// CHECK-LABEL: func @half
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @half(%x: f32) -> f16 {
  %h = arith.truncf %x : f32 to f16
  return %h : f16
}

// Arithmetic in f32, rounded back to bf16 (each conversion as integer ops).
// CHECK-LABEL: func @arithmetic
// CHECK-NOT: arith.extf
// CHECK-NOT: arith.truncf
// CHECK: %[[SUM:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK: arith.bitcast %[[SUM]] : f32 to i32
// CHECK: arith.bitcast %{{.*}} : i16 to bf16
func.func @arithmetic(%a: bf16, %b: bf16) -> bf16 {
  %s = arith.addf %a, %b : bf16
  return %s : bf16
}
