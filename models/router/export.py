"""Write the head as an ONNX graph with onnx.helper (standard ops + ai.onnx.ml trees).

Graph: Concat(features, complexity) -> TreeEnsembleRegressor (two targets: the strong and the
weak model's logit) -> Sigmoid -> P(strong) - P(weak) -> logistic of its z-score = head.
MatMul(embedding, centroids) -> ReduceMax = max similarity to the multiple-choice and to the
open training prompts -> logistic each -> Where(options feature > 0) = blend weight w.
Complexity -> piecewise-linear prior (sum of clipped segments). score = head + w (prior - head).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from head import OPTIONS_COLUMN, Head

ML_OPSET = 3
OPSET = 17


def _floor32(value: float) -> float:
    """The largest float32 <= value: a split `x <= t` then sends the same float32 inputs left
    as the float64 threshold did."""
    t = np.float32(value)
    if float(t) > value:
        t = np.nextafter(t, np.float32(-np.inf))
    return float(t)


def tree_attributes(models: list[Any]) -> dict[str, Any]:
    """TreeEnsembleRegressor attributes for fitted HistGradientBoostingClassifiers, one
    target per model (its raw logit)."""
    a: dict[str, list[Any]] = {
        k: []
        for k in [
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        ]
    }
    tree = 0
    for target, model in enumerate(models):
        for (predictor,) in model._predictors:
            for i, node in enumerate(predictor.nodes):
                leaf = bool(node["is_leaf"])
                a["nodes_treeids"].append(tree)
                a["nodes_nodeids"].append(i)
                a["nodes_featureids"].append(0 if leaf else int(node["feature_idx"]))
                a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
                a["nodes_values"].append(0.0 if leaf else _floor32(float(node["num_threshold"])))
                a["nodes_truenodeids"].append(0 if leaf else int(node["left"]))
                a["nodes_falsenodeids"].append(0 if leaf else int(node["right"]))
                a["nodes_missing_value_tracks_true"].append(int(node["missing_go_to_left"]))
                if leaf:
                    a["target_treeids"].append(tree)
                    a["target_nodeids"].append(i)
                    a["target_ids"].append(target)
                    a["target_weights"].append(float(node["value"]))
            tree += 1
    base = [float(np.ravel(m._baseline_prediction)[0]) for m in models]
    return {**a, "n_targets": len(models), "base_values": base, "aggregate_function": "SUM"}


def _blend_nodes(helper: Any, fmt: str) -> list[Any]:
    """w_<fmt> = sigmoid(a * max(embedding . centres_<fmt>) + b)."""
    return [
        helper.make_node("MatMul", ["embedding", f"centres_{fmt}"], [f"sims_{fmt}"]),
        helper.make_node("ReduceMax", [f"sims_{fmt}"], [f"maxsim_{fmt}"], axes=[1], keepdims=0),
        helper.make_node("Mul", [f"maxsim_{fmt}", f"{fmt}_a"], [f"wz0_{fmt}"]),
        helper.make_node("Add", [f"wz0_{fmt}", f"{fmt}_b"], [f"wz_{fmt}"]),
        helper.make_node("Sigmoid", [f"wz_{fmt}"], [f"w_{fmt}"]),
    ]


def export_onnx(head: Head, n_features: int, path: Path, doc: str) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    assert head.prior is not None
    px, py = head.prior.x, head.prior.y
    slopes = np.diff(py) / np.diff(px)
    blend = head.blend
    distance = head.distance
    assert distance.choice is not None and distance.open is not None
    (mc_half, mc_width), (open_half, open_width) = blend.params[True], blend.params[False]
    f32 = np.float32
    inits = [
        numpy_helper.from_array(np.array([[1.0], [-1.0]], f32), "difference"),
        numpy_helper.from_array(np.array([-1], np.int64), "flat"),
        numpy_helper.from_array(np.array(head.centre, f32), "centre"),
        numpy_helper.from_array(np.array(1.0 / head.scale, f32), "inv_scale"),
        numpy_helper.from_array(distance.choice.centres.T.astype(f32), "centres_mc"),
        numpy_helper.from_array(distance.open.centres.T.astype(f32), "centres_open"),
        numpy_helper.from_array(np.array(-1.0 / mc_width, f32), "mc_a"),
        numpy_helper.from_array(np.array(mc_half / mc_width, f32), "mc_b"),
        numpy_helper.from_array(np.array(-1.0 / open_width, f32), "open_a"),
        numpy_helper.from_array(np.array(open_half / open_width, f32), "open_b"),
        numpy_helper.from_array(np.array([OPTIONS_COLUMN], np.int64), "options_col"),
        numpy_helper.from_array(np.array(0.0, f32), "zero"),
        numpy_helper.from_array(px[:-1].astype(f32), "knot_lo"),
        numpy_helper.from_array(px[1:].astype(f32), "knot_hi"),
        numpy_helper.from_array(slopes.astype(f32), "slopes"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(py[0], f32), "prior0"),
    ]
    trees = tree_attributes(head.boost.models)
    nodes = [
        helper.make_node("Concat", ["features", "complexity"], ["inputs"], axis=1),
        helper.make_node(
            "TreeEnsembleRegressor", ["inputs"], ["logits"], domain="ai.onnx.ml", **trees
        ),
        helper.make_node("Sigmoid", ["logits"], ["probs"]),
        helper.make_node("MatMul", ["probs", "difference"], ["gain2"]),
        helper.make_node("Reshape", ["gain2", "flat"], ["gain"]),
        helper.make_node("Sub", ["gain", "centre"], ["gain_c"]),
        helper.make_node("Mul", ["gain_c", "inv_scale"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["head"]),
        # distance from the training prompts of the same format
        *_blend_nodes(helper, "mc"),
        *_blend_nodes(helper, "open"),
        helper.make_node("Gather", ["features", "options_col"], ["options2"], axis=1),
        helper.make_node("Reshape", ["options2", "flat"], ["options"]),
        helper.make_node("Greater", ["options", "zero"], ["is_mc"]),
        helper.make_node("Where", ["is_mc", "w_mc", "w_open"], ["ood_weight"]),
        # complexity prior
        helper.make_node("Max", ["complexity", "knot_lo"], ["c_lo"]),
        helper.make_node("Min", ["c_lo", "knot_hi"], ["c_clip"]),
        helper.make_node("Sub", ["c_clip", "knot_lo"], ["c_seg"]),
        helper.make_node("Mul", ["c_seg", "slopes"], ["c_rise"]),
        helper.make_node("ReduceSum", ["c_rise", "axis1"], ["rise"], keepdims=0),
        helper.make_node("Add", ["rise", "prior0"], ["prior"]),
        # blend
        helper.make_node("Sub", ["prior", "head"], ["delta"]),
        helper.make_node("Mul", ["ood_weight", "delta"], ["shift"]),
        helper.make_node("Add", ["head", "shift"], ["score"]),
    ]
    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "router_head",
        [
            tensor("embedding", TensorProto.FLOAT, ["n", 384]),
            tensor("features", TensorProto.FLOAT, ["n", n_features]),
            tensor("complexity", TensorProto.FLOAT, ["n", 1]),
        ],
        [
            tensor("score", TensorProto.FLOAT, ["n"]),
            tensor("head", TensorProto.FLOAT, ["n"]),
            tensor("ood_weight", TensorProto.FLOAT, ["n"]),
            tensor("prior", TensorProto.FLOAT, ["n"]),
        ],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ],
    )
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
