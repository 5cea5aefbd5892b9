"""Word mover's distances, Sinkhorn, lower bounds and nCLiD coordination.

Public API (all batched work runs in compiled kernels with the GIL released):

* :func:`emd` -- exact earth mover's distance of one dense problem (weights + cost matrix).
* :func:`wmd` -- word mover's distance between two token lists (or strings).
* :func:`wmd_pairs` -- many pairs of turns of a corpus (or of a list of documents).
* :func:`wmd_adjacent` -- each turn against the preceding turn of its conversation.
* :func:`wmd_matrix` -- all-pairs WMD matrix within one conversation.
* :func:`sinkhorn_pairs` -- log-domain entropic OT for many pairs, with iterations/convergence.
* :func:`nclid` -- uCLiD / nCLiD linguistic coordination per conversation (METRICS.md §3).
* :func:`nclid_distances`, :func:`nclid_surrogates` -- the distances nCLiD reduces, and nCLiD
  of N within-conversation surrogates from them (METRICS.md §4, surrogate baselines).

Defaults follow gensim 4's ``KeyedVectors.wmdistance`` (what the published nCLiD code calls):
vectors L2-normalised (in the table's dtype), Euclidean ground cost, out-of-vocabulary tokens
dropped, weights = token count / in-vocabulary total, +inf when either side has no
in-vocabulary token. One documented difference: gensim returns +inf when every word pair of the
two documents has distance < 1e-8 in total (distinct words with identical vectors); this module
returns the true EMD (0) there.

References: Kusner et al., "From word embeddings to document distances", ICML 2015 (WMD, WCD,
RWMD); Cuturi, NeurIPS 2013 (Sinkhorn); Nasir et al., Interspeech 2019 (CLiD/nCLiD).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ... import backends
from ..._status import check_status
from ..._threads import resolve_threads
from ...corpus import CLIENT, THERAPIST, Corpus
from ...errors import InputError
from ...tokens import Tokens, tokenize
from .vectors import WordVectors, load_vectors

__all__ = ["Bags", "WordVectors", "load_vectors", "make_bags", "bag_pairs", "emd", "wmd",
           "wmd_pairs", "adjacent_pairs", "conversation_pairs", "pair_tasks", "wmd_adjacent", "wmd_matrix",
           "sinkhorn_pairs", "nclid",
           "NclidDistances", "nclid_distances", "nclid_surrogates", "NCLID_SURROGATE_MEASURES",
           "GROUND_COSTS", "METHODS", "NCLID_MODES"]

GROUND_COSTS = {"euclidean": 0, "cosine": 1}
METHODS = {"exact": 0, "rwmd": 1, "wcd": 2}
NCLID_MODES = ("exact", "rwmd", "wcd", "sinkhorn")


# ------------------------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------------------------
def _check_choice(name, value, choices):
    if value not in choices:
        raise InputError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def _check_dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise InputError(f"dtype must be float32 or float64, got {dt}")
    return dt


# ------------------------------------------------------------------------------------------
# bags of words
# ------------------------------------------------------------------------------------------
@dataclass
class Bags:
    """Per-turn bags of words over a chunk-local vector table.

    Attributes
    ----------
    table : numpy.ndarray of float32/float64, shape (n_rows, dim)
        The vectors of the words the turns use (normalised if asked).
    start : numpy.ndarray of int64, shape (n_turns,)
    length : numpy.ndarray of int32, shape (n_turns,)
        Distinct in-vocabulary words of each turn.
    rows : numpy.ndarray of int32, shape (n_tokens,)
    weights : numpy.ndarray of float64, shape (n_tokens,)
        ``rows[start[t]:start[t]+length[t]]`` and their weights (count / in-vocabulary total).
    vectors_name : str
    """

    table: np.ndarray
    start: np.ndarray
    length: np.ndarray
    rows: np.ndarray
    weights: np.ndarray
    vectors_name: str

    @property
    def n_turns(self) -> int:
        return len(self.length)


def _tokens_of(docs) -> tuple[Tokens, np.ndarray | None]:
    """Tokens of a Corpus, a Tokens, or a sequence of token lists / strings."""
    if isinstance(docs, Corpus):
        return docs.tokens(), docs.conv_offsets
    if isinstance(docs, Tokens):
        return docs, None
    if isinstance(docs, (str, bytes)) or not isinstance(docs, Sequence):
        raise InputError("documents must be a Corpus or a sequence of token lists / strings, "
                         f"got {type(docs).__name__}")
    if all(isinstance(d, str) for d in docs):
        return tokenize(pa.array(list(docs), type=pa.string())), None
    for k, d in enumerate(docs):
        if not isinstance(d, str) and (isinstance(d, bytes) or not isinstance(d, Sequence)):
            raise InputError(f"document {k} is {type(d).__name__} {d!r:.40}; expected a string or "
                             "a list of token strings")
    vocab: dict[str, int] = {}
    ids: list[int] = []
    off = [0]
    for d in docs:
        if isinstance(d, str):
            d = tokenize(pa.array([d])).turn(0)
        for w in d:
            if not isinstance(w, str):
                raise InputError(f"tokens must be strings, got {type(w).__name__}")
            ids.append(vocab.setdefault(w, len(vocab)))
        off.append(len(ids))
    return Tokens(vocab=pa.array(list(vocab), type=pa.string()),
                  token_ids=np.array(ids, dtype=np.int32),
                  token_offsets=np.array(off, dtype=np.int64)), None


def make_bags(tokens: Tokens, vectors=None, *, normalize_vectors: bool = True, dtype=np.float64,
              n_threads: int | None = None) -> Bags:
    """Map tokens to vector rows once and build each turn's (rows, weights) bag.

    Parameters
    ----------
    tokens : Tokens
    vectors : WordVectors, str, path or None
        See :func:`fastmetrics.vectors.load_vectors`.
    normalize_vectors : bool
        L2-normalise vectors first (gensim 4's default).
    dtype : float32 or float64
        Dtype of the chunk-local table (ground costs are computed in it).

    Returns
    -------
    Bags
    """
    wv = load_vectors(vectors)
    dt = _check_dtype(dtype)
    vrow = wv.lookup(tokens.vocab)
    used = np.unique(vrow[vrow >= 0])
    vocab_to_local = np.full(len(vrow), -1, dtype=np.int64)
    ok = vrow >= 0
    vocab_to_local[ok] = np.searchsorted(used, vrow[ok])
    table = wv.rows(used, normalize=normalize_vectors, dtype=dt)
    off = np.ascontiguousarray(tokens.token_offsets, dtype=np.int64)
    ids = np.ascontiguousarray(tokens.token_ids, dtype=np.int32)
    n_turns = len(off) - 1
    n_tok = int(off[-1]) if len(off) else 0
    length = np.zeros(n_turns, dtype=np.int32)
    rows = np.zeros(n_tok, dtype=np.int32)
    weights = np.zeros(n_tok, dtype=np.float64)
    if n_turns:
        backends.resolve("auto", "build_bags")(off, ids, vocab_to_local, len(used), length, rows,
                                               weights, resolve_threads(n_threads))
    return Bags(table=table, start=off[:-1].copy(), length=length, rows=rows, weights=weights,
                vectors_name=wv.name)


# ------------------------------------------------------------------------------------------
# tasks: pairs grouped by conversation so that each conversation's cost matrix is shared
# ------------------------------------------------------------------------------------------
def pair_tasks(pair_a, pair_b, conv_offsets, n_turns, n_threads, bag_len=None):
    """Order pairs by conversation and cut them into tasks.

    Returns (order, task_lo, task_hi, task_pair_offsets): ``order`` permutes the pairs into task
    order. Pairs whose turns lie in different conversations (or when no conversation structure
    is known) go to tasks without a shared memo (lo = hi = -1). With ``bag_len``, tasks are
    sorted by decreasing estimated work (sum of n1 * n2) and dealt round-robin into
    ``n_threads`` contiguous blocks, which balances both Numba's static split of a ``prange``
    into one block per thread and the C kernel's dynamic schedule. Values do not depend on the
    order.
    """
    n = len(pair_a)
    if conv_offsets is None:
        conv_offsets = np.array([0, n_turns], dtype=np.int64)
    ca = np.searchsorted(conv_offsets, pair_a, side="right") - 1
    cb = np.searchsorted(conv_offsets, pair_b, side="right") - 1
    key = np.where(ca == cb, ca, -1)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    cuts = np.flatnonzero(np.diff(skey)) + 1
    bounds = np.concatenate([[0], cuts, [n]]).astype(np.int64)
    per = max(16, -(-n // max(1, 8 * n_threads)))
    lo, hi, offs = [], [], [0]
    for s, e in zip(bounds[:-1], bounds[1:]):
        if e <= s:
            continue
        c = skey[s]
        for q in range(s, e, per):
            r = min(q + per, e)
            if c >= 0:
                lo.append(conv_offsets[c])
                hi.append(conv_offsets[c + 1])
            else:
                lo.append(-1)
                hi.append(-1)
            offs.append(r)
    lo_a, hi_a, offs_a = (np.array(x, dtype=np.int64) for x in (lo, hi, offs))
    order = order.astype(np.int64)
    if bag_len is not None and len(lo_a) > 1:
        work = bag_len[pair_a[order]].astype(np.int64) * bag_len[pair_b[order]] + 1
        cost = np.add.reduceat(work, offs_a[:-1])
        rank = np.argsort(-cost, kind="stable")
        if n_threads > 1:  # deal largest-first round-robin into n_threads contiguous blocks
            rank = np.concatenate([rank[k::n_threads] for k in range(n_threads)])
        sizes = np.diff(offs_a)[rank]
        starts = offs_a[:-1][rank]
        new_offs = np.zeros(len(rank) + 1, dtype=np.int64)
        np.cumsum(sizes, out=new_offs[1:])
        take = np.repeat(starts - new_offs[:-1], sizes) + np.arange(new_offs[-1], dtype=np.int64)
        order, lo_a, hi_a, offs_a = order[take], lo_a[rank], hi_a[rank], new_offs
    return order, lo_a, hi_a, offs_a


def _check_pairs(pair_a, pair_b, n_turns):
    a = np.ascontiguousarray(pair_a, dtype=np.int64).ravel()
    b = np.ascontiguousarray(pair_b, dtype=np.int64).ravel()
    if a.shape != b.shape:
        raise InputError(f"pair_a and pair_b must have the same length, got {len(a)} and {len(b)}")
    if len(a) and (a.min() < 0 or b.min() < 0 or a.max() >= n_turns or b.max() >= n_turns):
        raise InputError(f"pair indices must be turn indices in [0, {n_turns})")
    return a, b


def bag_pairs(bags: Bags, pair_a, pair_b, *, conv_offsets=None, method: str = "exact",
              ground_cost: str = "euclidean", backend: str = "auto",
              n_threads: int | None = None) -> np.ndarray:
    """WMD (or a lower bound) for pairs of turns of prepared bags (the kernel entry point).

    Parameters
    ----------
    bags : Bags
    pair_a, pair_b : array-like of int, shape (n_pairs,)
        Turn indices.
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,), optional
        Pairs inside one conversation share that conversation's memoised cost matrix.
    method : {"exact", "rwmd", "wcd"}
    ground_cost : {"euclidean", "cosine"}
    backend : {"auto", "numba", "c", "cuda"}
        See :mod:`fastmetrics.backends` (a named backend must implement the operation).
    n_threads : int or None

    Returns
    -------
    numpy.ndarray of float64, shape (n_pairs,)
        +inf where either turn has no in-vocabulary word.
    """
    _check_choice("method", method, METHODS)
    _check_choice("ground_cost", ground_cost, GROUND_COSTS)
    if method == "wcd" and ground_cost != "euclidean":
        raise InputError("method='wcd' is a lower bound only for the Euclidean ground cost")
    a, b = _check_pairs(pair_a, pair_b, bags.n_turns)
    impl = backends.resolve(backend, "wmd_pairs")
    nt = resolve_threads(n_threads)
    order, lo, hi, toff = pair_tasks(a, b, conv_offsets, bags.n_turns, nt, bags.length)
    pa_, pb_ = a[order], b[order]
    res = np.empty(len(a), dtype=np.float64)
    table = bags.table
    g, m = GROUND_COSTS[ground_cost], METHODS[method]
    if len(a) == 0:
        return res
    if table.shape[0] == 0:  # nothing in vocabulary: every pair is infinite
        res[:] = np.inf
        return res
    status = impl(lo, hi, toff, pa_, pb_, bags.start, bags.length, bags.rows, bags.weights, table,
                  g, m, res, nt)
    check_status(status, f"wmd_pairs(method={method!r})")
    out = np.empty_like(res)
    out[order] = res
    return out


def _bags_for(docs, vectors, normalize_vectors, dtype, n_threads):
    tokens, conv_offsets = _tokens_of(docs)
    return make_bags(tokens, vectors, normalize_vectors=normalize_vectors, dtype=dtype,
                     n_threads=n_threads), conv_offsets


# ------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------
def emd(a, b, cost, *, backend: str = "auto", return_plan: bool = False):
    """Exact earth mover's distance of one dense problem.

    Parameters
    ----------
    a : array-like of float64, shape (n1,)
    b : array-like of float64, shape (n2,)
        Non-negative weights with equal totals (relative difference below 1e-9).
    cost : array-like of float64, shape (n1, n2)
    backend : {"auto", "numba", "c", "cuda"}
        See :mod:`fastmetrics.backends` (a named backend must implement the operation).
    return_plan : bool

    Returns
    -------
    float, or (float, numpy.ndarray of float64, shape (n1, n2)) with ``return_plan``

    Examples
    --------
    >>> emd([0.5, 0.5], [1.0], [[0.0], [2.0]])
    1.0
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    M = np.ascontiguousarray(cost, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or len(a) == 0 or len(b) == 0:
        raise InputError(f"a and b must be non-empty 1-D weight vectors, got shapes {a.shape} and {b.shape}")
    if M.shape != (len(a), len(b)):
        raise InputError(f"cost must have shape ({len(a)}, {len(b)}), got {M.shape}")
    for name, x in (("a", a), ("b", b), ("cost", M)):
        if not np.all(np.isfinite(x)):
            raise InputError(f"{name} contains NaN or infinite values")
    if a.min() < 0 or b.min() < 0:
        raise InputError("weights must be non-negative")
    sa, sb = a.sum(), b.sum()
    if sa <= 0 or abs(sa - sb) > 1e-9 * max(sa, sb):
        raise InputError(f"a and b must have equal positive totals, got {sa!r} and {sb!r}")
    plan = np.zeros((len(a), len(b)), dtype=np.float64)
    status, value = backends.resolve(backend, "emd")(a, b, M, plan)
    check_status(status, "emd")
    return (float(value), plan) if return_plan else float(value)


def wmd(doc1, doc2, vectors=None, *, ground_cost: str = "euclidean", normalize_vectors: bool = True,
        method: str = "exact", backend: str = "auto", dtype=np.float64) -> float:
    """Word mover's distance between two documents.

    Parameters
    ----------
    doc1, doc2 : list of str or str
        Token lists, or strings tokenised as lowercase ``\\w+``.
    vectors : WordVectors, str, path or None
        The default is GloVe 6B 50-d.
    ground_cost : {"euclidean", "cosine"}
    normalize_vectors : bool
        L2-normalise vectors first (gensim 4's default).
    method : {"exact", "rwmd", "wcd"}
        ``exact`` is the WMD; the others are its lower bounds.
    backend : {"auto", "numba", "c", "cuda"}
        See :mod:`fastmetrics.backends` (a named backend must implement the operation).
    dtype : float32 or float64

    Returns
    -------
    float
        +inf if either document has no in-vocabulary token.

    Notes
    -----
    Kusner et al., ICML 2015. Matches gensim 4 ``KeyedVectors.wmdistance`` by default.

    Examples
    --------
    >>> round(wmd("i feel sad", "i am sad"), 4)  # doctest: +SKIP
    0.2883
    """
    bags, _ = _bags_for([doc1, doc2], vectors, normalize_vectors, dtype, 1)
    return float(bag_pairs(bags, [0], [1], method=method, ground_cost=ground_cost,
                           backend=backend, n_threads=1)[0])


def wmd_pairs(docs, pair_a, pair_b, vectors=None, *, ground_cost: str = "euclidean",
              normalize_vectors: bool = True, method: str = "exact", backend: str = "auto",
              dtype=np.float64, n_threads: int | None = None) -> np.ndarray:
    """WMD for many pairs of turns in one call.

    Parameters
    ----------
    docs : Corpus or sequence of token lists / strings
    pair_a, pair_b : array-like of int, shape (n_pairs,)
        Turn (document) indices.
    vectors, ground_cost, normalize_vectors, method, backend, dtype
        As in :func:`wmd`.
    n_threads : int or None
        None respects the environment, -1 uses all cores.

    Returns
    -------
    numpy.ndarray of float64, shape (n_pairs,)

    Examples
    --------
    >>> wmd_pairs(["hello there", "hi there", "bye"], [0, 0], [1, 2])  # doctest: +SKIP
    array([0.3..., 0.6...])
    """
    bags, conv_offsets = _bags_for(docs, vectors, normalize_vectors, dtype, n_threads)
    return bag_pairs(bags, pair_a, pair_b, conv_offsets=conv_offsets, method=method,
                     ground_cost=ground_cost, backend=backend, n_threads=n_threads)


def adjacent_pairs(conv_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(previous turn, turn) index pairs of every non-first turn, in turn order."""
    n = int(conv_offsets[-1])
    first = np.zeros(n, dtype=bool)
    first[conv_offsets[:-1][np.diff(conv_offsets) > 0]] = True
    b = np.flatnonzero(~first).astype(np.int64)
    return b - 1, b


def wmd_adjacent(corpus: Corpus, vectors=None, *, bags: Bags | None = None, **kwargs) -> np.ndarray:
    """WMD between each turn and the preceding turn of its conversation.

    Returns
    -------
    numpy.ndarray of float64, shape (n_turns,)
        NaN for the first turn of each conversation; +inf where either turn has no
        in-vocabulary token.
    """
    if not isinstance(corpus, Corpus):
        raise InputError(f"wmd_adjacent needs a Corpus, got {type(corpus).__name__}")
    n_threads = kwargs.pop("n_threads", None)
    if bags is None:
        bags = make_bags(corpus.tokens(), vectors, normalize_vectors=kwargs.pop("normalize_vectors", True),
                         dtype=kwargs.pop("dtype", np.float64), n_threads=n_threads)
    a, b = adjacent_pairs(corpus.conv_offsets)
    out = np.full(corpus.n_turns, np.nan)
    out[b] = bag_pairs(bags, a, b, conv_offsets=corpus.conv_offsets, n_threads=n_threads, **kwargs)
    return out


def conversation_pairs(conv_offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All unordered turn pairs i < j within each conversation among the turns with ``keep``.

    Parameters
    ----------
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    keep : numpy.ndarray of bool, shape (n_turns,)

    Returns
    -------
    pair_a, pair_b : numpy.ndarray of int64, shape (n_pairs,)
    """
    A, B = [], []
    for c in range(len(conv_offsets) - 1):
        idx = np.arange(conv_offsets[c], conv_offsets[c + 1])
        idx = idx[keep[idx]]
        if len(idx) < 2:
            continue
        i, j = np.triu_indices(len(idx), 1)
        A.append(idx[i])
        B.append(idx[j])
    if not A:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(A).astype(np.int64), np.concatenate(B).astype(np.int64)


def wmd_matrix(corpus: Corpus, conversation: int | str = 0, vectors=None, **kwargs) -> np.ndarray:
    """All-pairs WMD matrix of the turns of one conversation.

    Parameters
    ----------
    corpus : Corpus
    conversation : int or str
        Conversation index, or its ``conversation_id``.
    vectors, **kwargs
        As in :func:`wmd_pairs` (``ground_cost``, ``normalize_vectors``, ``method``, ``backend``,
        ``dtype``, ``n_threads``).

    Returns
    -------
    numpy.ndarray of float64, shape (T, T)
        Symmetric, zero diagonal; +inf rows/columns for turns without in-vocabulary tokens.
    """
    if not isinstance(corpus, Corpus):
        raise InputError(f"wmd_matrix needs a Corpus, got {type(corpus).__name__}")
    if isinstance(conversation, str):
        ids = corpus.conversation_id.to_pylist()
        if conversation not in ids:
            raise InputError(f"no conversation with id {conversation!r}")
        conversation = ids.index(conversation)
    if not 0 <= int(conversation) < corpus.n_conversations:
        raise InputError(f"conversation index {conversation} out of range [0, {corpus.n_conversations})")
    sub = corpus.select(np.array([int(conversation)]))
    T = sub.n_turns
    n_threads = kwargs.pop("n_threads", None)
    bags = make_bags(sub.tokens(), vectors, normalize_vectors=kwargs.pop("normalize_vectors", True),
                     dtype=kwargs.pop("dtype", np.float64), n_threads=n_threads)
    i, j = np.triu_indices(T, 1)
    d = bag_pairs(bags, i, j, conv_offsets=sub.conv_offsets, n_threads=n_threads, **kwargs)
    M = np.zeros((T, T))
    M[i, j] = d
    M[j, i] = d
    M[np.diag_indices(T)] = np.where(bags.length > 0, 0.0, np.inf)
    return M


def sinkhorn_pairs(docs, pair_a, pair_b, vectors=None, *, reg: float = 0.05, max_iter: int = 1000,
                   tol: float = 1e-9, ground_cost: str = "euclidean", normalize_vectors: bool = True,
                   dtype=np.float64, n_threads: int | None = None, bags: Bags | None = None,
                   conv_offsets=None, backend: str = "auto"):
    """Entropic OT (log-domain Sinkhorn) for many pairs of turns, each in its own size.

    An approximation of WMD: never report it under the name WMD.

    Parameters
    ----------
    docs : Corpus or sequence of token lists / strings (ignored when ``bags`` is given)
    pair_a, pair_b : array-like of int, shape (n_pairs,)
    reg : float
        Entropic regularisation (> 0), in units of the ground cost.
    max_iter : int
    tol : float
        Stop when the L1 error of the row marginal is below ``tol``.

    Returns
    -------
    values : numpy.ndarray of float64, shape (n_pairs,)
        Transport cost <P, C> of the entropic plan (as POT ``sinkhorn2``); +inf for empty bags.
    n_iter : numpy.ndarray of int64, shape (n_pairs,)
    converged : numpy.ndarray of bool, shape (n_pairs,)

    Notes
    -----
    Cuturi, NeurIPS 2013; log-domain stabilisation as in Schmitzer, SIAM J. Sci. Comput. 2019.
    A ConvergenceWarning is issued when some pair hits ``max_iter``.
    """
    if not (np.isfinite(reg) and reg > 0):
        raise InputError(f"reg must be a positive finite number, got {reg!r}")
    if int(max_iter) < 1 or not (tol > 0):
        raise InputError("max_iter must be >= 1 and tol > 0")
    _check_choice("ground_cost", ground_cost, GROUND_COSTS)
    if bags is None:
        bags, conv_offsets = _bags_for(docs, vectors, normalize_vectors, dtype, n_threads)
    a, b = _check_pairs(pair_a, pair_b, bags.n_turns)
    nt = resolve_threads(n_threads)
    order, lo, hi, toff = pair_tasks(a, b, conv_offsets, bags.n_turns, nt, bags.length)
    res = np.empty(len(a))
    it = np.zeros(len(a), dtype=np.int64)
    conv = np.zeros(len(a), dtype=np.bool_)
    if len(a):
        if bags.table.shape[0] == 0:
            res[:] = np.inf
            conv[:] = True
        else:
            impl = backends.resolve(backend, "sinkhorn_pairs")
            status = impl(lo, hi, toff, a[order], b[order], bags.start, bags.length, bags.rows,
                          bags.weights, bags.table, GROUND_COSTS[ground_cost], float(reg),
                          int(max_iter), float(tol), res, it, conv, nt)
            check_status(status, "sinkhorn_pairs")
    out, out_it, out_conv = np.empty_like(res), np.empty_like(it), np.empty_like(conv)
    out[order], out_it[order], out_conv[order] = res, it, conv
    return out, out_it, out_conv


@dataclass
class NclidDistances:
    """The within-conversation distance matrices nCLiD reduces (one exact or approximate mode).

    Attributes
    ----------
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    role : numpy.ndarray of int8, shape (n_turns,)
    mat_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    mat : numpy.ndarray of float64, shape (sum of T_c * T_c,)
        Conversation c's T*T matrix, row-major by turn position, at ``mat_offsets[c]``; only
        entries i < j between client and therapist turns are filled (the rest are +inf).
    mode : str
    """

    conv_offsets: np.ndarray
    role: np.ndarray
    mat_offsets: np.ndarray
    mat: np.ndarray
    mode: str

    @property
    def n_conversations(self) -> int:
        return len(self.conv_offsets) - 1


def nclid_distances(corpus: Corpus, vectors=None, *, mode: str = "exact", ground_cost: str = "euclidean",
                    normalize_vectors: bool = True, backend: str = "auto", dtype=np.float64,
                    n_threads: int | None = None, reg: float = 0.05,
                    bags: Bags | None = None) -> NclidDistances:
    """All within-conversation distances between client and therapist turns, as nCLiD uses them.

    Parameters are those of :func:`nclid`. The result feeds :func:`nclid` (``distances=``) and
    :func:`nclid_surrogates`, so that the distances are computed once for both.
    """
    if not isinstance(corpus, Corpus):
        raise InputError(f"nclid needs a Corpus, got {type(corpus).__name__}")
    _check_choice("mode", mode, NCLID_MODES)
    if bags is None:
        bags = make_bags(corpus.tokens(), vectors, normalize_vectors=normalize_vectors, dtype=dtype,
                         n_threads=n_threads)
    role = np.ascontiguousarray(corpus.role, dtype=np.int8)
    off = np.ascontiguousarray(corpus.conv_offsets, dtype=np.int64)
    keep = (role == CLIENT) | (role == THERAPIST)
    a, b = conversation_pairs(off, keep)
    if mode == "sinkhorn":
        d, _, _ = sinkhorn_pairs(None, a, b, reg=reg, tol=1e-6, max_iter=20000, ground_cost=ground_cost,
                                 n_threads=n_threads, bags=bags, conv_offsets=off,
                                 backend=backends.prefer(backend, "sinkhorn_pairs").backend)
    else:
        d = bag_pairs(bags, a, b, conv_offsets=off, method=mode, ground_cost=ground_cost,
                      backend=backend, n_threads=n_threads)
    T = np.diff(off)
    mat_off = np.zeros(len(T) + 1, dtype=np.int64)
    np.cumsum(T * T, out=mat_off[1:])
    mat = np.full(int(mat_off[-1]), np.inf)
    conv_of = np.searchsorted(off, a, side="right") - 1
    pos_a = a - off[conv_of]
    pos_b = b - off[conv_of]
    mat[mat_off[conv_of] + pos_a * T[conv_of] + pos_b] = d
    return NclidDistances(conv_offsets=off, role=role, mat_offsets=mat_off, mat=mat, mode=mode)


def _check_nclid_args(k, denominator):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive int, got {k!r}")
    _check_choice("denominator", denominator, ("sum", "mean"))


def nclid(corpus: Corpus, vectors=None, *, k: int = 3, denominator: str = "sum", mode: str = "exact",
          ground_cost: str = "euclidean", normalize_vectors: bool = True, backend: str = "auto",
          dtype=np.float64, n_threads: int | None = None, reg: float = 0.05,
          bags: Bags | None = None, distances: NclidDistances | None = None) -> dict[str, np.ndarray]:
    """uCLiD and nCLiD linguistic coordination per conversation, both directions.

    Parameters
    ----------
    corpus : Corpus
        Roles: client (0) and therapist (1); other turns only occupy positions.
    vectors : WordVectors, str, path or None
    k : int
        Each anchor utterance is compared with the next ``k`` coordinator utterances after it.
    denominator : {"sum", "mean"}
        nCLiD = uCLiD / (alpha_A + alpha_B + alpha_AB), or / their mean.
    mode : {"exact", "rwmd", "wcd", "sinkhorn"}
        ``exact`` uses exact WMD; the others replace it by a lower bound or by entropic OT
        (``reg``) and are reported under their own names (``nclid_rwmd`` ...), never ``nclid``.
    distances : NclidDistances, optional
        Precomputed by :func:`nclid_distances` for this corpus (then ``mode`` is theirs and
        ``vectors``, ``bags``, ``ground_cost``, ... are not used).

    Returns
    -------
    dict of str -> numpy.ndarray of float64, shape (n_conversations,)
        Keys ``uclid_therapist_to_client``, ``nclid_therapist_to_client`` (anchor client, coordinator
        therapist: how closely the therapist follows the client), ``uclid_client_to_therapist``,
        ``nclid_client_to_therapist`` and ``nclid`` (mean of the two directions); in approximate
        modes every key carries the suffix ``_<mode>``. Conversations without both roles: NaN.
        No valid anchor: uCLiD = +inf; normaliser infinite or zero: nCLiD = +inf (as the public
        code). Lower = more coordination.

    Notes
    -----
    Nasir et al., Interspeech 2019; definition as METRICS.md §3 (public code of Kwon et al.,
    EMNLP 2025).
    """
    if not isinstance(corpus, Corpus):
        raise InputError(f"nclid needs a Corpus, got {type(corpus).__name__}")
    _check_nclid_args(k, denominator)
    _check_choice("mode", mode, NCLID_MODES)
    if distances is None:
        distances = nclid_distances(corpus, vectors, mode=mode, ground_cost=ground_cost,
                                    normalize_vectors=normalize_vectors, backend=backend, dtype=dtype,
                                    n_threads=n_threads, reg=reg, bags=bags)
    elif distances.n_conversations != corpus.n_conversations:
        raise InputError(f"distances are of {distances.n_conversations} conversations, the corpus has "
                         f"{corpus.n_conversations}")
    dist = distances
    reduce_ = backends.resolve("auto", "nclid_reduce")
    n = corpus.n_conversations
    nt = resolve_threads(n_threads)
    res = {}
    for anchor, coord, name in ((CLIENT, THERAPIST, "therapist_to_client"),
                                (THERAPIST, CLIENT, "client_to_therapist")):
        u = np.empty(n)
        nc = np.empty(n)
        reduce_(dist.conv_offsets, dist.role, dist.mat_offsets, dist.mat, int(k), anchor, coord,
                denominator == "mean", u, nc, nt)
        res[f"uclid_{name}"] = u
        res[f"nclid_{name}"] = nc
    with np.errstate(invalid="ignore"):
        res["nclid"] = (res["nclid_therapist_to_client"] + res["nclid_client_to_therapist"]) / 2
    if dist.mode != "exact":
        res = {f"{key}_{dist.mode}": v for key, v in res.items()}
    return res


#: The nCLiD measures with surrogates, in the order of :func:`nclid_surrogates`' second axis.
NCLID_SURROGATE_MEASURES = ("nclid_therapist_to_client", "nclid_client_to_therapist", "nclid")


def nclid_surrogates(distances: NclidDistances, conv_seeds, n_surrogates: int, *, k: int = 3,
                     denominator: str = "sum", n_threads: int | None = None,
                     backend: str = "auto") -> np.ndarray:
    """nCLiD of N within-conversation surrogates per conversation, from the same distances.

    Surrogate s of a conversation shuffles its therapist turns among the therapist positions
    (:mod:`fastmetrics.surrogates`; the permutation of every other synchrony family), which is a
    permutation of the rows and columns of the conversation's distance matrix: no new distance
    is computed.

    Parameters
    ----------
    distances : NclidDistances
        From :func:`nclid_distances`.
    conv_seeds : numpy.ndarray of uint64, shape (n_conversations,)
        :func:`fastmetrics.surrogates.conversation_seeds`.
    n_surrogates : int
    k, denominator
        As in :func:`nclid`.

    Returns
    -------
    numpy.ndarray of float64, shape (n_conversations, 3, n_surrogates)
        Along axis 1 the measures :data:`NCLID_SURROGATE_MEASURES` (each with ``_<mode>`` in an
        approximate mode). NaN / +inf as :func:`nclid`. Lower = more coordination.

    Examples
    --------
    >>> d = nclid_distances(corpus)  # doctest: +SKIP
    >>> nclid_surrogates(d, conversation_seeds(ids, 0), 100).shape  # doctest: +SKIP
    (n_conversations, 3, 100)
    """
    _check_nclid_args(k, denominator)
    n_surrogates = int(n_surrogates)
    if n_surrogates < 0:
        raise InputError(f"n_surrogates must be >= 0, got {n_surrogates}")
    seeds = np.ascontiguousarray(conv_seeds, dtype=np.uint64)
    if seeds.shape != (distances.n_conversations,):
        raise InputError(f"conv_seeds must have shape ({distances.n_conversations},), got {seeds.shape}")
    out = np.empty((distances.n_conversations, len(NCLID_SURROGATE_MEASURES), n_surrogates))
    if out.size:
        status = backends.resolve(backend, "nclid_surrogates")(
            distances.conv_offsets, distances.role, distances.mat_offsets, distances.mat, int(k),
            denominator == "mean", seeds, n_surrogates, out, resolve_threads(n_threads))
        check_status(status, "nclid_surrogates")
    return out
