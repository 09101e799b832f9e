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

def FuseElementwisePass : Pass<"lowbit-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Fuse elementwise linalg ops, keeping contractions whole";
  let description = [{
    Upstream's elementwise fusion (`linalg-fuse-elementwise-ops`: producers
    with one use fused into their consumers, reshapes folded by expansion,
    constants folded), except that nothing is fused into or reshaped through
    a `linalg.generic` marked `lowbit.contraction` or
    `lowbit.quantized_contraction`. A contraction that
    absorbed, say, softmax's division into its body would no longer be the
    plain `out + a * b` that lowbit-lower-to-ukernels hands to the
    micro-kernel, and would compute that division k times over.

    ```mlir
    %e = linalg.generic {...} ins(%x) ...         // exp(x) / sum
    %o = linalg.generic {...} ins(%e, %v) ... {lowbit.contraction}
    // %e stays a separate op; chains of elementwise ops still fuse.
    ```

    One thing does go into a contraction: a `linalg.transpose` of one of
    its inputs that nothing else reads and that keeps the last two
    dimensions last (attention's K^T): the contraction reads the
    untransposed tensor through a permuted indexing map, and the micro-kernel
    takes the swapped strides, so the transposed copy is never written.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"];
}

def ApproximateMathPass : Pass<"lowbit-approximate-math", "::mlir::func::FuncOp"> {
  let summary = "Replace f32 math functions by polynomial approximations that vectorize";
  let description = [{
    Rewrites the f32 `math` ops named in `functions` into upstream's
    polynomial approximations (range reduction and a minimax polynomial, in
    `arith` ops; accurate to a few ulp). The loops holding them then vectorize
    at the CPU's full width with no calls, where a libm call (even libmvec's
    vector variants) costs more than the arithmetic around it: softmax's exp
    over the attention scores dominates small models' prompt time otherwise.
    Other element types and functions are left to libm.

    ```mlir
    %e = math.exp %x : f32
    // becomes arith.mulf / arith.addf / math.fma / bit casts, no call
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
  let options = [
    ListOption<"functions", "functions", "std::string",
               "math ops to approximate, by name without the dialect (default: exp, log, tanh, erf)">,
  ];
}

def EmulateBF16Pass : Pass<"lowbit-emulate-bf16", "::mlir::func::FuncOp"> {
  let summary = "bf16 arithmetic in f32, and conversions to and from bf16 as integer ops";
  let description = [{
    Two upstream rewrites, so that no bf16 operation reaches LLVM:

    - arithmetic on bf16 (`arith.addf`, `arith.sitofp`, ...) is done in f32,
      the operands extended and the result truncated back to bf16
      (EmulateUnsupportedFloats: each op rounds as bf16 arithmetic would);
    - `arith.truncf` to bf16 (round to nearest even, NaN kept quiet) and
      `arith.extf` from bf16 become shifts, adds and bit casts on i32/i16
      (ExpandBFloat16).

    LLVM would otherwise lower a bf16 truncation, on a CPU without AVX-512
    BF16, to a call of the compiler runtime's `__truncsfbf2`, which Debian
    bookworm's libgcc (GCC 12) does not have: the library would not load.
    The integer form vectorizes like the loop around it.

    ```mlir
    %s = arith.addf %a, %b : bf16
    // becomes
    %x = arith.extf %a : bf16 to f32  // and %y for %b, each as bit shifts
    %t = arith.addf %x, %y : f32
    %s = arith.truncf %t : f32 to bf16 // as integer rounding
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def LowerToUKernelsPass : Pass<"lowbit-lower-to-ukernels", "::mlir::ModuleOp"> {
  let summary = "Replace fp32 contractions on buffers with calls to the runtime's micro-kernels";
  let description = [{
    After bufferization, each `linalg.generic` marked `lowbit.contraction`
    (see convert-onnx-to-linalg) whose operands are f32 memrefs and whose
    body is the plain `out + a * b` becomes, inside loops over its batch
    dimensions, a call

    ```mlir
    func.call @lowbit_uk_matmul_f32(%a_address, %a_offset, %a_row_stride, %a_col_stride,
                                    %b_address, ..., %c_address, ..., %m, %n, %k)
    ```

    to the runtime's blocked, register-tiled kernel (lib/Runtime/CPU/UKernels:
    AVX-512, AVX2 or plain C, chosen when the model runs). Each operand is
    passed as the address of its buffer, an element offset and the row and
    column strides of its 2-D slice, so transposed operands (Gemm's transA
    and transB) and broadcast batch dimensions need no copies. The call
    accumulates into C, like the generic it replaces. A contraction whose B
    is i8, converted to f32 in the body (convert-lowbit-to-linalg's form of
    `lowbit.mixed_matmul`: attention over a quantized KV cache), calls
    `lowbit_uk_matmul_f32_i8` with the same arguments; it converts B's
    levels as it packs them, so no f32 copy of B is ever written. One whose
    B holds int4 levels two per byte (the body takes nibble `index % 2` of
    byte `index floordiv 2` along B's last, contiguous dimension: an int4
    KV cache) calls `lowbit_uk_matmul_f32_i4`, B's offset and strides
    counted in levels.

    A B that is a constant f32 global `[K, N]` read as it is (a weight),
    with N at most an eighth short of a multiple of 32, is stored
    prepacked instead (`prepack-weights`, on by default): a new
    global `<name>.panels` in the kernel's layout (`LOWBIT_UK_PANEL_INDEX`
    in lib/Runtime/CPU/UKernels/UKernels.h: blocks of 256 rows, each in
    zero-padded panels of 32 columns, a panel's rows contiguous), the
    original dropped when nothing else reads it, and the call is
    `lowbit_uk_matmul_f32_panels` (A and C as above, B's address, then m,
    n, k). The kernel then packs nothing at run time (what a product with a
    few rows, a prompt, spent most on), and decode streams the panels with
    the sums in registers.

    Likewise each `linalg.generic` marked `lowbit.quantized_contraction`
    (convert-lowbit-to-linalg's form of `lowbit.quantized_matmul`) with f32
    activations and scales and i8 levels becomes a call of
    `lowbit_uk_quantized_matmul_f32`, which dequantizes the weight inside the
    kernel (x, levels, scales, zero points and C each as address, offset and
    strides, then m, n, k, the group size and the bits per stored level).
    Levels of 4 bits or fewer (the marker carries the bit width) held in a
    constant global, with an even group size, are repacked here two to a
    byte into a new global (level k of a row in byte k / 2, low nibble
    first, as level + 8), halving what the kernel streams, for layers with
    int8 activations (the VNNI kernel spreads nibbles to bytes in two
    instructions) and, with `pack-nibbles`, for all (with fp32 activations
    the conversion costs more than the bytes save); the one-byte-per-level
    global is dropped when nothing else reads it.
    Off by default: with fp32 activations the kernel is bound by converting
    levels to floats, not by memory, and unpacking nibbles costs more than
    the bytes it saves (4096x4096 W4 g128 at M = 1: 1.7 ms packed against
    1.2 ms unpacked, bench/bench_quant.py). The int8-activation path, which
    needs no conversion, is where it will pay.

    A split layer's outlier product (a generic marked
    `lowbit.outlier_product` writing the same buffer right before the
    quantized contraction, as convert-lowbit-to-linalg emits it for
    `outliers`) goes into the same call: the gathered outlier columns and
    their fp32 weight rows (address, offset, strides) and their count follow
    the activation scale, and the kernel adds their product to C in the same
    call, after its int8 tiles, over each thread's slice of the columns.

    Other contractions (other element types, bodies that elementwise fusion
    extended) are left to the loop lowering, unmarked.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect"];
  let options = [
    Option<"packNibbles", "pack-nibbles", "bool", /*default=*/"false",
           "Repack constant levels of <= 4 bits two to a byte for the quantized kernel "
           "also for layers with fp32 activations (int8-activation layers always are)">,
    Option<"prepackWeights", "prepack-weights", "bool", /*default=*/"true",
           "Store a constant fp32 B [K, N] (a weight) in the fp32 kernel's packed layout "
           "and call lowbit_uk_matmul_f32_panels, which then packs nothing at run time">,
  ];
  let statistics = [
    Statistic<"numLowered", "lowered-contractions",
              "Number of contractions replaced by micro-kernel calls">,
    Statistic<"numPrepacked", "prepacked-weights",
              "fp32 contractions whose constant B was stored prepacked">,
    Statistic<"numOutlierProducts", "outlier-products",
              "Split layers' outlier products folded into the quantized kernel's call">,
  ];
}

#endif // LOWBIT_TRANSFORMS_PASSES_TD
