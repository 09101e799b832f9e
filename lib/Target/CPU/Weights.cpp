//===- Weights.cpp - Weights in a file beside the library -----------------===//
//
// `lowbitc --weights=file`: the large constant globals of the optimized
// module are written to a weights file and replaced by pointers that the
// runtime fills from the memory-mapped file (see Emit.h for the format).
//
//===----------------------------------------------------------------------===//

#include "lowbit/Target/CPU/Emit.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/ReplaceConstant.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/xxhash.h"

using namespace llvm;

namespace {
bool isWeight(const GlobalVariable &global, uint64_t minBytes) {
  if (!global.isConstant() || !global.hasInitializer() || !global.hasLocalLinkage() ||
      global.getName().starts_with("lowbit_"))
    return false;
  const DataLayout &layout = global.getDataLayout();
  return layout.getTypeAllocSize(global.getValueType()) >= minBytes;
}

/// Appends the in-memory bytes of `value` (arrays of numbers, as the
/// translation of dense constants produces) to `out`; false for anything
/// else.
bool appendBytes(const Constant *value, const DataLayout &layout, SmallVectorImpl<char> &out) {
  if (auto *data = dyn_cast<ConstantDataSequential>(value)) {
    StringRef raw = data->getRawDataValues();
    out.append(raw.begin(), raw.end());
    return layout.getTypeAllocSize(data->getType()) == raw.size();
  }
  if (isa<ConstantAggregateZero>(value)) {
    out.append(layout.getTypeAllocSize(value->getType()), 0);
    return true;
  }
  if (auto *array = dyn_cast<ConstantArray>(value)) {
    for (const Use &element : array->operands())
      if (!appendBytes(cast<Constant>(element.get()), layout, out))
        return false;
    return true;
  }
  return false;
}

/// Replaces every use of `global` with a load of `slot` at the entry of the
/// using function. False if some use is not in a function.
bool redirectUses(GlobalVariable &global, GlobalVariable &slot) {
  convertUsersOfConstantsToInstructions({&global});
  DenseMap<Function *, Value *> loads;
  SmallVector<Use *> uses;
  for (Use &use : global.uses())
    uses.push_back(&use);
  for (Use *use : uses) {
    auto *user = dyn_cast<Instruction>(use->getUser());
    if (!user)
      return false;
    Function *function = user->getFunction();
    Value *&load = loads[function];
    if (!load) {
      auto *entry = new LoadInst(slot.getValueType(), &slot, global.getName() + ".weight",
                                 function->getEntryBlock().getFirstInsertionPt());
      entry->setMetadata(LLVMContext::MD_invariant_load, MDNode::get(global.getContext(), {}));
      load = entry;
    }
    use->set(load);
  }
  return true;
}

template <typename T> void appendLittleEndian(SmallVectorImpl<char> &out, T value) {
  char bytes[sizeof(T)];
  support::endian::write<T, llvm::endianness::little>(bytes, value);
  out.append(bytes, bytes + sizeof(T));
}
} // namespace

uint64_t lowbit::cpu::weightBytes(Module &module, uint64_t minBytes) {
  uint64_t total = 0;
  for (GlobalVariable &global : module.globals())
    if (isWeight(global, minBytes))
      total += module.getDataLayout().getTypeAllocSize(global.getValueType());
  return total;
}

LogicalResult lowbit::cpu::externalizeWeights(Module &module, uint64_t minBytes,
                                              StringRef fileName, raw_pwrite_stream &os,
                                              std::string &error) {
  LLVMContext &context = module.getContext();
  const DataLayout &layout = module.getDataLayout();
  auto *ptr = PointerType::get(context, 0);
  auto *i64 = Type::getInt64Ty(context);
  auto *entryType = StructType::get(context, {ptr, i64, i64});

  SmallVector<GlobalVariable *> weights;
  for (GlobalVariable &global : module.globals())
    if (isWeight(global, minBytes))
      weights.push_back(&global);

  // The header is written last (it holds the id, a hash of the contents).
  os.write_zeros(kWeightsHeaderBytes);
  uint64_t offset = kWeightsHeaderBytes;
  SmallVector<Constant *> table;
  SmallVector<char> bytes, hashes;
  for (GlobalVariable *global : weights) {
    bytes.clear();
    if (!appendBytes(global->getInitializer(), layout, bytes))
      continue; // not plain numbers: stays in the library
    auto *slot = new GlobalVariable(module, ptr, /*isConstant=*/false, GlobalValue::InternalLinkage,
                                    ConstantPointerNull::get(ptr), global->getName() + ".slot");
    if (!redirectUses(*global, *slot)) {
      error = "weight " + global->getName().str() + " is used outside a function";
      return failure();
    }
    os.write(bytes.data(), bytes.size());
    uint64_t padded = alignTo(bytes.size(), 64);
    os.write_zeros(padded - bytes.size());
    table.push_back(ConstantStruct::get(
        entryType, {slot, ConstantInt::get(i64, offset), ConstantInt::get(i64, bytes.size())}));
    appendLittleEndian<uint64_t>(hashes, xxh3_64bits(ArrayRef<uint8_t>(
                                             reinterpret_cast<const uint8_t *>(bytes.data()),
                                             bytes.size())));
    appendLittleEndian<uint64_t>(hashes, offset);
    offset += padded;
    global->eraseFromParent();
  }
  uint64_t id = xxh3_64bits(StringRef(hashes.data(), hashes.size()));

  SmallVector<char> header;
  header.append({'L', 'O', 'W', 'B', 'I', 'T', 'W', '1'});
  appendLittleEndian<uint64_t>(header, id);
  appendLittleEndian<uint64_t>(header, table.size());
  appendLittleEndian<uint64_t>(header, offset);
  os.pwrite(header.data(), header.size(), 0);

  auto exported = [&](Type *type, Constant *value, StringRef name) {
    new GlobalVariable(module, type, /*isConstant=*/true, GlobalValue::ExternalLinkage, value, name);
  };
  addStringGlobal(module, "lowbit_weights_file", fileName);
  exported(i64, ConstantInt::get(i64, id), "lowbit_weights_id");
  exported(i64, ConstantInt::get(i64, table.size()), "lowbit_weights_count");
  exported(i64, ConstantInt::get(i64, offset), "lowbit_weights_size");
  auto *tableType = ArrayType::get(entryType, table.size());
  exported(tableType, ConstantArray::get(tableType, table), "lowbit_weights_table");
  return success();
}
