"""Nearest-neighbour search over turn embeddings with faiss (exact inner product).

Rows are L2-normalised before they enter the index, so the inner product is the cosine.
``IndexFlatIP`` is exact: the result equals a brute-force ``argsort`` of the cosine matrix
(up to the order of exact ties). Searching k + 1 neighbours and dropping the query turn itself
excludes self-matches when the queries are the corpus's own turns.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..corpus import ROLE_CODES
from ..errors import BackendUnavailableError, InputError


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - runtime dependency
        raise BackendUnavailableError("similarity search needs faiss-cpu (pip install faiss-cpu)") from exc
    return faiss


@contextlib.contextmanager
def _faiss_threads(n_threads: int | None):
    faiss = _faiss()
    if n_threads is None:
        yield
        return
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n_threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


def _role_codes(role) -> set[int] | None:
    if role is None:
        return None
    items = [role] if isinstance(role, (str, int, np.integer)) else list(role)
    out = set()
    for r in items:
        if isinstance(r, str):
            key = r.strip().lower()
            if key not in ROLE_CODES:
                raise InputError(f"role must be one of client, therapist, other; got {r!r}")
            out.add(ROLE_CODES[key])
        else:
            out.add(int(r))
    return out


def _unit(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind != "f":
        raise InputError(f"embeddings must be a float array of shape (n, d), got {x.dtype} {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(n, 1e-12), dtype=np.float32)


class TurnIndex:
    """A faiss index over (a role-restricted subset of) a corpus's turn embeddings.

    Parameters
    ----------
    embeddings : numpy.ndarray of float32, shape (n_turns, d)
    role : numpy.ndarray of int8, shape (n_turns,), optional
        Needed when ``restrict_role`` is given.
    restrict_role : str or int or list, optional
        Only turns of these roles ("client", "therapist", "other" or codes) can be returned.
    """

    def __init__(self, embeddings, role=None, restrict_role=None):
        faiss = _faiss()
        emb = _unit(embeddings)
        codes = _role_codes(restrict_role)
        if codes is not None:
            if role is None:
                raise InputError("restrict_role needs the role array")
            role = np.asarray(role)
            if role.shape != (emb.shape[0],):
                raise InputError(f"role must have shape ({emb.shape[0]},), got {role.shape}")
            self.ids = np.nonzero(np.isin(role, list(codes)))[0].astype(np.int64)
        else:
            self.ids = np.arange(emb.shape[0], dtype=np.int64)
        self.dim = emb.shape[1]
        self.index = faiss.IndexFlatIP(self.dim)
        if len(self.ids):
            self.index.add(emb[self.ids])

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, queries, k: int = 5, *, exclude=None, n_threads: int | None = None):
        """The k most similar indexed turns of each query.

        Parameters
        ----------
        queries : numpy.ndarray of float32, shape (m, d)
        k : int
        exclude : numpy.ndarray of int64, shape (m,), optional
            A corpus turn index per query never to return (the query turn itself); -1 = none.

        Returns
        -------
        indices : numpy.ndarray of int64, shape (m, k)
            Corpus turn indices, best first; -1 where fewer than k candidates exist.
        scores : numpy.ndarray of float32, shape (m, k)
            Cosine similarities; NaN where the index is -1.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"k must be a positive int, got {k!r}")
        q = _unit(queries)
        if q.shape[1] != self.dim:
            raise InputError(f"queries have dimension {q.shape[1]}, the index {self.dim}")
        m = q.shape[0]
        extra = 1 if exclude is not None else 0
        kk = min(k + extra, len(self.ids))
        out_i = np.full((m, k), -1, dtype=np.int64)
        out_s = np.full((m, k), np.nan, dtype=np.float32)
        if kk == 0 or m == 0:
            return out_i, out_s
        with _faiss_threads(n_threads):
            s, i = self.index.search(q, kk)
        ids = np.where(i >= 0, self.ids[np.maximum(i, 0)], -1)
        if exclude is not None:
            exclude = np.asarray(exclude, dtype=np.int64).reshape(m, 1)
            drop = ids == exclude
            # keep the first k entries that are not the excluded turn
            keep_rank = np.cumsum(~drop, axis=1) - 1
            sel = (~drop) & (keep_rank < k)
            rows, cols = np.nonzero(sel)
            out_i[rows, keep_rank[rows, cols]] = ids[rows, cols]
            out_s[rows, keep_rank[rows, cols]] = s[rows, cols]
        else:
            out_i[:, :kk] = ids
            out_s[:, :kk] = s
        out_s[out_i < 0] = np.nan
        return out_i, out_s


