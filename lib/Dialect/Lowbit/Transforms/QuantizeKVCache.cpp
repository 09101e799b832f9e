//===- QuantizeKVCache.cpp - Integer storage for the KV cache -------------===//
//
// Implements `lowbit-quantize-kv-cache` (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Dialect/Lowbit/Transforms/Passes.h"

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/IR/Builders.h"

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

    MLIRContext *context = func.getContext();
    auto levelsType = RankedTensorType::get(type.getShape(), IntegerType::get(context, 8));
    SmallVector<int64_t> scaleShape(type.getShape());
    scaleShape.back() = 1;
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

    OpBuilder b(concat);
    Location loc = concat.getLoc();
    Value fresh = concat.getInputs()[1];
    auto freshType = cast<RankedTensorType>(fresh.getType());
    SmallVector<int64_t> freshScaleShape(freshType.getShape());
    freshScaleShape.back() = 1;
    auto quantized = DynamicQuantizeOp::create(
        b, loc, RankedTensorType::get(freshType.getShape(), IntegerType::get(context, 8)),
        RankedTensorType::get(freshScaleShape, Float32Type::get(context)), fresh,
        b.getI64IntegerAttr(bits));
    auto axis = concat.getAxisAttr();
    auto presentLevels = onnx::ConcatOp::create(
        b, loc,
        RankedTensorType::get(cast<RankedTensorType>(concat.getType()).getShape(),
                              IntegerType::get(context, 8)),
        ValueRange{past, quantized.getQuantized()}, axis);
    SmallVector<int64_t> presentScaleShape(cast<RankedTensorType>(concat.getType()).getShape());
    presentScaleShape.back() = 1;
    auto presentScales = onnx::ConcatOp::create(
        b, loc, RankedTensorType::get(presentScaleShape, Float32Type::get(context)),
        ValueRange{pastScales, quantized.getScales()}, axis);
    auto dequantized = DequantizeOp::create(b, loc, concat.getType(), presentLevels.getResult(),
                                            presentScales.getResult(), Value());
    concat.getResult().replaceUsesWithIf(
        dequantized.getResult(), [&](OpOperand &use) { return use.getOwner() != returnOp; });

    // Outputs: the levels under the present's name, then its scales.
    returnOp->setOperand(*resultIndex, presentLevels.getResult());
    NamedAttrList resultAttrs(func.getResultAttrDict(*resultIndex));
    resultAttrs.set("onnx.name", StringAttr::get(context, (presentName + ".scales").str()));
    if (failed(func.insertResult(*resultIndex + 1, presentScales.getType(),
                                 resultAttrs.getDictionary(context))))
      return failure();
    returnOp->insertOperands(*resultIndex + 1, presentScales.getResult());
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
    // Arguments shift as scales are inserted: find the caches first.
    SmallVector<std::string> caches;
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (ioName(func.getArgAttrDict(i)).starts_with("past.") &&
          !ioName(func.getArgAttrDict(i)).ends_with(".scales"))
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
