"""Working alliance per turn (COMPASS) from turn embeddings and item anchors.

Lin et al., Translational Psychiatry 2025 (arXiv:2402.14701), method of arXiv:2204.05522: a
client turn is scored against the 36 client-form items of the Working Alliance Inventory, a
therapist turn against the 36 therapist-form items, s_{t,i} = cos(e_t, w_i) (the "counter"
variant subtracts the cosine to a negated item), and the subscales are signed sums with the
WAI item keys.

The WAI item texts are copyrighted (Horvath & Greenberg 1989) and are never shipped: users
give them in a file (:func:`load_anchors`). The default, ``anchors="builtin"``, is a set of
anchor statements written for this project (``fastmetrics/data/alliance_anchors_builtin.json``),
one per item slot with that slot's subscale and direction; outputs say which set was used.

The gap, convergence and dispersion statistics (:func:`alliance_gaps`) are this project's own
definitions, not part of COMPASS (see METRICS.md section 5).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...config import DATA_DIR
from ...errors import InputError

__all__ = ["N_ITEMS", "SCALES", "BUILTIN_PATH", "scale_keys", "Anchors", "load_anchors", "item_matrix",
           "alliance_scores", "alliance_item_scores", "turn_index", "alliance_gaps"]

N_ITEMS = 36
SCALES = ("task", "bond", "goal", "full")
_KEYS_1BASED = {
    "task": ((2, 4, 13, 16, 18, 24, 35), (7, 11, 15, 31, 33)),
    "bond": ((5, 8, 17, 19, 21, 23, 26, 28, 36), (1, 20, 29)),
    "goal": ((6, 14, 22, 25, 30, 32), (3, 9, 10, 12, 27, 34)),
}
BUILTIN_PATH = DATA_DIR / "alliance_anchors_builtin.json"


def scale_keys() -> np.ndarray:
    """float64 (36, 4): the signed key of every item (rows) for task, bond, goal, full."""
    k = np.zeros((N_ITEMS, len(SCALES)), dtype=np.float64)
    for j, name in enumerate(SCALES[:3]):
        pos, neg = _KEYS_1BASED[name]
        k[np.array(pos) - 1, j] = 1.0
        k[np.array(neg) - 1, j] = -1.0
    k[:, 3] = k[:, :3].sum(axis=1)
    return k


@dataclass(frozen=True)
class Anchors:
    """Item anchor texts of both forms, 36 each, optionally with negated items."""

    client: tuple[str, ...]
    therapist: tuple[str, ...]
    client_negated: tuple[str, ...] | None = None
    therapist_negated: tuple[str, ...] | None = None
    source: str = "builtin"
    builtin: bool = True

    @property
    def counter(self) -> bool:
        return self.client_negated is not None

    def label(self) -> str:
        if self.builtin:
            return "builtin (anchor statements written for fastmetrics; not WAI items)"
        return f"user file {self.source}" + (" (counter: negated items)" if self.counter else "")


def _check_list(name: str, items, source: str) -> tuple[str, ...]:
    if not isinstance(items, list) or len(items) != N_ITEMS:
        n = len(items) if isinstance(items, list) else type(items).__name__
        raise InputError(f"{name}: expected a list of {N_ITEMS} item texts, got {n}", source=source)
    for i, t in enumerate(items):
        if not isinstance(t, str) or not t.strip():
            raise InputError(f"{name}[{i + 1}]: empty or non-text item", source=source)
    return tuple(items)


def load_anchors(spec: str | Path | None = "builtin") -> Anchors:
    """Read alliance item anchors.

    Parameters
    ----------
    spec : "builtin" or path
        A JSON file ``{"client": [36 texts], "therapist": [36 texts], "client_negated":
        [36], "therapist_negated": [36]}`` (negated lists optional, both or neither), or a
        CSV/TSV file with a header ``form,item,text`` and optionally ``negated`` (form
        ``client`` or ``therapist``, item 1..36 in WAI order).

    Returns
    -------
    Anchors
    """
    if spec is None or str(spec).strip().lower() in ("", "builtin", "default"):
        path, builtin = BUILTIN_PATH, True
    else:
        path, builtin = Path(spec).expanduser(), False
    src = "builtin" if builtin else str(path)
    if not path.is_file():
        raise InputError(f"alliance anchors file {str(path)!r} not found; give a JSON or CSV file "
                         "with 36 client-form and 36 therapist-form items, or 'builtin'")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", source=src) from exc
        if not isinstance(data, dict):
            raise InputError("expected a JSON object with keys 'client' and 'therapist'", source=src)
        forms = {k: data.get(k) for k in ("client", "therapist", "client_negated", "therapist_negated")}
    else:
        delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        forms = {k: [None] * N_ITEMS for k in ("client", "therapist", "client_negated", "therapist_negated")}
        has_neg = False
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delim)
            need = {"form", "item", "text"}
            if reader.fieldnames is None or not need <= {h.strip().lower() for h in reader.fieldnames}:
                raise InputError(f"expected a header with columns form,item,text[,negated], got "
                                 f"{reader.fieldnames}", source=src)
            for line, row in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                form = row["form"].lower()
                if form not in ("client", "therapist"):
                    raise InputError(f"form must be 'client' or 'therapist', got {row['form']!r}",
                                     source=src, line=line)
                try:
                    item = int(row["item"])
                except ValueError:
                    raise InputError(f"item must be an integer 1..36, got {row['item']!r}",
                                     source=src, line=line) from None
                if not 1 <= item <= N_ITEMS:
                    raise InputError(f"item must be 1..36, got {item}", source=src, line=line)
                forms[form][item - 1] = row["text"]
                if row.get("negated"):
                    forms[f"{form}_negated"][item - 1] = row["negated"]
                    has_neg = True
        for k in ("client", "therapist"):
            missing = [i + 1 for i, t in enumerate(forms[k]) if t is None]
            if missing:
                raise InputError(f"{k} form lacks items {missing}", source=src)
        if not has_neg:
            forms["client_negated"] = forms["therapist_negated"] = None
    client = _check_list("client", forms["client"], src)
    therapist = _check_list("therapist", forms["therapist"], src)
    cn, tn = forms.get("client_negated"), forms.get("therapist_negated")
    if (cn is None) != (tn is None):
        raise InputError("give negated items for both forms or for neither", source=src)
    if cn is not None:
        cn = _check_list("client_negated", cn, src)
        tn = _check_list("therapist_negated", tn, src)
    return Anchors(client, therapist, cn, tn, source=src, builtin=builtin)


def _unit_rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def item_matrix(items: np.ndarray, negated: np.ndarray | None = None) -> np.ndarray:
    """float64 (36, d): unit item vectors, minus the unit negated-item vectors (counter)."""
    if items.ndim != 2 or items.shape[0] != N_ITEMS:
        raise InputError(f"item embeddings must have shape (36, d), got {items.shape}")
    m = _unit_rows(items)
    if negated is not None:
        if negated.shape != items.shape:
            raise InputError(f"negated item embeddings must have shape {items.shape}, got {negated.shape}")
        m = m - _unit_rows(negated)
    return m


def _validate(embeddings, role):
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.dtype not in (np.float32, np.float64):
        raise InputError(f"embeddings must be a float32/float64 array of shape (n_turns, d), got "
                         f"{emb.dtype} {emb.shape}")
    role = np.asarray(role)
    if role.shape != (emb.shape[0],):
        raise InputError(f"role must have shape ({emb.shape[0]},), got {role.shape}")
    return emb, role.astype(np.int8, copy=False)


def alliance_scores(embeddings, role, client_items, therapist_items, *, client_negated=None,
                    therapist_negated=None, block: int = 65536) -> np.ndarray:
    """Per-turn alliance subscales (task, bond, goal, full).

    Parameters
    ----------
    embeddings : numpy.ndarray of float32, shape (n_turns, d)
        Turn embeddings (L2-normalised rows; rows are normalised again here, so any scale works).
    role : numpy.ndarray of int8, shape (n_turns,)
        0 client (scored against ``client_items``), 1 therapist; others get NaN.
    client_items, therapist_items : numpy.ndarray, shape (36, d)
        Embeddings of the 36 items of each form in WAI order.
    client_negated, therapist_negated : numpy.ndarray, shape (36, d), optional
        Embeddings of negated items (COMPASS "counter" scores).
    block : int
        Rows per matrix product (bounds scratch memory to ``block * d`` floats).

    Returns
    -------
    numpy.ndarray of float32, shape (n_turns, 4)
        Columns task, bond, goal, full: sum_i key_i * s_{t,i}.

    Notes
    -----
    Because the subscales are linear in the item cosines, each is a single dot product of the
    unit turn vector with ``sum_i key_i * w_i``; the 36 item cosines are only formed by
    :func:`alliance_item_scores`.
    """
    emb, role = _validate(embeddings, role)
    keys = scale_keys()
    wc = item_matrix(np.asarray(client_items), None if client_negated is None else np.asarray(client_negated))
    wt = item_matrix(np.asarray(therapist_items), None if therapist_negated is None else np.asarray(therapist_negated))
    if wc.shape[1] != emb.shape[1] or wt.shape[1] != emb.shape[1]:
        raise InputError(f"item embeddings have dimension {wc.shape[1]}, turn embeddings {emb.shape[1]}")
    proj = np.concatenate([wc.T @ keys, wt.T @ keys], axis=1).astype(emb.dtype)  # (d, 8)
    n = emb.shape[0]
    out = np.full((n, 4), np.nan, dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        e = emb[lo:hi]
        norms = np.sqrt(np.einsum("ij,ij->i", e, e, dtype=np.float64))
        s = (e @ proj).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            s /= np.where(norms > 0, norms, np.nan)[:, None]
        r = role[lo:hi]
        out[lo:hi][r == 0] = s[r == 0, :4]
        out[lo:hi][r == 1] = s[r == 1, 4:]
    return out


def alliance_item_scores(embeddings, role, client_items, therapist_items, *, client_negated=None,
                         therapist_negated=None) -> np.ndarray:
    """The 36 item scores s_{t,i} of every turn against its role's form.

    Returns
    -------
    numpy.ndarray of float32, shape (n_turns, 36)
        NaN rows for turns that are neither client nor therapist.
    """
    emb, role = _validate(embeddings, role)
    out = np.full((emb.shape[0], N_ITEMS), np.nan, dtype=np.float32)
    for code, items, neg in ((0, client_items, client_negated), (1, therapist_items, therapist_negated)):
        rows = np.nonzero(role == code)[0]
        if len(rows) == 0:
            continue
        w = item_matrix(np.asarray(items), None if neg is None else np.asarray(neg)).astype(emb.dtype)
        e = emb[rows]
        norms = np.linalg.norm(e.astype(np.float64), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = (e @ w.T).astype(np.float64) / np.where(norms > 0, norms, np.nan)[:, None]
    return out


def turn_index(role, conv_offsets, compass_compat: bool = False) -> np.ndarray:
    """int32 (n_turns,): 0-based turn index, in dialogue order or, with ``compass_compat``,
    counted within each speaker role of the conversation (as the COMPASS code indexes turns)."""
    role = np.asarray(role, dtype=np.int8)
    off = np.asarray(conv_offsets, dtype=np.int64)
    n = len(role)
    conv = np.repeat(np.arange(len(off) - 1), np.diff(off))
    pos = np.arange(n, dtype=np.int64) - off[:-1][conv]
    if not compass_compat:
        return pos.astype(np.int32)
    out = np.empty(n, dtype=np.int32)
    # rank of each turn among the turns of the same (conversation, role)
    order = np.lexsort((np.arange(n), role, conv))
    key_c, key_r = conv[order], role[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = (key_c[1:] != key_c[:-1]) | (key_r[1:] != key_r[:-1])
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    out[order] = (np.arange(n) - group_start).astype(np.int32)
    return out


def alliance_gaps(scores, role, conv_offsets, *, compass_compat: bool = False,
                  n_threads: int | None = None, backend: str = "auto") -> dict[str, np.ndarray]:
    """Between-speaker alliance gap statistics per conversation (project definitions).

    For each client turn and the therapist turn that answers it, g = |client score - therapist
    score| per scale. Pairs: by default the first therapist turn after each client turn
    (consecutive client turns share their answer), position x = client turn position /
    (T - 1); with ``compass_compat`` the k-th client turn with the k-th therapist turn of the
    conversation (turns counted within speaker), x = k / (K - 1).

    Parameters
    ----------
    scores : numpy.ndarray of float32, shape (n_turns, 4)
        From :func:`alliance_scores`.
    role : numpy.ndarray of int8, shape (n_turns,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)

    Returns
    -------
    dict of str -> numpy.ndarray of float64, shape (n_conversations,)
        ``alliance_<scale>_gap_mean`` (mean g), ``alliance_<scale>_convergence`` (OLS slope of
        g on x; negative = converging; NaN with < 2 pairs) and ``alliance_<scale>_dispersion``
        (sample SD of g; NaN with < 2 pairs) for scale in task, bond, goal, full.
    """
    from ... import backends
    from ..._threads import resolve_threads

    scores = np.ascontiguousarray(scores)
    role = np.ascontiguousarray(role, dtype=np.int8)
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != len(role) or off[-1] != len(role):
        raise InputError(f"scores {scores.shape}, role {role.shape} and conv_offsets (ending at "
                         f"{off[-1]}) do not describe the same turns")
    n_conv, n_s = len(off) - 1, scores.shape[1]
    mean = np.empty((n_conv, n_s))
    slope = np.empty((n_conv, n_s))
    sd = np.empty((n_conv, n_s))
    backends.resolve(backend, "alliance_gaps")(scores, role, off, bool(compass_compat), mean, slope,
                                               sd, resolve_threads(n_threads))
    out = {}
    for j, name in enumerate(SCALES[:n_s]):
        out[f"alliance_{name}_gap_mean"] = mean[:, j]
        out[f"alliance_{name}_convergence"] = slope[:, j]
        out[f"alliance_{name}_dispersion"] = sd[:, j]
    return out
