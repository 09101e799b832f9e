//===- OnnxImporter.cpp - ONNX model to onnx dialect ----------------------===//
//
// Reads the protobuf (OnnxProto.cpp), optionally annotates it with libonnx's
// shape inference, and builds one func.func of onnx ops in graph order. Each
// op's result types come from the onnx dialect's own inference, refined by
// (never overridden by) the shapes the model or libonnx state.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Import/OnnxImporter.h"

#include "OnnxProto.h"
#include "lowbit/Dialect/Onnx/IR/Onnx.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using lowbit::OnnxImportOptions;

namespace {
/// The newest opset whose operator versions lowbit knows; a model importing
/// a newer default-domain opset may use semantics lowbit has never seen.
constexpr int64_t kNewestKnownOpset = 28;

bool isDefaultDomain(const std::string &domain) {
  return domain.empty() || domain == "ai.onnx";
}

/// Names of ops whose optional ONNX inputs map onto operand segments: the
/// number of ONNX input slots (each slot is 0 or 1 operand).
int segmentedInputSlots(StringRef opName) {
  return llvm::StringSwitch<int>(opName)
      .Case("Clip", 3)
      .Case("Slice", 5)
      .Case("MatMulInteger", 4)
      .Case("MatMulNBits", 6)
      .Default(0);
}

class OnnxImporter {
public:
  OnnxImporter(MLIRContext &context, StringRef path, const OnnxImportOptions &options)
      : context(context), builder(&context), path(path.str()), options(options),
        fileLoc(FileLineColLoc::get(&context, path, 0, 0)) {
    llvm::SmallString<256> dir(path);
    llvm::sys::path::remove_filename(dir);
    if (dir.empty())
      dir = ".";
    modelDir = std::string(dir);
  }

  OwningOpRef<ModuleOp> run();

private:
  LogicalResult readModel();
  LogicalResult checkOpsets();
  void collectTypeHints();
  FailureOr<Type> convertElementType(int32_t dtype, Location loc, const Twine &what);
  FailureOr<Type> convertType(const onnx::TypeProto &type, Location loc, const Twine &what);
  FailureOr<ElementsAttr> convertTensor(const onnx::TensorProto &tensor, Location loc);
  FailureOr<std::unique_ptr<llvm::MemoryBuffer>>
  readExternalData(const onnx::TensorProto &tensor, Location loc);
  FailureOr<Value> lookup(const std::string &name, Location loc, const Twine &user);
  LogicalResult importNode(const onnx::NodeProto &node, int index);
  LogicalResult convertAttribute(const onnx::AttributeProto &attr, Location loc,
                                 const std::string &opName, OperationState &state,
                                 SmallVectorImpl<Value> &attributeInputs);
  Value createI64Constant(ArrayRef<int64_t> values, Location loc);
  LogicalResult refineWithHint(Value value, const std::string &name, Location loc,
                               const Twine &what);
  Location nodeLoc(const onnx::NodeProto &node, int index);
  std::string describe(const onnx::NodeProto &node) const;

  MLIRContext &context;
  OpBuilder builder;
  std::string path, modelDir;
  const OnnxImportOptions &options;
  Location fileLoc;
  onnx::ModelProto model;
  int64_t defaultOpset = 0;
  llvm::StringMap<int64_t> domainOpsets;
  llvm::StringMap<Value> values;
  llvm::StringMap<const onnx::TensorProto *> initializers;
  llvm::StringMap<const onnx::TypeProto *> typeHints;
  llvm::StringMap<lowbit::SupportedOnnxOp> supported; // "domain:name"
};
} // namespace

Location OnnxImporter::nodeLoc(const onnx::NodeProto &node, int index) {
  std::string name = node.name().empty()
                         ? node.op_type() + "_" + std::to_string(index)
                         : node.name();
  return NameLoc::get(StringAttr::get(&context, name), fileLoc);
}

std::string OnnxImporter::describe(const onnx::NodeProto &node) const {
  std::string s = "'" + node.op_type() + "'";
  if (!isDefaultDomain(node.domain()))
    s += " (domain '" + node.domain() + "')";
  return s;
}

