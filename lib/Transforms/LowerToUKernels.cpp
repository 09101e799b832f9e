//===- LowerToUKernels.cpp - Contractions to micro-kernel calls -----------===//
//
// Implements `lowbit-lower-to-ukernels` (see Passes.td). The kernel's C side
// is lib/Runtime/CPU/UKernels/MatmulF32.c.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Transforms/Passes.h"

// The prepacked weight layout is the runtime kernel's (LOWBIT_UK_PANEL_*).
#include "../Runtime/CPU/UKernels/UKernels.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

#include <cstring>

namespace lowbit {
#define GEN_PASS_DEF_LOWERTOUKERNELSPASS
#include "lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;

namespace {
constexpr StringLiteral kMarker = "lowbit.contraction";
constexpr StringLiteral kQuantizedMarker = "lowbit.quantized_contraction";
constexpr StringLiteral kMatmulF32 = "lowbit_uk_matmul_f32";
constexpr StringLiteral kMatmulF32I8 = "lowbit_uk_matmul_f32_i8";
constexpr StringLiteral kMatmulF32I4 = "lowbit_uk_matmul_f32_i4";
constexpr StringLiteral kMatmulF32Panels = "lowbit_uk_matmul_f32_panels";
constexpr StringLiteral kMatmulF32Batched = "lowbit_uk_matmul_f32_batched";
constexpr StringLiteral kQuantizedMatmulF32 = "lowbit_uk_quantized_matmul_f32";

/// One operand of a contraction: its buffer, and for each of its dimensions
/// the loop that indexes it (-1: a broadcast dimension, always index 0).
struct Operand {
  Value buffer;
  SmallVector<int64_t> loops;
};

/// The operands of a marked contraction that the fp32 kernel can run, with
/// loops (batch..., k, m, n) as convert-onnx-to-linalg builds them; B may
/// hold int8 levels (lowbit.mixed_matmul), one per byte or two (int4, along
/// B's last dimension in memory, the loop `nibbleLoop` picking the nibble).
struct Contraction {
  Operand a, b, c;
  int64_t kLoop, mLoop, nLoop;
  bool levelsB = false;
  std::optional<int64_t> nibbleLoop;
};

/// Whether `v` is the integer constant `expected`.
bool isConstantInt(Value v, int64_t expected) {
  APInt value;
  return matchPattern(v, m_ConstantInt(&value)) && value.getSExtValue() == expected;
}

/// The loop whose index picks the nibble of `byte` that `level` is, as
/// detail::nibbleLevel builds it: ((byte >> ((index & 1) << 2)) & 15) - 8.
std::optional<int64_t> matchNibbleLevel(Value level, Value byte) {
  auto sub = level.getDefiningOp<arith::SubIOp>();
  auto mask = sub ? sub.getLhs().getDefiningOp<arith::AndIOp>() : arith::AndIOp();
  auto shifted = mask ? mask.getLhs().getDefiningOp<arith::ShRUIOp>() : arith::ShRUIOp();
  auto shift = shifted && shifted.getLhs() == byte ? shifted.getRhs().getDefiningOp<arith::ShLIOp>()
                                                   : arith::ShLIOp();
  auto odd = shift ? shift.getLhs().getDefiningOp<arith::AndIOp>() : arith::AndIOp();
  auto cast = odd ? odd.getLhs().getDefiningOp<arith::IndexCastOp>() : arith::IndexCastOp();
  auto index = cast ? cast.getIn().getDefiningOp<linalg::IndexOp>() : linalg::IndexOp();
  if (!index || !isConstantInt(sub.getRhs(), 8) || !isConstantInt(mask.getRhs(), 15) ||
      !isConstantInt(shift.getRhs(), 2) || !isConstantInt(odd.getRhs(), 1))
    return std::nullopt;
  return index.getDim();
}

/// `out + x * y` (in either order) over the block's three arguments, y
/// converted from an integer first when `levelsB` (and taken out of its
/// nibble before that when `nibbleLoop` is given: set to the loop that
/// picks it).
bool isMultiplyAccumulate(linalg::GenericOp op, bool levelsB,
                          std::optional<int64_t> *nibbleLoop = nullptr) {
  Block &body = op.getRegion().front();
  if (body.getNumArguments() != 3)
    return false;
  auto convert = dyn_cast<arith::SIToFPOp>(&body.front());
  std::optional<int64_t> nibble;
  if (levelsB && nibbleLoop) {
    for (Operation &candidate : body)
      if (auto c = dyn_cast<arith::SIToFPOp>(&candidate))
        convert = c;
    nibble = convert ? matchNibbleLevel(convert.getIn(), body.getArgument(1)) : std::nullopt;
  }
  // Ops besides constants: yield, add, mul; the conversion; the seven of
  // nibbleLevel.
  size_t expected = 3 + (levelsB ? 1 : 0) + (nibble ? 7 : 0);
  if (size_t(llvm::count_if(body, [](Operation &o) { return !isa<arith::ConstantOp>(o); })) !=
      expected)
    return false;
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getNumOperands() == 1
                 ? yield.getOperand(0).getDefiningOp<arith::AddFOp>()
                 : arith::AddFOp();
  if (!add)
    return false;
  Value out = body.getArgument(2);
  Value product = add.getLhs() == out ? add.getRhs() : add.getRhs() == out ? add.getLhs() : Value();
  auto mul = product ? product.getDefiningOp<arith::MulFOp>() : arith::MulFOp();
  if (!mul)
    return false;
  Value x = body.getArgument(0), y = body.getArgument(1);
  if (levelsB) {
    if (!convert || (!nibble && convert.getIn() != y))
      return false;
    y = convert.getResult();
  }
  if (nibbleLoop)
    *nibbleLoop = nibble;
  return (mul.getLhs() == x && mul.getRhs() == y) || (mul.getLhs() == y && mul.getRhs() == x);
}

/// The loop of each result of `map` (-1 for a constant 0), or failure. With
/// `halved`, one result may be a loop floordiv 2 (bytes of two nibbles):
/// its position is set there.
FailureOr<SmallVector<int64_t>> loopsOf(AffineMap map, std::optional<int64_t> *halved = nullptr) {
  SmallVector<int64_t> loops;
  for (AffineExpr expr : map.getResults()) {
    auto half = dyn_cast<AffineBinaryOpExpr>(expr);
    if (halved && !*halved && half && half.getKind() == AffineExprKind::FloorDiv &&
        isa<AffineDimExpr>(half.getLHS()) &&
        half.getRHS() == getAffineConstantExpr(2, map.getContext())) {
      *halved = loops.size();
      expr = half.getLHS();
    }
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      loops.push_back(dim.getPosition());
    else if (auto constant = dyn_cast<AffineConstantExpr>(expr); constant && constant.getValue() == 0)
      loops.push_back(-1);
    else
      return failure();
  }
  return loops;
}

std::optional<Contraction> matchContraction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1)
    return std::nullopt;
  auto bType = dyn_cast<MemRefType>(op->getOperand(1).getType());
  bool levelsB = bType && bType.getElementType().isInteger(8);
  std::optional<int64_t> nibbleLoop;
  if (!isMultiplyAccumulate(op, levelsB, &nibbleLoop))
    return std::nullopt;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = dyn_cast<MemRefType>(operand.get().getType());
    bool levels = levelsB && operand.getOperandNumber() == 1;
    if (!type || type.getRank() < 2 || !(type.getElementType().isF32() || levels))
      return std::nullopt;
  }
  int64_t loops = op.getNumLoops();
  Contraction match{{}, {}, {}, loops - 3, loops - 2, loops - 1, levelsB, nibbleLoop};
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (int64_t i = 0; i < loops; ++i)
    if ((iterators[i] == utils::IteratorType::reduction) != (i == match.kLoop))
      return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  Operand *operands[] = {&match.a, &match.b, &match.c};
  std::optional<int64_t> halved;
  for (int i = 0; i < 3; ++i) {
    FailureOr<SmallVector<int64_t>> operandLoops = loopsOf(maps[i], i == 1 ? &halved : nullptr);
    if (failed(operandLoops))
      return std::nullopt;
    *operands[i] = {op->getOperand(i), *operandLoops};
  }
  // Nibbles: bytes along B's last dimension, contiguous (the kernel counts
  // levels: byte stride 1 there, twice the byte strides elsewhere).
  if (nibbleLoop || halved) {
    int64_t rank = bType.getRank(), offset;
    SmallVector<int64_t> strides;
    if (!nibbleLoop || halved != rank - 1 || match.b.loops.back() != *nibbleLoop ||
        failed(bType.getStridesAndOffset(strides, offset)) || strides.back() != 1)
      return std::nullopt;
  }
  // C is indexed (batch..., m, n); A's and B's last two dimensions are
  // {m, k} and {k, n} in either order; their leading ones batch loops.
  auto lastTwoAre = [](const Operand &operand, int64_t x, int64_t y) {
    ArrayRef<int64_t> l = operand.loops;
    return (l.end()[-2] == x && l.end()[-1] == y) || (l.end()[-2] == y && l.end()[-1] == x);
  };
  auto leadingAreBatch = [&](const Operand &operand) {
    return llvm::all_of(ArrayRef<int64_t>(operand.loops).drop_back(2),
                        [&](int64_t loop) { return loop < match.kLoop; });
  };
  SmallVector<int64_t> cLoops = llvm::to_vector(llvm::seq<int64_t>(0, match.kLoop));
  cLoops.append({match.mLoop, match.nLoop});
  if (match.c.loops != cLoops || !lastTwoAre(match.a, match.mLoop, match.kLoop) ||
      !lastTwoAre(match.b, match.kLoop, match.nLoop) || !leadingAreBatch(match.a) ||
      !leadingAreBatch(match.b))
    return std::nullopt;
  return match;
}

