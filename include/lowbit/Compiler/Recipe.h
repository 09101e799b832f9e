//===- Recipe.h - Quantization recipes (YAML or JSON) -----------*- C++ -*-===//
//
// A recipe file names the quantization steps of `lowbitc --recipe=FILE`,
// with per-layer overrides, and optionally the calibration data:
//
//   calib: calib_tokens.txt          # relative to the recipe's folder
//   steps:
//     - awq: {bits: 4, group-size: 32, symmetric: false}
//     - gptq:
//         bits: 4
//         group-size: 32
//         symmetric: false
//         overrides:
//           - {layers: [head], bits: 8, group-size: 0}
//           - {layers: [w2], skip: true}
//
// JSON is YAML's flow syntax, so the same file may be JSON. Each step
// becomes --quantize arguments: one per override (its keys over the step's,
// on its layers only, each override leaving the layers of those before it
// out) and the step itself on the layers no override names; `skip: true`
// leaves an override's layers out of the step.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_COMPILER_RECIPE_H
#define LOWBIT_COMPILER_RECIPE_H

#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace lowbit {
struct Recipe {
  std::vector<std::string> steps; // --quantize arguments, in order
  std::string calib;              // calibration data, or empty
  int64_t calibMaxLength = 0;     // 0: not set
};

/// Reads the recipe at `path`; false and a message naming the file, line
/// and reason on error.
bool readRecipe(llvm::StringRef path, Recipe &recipe, std::string &error);
} // namespace lowbit

#endif // LOWBIT_COMPILER_RECIPE_H
