//===- OnnxInterfaces.td - Interfaces of the onnx dialect --*- tablegen -*-===//

#ifndef LOWBIT_DIALECT_ONNX_IR_ONNXINTERFACES_TD
#define LOWBIT_DIALECT_ONNX_IR_ONNXINTERFACES_TD

include "mlir/IR/OpBase.td"

def Onnx_InferResultTypesOpInterface : OpInterface<"InferResultTypesOpInterface"> {
  let cppNamespace = "::lowbit::onnx";
  let description = [{
    Result-type inference of an onnx op: from the types of its operands, its
    attributes and the values of its constant operands, compute the type of
    every result. An inferred type may have dynamic dimensions or be unranked
    where the information is not there. Inference emits an error on the op
    and fails when the operands contradict the operator's rules (for example
    shapes that do not broadcast).

    The interface's verifier checks each result type against the inferred
    one: same element type, and where both are ranked, same rank and equal
    sizes wherever both are static.
  }];
  let methods = [
    InterfaceMethod<[{
        Appends one inferred type per result of the op to `inferred`.
      }],
      "::llvm::LogicalResult", "inferResultTypes",
      (ins "::llvm::SmallVectorImpl<::mlir::Type> &":$inferred)>,
  ];
  let verify = [{
    return ::lowbit::onnx::verifyInferredResultTypes($_op);
  }];
}

#endif // LOWBIT_DIALECT_ONNX_IR_ONNXINTERFACES_TD
