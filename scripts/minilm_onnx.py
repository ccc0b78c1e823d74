"""Builds all-MiniLM-L6-v2 as an int8 ONNX graph from the packaged safetensors (no torch, no hub).

Why: candle's f32 forward pass streams every weight matrix for each short question (p95 ~20 ms
on the benchmark machine, the largest part of a contact-scoped search). ONNX Runtime's dynamically
quantised int8 products use the CPU's VNNI/AMX instructions and keep the weights 4x smaller.

The graph is written op by op from the BERT architecture (sentence-transformers' recipe: mean
pooling over the attention mask, then L2 normalisation, both inside the graph), so the only inputs
are the safetensors file and this script. Usage:

    python scripts/minilm_onnx.py MODEL_DIR OUT.onnx [--f32 OUT_F32.onnx]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


class Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out


def build(model_dir: Path) -> onnx.ModelProto:
    cfg = json.loads((model_dir / "config.json").read_text())
    w = load_file(str(model_dir / "model.safetensors"))
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(cfg["layer_norm_eps"])
    g = Graph()

    def weight(key: str) -> str:
        return g.const(w[key].astype(np.float32), key.replace(".", "_"))

    def linear(x: str, prefix: str) -> str:
        # PyTorch stores (out, in); the graph multiplies by (in, out).
        wt = g.const(
            np.ascontiguousarray(w[prefix + ".weight"].T),
            prefix.replace(".", "_") + "_w",
        )
        return g.op("Add", [g.op("MatMul", [x, wt]), weight(prefix + ".bias")])

    def layer_norm(x: str, prefix: str) -> str:
        return g.op(
            "LayerNormalization",
            [x, weight(prefix + ".weight"), weight(prefix + ".bias")],
            axis=-1,
            epsilon=eps,
        )

    # Embeddings: words + positions + token type 0 (single-segment input), then LayerNorm.
    seq_len = g.op(
        "Gather",
        [g.op("Shape", ["input_ids"]), g.const(np.array(1, dtype=np.int64))],
        axis=0,
    )
    positions = g.op(
        "Range",
        [
            g.const(np.array(0, dtype=np.int64)),
            seq_len,
            g.const(np.array(1, dtype=np.int64)),
        ],
    )
    words = g.op("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"])
    pos = g.op("Gather", [weight("embeddings.position_embeddings.weight"), positions])
    token_type = g.const(
        w["embeddings.token_type_embeddings.weight"][0].astype(np.float32)
    )
    x = layer_norm(
        g.op("Add", [g.op("Add", [words, pos]), token_type]), "embeddings.LayerNorm"
    )

    # Padding is masked out of attention with a large negative bias, as BERT does.
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = g.op(
        "Mul",
        [
            g.op("Sub", [g.const(np.array(1.0, dtype=np.float32)), mask]),
            g.const(np.array(-10000.0, dtype=np.float32)),
        ],
    )
    bias = g.op("Unsqueeze", [bias, g.const(np.array([1, 2], dtype=np.int64))])
    split = g.const(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge = g.const(np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const(np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def heads_of(name: str, perm: list[int], p: str = p, x: str = x) -> str:
            return g.op(
                "Transpose",
                [g.op("Reshape", [linear(x, f"{p}.attention.self.{name}"), split])],
                perm=perm,
            )

        q = heads_of("query", [0, 2, 1, 3])
        k = heads_of("key", [0, 2, 3, 1])
        v = heads_of("value", [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge])
        x = layer_norm(
            g.op("Add", [linear(ctx, f"{p}.attention.output.dense"), x]),
            f"{p}.attention.output.LayerNorm",
        )
        h = linear(x, f"{p}.intermediate.dense")
        # Exact GELU (erf), as BERT's "gelu".
        erf = g.op(
            "Erf",
            [g.op("Div", [h, g.const(np.array(math.sqrt(2.0), dtype=np.float32))])],
        )
        h = g.op(
            "Mul",
            [
                g.op("Mul", [h, g.const(np.array(0.5, dtype=np.float32))]),
                g.op("Add", [erf, g.const(np.array(1.0, dtype=np.float32))]),
            ],
        )
        x = layer_norm(
            g.op("Add", [linear(h, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm"
        )

    # Mean over real tokens, then L2 normalisation.
    m3 = g.op("Unsqueeze", [mask, g.const(np.array([2], dtype=np.int64))])
    axis1 = g.const(np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3]), axis1], keepdims=0)
    counts = g.op("ReduceSum", [mask, axis1], keepdims=1)
    mean = g.op("Div", [summed, counts])
    norm = g.op(
        "Sqrt", [g.op("ReduceSum", [g.op("Mul", [mean, mean]), axis1], keepdims=1)]
    )
    g.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2",
        [
            helper.make_tensor_value_info(
                "input_ids", TensorProto.INT64, ["batch", "sequence"]
            ),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
            )
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--f32", type=Path, help="also keep the unquantised graph here")
    args = ap.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic advises a pre-processing pass meant for image models; the graph is already
    # shape-inferable and the advice would only be noise in every setup log.
    logging.getLogger().setLevel(logging.ERROR)
    model = build(args.model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        f32 = args.f32 or Path(tmp) / "f32.onnx"
        onnx.save(model, str(f32))
        tmp_out = args.out.with_suffix(".tmp")
        # Per output channel: one scale per column kept the vectors at a cosine of 0.993-0.996 of
        # the f32 ones on English and Portuguese sentences; one scale per matrix, 0.94-0.97.
        quantize_dynamic(
            str(f32),
            str(tmp_out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        tmp_out.replace(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
