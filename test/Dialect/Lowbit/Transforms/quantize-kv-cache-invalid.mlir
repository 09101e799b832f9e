// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache))'
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{bits=3}))' 2>&1 | FileCheck %s --check-prefix=BITS

// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{window=-1}))' 2>&1 | FileCheck %s --check-prefix=WINDOW

// BITS: lowbit-quantize-kv-cache: bits must be 8 or 4, got 3
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{key-scales=channel}))' 2>&1 | FileCheck %s --check-prefix=GROUPS
// RUN: not lowbit-opt %s --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{key-scales=head window=4}))' 2>&1 | FileCheck %s --check-prefix=SCALES
// RUN: not lowbit-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(lowbit-quantize-kv-cache{key-scales=channel window=2}))' 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// WINDOW: lowbit-quantize-kv-cache: window must be 0 or more tokens, got -1
// DYNAMIC: lowbit-quantize-kv-cache: key-scales=channel needs a cache [batch, heads, seq, head_dim] with a static head_dim; 'past.0.key' is 'tensor<?x2x?x?xf32>'

// GROUPS: lowbit-quantize-kv-cache: key-scales=channel needs window=G
// SCALES: lowbit-quantize-kv-cache: key-scales must be token or channel, got 'head'

// A cache whose values are read other than by the Concat.
// expected-error @+1 {{lowbit-quantize-kv-cache: input 'past.0.value' is not an f32 cache [..., past_seq, head_dim] concatenated with the new entries along the sequence axis and returned}}
func.func @read(%x: tensor<?x2x?x4xf32>, %past: tensor<?x2x?x4xf32> {onnx.name = "past.0.value"})
    -> (tensor<?x2x?x4xf32> {onnx.name = "present.0.value"}, tensor<?x2x?x4xf32>) {
  %present = onnx.Concat %past, %x {axis = 2 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  %twice = onnx.Add %past, %past : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x4xf32>
  return %present, %twice : tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>
}

// -----

// Concatenated along the head dimension, not the sequence.
// expected-error @+1 {{lowbit-quantize-kv-cache: input 'past.0.key' is not an f32 cache}}
func.func @axis(%x: tensor<?x2x?x4xf32>, %past: tensor<?x2x?x4xf32> {onnx.name = "past.0.key"})
    -> (tensor<?x2x?x8xf32> {onnx.name = "present.0.key"}) {
  %present = onnx.Concat %past, %x {axis = 3 : i64} : (tensor<?x2x?x4xf32>, tensor<?x2x?x4xf32>) -> tensor<?x2x?x8xf32>
  return %present : tensor<?x2x?x8xf32>
}

// -----

// Accepted with per-token scales; per-channel key scales need head_dim.
func.func @dynamic_head_dim(%x: tensor<?x2x?x?xf32>, %past: tensor<?x2x?x?xf32> {onnx.name = "past.0.key"})
    -> (tensor<?x2x?x?xf32> {onnx.name = "present.0.key"}) {
  %present = onnx.Concat %past, %x {axis = 2 : i64} : (tensor<?x2x?x?xf32>, tensor<?x2x?x?xf32>) -> tensor<?x2x?x?xf32>
  return %present : tensor<?x2x?x?xf32>
}
