//===- QuantizeKVCache.cpp - Integer storage for the KV cache -------------===//
//
// Implements `lowbit-quantize-kv-cache` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/IR/Builders.h"

#include <limits>

namespace lowbit {
#define GEN_PASS_DEF_QUANTIZEKVCACHEPASS
#include "lowbit/Dialect/Lowbit/Transforms/Passes.h.inc"
} // namespace lowbit

using namespace mlir;
using namespace lowbit;

namespace {
StringRef ioName(DictionaryAttr attrs) {
  auto name = attrs ? attrs.getAs<StringAttr>("onnx.name") : StringAttr();
  return name ? name.getValue() : StringRef();
}

/// Makes the Shape reads of the cache `past` (the exporter's past length)
/// see the f32 cache's shape: the levels' shape, its last dimension doubled
/// when two levels share a byte (`packed`), plus the window's length at the
/// sequence axis `axis` when there is a `window`; computed at the
/// function's start (reads may come before the cache's Concat).
void restoreShapeReads(func::FuncOp func, Value past, Value window, int64_t axis, bool packed) {
  SmallVector<onnx::ShapeOp> shapeReads;
  for (Operation *user : past.getUsers())
    if (auto shape = dyn_cast<onnx::ShapeOp>(user))
      shapeReads.push_back(shape);
  if (shapeReads.empty())
    return;
  OpBuilder entry = OpBuilder::atBlockBegin(&func.getBody().front());
  Location loc = past.getLoc();
  int64_t rank = cast<RankedTensorType>(past.getType()).getRank();
  auto shapeType = RankedTensorType::get({rank}, entry.getI64Type());
  Value full =
      onnx::ShapeOp::create(entry, loc, shapeType, past, entry.getI64IntegerAttr(0), IntegerAttr());
  if (packed) {
    SmallVector<int64_t> doubled(rank, 1);
    doubled.back() = 2;
    full = onnx::MulOp::create(entry, loc, shapeType, full,
                               onnx::createI64Vector(entry, loc, doubled));
  }
  if (window) {
    SmallVector<int64_t> oneHot(rank, 0);
    oneHot[axis] = 1;
    Value windowLength =
        onnx::ShapeOp::create(entry, loc, RankedTensorType::get({1}, entry.getI64Type()), window,
                              entry.getI64IntegerAttr(axis), entry.getI64IntegerAttr(axis + 1));
    Value extra = onnx::MulOp::create(entry, loc, shapeType,
                                      onnx::createI64Vector(entry, loc, oneHot), windowLength);
    full = onnx::AddOp::create(entry, loc, shapeType, full, extra);
  }
  for (onnx::ShapeOp shape : shapeReads) {
    OpBuilder at(shape);
    shape.getResult().replaceAllUsesWith(onnx::shapeReadOf(at, shape, full, rank));
    shape.erase();
  }
}

struct QuantizeKVCachePass : lowbit::impl::QuantizeKVCachePassBase<QuantizeKVCachePass> {
  using QuantizeKVCachePassBase::QuantizeKVCachePassBase;