/// `func.func private @name(i64 x arity)`, declared once.
func::FuncOp declareKernel(ModuleOp module, OpBuilder &builder, StringRef name, int arity) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(module.getBody());
  SmallVector<Type> arguments(arity, builder.getI64Type());
  auto kernel = func::FuncOp::create(builder, module.getLoc(), name,
                                     builder.getFunctionType(arguments, {}));
  kernel.setPrivate();
  return kernel;
}

/// The 2-D slice of `operand` at the batch indices `batchIvs`, described as
/// (address, offset, stride of dimension `rowLoop`, stride of dimension
/// `colLoop`) in i64, and the sizes of its last two dimensions. With
/// `keptLoop`, the dimension that loop indexes stays whole (a batch of
/// slices): `batchStride` is its stride, 0 when the operand has no such
/// dimension (broadcast), and `count` its size.
struct Matrix {
  Value address, offset, rowStride, colStride;
  SmallVector<Value, 2> sizes; // of the last two dimensions
  SmallVector<int64_t, 2> loops;
  Value batchStride, count;
};

Matrix describe(OpBuilder &b, Location loc, const Operand &operand, ValueRange batchIvs,
                std::optional<int64_t> keptLoop = std::nullopt) {
  auto type = cast<MemRefType>(operand.buffer.getType());
  int64_t rank = type.getRank();
  Value view = operand.buffer;
  bool kept = false;
  if (rank > 2) {
    SmallVector<OpFoldResult> offsets, sizes, strides(rank, b.getIndexAttr(1));
    SmallVector<int64_t> shape;
    for (int64_t i = 0; i < rank - 2; ++i) {
      int64_t loop = operand.loops[i];
      if (keptLoop && loop == *keptLoop) {
        kept = true;
        offsets.push_back(b.getIndexAttr(0));
        sizes.push_back(memref::getMixedSize(b, loc, operand.buffer, i));
        shape.push_back(type.getDimSize(i));
        continue;
      }
      offsets.push_back(loop < 0 ? OpFoldResult(b.getIndexAttr(0)) : OpFoldResult(batchIvs[loop]));
      sizes.push_back(b.getIndexAttr(1));
    }
    for (int64_t i = rank - 2; i < rank; ++i) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(memref::getMixedSize(b, loc, operand.buffer, i));
    }
    shape.append(type.getShape().take_back(2).begin(), type.getShape().take_back(2).end());
    auto viewType =
        memref::SubViewOp::inferRankReducedResultType(shape, type, offsets, sizes, strides);
    view = memref::SubViewOp::create(b, loc, viewType, operand.buffer, offsets, sizes, strides);
  }
  auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, view);
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, view);
  auto i64 = [&](Value index) { return arith::IndexCastOp::create(b, loc, b.getI64Type(), index); };
  int64_t first = kept ? 1 : 0; // the matrix dimensions' place in the view
  Matrix matrix;
  matrix.address = i64(address);
  matrix.offset = i64(metadata.getOffset());
  matrix.rowStride = i64(metadata.getStrides()[first]);
  matrix.colStride = i64(metadata.getStrides()[first + 1]);
  matrix.sizes = {i64(metadata.getSizes()[first]), i64(metadata.getSizes()[first + 1])};
  matrix.loops = {operand.loops.end()[-2], operand.loops.end()[-1]};
  if (kept) {
    matrix.batchStride = i64(metadata.getStrides()[0]);
    matrix.count = i64(metadata.getSizes()[0]);
  } else if (keptLoop) {
    matrix.batchStride = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
  }
  return matrix;
}