LogicalResult OnnxImporter::readModel() {
  if (llvm::sys::fs::is_directory(path))
    return emitError(fileLoc) << "is a directory, not an ONNX model file";
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return emitError(fileLoc) << "cannot read the model: " << buffer.getError().message();
  if ((*buffer)->getBufferSize() == 0)
    return emitError(fileLoc) << "not a valid ONNX model: the file is empty";
  std::string error;
  if (!lowbit::detail::parseModelProto((*buffer)->getBufferStart(),
                                       (*buffer)->getBufferSize(), model, error))
    return emitError(fileLoc) << error;
  if (!model.has_graph() || model.graph().output_size() == 0)
    return emitError(fileLoc)
           << "not a valid ONNX model: no graph with outputs (truncated or corrupt file?)";
  return success();
}

LogicalResult OnnxImporter::checkOpsets() {
  for (const auto &opset : model.opset_import()) {
    std::string domain = isDefaultDomain(opset.domain()) ? "" : opset.domain();
    domainOpsets[domain] = opset.version();
  }
  if (!domainOpsets.count(""))
    return emitError(fileLoc) << "the model imports no default-domain (ai.onnx) opset";
  defaultOpset = domainOpsets[""];
  if (defaultOpset > kNewestKnownOpset)
    return emitError(fileLoc) << "the model uses opset " << defaultOpset
                              << ", newer than the newest lowbit knows ("
                              << kNewestKnownOpset << ")";
  return success();
}

void OnnxImporter::collectTypeHints() {
  if (options.useOnnxShapeInference) {
    // Only a helper: libonnx 1.12 knows opsets up to 17 and may fail on newer
    // models, where the dialect's own inference does the work alone.
    std::string ignored;
    (void)lowbit::detail::runOnnxShapeInference(model, ignored);
  }
  for (const auto &info : model.graph().value_info())
    typeHints[info.name()] = &info.type();
  for (const auto &info : model.graph().output())
    typeHints[info.name()] = &info.type();
}

FailureOr<Type> OnnxImporter::convertElementType(int32_t dtype, Location loc,
                                                 const Twine &what) {
  MLIRContext *ctx = &context;
  auto signless = [&](unsigned w) { return IntegerType::get(ctx, w); };
  auto unsignedInt = [&](unsigned w) {
    return IntegerType::get(ctx, w, IntegerType::Unsigned);
  };
  switch (dtype) {
  case onnx::TensorProto::FLOAT: return Type(Float32Type::get(ctx));
  case onnx::TensorProto::DOUBLE: return Type(Float64Type::get(ctx));
  case onnx::TensorProto::FLOAT16: return Type(Float16Type::get(ctx));
  case onnx::TensorProto::BFLOAT16: return Type(BFloat16Type::get(ctx));
  case onnx::TensorProto::BOOL: return Type(signless(1));
  case onnx::TensorProto::INT8: return Type(signless(8));
  case onnx::TensorProto::INT16: return Type(signless(16));
  case onnx::TensorProto::INT32: return Type(signless(32));
  case onnx::TensorProto::INT64: return Type(signless(64));
  case onnx::TensorProto::UINT8: return Type(unsignedInt(8));
  case onnx::TensorProto::UINT16: return Type(unsignedInt(16));
  case onnx::TensorProto::UINT32: return Type(unsignedInt(32));
  case onnx::TensorProto::UINT64: return Type(unsignedInt(64));
  case 17: return Type(Float8E4M3FNType::get(ctx));
  case 18: return Type(Float8E4M3FNUZType::get(ctx));
  case 19: return Type(Float8E5M2Type::get(ctx));
  case 20: return Type(Float8E5M2FNUZType::get(ctx));
  case 21: return Type(unsignedInt(4));
  case 22: return Type(signless(4));
  case 23: return Type(Float4E2M1FNType::get(ctx));
  case 24: return Type(Float8E8M0FNUType::get(ctx));
  case 25: return Type(unsignedInt(2));
  case 26: return Type(signless(2));
  default: break;
  }
  static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16",
                                "INT16", "INT32", "INT64", "STRING", "BOOL",
                                "FLOAT16", "DOUBLE", "UINT32", "UINT64",
                                "COMPLEX64", "COMPLEX128"};
  auto diag = emitError(loc) << what << " has element type ";
  if (dtype >= 0 && dtype < int32_t(std::size(names)))
    diag << names[dtype];
  else
    diag << "#" << dtype;
  diag << ", which lowbit does not support";
  return failure();
}

