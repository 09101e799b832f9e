//===- OnnxProto.h - The importer's calls into libonnx ----------*- C++ -*-===//
//
// libonnx's parser, checker and shape inference throw exceptions; the rest of
// the compiler is built without them. Every call into libonnx goes through
// this file (OnnxProto.cpp, built with -fexceptions), which turns exceptions
// into error strings.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_LIB_IMPORT_ONNX_ONNXPROTO_H
#define LOWBIT_LIB_IMPORT_ONNX_ONNXPROTO_H

#include "onnx/onnx_pb.h"

#include <string>

namespace lowbit::detail {
/// Parses a serialized ModelProto (any size up to protobuf's 2 GiB limit).
/// Returns false with `error` set when the bytes are not a valid model.
bool parseModelProto(const char *data, size_t size, onnx::ModelProto &model,
                     std::string &error);

/// Runs libonnx's shape inference on `model`, adding value_info entries.
/// Returns false with `error` set when it threw; the model is then unchanged
/// or partially annotated, which is harmless: the results are only hints.
bool runOnnxShapeInference(onnx::ModelProto &model, std::string &error);
} // namespace lowbit::detail

#endif // LOWBIT_LIB_IMPORT_ONNX_ONNXPROTO_H
