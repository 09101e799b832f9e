//===- Recipe.cpp - Quantization recipes (YAML or JSON) -------------------===//

#include "lowbit/Compiler/Recipe.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/YAMLParser.h"

using namespace llvm;
using lowbit::Recipe;

namespace {
class RecipeReader {
public:
  RecipeReader(StringRef path, SourceMgr &sources) : path(path), sources(sources) {}

  /// Records the first error, at `node`.
  bool fail(yaml::Node *node, const Twine &message) {
    if (error.empty()) {
      auto [line, column] = sources.getLineAndColumn(node->getSourceRange().Start);
      error = (path + ":" + Twine(line) + ":" + Twine(column) + ": " + message).str();
    }
    return false;
  }

  bool scalar(yaml::Node *node, std::string &out) {
    auto *value = dyn_cast_or_null<yaml::ScalarNode>(node);
    if (!value)
      return fail(node, "expected a single value");
    SmallString<32> storage;
    out = value->getValue(storage).str();
    return true;
  }

  /// A scalar or a list of scalars.
  bool strings(yaml::Node *node, std::vector<std::string> &out) {
    if (auto *list = dyn_cast_or_null<yaml::SequenceNode>(node)) {
      for (yaml::Node &item : *list)
        if (!scalar(&item, out.emplace_back()))
          return false;
      return true;
    }
    return scalar(node, out.emplace_back());
  }

  /// The `key: value` settings of a step or an override, as `key=value`
  /// (lists repeated); `layers`, each of `overrides` and `skip` go where
  /// given (an override's settings must follow the step's).
  bool settings(yaml::MappingNode *map, std::vector<std::string> &out,
                std::vector<std::string> *layers, function_ref<bool(yaml::Node &)> override_,
                bool *skip) {
    for (yaml::KeyValueNode &entry : *map) {
      std::string key;
      if (!scalar(entry.getKey(), key))
        return false;
      yaml::Node *value = entry.getValue();
      if (key == "layers" && layers) {
        if (!strings(value, *layers))
          return false;
      } else if (key == "overrides" && override_) {
        auto *list = dyn_cast_or_null<yaml::SequenceNode>(value);
        if (!list)
          return fail(value, "overrides: expected a list of {layers: [...], key: value, ...}");
        for (yaml::Node &item : *list)
          if (!override_(item))
            return false;
      } else if (key == "skip" && skip) {
        std::string flag;
        if (!scalar(value, flag))
          return false;
        *skip = flag == "true";
      } else if (key == "layers" || key == "overrides" || key == "skip") {
        return fail(entry.getKey(), "'" + key + "' is not allowed here");
      } else {
        std::vector<std::string> values;
        if (!strings(value, values))
          return false;
        for (const std::string &v : values)
          out.push_back(key + "=" + v);
      }
    }
    return true;
  }

  /// A step: a mapping with one entry, METHOD: {settings}. (The parser is
  /// a single pass: each value is read before the next key.)
  bool step(yaml::Node *node, Recipe &recipe) {
    auto *map = dyn_cast_or_null<yaml::MappingNode>(node);
    bool seen = false;
    if (map)
      for (yaml::KeyValueNode &entry : *map) {
        if (seen)
          return fail(node, "a step is `METHOD: {key: value, ...}` (METHOD: rtn, gptq or awq)");
        seen = true;
        std::string method;
        if (!scalar(entry.getKey(), method) || !method_(method, entry.getValue(), recipe))
          return false;
      }
    if (!seen)
      return fail(node, "a step is `METHOD: {key: value, ...}` (METHOD: rtn, gptq or awq)");
    return true;
  }