FailureOr<Type> OnnxImporter::convertType(const onnx::TypeProto &type, Location loc,
                                          const Twine &what) {
  if (!type.has_tensor_type())
    return emitError(loc) << what
                          << " is not a tensor (sequences, maps and optionals are not supported)";
  const auto &tensor = type.tensor_type();
  auto element = convertElementType(tensor.elem_type(), loc, what);
  if (failed(element))
    return failure();
  if (!tensor.has_shape())
    return Type(UnrankedTensorType::get(*element));
  SmallVector<int64_t> shape;
  for (const auto &dim : tensor.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() >= 0)
      shape.push_back(dim.dim_value());
    else
      shape.push_back(ShapedType::kDynamic); // dim_param or unknown
  }
  return Type(RankedTensorType::get(shape, *element));
}

FailureOr<std::unique_ptr<llvm::MemoryBuffer>>
OnnxImporter::readExternalData(const onnx::TensorProto &tensor, Location loc) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &entry : tensor.external_data()) {
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset")
      offset = std::atoll(entry.value().c_str());
    else if (entry.key() == "length")
      length = std::atoll(entry.value().c_str());
  }
  auto fail = [&]() {
    return emitError(loc) << "initializer '" << tensor.name() << "': ";
  };
  if (location.empty())
    return fail() << "external data without a location";
  // Confine external data to the model's folder: no absolute paths, and no
  // path that resolves (through '..' or symlinks) outside it.
  if (llvm::sys::path::is_absolute(location))
    return fail() << "external data location '" << location
                  << "' is absolute; it must be relative to the model's folder";
  llvm::SmallString<256> lexical(location);
  llvm::sys::path::remove_dots(lexical, /*remove_dot_dot=*/true);
  if (lexical.str().starts_with(".."))
    return fail() << "external data location '" << location
                  << "' points outside the model's folder";
  llvm::SmallString<256> file(modelDir);
  llvm::sys::path::append(file, location);
  if (!llvm::sys::fs::exists(file))
    return fail() << "external data file '" << location << "' is missing (looked for "
                  << file << ")";
  llvm::SmallString<256> realDir, realFile;
  if (llvm::sys::fs::real_path(modelDir, realDir) || llvm::sys::fs::real_path(file, realFile))
    return fail() << "cannot resolve external data path '" << location << "'";
  StringRef prefix = realDir;
  if (!StringRef(realFile).starts_with(prefix) ||
      !llvm::sys::path::is_separator(realFile[prefix.size()]))
    return fail() << "external data location '" << location
                  << "' points outside the model's folder";
  uint64_t fileSize = 0;
  if (llvm::sys::fs::file_size(realFile, fileSize))
    return fail() << "cannot stat external data file '" << location << "'";
  if (offset < 0 || uint64_t(offset) > fileSize)
    return fail() << "external data offset " << offset << " is past the end of '"
                  << location << "' (" << fileSize << " bytes)";
  if (length < 0)
    length = fileSize - offset;
  if (uint64_t(offset + length) > fileSize)
    return fail() << "external data '" << location << "' is truncated: needs bytes ["
                  << offset << ", " << offset + length << ") of a " << fileSize
                  << "-byte file";
  auto buffer = llvm::MemoryBuffer::getFileSlice(realFile, length, offset);
  if (!buffer)
    return fail() << "cannot read external data '" << location
                  << "': " << buffer.getError().message();
  return std::move(*buffer);
}

