//===- QuantizeSteps.cpp - lowbitc's --quantize steps ---------------------===//

#include "lowbit/Compiler/QuantizeSteps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace {
/// A --quantize step: its pass and the keys it takes.
struct QuantizeStep {
  const char *pass;
  std::vector<StringRef> keys;
  bool needsCalibration;
  bool quantizes;     // rounds the weights (awq alone does; before another, it only rescales)
  const char *preset; // options the step always passes
};

const llvm::StringMap<QuantizeStep> &quantizeSteps() {
  static const llvm::StringMap<QuantizeStep> steps = {
      {"rtn",
       {"lowbit-rtn",
        {"bits", "group-size", "symmetric", "activation-bits", "static-activations", "layers",
         "exclude"},
        false,
        true,
        ""}},
      {"gptq",
       {"lowbit-gptq",
        {"bits", "group-size", "symmetric", "act-order", "static-groups", "clip", "damp-percent",
         "block-size", "activation-bits", "layers", "exclude", "sequential"},
        true,
        true,
        ""}},
      {"awq",
       {"lowbit-awq",
        {"bits", "group-size", "symmetric", "grid", "duo-scaling", "clip", "quantize",
         "activation-bits", "layers", "exclude"},
        true,
        false,
        ""}},
      {"smoothquant",
       {"lowbit-smoothquant", {"alpha", "search-alpha", "layers", "exclude"}, true, false, ""}},
      {"split-outliers",
       {"lowbit-split-outliers", {"threshold", "layers", "exclude"}, true, false, ""}},
      {"kv-cache", {"lowbit-quantize-kv-cache", {"bits", "window", "key-scales"}, false, false, ""}},
      // W8A8: int8 weights per output channel, int8 activations per token.
      {"w8a8",
       {"lowbit-rtn",
        {"symmetric", "static-activations", "layers", "exclude"},
        false,
        true,
        "bits=8 group-size=0 activation-bits=8"}},
  };
  return steps;
}

StringRef stepName(StringRef step) { return step.split(',').first.trim(); }

/// The pass pipeline of one --quantize step: `rtn,bits=4,exclude=a,exclude=b`
/// becomes `lowbit-rtn{bits=4 exclude=a,b}`; `extra` options are appended.
/// Empty (and a message in `error`) on error.
std::string quantizeStepPipeline(StringRef step, StringRef extra, std::string &error) {
  raw_string_ostream errs(error);
  const auto &steps = quantizeSteps();
  SmallVector<StringRef> parts;
  step.split(parts, ',');
  auto found = steps.find(stepName(step));
  if (found == steps.end()) {
    errs << "--quantize=" << step << ": unknown step '" << parts.front()
         << "' (steps: rtn, gptq, awq, smoothquant, split-outliers, w8a8, kv-cache)";
    return "";
  }
  const QuantizeStep &info = found->second;
  std::string options = info.preset, excluded, only;
  for (StringRef part : llvm::drop_begin(parts)) {
    auto [key, value] = part.split('=');
    key = key.trim();
    value = value.trim();
    if (!llvm::is_contained(info.keys, key) || value.empty()) {
      errs << "--quantize=" << step << ": '" << part << "' is not key=value with a key of "
           << parts.front() << " (";
      llvm::interleaveComma(info.keys, errs);
      errs << ")";
      return "";
    }
    if (key == "exclude")
      excluded += (excluded.empty() ? "" : ",") + value.str();
    else if (key == "layers")
      only += (only.empty() ? "" : ",") + value.str();
    else if (key != "sequential") // the driver's, not the pass's
      options += (options.empty() ? "" : " ") + (key + "=" + value).str();
  }
  if (!only.empty())
    options += (options.empty() ? "" : " ") + ("layers=" + only);
  if (!excluded.empty())
    options += (options.empty() ? "" : " ") + ("exclude=" + excluded);
  if (!extra.empty())
    options += (options.empty() ? "" : " ") + extra.str();
  return std::string(info.pass) + "{" + options + "}";
}

/// Whether a step sets the boolean `key` (sequential=true).
bool isSet(StringRef step, StringRef key) {
  SmallVector<StringRef> parts;
  step.split(parts, ',');
  bool set = false;
  for (StringRef part : llvm::drop_begin(parts)) {
    auto [name, value] = part.split('=');
    if (name.trim() == key)
      set = value.trim() == "true" || value.trim() == "1";
  }
  return set;
}

} // namespace

LogicalResult lowbit::planQuantizeSteps(ArrayRef<std::string> steps,
                                        std::vector<QuantizeStepPlan> &plans, std::string &error) {
  for (auto [i, step] : llvm::enumerate(steps)) {
    auto found = quantizeSteps().find(stepName(step));
    std::string extra;
    QuantizeStepPlan plan;
    plan.step = step;
    if (found != quantizeSteps().end()) {
      // Static activation scales come from calibration too.
      plan.needsCalibration =
          found->second.needsCalibration || isSet(step, "static-activations");
      bool roundedLater = llvm::any_of(llvm::drop_begin(steps, i + 1), [](StringRef later) {
        auto next = quantizeSteps().find(stepName(later));
        return next != quantizeSteps().end() && next->second.quantizes;
      });
      if (stepName(step) == "awq" && roundedLater && !StringRef(step).contains("quantize="))
        extra = "quantize=false";
    }
    plan.pipeline = quantizeStepPipeline(step, extra, error);
    if (plan.pipeline.empty())
      return failure();
    plan.sequential = isSet(step, "sequential");
    plans.push_back(std::move(plan));
  }
  return success();
}