  /// METHOD's settings and overrides, as --quantize steps.
  bool method_(const std::string &method, yaml::Node *value, Recipe &recipe) {
    std::vector<std::string> base;
    std::vector<std::string> named; // the layers of the overrides so far
    std::vector<std::string> expanded;
    auto override_ = [&](yaml::Node &item) {
      auto *options = dyn_cast<yaml::MappingNode>(&item);
      if (!options)
        return fail(&item, "an override is {layers: [...], key: value, ...}");
      std::vector<std::string> own, layers;
      bool skip = false;
      if (!settings(options, own, &layers, nullptr, &skip))
        return false;
      if (layers.empty())
        return fail(&item, "an override needs `layers` (parts of layer names)");
      if (!skip) {
        std::vector<std::string> keys = base;
        keys.insert(keys.end(), own.begin(), own.end());
        for (const std::string &layer : layers)
          keys.push_back("layers=" + layer);
        for (const std::string &layer : named)
          keys.push_back("exclude=" + layer);
        expanded.push_back(method + (keys.empty() ? "" : "," + join(keys, ",")));
      }
      named.insert(named.end(), layers.begin(), layers.end());
      return true;
    };
    if (auto *options = dyn_cast_or_null<yaml::MappingNode>(value)) {
      if (!settings(options, base, nullptr, override_, nullptr))
        return false;
    } else if (!isa_and_nonnull<yaml::NullNode>(value)) {
      return fail(value, method + ": expected its settings as `key: value` lines");
    }
    std::vector<std::string> keys = base;
    for (const std::string &layer : named)
      keys.push_back("exclude=" + layer);
    expanded.push_back(method + (keys.empty() ? "" : "," + join(keys, ",")));
    recipe.steps.insert(recipe.steps.end(), expanded.begin(), expanded.end());
    return true;
  }

  bool read(Recipe &recipe) {
    auto buffer = MemoryBuffer::getFile(path);
    if (!buffer) {
      error = (path + ": " + buffer.getError().message()).str();
      return false;
    }
    std::string text = (*buffer)->getBuffer().str();
    yaml::Stream stream(text, sources);
    auto document = stream.begin();
    auto *root = document == stream.end()
                     ? nullptr
                     : dyn_cast_or_null<yaml::MappingNode>(document->getRoot());
    if (!error.empty() || stream.failed())
      return false;
    if (!root)
      return error = (path + ": expected a mapping with `steps`").str(), false;
    bool sawSteps = false;
    for (yaml::KeyValueNode &entry : *root) {
      std::string key;
      if (!scalar(entry.getKey(), key))
        return false;
      if (key == "steps") {
        auto *list = dyn_cast_or_null<yaml::SequenceNode>(entry.getValue());
        if (!list)
          return fail(entry.getValue(), "steps: expected a list");
        for (yaml::Node &item : *list)
          if (!step(&item, recipe))
            return false;
        sawSteps = true;
      } else if (key == "calib") {
        if (!scalar(entry.getValue(), recipe.calib))
          return false;
        if (sys::path::is_relative(recipe.calib)) {
          SmallString<128> full(sys::path::parent_path(path));
          sys::path::append(full, recipe.calib);
          recipe.calib = std::string(full);
        }
      } else if (key == "calib-max-len") {
        std::string value;
        if (!scalar(entry.getValue(), value))
          return false;
        if (StringRef(value).getAsInteger(10, recipe.calibMaxLength) || recipe.calibMaxLength < 1)
          return fail(entry.getValue(), "calib-max-len: expected a positive integer");
      } else {
        return fail(entry.getKey(),
                    "unknown key '" + key + "' (keys: steps, calib, calib-max-len)");
      }
    }
    if (!error.empty() || stream.failed())
      return false;
    if (!sawSteps)
      return error = (path + ": no `steps`").str(), false;
    return true;
  }

  std::string error;
  StringRef path;

private:
  SourceMgr &sources;
};
} // namespace

bool lowbit::readRecipe(StringRef path, Recipe &recipe, std::string &error) {
  SourceMgr sources;
  RecipeReader reader(path, sources);
  // Syntax errors of the YAML parser, with their line and column.
  sources.setDiagHandler(
      [](const SMDiagnostic &diag, void *context) {
        auto *reader = static_cast<RecipeReader *>(context);
        if (reader->error.empty())
          reader->error = (reader->path + ":" + Twine(diag.getLineNo()) + ":" +
                           Twine(diag.getColumnNo() + 1) + ": " + diag.getMessage())
                              .str();
      },
      &reader);
  bool ok = reader.read(recipe);
  error = reader.error;
  return ok && error.empty();
}