/// A matrix's strides along (row, column) = (m, k) for A and (k, n) for B,
/// `rowLoop` the loop of its rows: a transposed operand swaps them.
std::pair<Value, Value> oriented(const Matrix &x, int64_t rowLoop) {
  return x.loops[0] == rowLoop ? std::pair(x.rowStride, x.colStride)
                               : std::pair(x.colStride, x.rowStride);
}

/// Runs `body` inside loops over the first `batchLoops` dimensions of `c`
/// (directly, when there are none) with their induction variables.
void forEachBatchIndex(IRRewriter &rewriter, Location loc, Value c, int64_t batchLoops,
                       function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<Value> lbs, ubs, steps;
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  for (int64_t i = 0; i < batchLoops; ++i) {
    lbs.push_back(zero);
    ubs.push_back(memref::DimOp::create(rewriter, loc, c, i));
    steps.push_back(one);
  }
  scf::buildLoopNest(rewriter, loc, lbs, ubs, steps, body);
}

/// The elements of a constant global of `element` type as T (a blob of
/// T's bytes, or dense values), or nothing.
template <typename T>
std::optional<std::vector<T>> readConstant(memref::GlobalOp global, Type element) {
  auto value = dyn_cast_or_null<ElementsAttr>(global.getInitialValueAttr());
  if (!global.getConstant() || !value || value.getElementType() != element)
    return std::nullopt;
  int64_t count = value.getNumElements();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != size_t(count) * sizeof(T))
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    std::vector<T> values(count);
    std::memcpy(values.data(), data.data(), data.size());
    return values;
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    auto range = dense.tryGetValues<T>();
    if (failed(range))
      return std::nullopt;
    return std::vector<T>(range->begin(), range->end());
  }
  return std::nullopt;
}