FailureOr<ElementsAttr> OnnxImporter::convertTensor(const onnx::TensorProto &tensor,
                                                    Location loc) {
  auto what = "tensor '" + tensor.name() + "'";
  auto element = convertElementType(tensor.data_type(), loc, what);
  if (failed(element))
    return failure();
  if (tensor.has_segment())
    return emitError(loc) << what << " is segmented, which lowbit does not support";
  SmallVector<int64_t> shape(tensor.dims().begin(), tensor.dims().end());
  if (llvm::any_of(shape, [](int64_t d) { return d < 0; }))
    return emitError(loc) << what << " has a negative dimension";
  auto type = RankedTensorType::get(shape, *element);
  int64_t count = type.getNumElements();
  unsigned bits = element->getIntOrFloatBitWidth();
  // 2- and 4-bit elements come packed, the first in the lowest bits of a
  // byte (int32_data: one packed byte per entry).
  bool packed = bits == 2 || bits == 4;
  size_t byteWidth = bits == 1 || packed ? 1 : bits / 8;
  size_t bytes = packed ? (size_t(count) * bits + 7) / 8 : size_t(count) * byteWidth;

  // Gather the little-endian bytes of the elements (i1 as one byte each).
  std::unique_ptr<llvm::MemoryBuffer> external;
  std::string copied;
  ArrayRef<char> raw;
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    auto buffer = readExternalData(tensor, loc);
    if (failed(buffer))
      return failure();
    external = std::move(*buffer);
    raw = ArrayRef<char>(external->getBufferStart(), external->getBufferSize());
  } else if (tensor.has_raw_data()) {
    raw = ArrayRef<char>(tensor.raw_data().data(), tensor.raw_data().size());
  } else {
    auto append = [&](const void *p, size_t n) {
      copied.append(static_cast<const char *>(p), n);
    };
    switch (tensor.data_type()) {
    case onnx::TensorProto::FLOAT:
      for (float v : tensor.float_data()) append(&v, 4);
      break;
    case onnx::TensorProto::DOUBLE:
      for (double v : tensor.double_data()) append(&v, 8);
      break;
    case onnx::TensorProto::INT64:
      for (int64_t v : tensor.int64_data()) append(&v, 8);
      break;
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64:
      for (uint64_t v : tensor.uint64_data()) append(&v, byteWidth);
      break;
    default: // int32_data carries every type of 32 bits or fewer
      for (int32_t v : tensor.int32_data()) append(&v, byteWidth);
      break;
    }
    raw = ArrayRef<char>(copied.data(), copied.size());
  }
  if (raw.size() != bytes)
    return emitError(loc) << what << " holds " << raw.size() << " bytes of data but its type "
                          << type << " needs " << bytes;

  if (packed) { // unpacked to one element per byte, as MLIR stores them
    std::vector<char> unpacked(count);
    for (int64_t i = 0; i < count; ++i) {
      int64_t bit = i * bits;
      unpacked[i] = char((uint8_t(raw[bit / 8]) >> (bit % 8)) & ((1u << bits) - 1));
    }
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, unpacked));
  }
  if (bits == 1) {
    SmallVector<bool> flags;
    for (char c : raw)
      flags.push_back(c != 0);
    return ElementsAttr(DenseElementsAttr::get(type, flags));
  }
  if (count <= options.inlineElementLimit)
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, raw));

  // Large tensors become resource blobs. A memory-mapped external slice is
  // used in place when it is aligned for its elements; anything else is copied.
  std::string key = tensor.name().empty() ? "tensor" : tensor.name();
  for (char &c : key)
    if (!llvm::isAlnum(c) && c != '_' && c != '.')
      c = '_';
  size_t alignment = std::max<size_t>(byteWidth, 1);
  AsmResourceBlob blob;
  if (external && reinterpret_cast<uintptr_t>(raw.data()) % alignment == 0) {
    auto *owner = external.release();
    blob = AsmResourceBlob(raw, alignment,
                           [owner](void *, size_t, size_t) { delete owner; },
                           /*dataIsMutable=*/false);
  } else {
    blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(raw, alignment);
  }
  return ElementsAttr(DenseResourceElementsAttr::get(type, key, std::move(blob)));
}

Value OnnxImporter::createI64Constant(ArrayRef<int64_t> data, Location loc) {
  auto type = RankedTensorType::get({int64_t(data.size())}, builder.getI64Type());
  return lowbit::onnx::ConstantOp::create(builder, loc,
                                          DenseIntElementsAttr::get(type, data));
}

FailureOr<Value> OnnxImporter::lookup(const std::string &name, Location loc,
                                      const Twine &user) {
  if (Value v = values.lookup(name))
    return v;
  if (const onnx::TensorProto *init = initializers.lookup(name)) {
    // Initializers become constants where first used.
    auto value = convertTensor(*init, fileLoc);
    if (failed(value))
      return failure();
    Value constant = lowbit::onnx::ConstantOp::create(builder, loc, *value);
    values[name] = constant;
    return constant;
  }
  return emitError(loc) << user << " uses '" << name
                        << "', which no earlier node, graph input or initializer defines "
                           "(is the graph topologically sorted?)";
}

