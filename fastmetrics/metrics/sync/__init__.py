"""Style synchrony: LSM, rLSM, rolling-window rLSM and linguistic coordination.

Definitions (docs METRICS.md section 4):

- **Rates**: for a text span, p_c = 100 * (tokens in category c) / (tokens); the nine
  categories of :data:`fastmetrics.lexicon.CATEGORIES`.
- **LSM** (Ireland & Pennebaker 2010): LSM_c = 1 - |p1_c - p2_c| / (p1_c + p2_c + 0.0001),
  averaged over the nine categories. ``lsm`` compares all client words with all therapist
  words of a conversation (NaN if either side has no words); ``lsm_prev`` compares turn t
  with turn t-1 where the two are a client/therapist speaker change and both have words.
- **rLSM** (Müller-Frommeyer, Frommeyer & Kauffeld 2019): at each client/therapist speaker
  change, credited to the responder (turn t), per category with prev = rate of turn t-1 and
  curr = rate of turn t: prev = 0 -> NA (whether curr is 0 or not); prev > 0 -> scored with the
  LSM_c formula (curr = 0 gives about 0). ``rlsm_turn`` = mean over the scored categories of
  that pair. Aggregation: person x category mean -> dyad x category mean (NA if either person
  is NA) -> mean over categories = ``rlsm``; ``rlsm_client``/``rlsm_therapist`` = mean over
  categories of that person's category means. Turns with no words form no pair.
- **Rolling-window rLSM** (``rlsm_window``): at each speaker change, each of the two speakers'
  category counts are pooled over that speaker's last W own turns (up to and including turn
  t), and the rLSM rule is applied to the pooled rates (previous speaker = prev).
- **Coordination** (Danescu-Niculescu-Mizil et al. 2012; ConvoKit ``Coordination``): over the
  reply pairs (turn t replying to t-1 of the other role), per marker m with binary presence,
  C^m(b, a) = #(reply has m and target has m) / #(target has m) - #(reply has m) / #(replies),
  defined when at least ``target_thresh`` (default 3) targets exhibit m. Eight markers (the
  categories without negations). The per-conversation score is the mean over defined markers,
  which is ConvoKit's aggregate 3 for one speaker. ``coordination_therapist_to_client`` is the
  therapist (replying) coordinating to the client, ``coordination_client_to_therapist`` the
  reverse.

Only the roles client (0) and therapist (1) take part; turns of role "other" break adjacency.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import backends
from ..._threads import resolve_threads
from ...errors import InputError
from .lexicon import CATEGORIES, COORDINATION_MARKERS, Lexicon, load_lexicon

__all__ = ["SyncResult", "category_counts", "sync_from_counts", "synchrony", "sync_surrogates", "SURROGATE_MEASURES",
           "lsm", "rlsm", "coordination", "CATEGORIES", "COORDINATION_MARKERS", "Lexicon", "load_lexicon"]

@dataclass
class SyncResult:
    """Synchrony metrics of a corpus.

    Per conversation (float64, shape (n_conversations,)): ``lsm``, ``rlsm``, ``rlsm_client``,
    ``rlsm_therapist``, ``coordination_therapist_to_client``, ``coordination_client_to_therapist``.
    Per turn (float64, shape (n_turns,)): ``lsm_prev``, ``rlsm_turn``, ``rlsm_window``.
    """

    lsm: np.ndarray
    rlsm: np.ndarray
    rlsm_client: np.ndarray
    rlsm_therapist: np.ndarray
    coordination_therapist_to_client: np.ndarray
    coordination_client_to_therapist: np.ndarray
    lsm_prev: np.ndarray
    rlsm_turn: np.ndarray
    rlsm_window: np.ndarray


def category_counts(token_offsets, token_ids, vocab_mask, n_categories: int = len(CATEGORIES), *,
                    n_threads: int | None = None, backend: str = "auto") -> np.ndarray:
    """Per-turn counts of tokens in each category.

    Parameters
    ----------
    token_offsets : numpy.ndarray of int64, shape (n_turns + 1,)
    token_ids : numpy.ndarray of int32, shape (n_tokens,)
    vocab_mask : numpy.ndarray of uint32, shape (vocab_size,)
        Category bitmask per vocabulary entry (:meth:`Lexicon.vocab_mask`).
    n_categories : int
    n_threads : int or None

    Returns
    -------
    numpy.ndarray of int32, shape (n_turns, n_categories)

    Examples
    --------
    >>> import numpy as np
    >>> category_counts(np.array([0, 2]), np.array([0, 1], dtype=np.int32),
    ...                 np.array([1, 3], dtype=np.uint32), 2)
    array([[2, 1]], dtype=int32)
    """
    off = np.ascontiguousarray(token_offsets, dtype=np.int64)
    ids = np.ascontiguousarray(token_ids, dtype=np.int32)
    mask = np.ascontiguousarray(vocab_mask, dtype=np.uint32)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(ids) or np.any(np.diff(off) < 0):
        raise InputError("token_offsets must be non-decreasing, start at 0 and end at len(token_ids)")
    if len(ids) and (ids.min() < 0 or ids.max() >= len(mask)):
        raise InputError(f"token_ids must lie in [0, {len(mask)}) (the vocabulary size)")
    if not 1 <= n_categories <= 32:
        raise InputError(f"n_categories must be in 1..32, got {n_categories}")
    n = len(off) - 1
    out = np.empty((n, n_categories), dtype=np.int32)
    backends.resolve(backend, "category_counts")(off, ids, mask, n_categories, out,
                                                 resolve_threads(n_threads))
    return out


def sync_from_counts(conv_offsets, role, counts, n_words, *, window: int = 8, target_thresh: int = 3,
                     n_threads: int | None = None, backend: str = "auto") -> SyncResult:
    """All synchrony metrics from per-turn category counts.

    Parameters
    ----------
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    role : numpy.ndarray of int8, shape (n_turns,)
        0 client, 1 therapist, 2 other.
    counts : numpy.ndarray of int32, shape (n_turns, 9)
        Category counts in the order of :data:`~fastmetrics.lexicon.CATEGORIES`.
    n_words : numpy.ndarray of int, shape (n_turns,)
        Tokens per turn (the rate denominator).
    window : int
        W, own turns pooled per speaker for ``rlsm_window`` (>= 1).
    target_thresh : int
        Coordination: minimum number of target turns exhibiting a marker.
    n_threads : int or None

    Returns
    -------
    SyncResult
    """
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    role = np.ascontiguousarray(role, dtype=np.int8)
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    n_words = np.ascontiguousarray(n_words, dtype=np.int64)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or np.any(np.diff(off) < 0):
        raise InputError("conv_offsets must be a non-decreasing int64 array starting at 0")
    n = int(off[-1])
    if role.shape != (n,) or n_words.shape != (n,) or counts.ndim != 2 or counts.shape[0] != n:
        raise InputError(f"role, n_words and counts must have one row per turn ({n}); got "
                         f"{role.shape}, {n_words.shape}, {counts.shape}")
    if counts.shape[1] != len(CATEGORIES):
        raise InputError(f"counts must have {len(CATEGORIES)} category columns, got {counts.shape[1]}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise InputError(f"window must be a positive int, got {window!r}")
    if np.any(counts < 0) or np.any(n_words < 0):
        raise InputError("counts and n_words must be non-negative")
    n_conv = len(off) - 1
    conv = [np.empty(n_conv) for _ in range(6)]
    turn = [np.empty(n) for _ in range(3)]
    coord_cats = np.array([CATEGORIES.index(m) for m in COORDINATION_MARKERS], dtype=np.int64)
    backends.resolve(backend, "sync_from_counts")(off, role, counts, n_words, int(window), coord_cats,
                                                  int(target_thresh), *conv, *turn,
                                                  resolve_threads(n_threads))
    return SyncResult(*conv, *turn)


def synchrony(corpus, *, lexicon: Lexicon | str | None = None, window: int = 8,
              target_thresh: int = 3, n_threads: int | None = None,
              backend: str = "auto") -> SyncResult:
    """LSM, rLSM, rolling-window rLSM and coordination of every conversation of a corpus.

    Parameters
    ----------
    corpus : fastmetrics.Corpus
    lexicon : Lexicon, str path to a LIWC ``.dic`` file, or None for the built-in lists
    window : int
        W for ``rlsm_window`` (default 8 own turns per speaker).
    target_thresh : int
        Coordination target threshold (default 3, as ConvoKit).
    n_threads : int or None

    Returns
    -------
    SyncResult

    Notes
    -----
    Ireland & Pennebaker (2010); Müller-Frommeyer, Frommeyer & Kauffeld (2019);
    Danescu-Niculescu-Mizil, Lee, Pang & Kleinberg (2012). The built-in word lists are the
    project's own, not LIWC: pass a LIWC ``.dic`` for LIWC-exact categories.

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> from fastmetrics import Corpus
    >>> c = Corpus(conversation_id=pa.array(["a"]), conv_offsets=np.array([0, 2]),
    ...            role=np.array([0, 1], dtype=np.int8), speaker=pa.array(["usr", "sys"]),
    ...            text=pa.array(["I think it is the end", "You should see the doctor and the nurse"]))
    >>> round(float(synchrony(c).lsm[0]), 3)
    0.724
    """
    if not isinstance(lexicon, Lexicon):
        lexicon = load_lexicon(lexicon)
    tok = corpus.tokens()
    mask = lexicon.vocab_mask(tok.vocab)
    counts = category_counts(tok.token_offsets, tok.token_ids, mask, len(CATEGORIES),
                             n_threads=n_threads, backend=backend)
    n_words = np.diff(tok.token_offsets)
    return sync_from_counts(corpus.conv_offsets, corpus.role, counts, n_words, window=window,
                            target_thresh=target_thresh, n_threads=n_threads, backend=backend)


def lsm(corpus, *, lexicon: Lexicon | str | None = None, n_threads: int | None = None
        ) -> dict[str, np.ndarray]:
    """Language style matching: ``lsm`` per conversation and ``lsm_prev`` per turn.

    Parameters
    ----------
    corpus : fastmetrics.Corpus
    lexicon : Lexicon, path to a LIWC ``.dic``, or None (built-in lists, not LIWC)
    n_threads : int or None

    Returns
    -------
    dict with ``lsm`` (float64, shape (n_conversations,)) and ``lsm_prev`` (float64,
    shape (n_turns,)); NaN where undefined.

    Notes
    -----
    Ireland & Pennebaker (2010); see :func:`synchrony`.
    """
    res = synchrony(corpus, lexicon=lexicon, n_threads=n_threads)
    return {"lsm": res.lsm, "lsm_prev": res.lsm_prev}


def rlsm(corpus, *, lexicon: Lexicon | str | None = None, window: int = 8,
         n_threads: int | None = None) -> dict[str, np.ndarray]:
    """Reciprocal LSM with the published missing-data rules, and the rolling-window rLSM.

    Returns
    -------
    dict with ``rlsm``, ``rlsm_client``, ``rlsm_therapist`` (float64, shape
    (n_conversations,)) and ``rlsm_turn``, ``rlsm_window`` (float64, shape (n_turns,)).

    Notes
    -----
    Müller-Frommeyer, Frommeyer & Kauffeld (2019); see :func:`synchrony` for parameters.
    """
    res = synchrony(corpus, lexicon=lexicon, window=window, n_threads=n_threads)
    return {"rlsm": res.rlsm, "rlsm_client": res.rlsm_client, "rlsm_therapist": res.rlsm_therapist,
            "rlsm_turn": res.rlsm_turn, "rlsm_window": res.rlsm_window}


def coordination(corpus, *, lexicon: Lexicon | str | None = None, target_thresh: int = 3,
                 n_threads: int | None = None) -> dict[str, np.ndarray]:
    """Function-word coordination in both directions (ConvoKit-compatible definitions).

    Returns
    -------
    dict with ``coordination_therapist_to_client`` and ``coordination_client_to_therapist``
    (float64, shape (n_conversations,)); NaN when no marker meets ``target_thresh``.

    Notes
    -----
    Danescu-Niculescu-Mizil, Lee, Pang & Kleinberg (2012); see :func:`synchrony`.
    """
    res = synchrony(corpus, lexicon=lexicon, target_thresh=target_thresh, n_threads=n_threads)
    return {"coordination_therapist_to_client": res.coordination_therapist_to_client,
            "coordination_client_to_therapist": res.coordination_client_to_therapist}


#: Measures with surrogates, in the kernel's order; ``lsm_prev_mean`` is the mean of ``lsm_prev``.
SURROGATE_MEASURES = ("lsm_prev_mean", "rlsm", "coordination_therapist_to_client",
                      "coordination_client_to_therapist")


def sync_surrogates(conv_offsets, role, counts, n_words, conv_seeds, n_surrogates: int, *,
                    target_thresh: int = 3, n_threads: int | None = None,
                    backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Observed and surrogate LSM per turn (conversation mean), rLSM and coordination.

    Parameters
    ----------
    conv_offsets, role, counts, n_words : as :func:`sync_from_counts`
    conv_seeds : numpy.ndarray of uint64, shape (n_conversations,)
        :func:`fastmetrics.surrogates.conversation_seeds`.
    n_surrogates : int
        N >= 0.

    Returns
    -------
    observed : numpy.ndarray of float64, shape (n_conversations, 4)
    surrogates : numpy.ndarray of float64, shape (n_conversations, 4, N)
        Columns in the order of :data:`SURROGATE_MEASURES`; the scheme is
        :mod:`fastmetrics.surrogates` (therapist turns shuffled within the conversation).
    """
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    role = np.ascontiguousarray(role, dtype=np.int8)
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    n_words = np.ascontiguousarray(n_words, dtype=np.int64)
    seeds = np.ascontiguousarray(conv_seeds, dtype=np.uint64)
    n_conv = len(off) - 1
    if seeds.shape != (n_conv,):
        raise InputError(f"conv_seeds must have one value per conversation ({n_conv}), got {seeds.shape}")
    if counts.ndim != 2 or counts.shape[0] != int(off[-1]) or role.shape != (int(off[-1]),):
        raise InputError("counts and role must have one row per turn")
    n_surrogates = int(n_surrogates)
    if n_surrogates < 0:
        raise InputError(f"n_surrogates must be >= 0, got {n_surrogates}")
    coord_cats = np.array([CATEGORIES.index(m) for m in COORDINATION_MARKERS], dtype=np.int64)
    observed = np.empty((n_conv, 4))
    sur = np.empty((n_conv, 4, n_surrogates))
    backends.resolve(backend, "sync_surrogates")(off, role, counts, n_words, coord_cats,
                                                 int(target_thresh), seeds, n_surrogates, observed,
                                                 sur, resolve_threads(n_threads))
    return observed, sur