/// For a B that is a constant f32 global [K, N] read as (k, n) (a weight):
/// a new global holding it in the kernel's prepacked layout
/// (LOWBIT_UK_PANEL_INDEX: 256-row blocks of zero-padded 32-column panels),
/// and its get_global before `op`; or a null value.
Value prepackWeights(linalg::GenericOp op, const Contraction &match, ModuleOp module,
                     IRRewriter &rewriter) {
  auto get = match.b.buffer.getDefiningOp<memref::GetGlobalOp>();
  auto type = cast<MemRefType>(match.b.buffer.getType());
  if (!get || match.levelsB || !type.hasStaticShape() || type.getRank() != 2 ||
      !type.getElementType().isF32() ||
      match.b.loops != ArrayRef<int64_t>{match.kLoop, match.nLoop})
    return {};
  int64_t k = type.getDimSize(0), n = type.getDimSize(1);
  int64_t width = (n + LOWBIT_UK_PANEL_NR - 1) / LOWBIT_UK_PANEL_NR * LOWBIT_UK_PANEL_NR;
  // The panels' zero padding may cost at most an eighth of the weight.
  if (8 * (width - n) > n)
    return {};
  auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(get, get.getNameAttr());
  std::optional<std::vector<float>> values =
      global ? readConstant<float>(global, rewriter.getF32Type()) : std::nullopt;
  if (!values)
    return {};
  std::string name = (global.getSymName() + ".panels").str();
  auto packedType = MemRefType::get({k * width}, rewriter.getF32Type());
  if (!module.lookupSymbol(name)) {
    std::vector<float> packed(k * width, 0.0f);
    for (int64_t row = 0; row < k; ++row)
      for (int64_t col = 0; col < n; ++col)
        packed[LOWBIT_UK_PANEL_INDEX(row, col, k, width)] = (*values)[row * n + col];
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(global);
    auto tensorType = RankedTensorType::get({k * width}, rewriter.getF32Type());
    auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(packed));
    auto value = DenseResourceElementsAttr::get(tensorType, name, std::move(blob));
    memref::GlobalOp::create(rewriter, global.getLoc(), name, rewriter.getStringAttr("private"),
                             packedType, value, /*constant=*/true, rewriter.getI64IntegerAttr(64));
  }
  rewriter.setInsertionPoint(op);
  return memref::GetGlobalOp::create(rewriter, op.getLoc(), packedType, name);
}

