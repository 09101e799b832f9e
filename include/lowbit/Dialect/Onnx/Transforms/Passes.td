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

#endif // LOWBIT_DIALECT_ONNX_TRANSFORMS_PASSES_TD
