//===- Passes.td - Passes of the onnx dialect --------------*- tablegen -*-===//

#ifndef LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_TD
#define LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def InferShapesPass : Pass<"lowbit-infer-shapes", "::mlir::func::FuncOp"> {
  let summary = "Refine result types from onnx type inference and fold shape arithmetic";
  let description = [{
    Alternates two steps until neither changes the function (or
    `max-iterations` is reached):

    1. every onnx op's result types are replaced by the meet of their current
       type and the type the op infers (a refinement: dimensions only ever
       become more static, and a contradiction is an error);
    2. the onnx dialect's folders and canonicalization patterns run, so that
       `Shape` of a now-static tensor becomes a constant, and the
       `Gather`/`Unsqueeze`/`Concat`/`Reshape` chains built on it collapse.

    The function's result types are updated to match its `func.return`.

    Example: after a `Reshape` input becomes static, the
    `Shape -> Gather -> Unsqueeze -> Concat` chain that computed its target
    shape folds to one constant, and the result type becomes static.
  }];
  let dependentDialects = ["::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"maxIterations", "max-iterations", "unsigned", /*default=*/"8",
           "Upper bound on refine-then-fold rounds">,
  ];
  let statistics = [
    Statistic<"numRefinedResults", "refined-results",
              "Number of op results whose type became more precise">,
  ];
}

def FuseNormalizationPass : Pass<"lowbit-fuse-normalization", "::mlir::func::FuncOp"> {
  let summary = "Fuse exporter-decomposed RMSNorm and LayerNorm into single ops";
  let description = [{
    Exporters often spell normalization out elementwise. This pass finds the
    two common spellings over the last dimension and replaces them with one
    op, so that later passes see the norm (quantization passes fold scales
    into its weight; lowering emits one fused kernel):

    - RMSNorm, as written by PyTorch for LLaMA-style models:
      `Mul(Mul(x, Div(1, Sqrt(Add(ReduceMean(Pow(x, 2)), eps)))), w)`, also
      with `Div(x, Sqrt(...))`, `Reciprocal(Sqrt(...))`, `Mul(x, x)` for the
      square and the operands of each commutative op in either order. It
      becomes `onnx.RMSNormalization %x, %w {axis = -1, epsilon = eps}`.
    - LayerNorm, as written for BERT-style models:
      `Add(Mul(Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps))), g), b)` with
      `d = Sub(x, ReduceMean(x))`. It becomes
      `onnx.LayerNormalization %x, %g bias %b {axis = -1, epsilon = eps}`.

    Requirements, else the pattern is left alone: every ReduceMean reduces
    exactly the last dimension with `keepdims = 1`; the exponent is the
    constant 2; `eps` is a constant scalar; the weight (and bias) is a 1-D
    tensor whose size is the last dimension (or that dimension is dynamic);
    all values are `f32`, `f16` or `bf16` tensors of one element type.
    Intermediate values used elsewhere stay computed for those users.
  }];
  let dependentDialects = ["::lowbit::onnx::OnnxDialect"];
  let options = [
    Option<"fuseRMSNorm", "rms-norm", "bool", /*default=*/"true",
           "Fuse the RMSNorm spelling into onnx.RMSNormalization">,
    Option<"fuseLayerNorm", "layer-norm", "bool", /*default=*/"true",
           "Fuse the LayerNorm spelling into onnx.LayerNormalization">,
  ];
  let statistics = [
    Statistic<"numRMSNorms", "fused-rms-norms", "Number of RMSNorms fused">,
    Statistic<"numLayerNorms", "fused-layer-norms", "Number of LayerNorms fused">,
  ];
}

def FoldRepeatKVPass : Pass<"lowbit-fold-repeat-kv", "::mlir::func::FuncOp"> {
  let summary = "Grouped-query attention reads each KV head once, not once per query head";
  let description = [{
    Exporters write GQA's `repeat_kv` as a copy: the cache `X [b, kv_heads,
    n, d]` is unsqueezed, expanded to `[b, kv_heads, rep, n, d]` and
    reshaped to `[b, kv_heads * rep, n, d]` before QK^T (through a
    Transpose) and PV, so that every step writes the whole cache `rep` times.
    This pass splits the query side's heads instead, and lets the MatMul
    broadcast the cache over them:

    ```mlir
    %u = onnx.Unsqueeze %x, %axis2         // [b, kvh, 1, n, d]
    %e = onnx.Expand %u, %shape5           // [b, kvh, rep, n, d]
    %r = onnx.Reshape %e, %shape4          // [b, kvh * rep, n, d]
    %t = onnx.Transpose %r {perm = [0, 1, 3, 2]}
    %s = onnx.MatMul %q, %t
    // becomes
    %q5 = onnx.Reshape %q, [b, kvh, rep, m, d]
    %t5 = onnx.Transpose %u {perm = [0, 1, 2, 4, 3]}
    %s5 = onnx.MatMul %q5, %t5             // [b, kvh, rep, m, n], %t5 broadcast over rep
    %s = onnx.Reshape %s5, [b, kvh * rep, m, n]
    ```

    It applies when the shapes prove the Reshape merges exactly the
    Expand's two head axes: both built by Concat, the same batch, length and
    head_dim pieces (the same values, or equal constants), kv_heads (the
    cache's static head count) and rep constants with the Reshape's heads
    `kv_heads * rep` (the Expand's shape may have its -1s replaced by 1, as
    exporters write it). The lowbitc pipeline runs it before lowering.
  }];
  let dependentDialects = ["::lowbit::onnx::OnnxDialect"];
}

#endif // LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_TD