/// Drops `get` and its global when nothing reads them any more.
void eraseIfUnused(memref::GetGlobalOp get, ModuleOp module, IRRewriter &rewriter) {
  if (!get || !get->use_empty())
    return;
  StringAttr name = get.getNameAttr().getAttr();
  rewriter.eraseOp(get);
  if (auto global = module.lookupSymbol<memref::GlobalOp>(name))
    if (SymbolTable::symbolKnownUseEmpty(global, module))
      rewriter.eraseOp(global);
}

/// The call of lowbit_uk_matmul_f32_panels for `op`, whose B is `panels`
/// (prepackWeights).
void lowerToPanelsCall(linalg::GenericOp op, const Contraction &match, Value panels,
                       func::FuncOp kernel, IRRewriter &rewriter) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  auto type = cast<MemRefType>(match.b.buffer.getType());
  forEachBatchIndex(
      rewriter, loc, match.c.buffer, match.kLoop, [&](OpBuilder &b, Location l, ValueRange ivs) {
        Matrix a = describe(b, l, match.a, ivs), c = describe(b, l, match.c, ivs);
        auto [aRow, aCol] = oriented(a, match.mLoop);
        Value address = arith::IndexCastOp::create(
            b, l, b.getI64Type(), memref::ExtractAlignedPointerAsIndexOp::create(b, l, panels));
        Value k = arith::ConstantIntOp::create(b, l, b.getI64Type(), type.getDimSize(0));
        func::CallOp::create(b, l, kernel,
                             ValueRange{a.address, a.offset, aRow, aCol, address, c.address,
                                        c.offset, c.rowStride, c.colStride, c.sizes[0], c.sizes[1],
                                        k});
      });
  rewriter.eraseOp(op);
}

/// The call for `op`: `kernel` (the f32, i8 or i4 entry point) once per
/// index of the batch loops, or with batch loops, `batched`
/// (lowbit_uk_matmul_f32_batched, `kind` its LOWBIT_UK_B_* code) once per
/// index of all but the last, over the last's whole range, so that the
/// runtime can share small products (attention's heads) among threads.
void lowerToCall(linalg::GenericOp op, const Contraction &match, func::FuncOp kernel,
                 func::FuncOp batched, int64_t kind, IRRewriter &rewriter) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  std::optional<int64_t> keptLoop;
  if (match.kLoop > 0)
    keptLoop = match.kLoop - 1;
  forEachBatchIndex(
      rewriter, loc, match.c.buffer, keptLoop ? *keptLoop : 0,
      [&](OpBuilder &b, Location l, ValueRange ivs) {
        Matrix a = describe(b, l, match.a, ivs, keptLoop),
               bm = describe(b, l, match.b, ivs, keptLoop),
               c = describe(b, l, match.c, ivs, keptLoop);
        if (match.nibbleLoop) {
          // Count B in levels: its last dimension (stride 1) holds two a byte.
          Value two = arith::ConstantIntOp::create(b, l, b.getI64Type(), 2);
          auto doubled = [&](Value v) { return arith::MulIOp::create(b, l, v, two).getResult(); };
          bm.offset = doubled(bm.offset);
          bm.rowStride = doubled(bm.rowStride);
          if (keptLoop)
            bm.batchStride = doubled(bm.batchStride);
        }
        auto [aRow, aCol] = oriented(a, match.mLoop);
        auto [bRow, bCol] = oriented(bm, match.kLoop);
        Value k = a.loops[0] == match.kLoop ? a.sizes[0] : a.sizes[1];
        SmallVector<Value> arguments{a.address,   a.offset,    aRow,       aCol,       bm.address,
                                     bm.offset,   bRow,        bCol,       c.address,  c.offset,
                                     c.rowStride, c.colStride, c.sizes[0], c.sizes[1], k};
        if (!keptLoop) {
          func::CallOp::create(b, l, kernel, arguments);
          return;
        }
        SmallVector<Value> batchArguments{arith::ConstantIntOp::create(b, l, b.getI64Type(), kind),
                                          c.count, a.batchStride, bm.batchStride, c.batchStride};
        batchArguments.append(arguments);
        func::CallOp::create(b, l, batched, batchArguments);
      });
  rewriter.eraseOp(op);
}

