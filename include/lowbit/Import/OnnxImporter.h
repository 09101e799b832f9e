//===- OnnxImporter.h - ONNX model to onnx dialect --------------*- C++ -*-===//
//
// Reads an ONNX model (protobuf, through libonnx) into a module holding one
// func.func of onnx dialect ops.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_IMPORT_ONNXIMPORTER_H
#define LOWBIT_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace lowbit {

struct OnnxImportOptions {
  /// Initializers (and Constant nodes) with more elements than this become
  /// dense_resource blobs; smaller ones are inline dense attributes, so that
  /// folding can see shape constants.
  int64_t inlineElementLimit = 64;
  /// Run libonnx's shape inference first and use what it finds to refine the
  /// types the onnx dialect infers (never to override them).
  bool useOnnxShapeInference = true;
  /// Name of the imported function.
  std::string functionName = "main_graph";
};

/// Imports the ONNX model at `path`. External data is read from files in the
/// model's folder only. On failure, errors naming the file, the node and the
/// reason are emitted to the context's diagnostic handler and null is
/// returned; the returned module is verified.
mlir::OwningOpRef<mlir::ModuleOp>
importOnnxModel(llvm::StringRef path, mlir::MLIRContext &context,
                const OnnxImportOptions &options = {});

/// One supported ONNX operator: its name (default domain unless `domain` is
/// set) and the operator versions ("since_version"s) the importer accepts.
struct SupportedOnnxOp {
  std::string domain;
  std::string name;
  std::vector<int> versions;
  std::string note;
};

/// The operators the importer accepts, sorted by name.
std::vector<SupportedOnnxOp> getSupportedOnnxOps();

} // namespace lowbit

#endif // LOWBIT_IMPORT_ONNXIMPORTER_H
