#!/usr/bin/env python3
"""Writes the tiny ONNX models that the importer's lit tests read.

    make_model.py KIND OUT.onnx

Each KIND is one small graph built with onnx.helper, so the tests need no
checked-in binaries. Some kinds are deliberately broken (the error tests).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def opset(version):
    return [helper.make_opsetid("", version)]


def save(graph, out, version=17, **kwargs):
    model = helper.make_model(graph, opset_imports=opset(version), producer_name="lowbit-test", **kwargs)
    model.ir_version = 8
    onnx.save(model, out)


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def i64(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.INT64, shape)


def const_i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def basic(out, scale=1.0):
    """Dynamic dims, a weight initializer and a bias: MatMul + Add + Relu."""
    w = numpy_helper.from_array(np.arange(64 * 16, dtype=np.float32).reshape(64, 16) * scale / 1000, "w")
    b = numpy_helper.from_array(np.ones(16, dtype=np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="proj"),
        helper.make_node("Add", ["xw", "b"], ["xwb"], name="bias"),
        helper.make_node("Relu", ["xwb"], ["y"], name="act"),
    ]
    graph = helper.make_graph(nodes, "basic", [f32("x", ["batch", "seq", 64])], [f32("y", None)], [w, b])
    save(graph, out)


def basic_other_weights(out):
    """basic with other weight values (the same shapes)."""
    basic(out, scale=2.0)


def old_forms(out):
    """Opset 13 attribute forms that the importer turns into operands."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1], keepdims=1, name="mean"),
        helper.make_node("Split", ["x"], ["a", "b"], axis=2, name="split"),
    ]
    graph = helper.make_graph(nodes, "old", [f32("x", [2, 3, 8])], [f32("m", None), f32("a", None), f32("b", None)])
    # Split-13 takes `split` as an input; Split-11 as an attribute.
    nodes11 = [
        helper.make_node("Squeeze", ["x"], ["s"], axes=[0], name="squeeze"),
        helper.make_node("Unsqueeze", ["s"], ["u"], axes=[1], name="unsqueeze"),
        helper.make_node("Split", ["x"], ["p", "q"], axis=1, split=[1, 3], name="split"),
        helper.make_node("ReduceSum", ["x"], ["r"], axes=[1], keepdims=0, name="sum"),
    ]
    graph11 = helper.make_graph(nodes11, "old11", [f32("x", [1, 4, 8])],
                                [f32("u", None), f32("p", None), f32("q", None), f32("r", None)])
    save(graph, out, version=13)
    base, ext = os.path.splitext(out)
    save(graph11, base + "-opset11" + ext, version=11)


def new_opset(out):
    """Opset 21 forms that Debian's libonnx (opsets <= 17) does not know."""
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1, name="mean18"),
        helper.make_node("Split", ["x"], ["a", "b", "c"], axis=2, num_outputs=3, name="split18"),
        helper.make_node("Gelu", ["x"], ["g"], approximate="tanh", name="gelu20"),
        helper.make_node("Cast", ["g"], ["h"], to=TensorProto.FLOAT16, name="cast21"),
    ]
    graph = helper.make_graph(nodes, "new", [f32("x", ["n", 3, 8])],
                              [f32("m", None), f32("a", None), f32("b", None), f32("c", None),
                               helper.make_tensor_value_info("h", TensorProto.FLOAT16, None)],
                              [const_i64("axes", [-1])])
    save(graph, out, version=21)


def constants(out):
    """Constant nodes in every value form, and ConstantOfShape."""
    nodes = [
        helper.make_node("Constant", [], ["c_ints"], value_ints=[1, 2, 3], name="ints"),
        helper.make_node("Constant", [], ["c_float"], value_float=0.5, name="float"),
        helper.make_node("Constant", [], ["c_tensor"],
                         value=numpy_helper.from_array(np.array([[1, 2], [3, 4]], dtype=np.int32)), name="tensor"),
        helper.make_node("ConstantOfShape", ["c_ints"], ["filled"],
                         value=numpy_helper.from_array(np.array([7], dtype=np.int64)), name="fill"),
    ]
    graph = helper.make_graph(nodes, "constants", [],
                              [i64("c_ints", None), f32("c_float", None),
                               helper.make_tensor_value_info("c_tensor", TensorProto.INT32, None),
                               i64("filled", None)])
    save(graph, out, version=17)