/// The operands of a quantized contraction as convert-lowbit-to-linalg
/// builds it: inputs x (batch..., m, k), levels (n, k), scales and zero
/// points (n, k floordiv group), output (batch..., m, n).
struct QuantizedContraction {
  Operand x, levels, scales, zeros, c;
  int64_t kLoop, mLoop, nLoop, groupSize, bits, activationBits;
  uint32_t activationScaleBits = 0; // a static int8 activation scale's f32 bits; 0: per row
};

/// For levels of 4 bits or fewer from a constant [N, K] global: a new
/// global holding them two to a byte (row-major, ceil(K / 2) bytes a row,
/// level k in byte k / 2, low nibble first, as level + 8) and its
/// get_global before `op`; the kernel reads that layout (level_bits 4).
Value repackAsNibbles(linalg::GenericOp op, Value levels, ModuleOp module, IRRewriter &rewriter) {
  auto get = levels.getDefiningOp<memref::GetGlobalOp>();
  auto type = cast<MemRefType>(levels.getType());
  if (!get || !type.hasStaticShape() || type.getRank() != 2)
    return {};
  auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(get, get.getNameAttr());
  std::optional<std::vector<int8_t>> values =
      global ? readConstant<int8_t>(global, rewriter.getI8Type()) : std::nullopt;
  if (!values)
    return {};
  int64_t n = type.getDimSize(0), k = type.getDimSize(1), row = (k + 1) / 2;
  std::vector<int8_t> packed(n * row, 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i) {
      int level = (*values)[j * k + i];
      if (level < -8 || level > 7)
        return {}; // not a 4-bit level: keep bytes
      packed[j * row + i / 2] |= int8_t((level + 8) << (4 * (i % 2)));
    }
  std::string name = (global.getSymName() + ".nibbles").str();
  auto packedType = MemRefType::get({n, row}, rewriter.getI8Type());
  if (!module.lookupSymbol(name)) {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(global);
    auto tensorType = RankedTensorType::get({n, row}, rewriter.getI8Type());
    auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(packed));
    auto value = DenseResourceElementsAttr::get(tensorType, name, std::move(blob));
    memref::GlobalOp::create(rewriter, global.getLoc(), name, rewriter.getStringAttr("private"),
                             packedType, value, /*constant=*/true,
                             rewriter.getI64IntegerAttr(64));
  }
  rewriter.setInsertionPoint(op);
  return memref::GetGlobalOp::create(rewriter, op.getLoc(), packedType, name);
}

std::optional<QuantizedContraction> matchQuantizedContraction(linalg::GenericOp op) {
  int64_t inputs = op.getNumDpsInputs();
  if (!op.hasPureBufferSemantics() || (inputs != 3 && inputs != 4) || op.getNumDpsInits() != 1)
    return std::nullopt;
  auto elementOf = [&](int64_t i) {
    auto type = dyn_cast<MemRefType>(op->getOperand(i).getType());
    return type ? type.getElementType() : Type();
  };
  Type x = elementOf(0), q = elementOf(1), s = elementOf(2), c = elementOf(inputs);
  if (!x || !x.isF32() || !q || !q.isInteger(8) || !s || !s.isF32() || !c || !c.isF32() ||
      (inputs == 4 && (!elementOf(3) || !elementOf(3).isInteger(8))))
    return std::nullopt;
  int64_t loops = op.getNumLoops();
  QuantizedContraction match;
  match.kLoop = loops - 3;
  match.mLoop = loops - 2;
  match.nLoop = loops - 1;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  // The group size is the divisor of k in the scales' map.
  auto scaleGroup = dyn_cast<AffineBinaryOpExpr>(maps[2].getResult(1));
  auto divisor = scaleGroup ? dyn_cast<AffineConstantExpr>(scaleGroup.getRHS()) : nullptr;
  if (maps[2].getNumResults() != 2 || !scaleGroup ||
      scaleGroup.getKind() != AffineExprKind::FloorDiv || !divisor || divisor.getValue() <= 0)
    return std::nullopt;
  match.groupSize = divisor.getValue();
  auto bits = dyn_cast_or_null<IntegerAttr>(op->getAttr(kQuantizedMarker));
  match.bits = bits ? bits.getInt() : 8;
  auto activationBits = dyn_cast_or_null<IntegerAttr>(op->getAttr("lowbit.activation_bits"));
  match.activationBits = activationBits ? activationBits.getInt() : 0;
  if (auto scale = dyn_cast_or_null<FloatAttr>(op->getAttr("lowbit.activation_scale")))
    match.activationScaleBits =
        uint32_t(APFloat(float(scale.getValueAsDouble())).bitcastToAPInt().getZExtValue());
  FailureOr<SmallVector<int64_t>> xLoops = loopsOf(maps[0]), qLoops = loopsOf(maps[1]),
                                  cLoops = loopsOf(maps[inputs]);
  if (failed(xLoops) || failed(qLoops) || failed(cLoops))
    return std::nullopt;
  SmallVector<int64_t> batch = llvm::to_vector(llvm::seq<int64_t>(0, match.kLoop));
  SmallVector<int64_t> expectX(batch), expectC(batch);
  expectX.append({match.mLoop, match.kLoop});
  expectC.append({match.mLoop, match.nLoop});
  if (*xLoops != expectX || *cLoops != expectC ||
      *qLoops != SmallVector<int64_t>{match.nLoop, match.kLoop})
    return std::nullopt;
  match.x = {op->getOperand(0), *xLoops};
  match.levels = {op->getOperand(1), *qLoops};
  match.scales = {op->getOperand(2), {match.nLoop, -1}};
  if (inputs == 4)
    match.zeros = {op->getOperand(3), {match.nLoop, -1}};
  match.c = {op->getOperand(inputs), *cLoops};
  return match;
}