LogicalResult OnnxImporter::refineWithHint(Value value, const std::string &name,
                                           Location loc, const Twine &what) {
  const onnx::TypeProto *hint = typeHints.lookup(name);
  if (!hint || !hint->has_tensor_type() || hint->tensor_type().elem_type() == 0)
    return success();
  // A hint that cannot be converted is ignored: it is only a hint.
  FailureOr<Type> hinted = [&]() -> FailureOr<Type> {
    ScopedDiagnosticHandler silence(&context, [](Diagnostic &) { return success(); });
    return convertType(*hint, loc, what);
  }();
  if (failed(hinted))
    return success();
  Type meet = lowbit::onnx::meetTypes(value.getType(), *hinted);
  if (!meet)
    return emitError(loc) << "shape contradiction: " << what << " '" << name
                          << "' is declared as " << *hinted << " but its inputs give "
                          << value.getType();
  value.setType(meet);
  return success();
}

LogicalResult OnnxImporter::convertAttribute(const onnx::AttributeProto &attr, Location loc,
                                             const std::string &opName,
                                             OperationState &state,
                                             SmallVectorImpl<Value> &attributeInputs) {
  const std::string &name = attr.name();
  // Older opsets' attribute forms of what are inputs now.
  if (attr.type() == onnx::AttributeProto::INTS &&
      ((name == "axes" && (opName == "Squeeze" || opName == "Unsqueeze" ||
                           opName.rfind("Reduce", 0) == 0)) ||
       (name == "split" && opName == "Split"))) {
    attributeInputs.push_back(createI64Constant(
        SmallVector<int64_t>(attr.ints().begin(), attr.ints().end()), loc));
    return success();
  }
  // Element types given as ONNX data type numbers.
  if (attr.type() == onnx::AttributeProto::INT &&
      ((name == "to" && opName == "Cast") || name == "output_dtype")) {
    if (name == "output_dtype" && attr.i() == 0)
      return success(); // 0: unset
    auto type = convertElementType(attr.i(), loc, "attribute '" + name + "'");
    if (failed(type))
      return failure();
    state.addAttribute(name, TypeAttr::get(*type));
    return success();
  }
  std::optional<RegisteredOperationName> registered = state.name.getRegisteredInfo();
  if (!llvm::is_contained(registered->getAttributeNames(),
                          StringAttr::get(&context, name))) {
    emitWarning(loc) << "ignoring attribute '" << name << "' of " << opName
                     << ", which lowbit does not implement";
    return success();
  }
  switch (attr.type()) {
  case onnx::AttributeProto::INT:
    state.addAttribute(name, builder.getI64IntegerAttr(attr.i()));
    return success();
  case onnx::AttributeProto::FLOAT:
    state.addAttribute(name, builder.getF32FloatAttr(attr.f()));
    return success();
  case onnx::AttributeProto::STRING:
    state.addAttribute(name, builder.getStringAttr(attr.s()));
    return success();
  case onnx::AttributeProto::INTS:
    state.addAttribute(name, builder.getDenseI64ArrayAttr(SmallVector<int64_t>(
                                 attr.ints().begin(), attr.ints().end())));
    return success();
  case onnx::AttributeProto::TENSOR: {
    auto value = convertTensor(attr.t(), loc);
    if (failed(value))
      return failure();
    state.addAttribute(name, *value);
    return success();
  }
  default:
    return emitError(loc) << "attribute '" << name << "' of " << opName
                          << " has a kind lowbit does not support";
  }
}

