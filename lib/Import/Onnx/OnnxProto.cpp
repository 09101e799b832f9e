//===- OnnxProto.cpp - The importer's calls into libonnx ------------------===//
//
// Built with exceptions enabled (see CMakeLists.txt): catches what libonnx
// and protobuf throw and hands back error strings.
//
//===----------------------------------------------------------------------===//

#include "OnnxProto.h"

#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"
#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <exception>

bool lowbit::detail::parseModelProto(const char *data, size_t size,
                                     onnx::ModelProto &model, std::string &error) {
  if (size > size_t(INT_MAX)) {
    error = "the protobuf is larger than 2 GiB; store the weights as external data";
    return false;
  }
  try {
    google::protobuf::io::CodedInputStream stream(
        reinterpret_cast<const uint8_t *>(data), int(size));
    stream.SetTotalBytesLimit(INT_MAX);
    if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
      error = "not a valid ONNX model: the protobuf is truncated or corrupt";
      return false;
    }
  } catch (const std::exception &e) {
    error = std::string("not a valid ONNX model: ") + e.what();
    return false;
  }
  return true;
}

bool lowbit::detail::runOnnxShapeInference(onnx::ModelProto &model,
                                           std::string &error) {
  // libonnx has no schemas for other domains (com.microsoft): it leaves
  // their outputs untyped, and crashed (a segfault, not an exception) on a
  // later node of tinystories656K quantized by ONNX Runtime's
  // MatMulNBitsQuantizer. The onnx dialect's own inference works alone.
  for (const auto &node : model.graph().node())
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      error = "the model has nodes of domain " + node.domain() + ", which libonnx does not know";
      return false;
    }
  try {
    // libonnx's shape inference trusts node arities and can crash (not
    // throw) on malformed nodes; its checker throws on them instead.
    onnx::checker::check_model(model);
    onnx::ShapeInferenceOptions options(/*check_type=*/false, /*error_mode=*/0,
                                        /*enable_data_propagation=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       options);
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
  return true;
}
