//===- QuantizeSteps.h - lowbitc's --quantize steps -------------*- C++ -*-===//
//
// `--quantize=STEP[,key=value...]` names a quantization pass and its
// options: `gptq,bits=4,exclude=a,exclude=b` is `lowbit-gptq{bits=4
// exclude=a,b}`. This is the table of steps and the translation.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_COMPILER_QUANTIZESTEPS_H
#define LOWBIT_COMPILER_QUANTIZESTEPS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/LogicalResult.h"

#include <string>
#include <vector>

namespace lowbit {
/// One --quantize step, ready to run.
struct QuantizeStepPlan {
  std::string step;     // as given
  std::string pipeline; // the pass with its options, e.g. lowbit-rtn{bits=4}
  bool needsCalibration = false;
  bool sequential = false; // gptq's sequential=true: the driver runs it a stage at a time
};

/// The plans of `steps` (in order). An awq step followed by a step that
/// rounds weights only rescales (quantize=false is added unless given).
/// Fails with a message (starting `--quantize=STEP: `) in `error`.
llvm::LogicalResult planQuantizeSteps(llvm::ArrayRef<std::string> steps,
                                      std::vector<QuantizeStepPlan> &plans, std::string &error);
} // namespace lowbit

#endif // LOWBIT_COMPILER_QUANTIZESTEPS_H
