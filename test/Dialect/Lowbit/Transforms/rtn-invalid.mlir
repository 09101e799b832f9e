// RUN: lowbit-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(func.func(lowbit-rtn{bits=5}))'

// expected-error @+1 {{lowbit-rtn: bits must be 2, 3, 4 or 8, got 5}}
func.func @bits(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}