LogicalResult OnnxImporter::importNode(const onnx::NodeProto &node, int index) {
  Location loc = nodeLoc(node, index);
  std::string domain = isDefaultDomain(node.domain()) ? "" : node.domain();
  const lowbit::SupportedOnnxOp *spec = nullptr;
  auto it = supported.find(domain + ":" + node.op_type());
  if (it != supported.end())
    spec = &it->second;
  int64_t opset = domainOpsets.lookup(domain);
  if (!spec)
    return emitError(loc) << "unsupported operator " << describe(node)
                          << " (opset " << opset
                          << "); `lowbitc --list-ops` and docs/SupportedOps.md list the "
                             "supported operators";
  // The operator version in force: the newest listed version <= opset.
  int version = 0;
  for (int v : spec->versions)
    if (v <= opset)
      version = v;
  if (version == 0)
    return emitError(loc)  << describe(node) << " at opset " << opset
                          << " is not supported; lowbit supports versions from "
                          << spec->versions.front()
                          << " (see `lowbitc --list-ops`)";

  std::string opName = node.op_type() == "SimplifiedLayerNormalization"
                           ? "RMSNormalization"
                           : node.op_type();
  OperationState state(loc, "onnx." + opName);
  if (!state.name.isRegistered())
    return emitError(loc) << "no onnx dialect op for " << describe(node);

  // Operands: the present inputs in order; Constant takes none.
  SmallVector<Value> operands;
  SmallVector<int32_t> segments;
  for (const std::string &input : node.input()) {
    if (input.empty()) {
      segments.push_back(0);
      continue;
    }
    auto value = lookup(input, loc, "the node");
    if (failed(value))
      return failure();
    operands.push_back(*value);
    segments.push_back(1);
  }
  SmallVector<Value> attributeInputs;
  for (const auto &attr : node.attribute()) {
    if (opName == "Constant")
      continue; // handled below
    if (failed(convertAttribute(attr, loc, opName, state, attributeInputs)))
      return failure();
  }
  // An attribute that became an input takes the input slot after the data.
  if (!attributeInputs.empty()) {
    operands.append(attributeInputs);
    segments.append(attributeInputs.size(), 1);
  }
  if (int slots = segmentedInputSlots(opName)) {
    if (int(segments.size()) > slots)
      return emitError(loc)  << describe(node) << " takes at most "
                            << slots << " inputs, got " << segments.size();
    segments.resize(slots, 0);
    state.addAttribute("operandSegmentSizes", builder.getDenseI32ArrayAttr(segments));
  }
  state.addOperands(operands);
  if (failed(state.name.verifyInherentAttrs(state.attributes,
                                            [&]() { return emitError(loc); })))
    return failure();

  if (opName == "Constant") {
    if (node.attribute_size() != 1)
      return emitError(loc) << "Constant needs exactly one value attribute";
    const auto &attr = node.attribute(0);
    auto scalarType = [&](Type element, int64_t n, bool isScalar) {
      return isScalar ? RankedTensorType::get({}, element)
                      : RankedTensorType::get({n}, element);
    };
    ElementsAttr value;
    if (attr.name() == "value") {
      auto tensor = convertTensor(attr.t(), loc);
      if (failed(tensor))
        return failure();
      value = *tensor;
    } else if (attr.name() == "value_float" || attr.name() == "value_floats") {
      bool scalar = attr.name() == "value_float";
      SmallVector<float> data = scalar ? SmallVector<float>{attr.f()}
                                       : SmallVector<float>(attr.floats().begin(),
                                                            attr.floats().end());
      value = DenseElementsAttr::get(
          scalarType(builder.getF32Type(), data.size(), scalar), ArrayRef<float>(data));
    } else if (attr.name() == "value_int" || attr.name() == "value_ints") {
      bool scalar = attr.name() == "value_int";
      SmallVector<int64_t> data = scalar ? SmallVector<int64_t>{attr.i()}
                                         : SmallVector<int64_t>(attr.ints().begin(),
                                                                attr.ints().end());
      value = DenseElementsAttr::get(
          scalarType(builder.getI64Type(), data.size(), scalar), ArrayRef<int64_t>(data));
    } else {
      return emitError(loc) << "Constant with '" << attr.name()
                            << "' is not supported (sparse and string constants)";
    }
    state.addAttribute("value", value);
  }

  // Results: one per ONNX output slot up to the last one used.
  int numOutputs = node.output_size();
  while (numOutputs > 0 && node.output(numOutputs - 1).empty())
    --numOutputs;
  state.addTypes(SmallVector<Type>(numOutputs, UnrankedTensorType::get(builder.getF32Type())));
  Operation *op = builder.create(state);

  // Check operand counts, operand types and attributes before inference,
  // which relies on them; result types are placeholders until then.
  {
    lowbit::onnx::DeferResultTypeVerification defer;
    if (failed(verify(op, /*verifyRecursively=*/false)))
      return failure();
  }
  auto inferable = dyn_cast<lowbit::onnx::InferResultTypesOpInterface>(op);
  SmallVector<Type> inferred;
  if (!inferable || failed(inferable.inferResultTypes(inferred)))
    return failure();
  if (inferred.size() != op->getNumResults())
    return emitError(loc)  << describe(node) << " has "
                          << op->getNumResults() << " outputs; expected " << inferred.size();
  for (auto [i, result] : llvm::enumerate(op->getResults())) {
    result.setType(inferred[i]);
    const std::string &name = node.output(i);
    if (name.empty())
      continue;
    if (failed(refineWithHint(result, name, loc, "output")))
      return failure();
    values[name] = result;
  }
  return success();
}

