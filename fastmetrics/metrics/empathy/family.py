"""The ``empathy`` family: a model empathy score per supporter turn, for corpora without ratings.

With a trained EPITOME model (``fastmetrics train empathy EPITOME_DIR``; found in the user's
model folder, :func:`fastmetrics.models.empathy.default_empathy_dir`, or given with
``--empathy-model DIR``; :mod:`fastmetrics.models.empathy`), each supporter turn is scored
given its context, the client turns since the previous supporter turn of the same
conversation (joined by newlines; "" when there is none). Columns (supporter turns; NaN
elsewhere):

* ``empathy_er``, ``empathy_ip``, ``empathy_ex``: expected EPITOME level (0-2),
  ``sum_k k * p_k``, of emotional reactions, interpretations and explorations;
* ``empathy_mean`` = mean(empathy_er, empathy_ip, empathy_ex) (0-2), the composite (not named
  ``empathy``, which is the ESConv seeker survey's conversation column).

Metadata ``fastmetrics.empathy.model`` records which scorer ran: ``epitome`` (with the
model's description in ``fastmetrics.empathy.source``), ``prototype`` or ``onnx``.

Without a trained model the family falls back to the heuristic below and warns once that it is
an unvalidated baseline (on EPITOME its Spearman correlation with the human levels is about
0.03-0.05).

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

from ...options import CACHE_DIR, ENCODER, MODEL_DIR, ExistingPath, Option
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


def client_context(conv_index: np.ndarray, role: np.ndarray, text: list) -> list[str]:
    """Per turn: the client turns since the previous supporter turn of the same conversation,
    joined by newlines ("" when there is none); defined for every turn."""
    out, buf, prev_conv = [], [], None
    for c, r, t in zip(conv_index.tolist(), role.tolist(), text):
        if c != prev_conv:
            buf, prev_conv = [], c
        out.append("\n".join(buf))
        if r == 0:
            buf.append(t or "")
        elif r == 1:
            buf = []
    return out


def _epitome(corpus, ctx: Context, emb: np.ndarray, sup: np.ndarray, path,
             explicit: bool = True) -> tuple[dict | None, str]:
    """Columns of the trained model; (None, "") when it was found (not named) and reads another
    encoder's embeddings."""
    from ...embed.api import encode_texts
    from ...errors import InputError
    from ...models.empathy import MECHANISMS as MECH
    from ...models.empathy import EmpathyModel

    model = ctx.resource(f"empathy:model:{path}", lambda: EmpathyModel.load(path))
    enc_meta = ctx.options["model_dir"]
    from ...embed.api import run_encoder_reads

    fits, run_id = run_encoder_reads(ctx, model.encoder_model_id)
    if not fits:
        if not explicit:
            return None, ""
        raise InputError(f"--empathy-model {path}: trained on encoder {model.encoder_model_id!r}, "
                         f"this run encodes with {run_id!r} (--model-dir {enc_meta or 'builtin'})")
    text = corpus.text.to_pylist()
    ctx_all = client_context(np.asarray(corpus.conv_index), np.asarray(corpus.role), text)
    ctx_texts = [ctx_all[i] for i in sup]
    resp = [text[i] or "" for i in sup]
    ce = encode_texts(ctx_texts, ctx) if len(sup) else np.zeros((0, emb.shape[1]), np.float32)
    lv = model.expected_levels(ce, emb[sup], ctx_texts, resp)
    out = {}
    for m in MECH:
        col = np.full(corpus.n_turns, np.nan)
        col[sup] = lv[m]
        out[f"empathy_{m}"] = col
    out["empathy_mean"] = (out["empathy_er"] + out["empathy_ip"] + out["empathy_ex"]) / 3
    return out, model.describe()


PROTO_WARNING = ("empathy: no trained empathy model found (train one with `fastmetrics train "
                 "empathy EPITOME_DIR` or pass --empathy-model); writing the heuristic "
                 "empathy_proto* columns, an unvalidated baseline")


def _compute(corpus, ctx: Context) -> MetricResult:
    import warnings

    from ...embed.api import corpus_embeddings
    from ...models.empathy import find_empathy_model

    sup = np.flatnonzero(corpus.role == 1)
    emb, meta = corpus_embeddings(corpus, ctx)
    path = ctx.options["empathy_onnx"]
    if path:
        cols = _onnx(corpus, ctx, emb, sup, path)
        src, kind = f"user ONNX classifier {path}", "onnx"
    else:
        model_path = ctx.resource(f"empathy:find:{ctx.options['empathy_model']}",
                                  lambda: find_empathy_model(ctx.options["empathy_model"]))
        cols = None
        if model_path is not None:
            cols, src = _epitome(corpus, ctx, emb, sup, model_path,
                                 explicit=bool(ctx.options["empathy_model"]))
            kind = "epitome"
        if cols is None:
            if not ctx.resources.get("empathy:warned"):
                ctx.resources["empathy:warned"] = True
                warnings.warn(PROTO_WARNING if model_path is None else
                              f"empathy: the trained model in {model_path} reads another encoder's "
                              f"embeddings than --encoder {ctx.options['encoder']}; writing the "
                              "heuristic empathy_proto* columns", stacklevel=2)
            cols = _proto(corpus, ctx, emb, sup)
            src = ("embedding-prototype heuristic (unvalidated baseline); anchors: "
                   + (ctx.options["empathy_anchors"] or "fastmetrics builtin empathy anchors v1"))
            kind = "prototype"
    return MetricResult(turns=cols, metadata={**meta, "fastmetrics.empathy.source": src,
                                              "fastmetrics.empathy.model": kind})


FAMILY = MetricFamily(
    name="empathy",
    description="empathy per supporter turn (trained EPITOME model; else prototype heuristic or a user's ONNX)",
    compute=_compute,
    needs=frozenset({"embeddings"}),
    turn_columns=("empathy_proto_er", "empathy_proto_ip", "empathy_proto_ex",
                  "empathy_proto_advice", "empathy_proto"),
    # written instead of the empathy_proto* columns when a trained model is found
    optional_turn_columns=("empathy_er", "empathy_ip", "empathy_ex", "empathy_mean"),
    options=(
        Option("empathy_model", "", "folder of a trained empathy model (`fastmetrics train "
               "empathy`); empty: the user's model folder when it holds one, else the heuristic",
               ExistingPath("dir", what="a path to an empathy model folder")),
        Option("empathy_anchors", "", "JSON file of empathy anchor statements; empty: the built-in "
               "anchors", ExistingPath("file", what="a path to a JSON anchor file")),
        Option("empathy_onnx", "", "ONNX classifier over turn embeddings to use instead of the "
               "anchors; empty: none", ExistingPath("file", what="a path to an .onnx file")),
        MODEL_DIR,
        CACHE_DIR,
        ENCODER,
    ),
    reference="Sharma et al., EMNLP 2020 (EPITOME mechanisms and data); heuristic: project anchors",
)
