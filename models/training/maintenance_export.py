"""The bearing-health model file: anomaly components fitted in numpy, and one ONNX graph holding the
scikit-learn classifier and the anomaly score beside it."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_agent.pipelines.vibration_features import FEATURE_NAMES

MODEL_NAME = "bearing-health"
OPSET = 17
ML_OPSET = 3


def fit_anomaly(
    z: np.ndarray, y: np.ndarray, n_classes: int, ridge: float, components: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whitening maps of Gaussian components (k-means sub-clusters of each class) for the anomaly score.

    score^2 * F = min_k ||z A_k - b_k||^2 is the squared Mahalanobis distance to the nearest component;
    several components per class follow distributions a single Gaussian would smear (speed, SNR regimes).
    """
    from sklearn.cluster import KMeans

    f = z.shape[1]
    blocks_a, blocks_b = [], []
    for c in range(n_classes):
        zc = z[y == c].astype(np.float64)
        if components > 1:
            groups = KMeans(components, n_init=3, random_state=seed).fit_predict(zc)
        else:
            groups = np.zeros(len(zc), dtype=np.int64)
        for k in range(components):
            zk = zc[groups == k]
            if len(zk) <= f:  # too few windows for a covariance: fall back to the whole class
                zk = zc
            mean = zk.mean(axis=0)
            cov = np.cov(zk, rowvar=False) + ridge * np.eye(f)
            whiten = np.linalg.inv(np.linalg.cholesky(cov))  # whiten @ (z - mean) has identity covariance
            blocks_a.append(whiten.T)
            blocks_b.append(mean @ whiten.T)
    return np.concatenate(blocks_a, axis=1), np.concatenate(blocks_b)


def anomaly_scores_numpy(x: np.ndarray, mu: np.ndarray, sd: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference implementation of the ONNX anomaly subgraph (used to check the export); the components may
    cover only the first a.shape[0] features."""
    f = a.shape[0]
    y = ((x[:, :f] - mu[:f]) / sd[:f]) @ a - b
    d = (y * y).reshape(x.shape[0], -1, f).sum(axis=2)
    return np.sqrt(d.min(axis=1) / f)


def build_onnx(clf: Any, mu: np.ndarray, sd: np.ndarray, a: np.ndarray, b: np.ndarray) -> bytes:
    """Export the classifier with skl2onnx and graft the anomaly subgraph onto the same graph. The anomaly
    components (`a`: rows per feature) may cover only the first a.shape[0] features; the rest get zero rows."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    f = len(FEATURE_NAMES)
    onx = convert_sklearn(
        clf,
        initial_types=[("features", FloatTensorType([None, f]))],
        options={id(clf): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    graph = onx.graph
    # Keep only the probabilities; prune nodes that only fed the label output.
    keep = [o for o in graph.output if o.name == "probabilities"]
    if len(keep) != 1:
        raise RuntimeError(f"unexpected classifier outputs {[o.name for o in graph.output]}")
    del graph.output[:]
    graph.output.extend(keep)
    needed = {"probabilities"}
    nodes = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            nodes.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(nodes))
    used = {i for n in graph.node for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)

    # Anomaly: fold the standardisation into one affine map, then square, sum per class, min over classes.
    fa = a.shape[0]
    a_fold = np.zeros((f, a.shape[1]), dtype=np.float32)
    a_fold[:fa] = a / sd[:fa, None]
    b_fold = (b + (mu[:fa] / sd[:fa]) @ a).astype(np.float32)
    n_blocks = a.shape[1] // fa
    graph.initializer.extend(
        [
            numpy_helper.from_array(a_fold, "anomaly_whiten"),
            numpy_helper.from_array(b_fold, "anomaly_offset"),
            numpy_helper.from_array(np.array([-1, n_blocks, fa], dtype=np.int64), "anomaly_shape"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "anomaly_axis_feat"),
            numpy_helper.from_array(np.array([1.0 / fa], dtype=np.float32), "anomaly_inv_f"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("MatMul", ["features", "anomaly_whiten"], ["anomaly_proj"]),
            helper.make_node("Sub", ["anomaly_proj", "anomaly_offset"], ["anomaly_centered"]),
            helper.make_node("Mul", ["anomaly_centered", "anomaly_centered"], ["anomaly_sq"]),
            helper.make_node("Reshape", ["anomaly_sq", "anomaly_shape"], ["anomaly_blocks"]),
            helper.make_node("ReduceSum", ["anomaly_blocks", "anomaly_axis_feat"], ["anomaly_d2"], keepdims=0),
            helper.make_node("ReduceMin", ["anomaly_d2"], ["anomaly_min"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["anomaly_min", "anomaly_inv_f"], ["anomaly_mean"]),
            helper.make_node("Sqrt", ["anomaly_mean"], ["anomaly_score"]),
        ]
    )
    graph.output.append(helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, [None, 1]))
    graph.output[0].type.tensor_type.shape.dim[0].dim_param = "N"
    graph.output[1].type.tensor_type.shape.dim[0].dim_param = "N"
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    graph.name = MODEL_NAME
    onx.producer_name = "models.training.train_maintenance"
    onx.doc_string = "bearing-health: state probabilities + anomaly score from shaft-order features"
    onnx.checker.check_model(onx)
    return bytes(onx.SerializeToString())


def run_onnx(model_bytes: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and anomaly scores of the exported model on a feature matrix."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    probs, scores = sess.run(["probabilities", "anomaly_score"], {"features": x.astype(np.float32)})
    return np.asarray(probs), np.asarray(scores)
