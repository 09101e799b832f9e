//===- Passes.td - lowbit's code generation transforms -----*- tablegen -*-===//

#ifndef LOWBIT_TRANSFORMS_PASSES_TD
#define LOWBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def TileContractionsPass : Pass<"lowbit-tile-contractions", "::mlir::func::FuncOp"> {
  let summary = "Tile the m loop of contractions for cache reuse on the CPU";
  let description = [{
    convert-onnx-to-linalg writes MatMul and Gemm as `linalg.generic` ops
    marked `lowbit.contraction`, looping (batch..., k, m, n). This pass tiles
    their m loop by `m-tile` with an `scf.for`: inside a tile, each row of B
    is loaded once for `m-tile` rows of A, and the `m-tile` rows of C being
    accumulated stay in cache. (Without tiling, B would be streamed once per
    row of A, or C once per k.) The marker is removed.

    Contractions whose m is statically smaller than or equal to `m-tile` are
    left as they are (just unmarked).

    ```mlir
    %0 = linalg.generic {..., iterator_types = ["parallel", "reduction", "parallel", "parallel"]}
         ins(%x, %w : tensor<?x?x64xf32>, tensor<64x172xf32>) ... {lowbit.contraction}
    // becomes
    %0 = scf.for %i = %c0 to %m step %c16 iter_args(%acc = %init) -> (tensor<?x?x172xf32>) {
      %1 = linalg.generic ... ins(tensor<?x?x64xf32>, tensor<64x172xf32>) outs(tensor<?x?x172xf32>)
      ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"];
  let options = [
    Option<"mTile", "m-tile", "int64_t", /*default=*/"16",
           "Rows of A (and C) per tile; 0 disables tiling">,
  ];
  let statistics = [
    Statistic<"numTiled", "tiled-contractions", "Number of contractions tiled">,
  ];
}

#endif // LOWBIT_TRANSFORMS_PASSES_TD
