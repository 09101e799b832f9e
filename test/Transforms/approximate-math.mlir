// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-approximate-math))' | FileCheck %s
// RUN: lowbit-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(lowbit-approximate-math{functions=tanh}))' | FileCheck %s --check-prefix=TANH

// By default exp, log, tanh and erf on f32 become polynomials: no math op
// of theirs is left, only arithmetic (and math.fma).
// CHECK-LABEL: func @defaults
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.tanh
// CHECK-NOT: math.erf
// CHECK: arith.mulf
// CHECK: return
// With functions=tanh, only tanh.
// TANH-LABEL: func @defaults
// TANH: math.exp
// TANH: math.log
// TANH-NOT: math.tanh
// TANH: math.erf
func.func @defaults(%x: f32) -> (f32, f32, f32, f32) {
  %e = math.exp %x : f32
  %l = math.log %x : f32
  %t = math.tanh %x : f32
  %r = math.erf %x : f32
  return %e, %l, %t, %r : f32, f32, f32, f32
}

// -----

// f64 and functions not in the list stay calls for libm.
// CHECK-LABEL: func @left_alone
// CHECK: math.exp %{{.*}} : f64
// CHECK: math.sin %{{.*}} : f32
func.func @left_alone(%x: f64, %y: f32) -> (f64, f32) {
  %e = math.exp %x : f64
  %s = math.sin %y : f32
  return %e, %s : f64, f32
}
