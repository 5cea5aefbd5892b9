"""The ``empathy`` family: a model empathy score per supporter turn, for corpora without ratings.

Heuristic, embedding-prototype score (a project definition, not a validated measure): with
the sentence encoder, each supporter turn's cosine similarity to the centroid of anchor
statements written for this project (``fastmetrics/data/study/empathy_anchors.json``) for the
three empathy mechanisms of Sharma et al., EMNLP 2020 -- emotional reactions (``er``),
interpretations (``ip``), explorations (``ex``) -- and to advice-giving / problem-solving
anchors (``advice``). Columns (supporter turns; NaN elsewhere):

* ``empathy_proto_er``, ``empathy_proto_ip``, ``empathy_proto_ex``, ``empathy_proto_advice``;
* ``empathy_proto`` = mean(er, ip, ex) - advice (higher = closer to empathic responding than
  to advice-giving).

``--empathy-anchors FILE`` replaces the anchors (JSON ``{category: [statements]}`` with the
four keys). ``--empathy-onnx MODEL.onnx`` uses a user's classifier instead: an ONNX model
whose first input takes float32 turn embeddings (n, 384) and whose first output is (n,) or
(n, 1) (written as ``empathy_onnx``) or (n, k) (written as ``empathy_onnx_0..k-1``).
"""
from __future__ import annotations

import numpy as np

from ...options import CACHE_DIR, ENCODER, MODEL_DIR, ExistingPath, Option, Text
from ...registry import Context, MetricFamily, MetricResult

__all__ = ["FAMILY"]

from . import MECHANISMS, SHORT


def _proto(corpus, ctx: Context, emb: np.ndarray, sup: np.ndarray) -> dict[str, np.ndarray]:
    from ...embed.api import encode_texts
    from ...embed.prototypes import centroids, load_anchors, prototype_scores
    from ...errors import InputError

    anchors = ctx.options["empathy_anchors"] or "empathy"

    def build():
        a = load_anchors(anchors)
        missing = [m for m in MECHANISMS if m not in a]
        if missing:
            raise InputError(f"empathy anchors {anchors!r} lack {missing}; need {list(MECHANISMS)}")
        return centroids({m: encode_texts(a[m], ctx) for m in MECHANISMS})

    key = f"empathy:centroids:{anchors}:{ctx.options['model_dir']}:{ctx.options['encoder']}"
    names, C = ctx.resource(key, build)
    S = prototype_scores(emb[sup], C)
    out = {}
    for j, m in enumerate(names):
        col = np.full(corpus.n_turns, np.nan)
        col[sup] = S[:, j]
        out[f"empathy_proto_{SHORT[m]}"] = col
    out["empathy_proto"] = (out["empathy_proto_er"] + out["empathy_proto_ip"]
                            + out["empathy_proto_ex"]) / 3 - out["empathy_proto_advice"]
    return out


def _onnx(corpus, ctx: Context, emb: np.ndarray, sup: np.ndarray, path: str) -> dict[str, np.ndarray]:
    from ...errors import BackendUnavailableError, InputError

    def build():
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover
            raise BackendUnavailableError("--empathy-onnx needs onnxruntime") from exc
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(ctx.n_threads or 1))
        try:
            return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(f"--empathy-onnx {path!r}: cannot load the model: {exc}") from None

    sess = ctx.resource(f"empathy:onnx:{path}", build)
    x = np.ascontiguousarray(emb[sup], dtype=np.float32)
    y = np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0], dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape[0] != len(sup) or y.ndim not in (1, 2):
        raise InputError(f"--empathy-onnx {path!r}: expected an output of shape (n,) or (n, k) "
                         f"for n={len(sup)} inputs, got {y.shape}")
    cols = {"empathy_onnx": y} if y.ndim == 1 else {f"empathy_onnx_{j}": y[:, j] for j in range(y.shape[1])}
    out = {}
    for k, v in cols.items():
        col = np.full(corpus.n_turns, np.nan)
        col[sup] = v
        out[k] = col
    return out


def _compute(corpus, ctx: Context) -> MetricResult:
    from ...embed.api import corpus_embeddings

    sup = np.flatnonzero(corpus.role == 1)
    emb, meta = corpus_embeddings(corpus, ctx)
    path = ctx.options["empathy_onnx"]
    if path:
        cols = _onnx(corpus, ctx, emb, sup, path)
        src = f"user ONNX classifier {path}"
    else:
        cols = _proto(corpus, ctx, emb, sup)
        src = ("embedding-prototype heuristic; anchors: "
               + (ctx.options["empathy_anchors"] or "fastmetrics builtin empathy anchors v1"))
    return MetricResult(turns=cols, metadata={**meta, "fastmetrics.empathy.source": src})


FAMILY = MetricFamily(
    name="empathy",
    description="model empathy score per supporter turn (embedding prototypes or a user's ONNX classifier)",
    compute=_compute,
    needs=frozenset({"embeddings"}),
    turn_columns=("empathy_proto_er", "empathy_proto_ip", "empathy_proto_ex",
                  "empathy_proto_advice", "empathy_proto"),
    options=(
        Option("empathy_anchors", "", "JSON file of empathy anchor statements; empty: the built-in "
               "anchors", ExistingPath("file", what="a path to a JSON anchor file")),
        Option("empathy_onnx", "", "ONNX classifier over turn embeddings to use instead of the "
               "anchors; empty: none", ExistingPath("file", what="a path to an .onnx file")),
        MODEL_DIR,
        CACHE_DIR,
        ENCODER,
    ),
    reference="Sharma et al., EMNLP 2020 (mechanisms); anchors and score: project heuristic",
)