/// The floating-point product of a split layer's outlier channels that
/// convert-lowbit-to-linalg writes into the accumulator just before the
/// quantized contraction `op` (a generic marked lowbit.outlier_product with
/// the same output buffer and loops batch..., c, m, n: inputs gathered
/// (batch..., m, c) and weights (c, n)), or null.
linalg::GenericOp matchOutlierProduct(linalg::GenericOp op, const QuantizedContraction &match,
                                      Operand &gathered, Operand &weights) {
  auto product = dyn_cast_or_null<linalg::GenericOp>(op->getPrevNode());
  if (!product || !product->hasAttr("lowbit.outlier_product") ||
      !product.hasPureBufferSemantics() || product.getNumDpsInputs() != 2 ||
      product.getNumDpsInits() != 1 || product.getDpsInitOperand(0)->get() != match.c.buffer ||
      product.getNumLoops() != op.getNumLoops())
    return {};
  SmallVector<AffineMap> maps = product.getIndexingMapsArray();
  FailureOr<SmallVector<int64_t>> gLoops = loopsOf(maps[0]), wLoops = loopsOf(maps[1]),
                                  cLoops = loopsOf(maps[2]);
  SmallVector<int64_t> expectG = llvm::to_vector(llvm::seq<int64_t>(0, match.kLoop));
  expectG.append({match.mLoop, match.kLoop});
  for (int64_t i : {0, 1}) {
    auto type = dyn_cast<MemRefType>(product.getDpsInputOperand(i)->get().getType());
    if (!type || !type.getElementType().isF32())
      return {};
  }
  if (failed(gLoops) || failed(wLoops) || failed(cLoops) || *gLoops != expectG ||
      *wLoops != SmallVector<int64_t>{match.kLoop, match.nLoop} || *cLoops != match.c.loops)
    return {};
  gathered = {product.getDpsInputOperand(0)->get(), *gLoops};
  weights = {product.getDpsInputOperand(1)->get(), *wLoops};
  return product;
}

