//===- Calibration.cpp - Calibration statistics back into the IR ----------===//

#include "lowbit/Compiler/Calibration.h"

#include "lowbit/Dialect/Lowbit/IR/Lowbit.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <deque>

using namespace mlir;

namespace {
/// A float64 C-order .npy file's values, checked to hold `count` elements.
FailureOr<std::vector<double>> readFloat64Npy(Location loc, StringRef path, int64_t count) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return emitError(loc) << path << ": " << buffer.getError().message(), failure();
  StringRef data = (*buffer)->getBuffer();
  if (data.size() < 10 || !data.starts_with("\x93NUMPY"))
    return emitError(loc) << path << ": not a .npy file", failure();
  size_t headerLength = data[6] == 1 ? size_t(uint8_t(data[8])) | size_t(uint8_t(data[9])) << 8
                                     : size_t(llvm::support::endian::read32le(data.data() + 8));
  size_t start = (data[6] == 1 ? 10 : 12) + headerLength;
  StringRef header = data.substr(0, start);
  if (!header.contains("'<f8'") || header.contains("'fortran_order': True"))
    return emitError(loc) << path << ": expected float64 in C order", failure();
  if (data.size() != start + size_t(count) * sizeof(double))
    return emitError(loc) << path << ": expected " << count << " values", failure();
  std::vector<double> values(count);
  std::memcpy(values.data(), data.data() + start, count * sizeof(double));
  return values;
}

/// `values` as f32 of `shape`: inline, or a resource named `key` when large.
ElementsAttr floatsAttr(MLIRContext *context, ArrayRef<int64_t> shape,
                        const std::vector<double> &values, StringRef key, bool resource) {
  auto type = RankedTensorType::get(shape, Float32Type::get(context));
  std::vector<float> floats(values.begin(), values.end());
  if (!resource)
    return DenseElementsAttr::get(type, ArrayRef<float>(floats));
  ArrayRef<char> bytes(reinterpret_cast<const char *>(floats.data()),
                       floats.size() * sizeof(float));
  return DenseResourceElementsAttr::get(
      type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(float)));
}
} // namespace

LogicalResult lowbit::readCalibrationStatistics(ModuleOp module, StringRef dir,
                                                int64_t inlineLimit) {
  Location loc = module.getLoc();
  llvm::SmallString<128> listPath(dir);
  llvm::sys::path::append(listPath, "taps.txt");
  auto list = llvm::MemoryBuffer::getFile(listPath);
  if (!list)
    return emitError(loc) << listPath << ": " << list.getError().message();

  // The taps of the module by name; a name used twice is matched in order.
  llvm::StringMap<std::deque<CalibrationTapOp>> taps;
  module.walk([&](CalibrationTapOp tap) {
    if (!tap.hasStatistics())
      taps[tap.getName()].push_back(tap);
  });

  SmallVector<StringRef> lines;
  (*list)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  MLIRContext *context = module.getContext();
  llvm::DenseMap<Value, CalibrationTapOp> firstTapOf;
  for (auto [id, line] : llvm::enumerate(lines)) {
    SmallVector<StringRef> fields;
    line.split(fields, ' ');
    int64_t channels, tokens;
    if (fields.size() != 3 || fields[1].getAsInteger(10, channels) ||
        fields[2].getAsInteger(10, tokens))
      return emitError(loc) << listPath << ":" << id + 1 << ": expected `name channels tokens`";
    auto found = taps.find(fields[0]);
    if (found == taps.end() || found->second.empty())
      return emitError(loc) << listPath << ": tap '" << fields[0]
                            << "' is not in the module being quantized";
    CalibrationTapOp tap = found->second.front();
    found->second.pop_front();
    auto type = cast<RankedTensorType>(tap.getInput().getType());
    if (type.getDimSize(type.getRank() - 1) != channels)
      return tap.emitError() << listPath << ": " << channels << " channels for a tap of type "
                             << type;
    std::string prefix = (dir + "/" + std::to_string(id)).str();
    // Taps on one activation (q, k and v) saw the same rows: the first one's
    // attributes serve them all, so the IR holds each Hessian once.
    if (CalibrationTapOp first = firstTapOf.lookup(tap.getInput())) {
      tap->setAttrs(first->getAttrDictionary());
      tap.setName(fields[0]);
      continue;
    }
    firstTapOf[tap.getInput()] = tap;
    auto absMax = readFloat64Npy(loc, prefix + ".abs_max.npy", channels);
    auto meanAbs = readFloat64Npy(loc, prefix + ".mean_abs.npy", channels);
    auto xtx = readFloat64Npy(loc, prefix + ".xtx.npy", channels * channels);
    if (failed(absMax) || failed(meanAbs) || failed(xtx))
      return failure();
    std::string key = fields[0].str();
    bool large = channels > inlineLimit;
    tap.setAbsMaxAttr(floatsAttr(context, {channels}, *absMax, key + ".abs_max", large));
    tap.setMeanAbsAttr(floatsAttr(context, {channels}, *meanAbs, key + ".mean_abs", large));
    tap.setHessianAttr(floatsAttr(context, {channels, channels}, *xtx, key + ".hessian", true));
    tap.setTokensAttr(IntegerAttr::get(IntegerType::get(context, 64), tokens));
  }
  for (auto &entry : taps)
    if (!entry.second.empty())
      return entry.second.front().emitError()
             << "calibration gathered no statistics for tap '" << entry.first() << "'";
  return success();
}

void lowbit::clearCalibrationStatistics(ModuleOp module) {
  module.walk([](CalibrationTapOp tap) {
    tap.removeAbsMaxAttr();
    tap.removeMeanAbsAttr();
    tap.removeHessianAttr();
    tap.removeTokensAttr();
  });
}