def external(out):
    """A weight stored in a separate file beside the model."""
    w = numpy_helper.from_array(np.arange(256, dtype=np.float32).reshape(16, 16), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "external",
                              [f32("x", [1, 16])], [f32("y", None)], [w])
    model = helper.make_model(graph, opset_imports=opset(17))
    model.ir_version = 8
    onnx.save(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(out) + ".data", size_threshold=0)


def _set_external_location(out, location):
    """Points the model's (single) external initializer at `location`."""
    model = onnx.load(out, load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(model, out)


def external_escape(out):
    """External data whose location climbs out of the model's folder, to a
    file that does exist there."""
    external(out)
    folder = os.path.dirname(os.path.abspath(out))
    outside = os.path.join(os.path.dirname(folder), "outside.data")
    os.replace(out + ".data", outside)
    _set_external_location(out, "../outside.data")


def external_absolute(out):
    external(out)
    _set_external_location(out, os.path.abspath(out + ".data"))


def external_symlink(out):
    """External data reached through a symlink that leaves the folder."""
    external_escape(out)
    folder = os.path.dirname(os.path.abspath(out))
    link = os.path.join(folder, "link.data")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(os.path.dirname(folder), "outside.data"), link)
    _set_external_location(out, "link.data")


def external_truncated(out):
    """External data file shorter than the tensor needs."""
    external(out)
    data = out + ".data"
    with open(data, "r+b") as f:
        f.truncate(100)


def external_missing(out):
    external(out)
    os.remove(out + ".data")


def unsupported(out):
    graph = helper.make_graph([helper.make_node("NonZero", ["x"], ["y"], name="nz")], "unsupported",
                              [f32("x", [4])], [i64("y", None)])
    save(graph, out)


def old_softmax(out):
    """Softmax-11 (flattens to 2-D): a different semantics, refused."""
    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"], name="sm")], "sm11",
                              [f32("x", [2, 4])], [f32("y", None)])
    save(graph, out, version=11)


def contradiction(out):
    """value_info that contradicts what the inputs give."""
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"], name="add"),
                               helper.make_node("Relu", ["y"], ["z"], name="relu")],
                              "contradiction", [f32("x", [2, 3])], [f32("z", None)],
                              value_info=[f32("y", [2, 4])])
    save(graph, out)


def not_broadcastable(out):
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="add")], "bcast",
                              [f32("x", [2, 3]), f32("w", [4])], [f32("y", None)])
    save(graph, out)


def unsorted(out):
    graph = helper.make_graph([helper.make_node("Relu", ["t"], ["y"], name="second"),
                               helper.make_node("Relu", ["x"], ["t"], name="first")], "unsorted",
                              [f32("x", [2])], [f32("y", None)])
    save(graph, out)


def rmsnorm(out):
    """ONNX Runtime's SimplifiedLayerNormalization and opset-23 RMSNormalization."""
    scale = numpy_helper.from_array(np.ones(8, dtype=np.float32), "scale")
    graph = helper.make_graph(
        [helper.make_node("SimplifiedLayerNormalization", ["x", "scale"], ["y"], axis=-1, epsilon=1e-6,
                          name="ort_rms")],
        "rms", [f32("x", ["n", 8])], [f32("y", None)], [scale])
    save(graph, out, version=17)


def truncated(out):
    basic(out)
    with open(out, "r+b") as f:
        size = f.seek(0, 2)
        f.truncate(size // 2)


def garbage(out):
    with open(out, "wb") as f:
        f.write(bytes(range(256)) * 4)


def empty(out):
    open(out, "wb").close()


def unknown_attribute(out):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu", flavour=3)], "attr",
                              [f32("x", [2])], [f32("y", None)])
    save(graph, out)


KINDS = {name: fn for name, fn in globals().items()
         if callable(fn) and not name.startswith("_") and fn.__module__ == __name__
         and name not in ("opset", "save", "f32", "i64", "const_i64", "main")}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: make_model.py KIND OUT.onnx  (KIND: {', '.join(sorted(KINDS))})")
    out = sys.argv[2]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    KINDS[sys.argv[1]](out)


if __name__ == "__main__":
    main()