  /// The cache `past` (argument `index`): Concat(past, new) along the
  /// sequence axis, returned as `present` (result `resultIndex`), becomes
  /// levels and scales in and out; the attention reads their dequantization.
  LogicalResult quantize(func::FuncOp func, unsigned index) {
    BlockArgument past = func.getArgument(index);
    StringRef name = ioName(func.getArgAttrDict(index));
    auto type = dyn_cast<RankedTensorType>(past.getType());
    // One Concat reads the cache's values; others may read its shape only
    // (the exporter's past length), which the levels keep.
    onnx::ConcatOp concat;
    bool others = false;
    for (Operation *user : past.getUsers()) {
      if (auto c = dyn_cast<onnx::ConcatOp>(user); c && !concat)
        concat = c;
      else if (!isa<onnx::ShapeOp>(user))
        others = true;
    }
    auto returnOp = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    std::optional<unsigned> resultIndex;
    if (concat)
      for (OpOperand &use : concat.getResult().getUses())
        if (use.getOwner() == returnOp)
          resultIndex = use.getOperandNumber();
    int64_t rank = type ? type.getRank() : 0;
    if (!type || !type.getElementType().isF32() || rank < 2 || !concat || others ||
        concat.getInputs().size() != 2 || concat.getInputs()[0] != past || !resultIndex ||
        (concat.getAxis() != rank - 2 && concat.getAxis() != -2))
      return func.emitError() << "lowbit-quantize-kv-cache: input '" << name
                              << "' is not an f32 cache [..., past_seq, head_dim] concatenated "
                                 "with the new entries along the sequence axis and returned";

    // Keys with per-channel scales (KIVI): groups of `window` tokens, one
    // scale per channel of each group.
    bool channelScales = keyScales == "channel" && name.ends_with(".key");
    int64_t headDim = type.getShape().back();
    if (channelScales && (rank != 4 || ShapedType::isDynamic(headDim)))
      return func.emitError() << "lowbit-quantize-kv-cache: key-scales=channel needs a cache "
                                 "[batch, heads, seq, head_dim] with a static head_dim; '"
                              << name << "' is " << type;

    MLIRContext *context = func.getContext();
    // int4 levels two per byte, along head_dim (static and even).
    bool packed = bits == 4 && !ShapedType::isDynamic(headDim) && headDim % 2 == 0;
    SmallVector<int64_t> storedShape(type.getShape());
    if (packed)
      storedShape.back() = headDim / 2;
    auto levelsType = RankedTensorType::get(storedShape, IntegerType::get(context, 8));
    SmallVector<int64_t> scaleShape(type.getShape());
    scaleShape.back() = channelScales ? headDim : 1;
    if (channelScales)
      scaleShape[rank - 2] = ShapedType::kDynamic; // groups
    auto scalesType = RankedTensorType::get(scaleShape, Float32Type::get(context));
    std::string scalesName = (name + ".scales").str();
    StringRef presentName = ioName(func.getResultAttrDict(*resultIndex));

    // Inputs: the levels under the cache's name, then its scales.
    past.setType(levelsType);
    SmallVector<Type> argumentTypes(func.getArgumentTypes());
    argumentTypes[index] = levelsType;
    func.setFunctionType(FunctionType::get(context, argumentTypes, func.getResultTypes()));
    NamedAttrList scaleAttrs(func.getArgAttrDict(index));
    scaleAttrs.set("onnx.name", StringAttr::get(context, scalesName));
    if (failed(func.insertArgument(index + 1, scalesType, scaleAttrs.getDictionary(context),
                                   past.getLoc())))
      return failure();
    BlockArgument pastScales = func.getArgument(index + 1);
    // With a window: the most recent tokens in f32 as input past.X.window.
    BlockArgument pastWindow;
    if (window > 0) {
      NamedAttrList windowAttrs(func.getArgAttrDict(index));
      windowAttrs.set("onnx.name", StringAttr::get(context, (name + ".window").str()));
      if (failed(func.insertArgument(index + 2, type, windowAttrs.getDictionary(context),
                                     past.getLoc())))
        return failure();
      pastWindow = func.getArgument(index + 2);
    }

    OpBuilder b(concat);
    Location loc = concat.getLoc();
    int64_t axisValue = rank - 2;
    auto i64Vector = [&](ArrayRef<int64_t> values) {
      return onnx::createI64Vector(b, loc, values);
    };
    auto oneI64Type = RankedTensorType::get({1}, b.getI64Type());
    auto lengthOf = [&](Value tensor) -> Value {
      return onnx::ShapeOp::create(b, loc, oneI64Type, tensor, b.getI64IntegerAttr(axisValue),
                                   b.getI64IntegerAttr(axisValue + 1));
    };

    Value fresh = concat.getInputs()[1];
    Value recent; // with a window: the tokens that stay in f32
    if (pastWindow || packed)
      restoreShapeReads(func, past, pastWindow, axisValue, packed);
    if (pastWindow) {
      // window + new; what exceeds `window` tokens, the oldest, is quantized.
      Value all = onnx::ConcatOp::create(b, loc, type, ValueRange{pastWindow, fresh},
                                         b.getI64IntegerAttr(axisValue));
      Value overflow;
      if (channelScales) {
        // Whole groups move: the window keeps length mod `window` tokens.
        Value groups = onnx::DivOp::create(b, loc, oneI64Type, lengthOf(all),
                                           i64Vector({int64_t(window)}));
        overflow = onnx::MulOp::create(b, loc, oneI64Type, groups, i64Vector({int64_t(window)}));
      } else {
        Value excess = onnx::SubOp::create(b, loc, oneI64Type, lengthOf(all),
                                           i64Vector({int64_t(window)}));
        overflow =
            onnx::MaxOp::create(b, loc, oneI64Type, ValueRange{excess, i64Vector({0})});
      }
      Value axes = i64Vector({axisValue});
      fresh = onnx::SliceOp::create(b, loc, type, all, i64Vector({0}), overflow, axes, Value());
      recent = onnx::SliceOp::create(b, loc, type, all, overflow,
                                     i64Vector({std::numeric_limits<int64_t>::max()}), axes,
                                     Value());
    }
    auto freshType = cast<RankedTensorType>(fresh.getType());
    Type i8 = IntegerType::get(context, 8), f32 = Float32Type::get(context);
    Value newLevels, newScales;
    // [b, h, groups * window, d] <-> [b, h, groups, window, d].
    auto groupShape = [&](Value tensor, ArrayRef<int64_t> tail) -> Value {
      Value leading = onnx::ShapeOp::create(b, loc, RankedTensorType::get({2}, b.getI64Type()),
                                            tensor, b.getI64IntegerAttr(0), b.getI64IntegerAttr(2));
      return onnx::ConcatOp::create(
          b, loc, RankedTensorType::get({2 + int64_t(tail.size())}, b.getI64Type()),
          ValueRange{leading, i64Vector(tail)}, b.getI64IntegerAttr(0));
    };
    int64_t dyn = ShapedType::kDynamic;
    auto grouped = [&](ArrayRef<int64_t> dims, Type element) {
      return RankedTensorType::get(dims, element);
    };
    int64_t b0 = type.getDimSize(0), h0 = type.getDimSize(1);
    if (channelScales) {
      // Each group of `window` tokens, transposed so that a row is one
      // channel's values over the group, quantized per row.
      Value groups = onnx::ReshapeOp::create(b, loc, grouped({b0, h0, dyn, window, headDim}, f32),
                                             fresh, groupShape(fresh, {-1, window, headDim}));
      auto perm = b.getDenseI64ArrayAttr({0, 1, 2, 4, 3});
      Value channels = onnx::TransposeOp::create(
          b, loc, grouped({b0, h0, dyn, headDim, window}, f32), groups, perm);
      auto quantized = DynamicQuantizeOp::create(
          b, loc, grouped({b0, h0, dyn, headDim, window}, i8),
          grouped({b0, h0, dyn, headDim, 1}, f32), channels, b.getI64IntegerAttr(bits));
      Value levels = onnx::TransposeOp::create(
          b, loc, grouped({b0, h0, dyn, window, headDim}, i8), quantized.getQuantized(), perm);
      Value tokensShape = groupShape(fresh, {-1, headDim});
      newLevels = onnx::ReshapeOp::create(b, loc, grouped({b0, h0, dyn, headDim}, i8), levels,
                                          tokensShape);
      newScales = onnx::ReshapeOp::create(b, loc, grouped({b0, h0, dyn, headDim}, f32),
                                          quantized.getScales(), tokensShape);
    } else {
      SmallVector<int64_t> freshScaleShape(freshType.getShape());
      freshScaleShape.back() = 1;
      // The new entries' head_dim is the cache's (the Concat needs it).
      SmallVector<int64_t> freshShape(freshType.getShape());
      freshShape.back() = headDim;
      auto quantized = DynamicQuantizeOp::create(b, loc, RankedTensorType::get(freshShape, i8),
                                                 RankedTensorType::get(freshScaleShape, f32), fresh,
                                                 b.getI64IntegerAttr(bits));
      newLevels = quantized.getQuantized();
      newScales = quantized.getScales();
    }
    auto axis = concat.getAxisAttr();
    SmallVector<int64_t> presentShape(cast<RankedTensorType>(concat.getType()).getShape());
    Value allLevels; // one level per byte, what the attention reads
    if (packed) {
      auto newType = cast<RankedTensorType>(newLevels.getType());
      SmallVector<int64_t> packedShape(newType.getShape());
      packedShape.back() = headDim / 2;
      newLevels = PackNibblesOp::create(b, loc, RankedTensorType::get(packedShape, i8), newLevels);
      presentShape.back() = headDim / 2;
    }
    auto presentLevels = onnx::ConcatOp::create(b, loc, RankedTensorType::get(presentShape, i8),
                                                ValueRange{past, newLevels}, axis);
    allLevels = presentLevels.getResult();
    if (packed) {
      presentShape.back() = headDim;
      allLevels =
          UnpackNibblesOp::create(b, loc, RankedTensorType::get(presentShape, i8), allLevels);
    }
    auto presentScales =
        onnx::ConcatOp::create(b, loc, scalesType, ValueRange{pastScales, newScales}, axis);
    Value dequantized;
    if (channelScales) {
      // Levels by groups times each group's scales, broadcast over its
      // tokens. Packed levels are grouped as bytes, then unpacked (so that
      // the attention can read the bytes).
      Value levels;
      if (packed) {
        Value bytes = onnx::ReshapeOp::create(
            b, loc, grouped({b0, h0, dyn, window, headDim / 2}, i8), presentLevels,
            groupShape(presentLevels, {-1, window, headDim / 2}));
        levels = UnpackNibblesOp::create(b, loc, grouped({b0, h0, dyn, window, headDim}, i8), bytes);
      } else {
        levels =
            onnx::ReshapeOp::create(b, loc, grouped({b0, h0, dyn, window, headDim}, i8), allLevels,
                                    groupShape(allLevels, {-1, window, headDim}));
      }
      Value scales =
          onnx::ReshapeOp::create(b, loc, grouped({b0, h0, dyn, 1, headDim}, f32), presentScales,
                                  groupShape(presentScales, {-1, 1, headDim}));
      Value values = DequantizeOp::create(b, loc, grouped({b0, h0, dyn, window, headDim}, f32),
                                          levels, scales, Value());
      // The shape read of `values` itself shows this Reshape merges
      // (groups, window) into tokens (lowbit-fold-dequantize-into-matmul).
      dequantized = onnx::ReshapeOp::create(b, loc, concat.getType(), values,
                                            groupShape(values, {-1, headDim}));
    } else {
      dequantized = DequantizeOp::create(b, loc, concat.getType(), allLevels,
                                         presentScales.getResult(), Value());
    }
    if (recent) // the recent tokens follow the older ones
      dequantized = onnx::ConcatOp::create(b, loc, concat.getType(),
                                           ValueRange{dequantized, recent}, axis);
    concat.getResult().replaceUsesWithIf(
        dequantized, [&](OpOperand &use) { return use.getOwner() != returnOp; });

    // Outputs: the levels under the present's name, then its scales.
    returnOp->setOperand(*resultIndex, presentLevels.getResult());
    NamedAttrList resultAttrs(func.getResultAttrDict(*resultIndex));
    resultAttrs.set("onnx.name", StringAttr::get(context, (presentName + ".scales").str()));
    if (failed(func.insertResult(*resultIndex + 1, presentScales.getType(),
                                 resultAttrs.getDictionary(context))))
      return failure();
    returnOp->insertOperands(*resultIndex + 1, presentScales.getResult());
    if (recent) {
      resultAttrs.set("onnx.name", StringAttr::get(context, (presentName + ".window").str()));
      if (failed(func.insertResult(*resultIndex + 2, recent.getType(),
                                   resultAttrs.getDictionary(context))))
        return failure();
      returnOp->insertOperands(*resultIndex + 2, recent);
    }
    func.setFunctionType(
        FunctionType::get(context, func.getArgumentTypes(), returnOp->getOperandTypes()));
    concat.erase();
    ++numCaches;
    return success();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (bits != 8 && bits != 4) {
      func->emitError() << "lowbit-quantize-kv-cache: bits must be 8 or 4, got " << int64_t(bits);
      return signalPassFailure();
    }
    if (window < 0) {
      func->emitError() << "lowbit-quantize-kv-cache: window must be 0 or more tokens, got "
                        << int64_t(window);
      return signalPassFailure();
    }
    if (keyScales != "token" && keyScales != "channel") {
      func->emitError() << "lowbit-quantize-kv-cache: key-scales must be token or channel, got '"
                        << keyScales << "'";
      return signalPassFailure();
    }
    if (keyScales == "channel" && window == 0) {
      func->emitError() << "lowbit-quantize-kv-cache: key-scales=channel needs window=G: keys "
                           "are quantized per channel in groups of G tokens, the newest (fewer "
                           "than G) kept in f32";
      return signalPassFailure();
    }
    // Arguments shift as scales are inserted: find the caches first.
    SmallVector<std::string> caches;
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (ioName(func.getArgAttrDict(i)).starts_with("past.") &&
          !ioName(func.getArgAttrDict(i)).ends_with(".scales") &&
          !ioName(func.getArgAttrDict(i)).ends_with(".window"))
        caches.push_back(ioName(func.getArgAttrDict(i)).str());
    for (const std::string &cache : caches)
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        if (ioName(func.getArgAttrDict(i)) == cache) {
          if (failed(quantize(func, i)))
            return signalPassFailure();
          break;
        }
  }
};
} // namespace