/// Returns whether an outlier product was folded into the call.
bool lowerQuantizedToCall(linalg::GenericOp op, QuantizedContraction match, func::FuncOp kernel,
                          ModuleOp module, bool packNibbles, IRRewriter &rewriter) {
  Location loc = op.getLoc();
  int64_t levelBits = 8;
  auto unpacked = match.levels.buffer.getDefiningOp<memref::GetGlobalOp>();
  // Int8 activations (VNNI) unpack nibbles in two instructions and gain from
  // reading half the bytes; fp32 activations lose more converting them.
  if ((packNibbles || match.activationBits == 8) && match.bits <= 4 && match.groupSize % 2 == 0)
    if (Value packed = repackAsNibbles(op, match.levels.buffer, module, rewriter)) {
      match.levels.buffer = packed;
      levelBits = 4;
    }
  // A split layer's outlier product goes into the same call.
  Operand gathered, outlierWeights;
  linalg::GenericOp outlierProduct = matchOutlierProduct(op, match, gathered, outlierWeights);
  rewriter.setInsertionPoint(op);
  forEachBatchIndex(rewriter, loc, match.c.buffer, match.kLoop,
                    [&](OpBuilder &b, Location l, ValueRange ivs) {
    Matrix x = describe(b, l, match.x, ivs), q = describe(b, l, match.levels, ivs),
           s = describe(b, l, match.scales, ivs), c = describe(b, l, match.c, ivs);
    Value none = arith::ConstantIntOp::create(b, l, b.getI64Type(), 0);
    Matrix z{none, none, none, none, {none, none}, {}};
    if (match.zeros.buffer)
      z = describe(b, l, match.zeros, ivs);
    Value group = arith::ConstantIntOp::create(b, l, b.getI64Type(), match.groupSize);
    Value bitsPerLevel = arith::ConstantIntOp::create(b, l, b.getI64Type(), levelBits);
    Value activationBits = arith::ConstantIntOp::create(b, l, b.getI64Type(), match.activationBits);
    Value activationScale =
        arith::ConstantIntOp::create(b, l, b.getI64Type(), int64_t(match.activationScaleBits));
    Matrix oa{none, none, none, none, {none, none}, {}}, ow = oa;
    Value outliers = none;
    if (outlierProduct) {
      oa = describe(b, l, gathered, ivs);
      ow = describe(b, l, outlierWeights, ivs);
      outliers = oa.sizes[1];
    }
    func::CallOp::create(b, l, kernel,
                         ValueRange{x.address, x.offset, x.rowStride, x.colStride, q.address,
                                    q.offset, q.rowStride, q.colStride, s.address, s.offset,
                                    s.rowStride, s.colStride, z.address, z.offset, z.rowStride,
                                    z.colStride, c.address, c.offset, c.rowStride, c.colStride,
                                    c.sizes[0], c.sizes[1], x.sizes[1], group, bitsPerLevel,
                                    activationBits, activationScale, oa.address, oa.offset,
                                    oa.rowStride, oa.colStride, ow.address, ow.offset,
                                    ow.rowStride, ow.colStride, outliers});
  });
  rewriter.eraseOp(op);
  if (outlierProduct)
    rewriter.eraseOp(outlierProduct);
  // The one-level-per-byte copy, when nothing else reads it, is dropped.
  if (levelBits == 4)
    eraseIfUnused(unpacked, module, rewriter);
  return bool(outlierProduct);
}

struct LowerToUKernelsPass : lowbit::impl::LowerToUKernelsPassBase<LowerToUKernelsPass> {
  using LowerToUKernelsPassBase::LowerToUKernelsPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<linalg::GenericOp> contractions, quantized;
    module.walk([&](linalg::GenericOp op) {
      if (op->hasAttr(kMarker))
        contractions.push_back(op);
      if (op->hasAttr(kQuantizedMarker))
        quantized.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : contractions) {
      op->removeAttr(kMarker);
      std::optional<Contraction> match = matchContraction(op);
      if (!match)
        continue;
      if (Value panels =
              prepackWeights ? ::prepackWeights(op, *match, module, rewriter) : Value()) {
        auto weights = match->b.buffer.getDefiningOp<memref::GetGlobalOp>();
        lowerToPanelsCall(op, *match, panels, declareKernel(module, rewriter, kMatmulF32Panels, 12),
                          rewriter);
        eraseIfUnused(weights, module, rewriter);
        ++numLowered;
        ++numPrepacked;
        continue;
      }
      StringRef kernel = match->nibbleLoop ? kMatmulF32I4
                         : match->levelsB  ? kMatmulF32I8
                                           : kMatmulF32;
      int64_t kind = match->nibbleLoop ? LOWBIT_UK_B_I4
                     : match->levelsB  ? LOWBIT_UK_B_I8
                                       : LOWBIT_UK_B_F32;
      func::FuncOp plain, batched;
      if (match->kLoop > 0)
        batched = declareKernel(module, rewriter, kMatmulF32Batched, 20);
      else
        plain = declareKernel(module, rewriter, kernel, 15);
      lowerToCall(op, *match, plain, batched, kind, rewriter);
      ++numLowered;
    }
    for (linalg::GenericOp op : quantized) {
      std::optional<QuantizedContraction> match = matchQuantizedContraction(op);
      op->removeAttr(kQuantizedMarker);
      if (!match)
        continue;
      if (lowerQuantizedToCall(op, *match,
                               declareKernel(module, rewriter, kQuantizedMatmulF32, 36), module,
                               packNibbles, rewriter))
        ++numOutlierProducts;
      ++numLowered;
    }
  }
};
} // namespace