def nearest_turns(embeddings, *, k: int = 5, queries=None, role=None, restrict_role=None,
                  query_rows=None, n_threads: int | None = None):
    """The k most similar turns of a corpus, for each of its turns or for query vectors.

    Parameters
    ----------
    embeddings : numpy.ndarray of float32, shape (n_turns, d)
    k : int
    queries : numpy.ndarray of float32, shape (m, d), optional
        External query embeddings (e.g. ``fastmetrics.encode(["I lost my job"])``). When
        absent, the queries are the corpus turns ``query_rows`` (default all) and a turn never
        matches itself.
    role : numpy.ndarray of int8, shape (n_turns,), optional
    restrict_role : str, int or list, optional
        Return only turns of these roles (e.g. "therapist": how supporters answered).
    query_rows : numpy.ndarray of int64, optional
        Corpus turns to use as queries when ``queries`` is None.

    Returns
    -------
    indices : numpy.ndarray of int64, shape (m, k)
    scores : numpy.ndarray of float32, shape (m, k)

    Examples
    --------
    >>> import numpy as np
    >>> e = np.array([[1, 0], [0.9, 0.1], [0, 1]], np.float32)
    >>> nearest_turns(e, k=1)[0].ravel().tolist()
    [1, 0, 1]
    """
    index = TurnIndex(embeddings, role=role, restrict_role=restrict_role)
    if queries is not None:
        return index.search(queries, k, n_threads=n_threads)
    emb = np.asarray(embeddings)
    rows = (np.arange(emb.shape[0], dtype=np.int64) if query_rows is None
            else np.asarray(query_rows, dtype=np.int64))
    if len(rows) and (rows.min() < 0 or rows.max() >= emb.shape[0]):
        raise InputError("query_rows out of range")
    return index.search(emb[rows], k, exclude=rows, n_threads=n_threads)


def next_turn_of_role(role, conv_offsets, turns, reply_role) -> np.ndarray:
    """For each turn index in ``turns``, the first later turn of ``reply_role`` in the same
    conversation (e.g. the supporter's answer to a disclosure), -1 where there is none.

    Parameters
    ----------
    role : numpy.ndarray of int8, shape (n_turns,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    turns : numpy.ndarray of int64, any shape
        Turn indices (-1 entries stay -1).
    reply_role : str or int

    Returns
    -------
    numpy.ndarray of int64, same shape as ``turns``
    """
    code = next(iter(_role_codes(reply_role)))
    role = np.asarray(role)
    off = np.asarray(conv_offsets, dtype=np.int64)
    n = len(role)
    # next_of[t] = first index >= t with the reply role, or n
    idx = np.where(role == code, np.arange(n), n)
    next_of = np.minimum.accumulate(idx[::-1])[::-1] if n else idx
    turns = np.asarray(turns, dtype=np.int64)
    out = np.full(turns.shape, -1, dtype=np.int64)
    ok = turns >= 0
    t = turns[ok]
    cand = np.where(t + 1 < n, next_of[np.minimum(t + 1, max(n - 1, 0))], n)
    end = off[np.searchsorted(off, t, side="right")]  # end of t's conversation
    out[ok] = np.where(cand < end, cand, -1)
    return out