OwningOpRef<ModuleOp> OnnxImporter::run() {
  context.loadDialect<lowbit::onnx::OnnxDialect, func::FuncDialect>();
  if (failed(readModel()) || failed(checkOpsets()))
    return nullptr;
  for (const auto &op : lowbit::getSupportedOnnxOps())
    supported[op.domain + ":" + op.name] = op;
  collectTypeHints();
  const onnx::GraphProto &graph = model.graph();
  for (const auto &init : graph.initializer())
    initializers[init.name()] = &init;
  if (graph.sparse_initializer_size() > 0)
    return emitError(fileLoc) << "sparse initializers are not supported", nullptr;

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  if (!graph.name().empty())
    (*module)->setAttr("onnx.graph_name", builder.getStringAttr(graph.name()));
  if (!model.producer_name().empty())
    (*module)->setAttr(
        "onnx.producer",
        builder.getStringAttr(model.producer_version().empty()
                                  ? model.producer_name()
                                  : model.producer_name() + " " + model.producer_version()));
  (*module)->setAttr("onnx.opset", builder.getI64IntegerAttr(defaultOpset));

  // Graph inputs that are not initializers are the function's arguments.
  SmallVector<const onnx::ValueInfoProto *> inputs;
  SmallVector<Type> argTypes;
  for (const auto &input : graph.input()) {
    if (initializers.count(input.name()))
      continue;
    auto type = convertType(input.type(), fileLoc, "graph input '" + input.name() + "'");
    if (failed(type))
      return nullptr;
    inputs.push_back(&input);
    argTypes.push_back(*type);
  }
  builder.setInsertionPointToEnd(module->getBody());
  auto func = func::FuncOp::create(builder, fileLoc, options.functionName,
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, input] : llvm::enumerate(inputs)) {
    values[input->name()] = entry->getArgument(i);
    func.setArgAttr(i, "onnx.name", builder.getStringAttr(input->name()));
    SmallVector<Attribute> dimParams;
    bool anyParam = false;
    if (input->type().tensor_type().has_shape()) {
      for (const auto &dim : input->type().tensor_type().shape().dim()) {
        dimParams.push_back(builder.getStringAttr(dim.dim_param()));
        anyParam |= !dim.dim_param().empty();
      }
    }
    if (anyParam)
      func.setArgAttr(i, "onnx.dim_params", builder.getArrayAttr(dimParams));
  }

  builder.setInsertionPointToEnd(entry);
  for (int i = 0; i < graph.node_size(); ++i)
    if (failed(importNode(graph.node(i), i)))
      return nullptr;

  SmallVector<Value> results;
  for (const auto &output : graph.output()) {
    auto value = lookup(output.name(), fileLoc, "graph output");
    if (failed(value))
      return nullptr;
    // Refine from the declared output type; arguments keep their own type.
    if (value->getDefiningOp() &&
        failed(refineWithHint(*value, output.name(), value->getLoc(), "graph output")))
      return nullptr;
    results.push_back(*value);
  }
  func::ReturnOp::create(builder, fileLoc, results);
  func.setType(builder.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, output] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", builder.getStringAttr(output.name()));

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> lowbit::importOnnxModel(StringRef path, MLIRContext &context,
                                              const OnnxImportOptions &options) {
  return OnnxImporter(context, path, options).run();
}
