"""Public entry points of the encoder: ``fastmetrics.encode`` and the corpus-level call."""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import InputError
from .cache import EmbeddingCache, resolve_cache_dir, text_keys
from .encoder import Encoder, _as_text_list, get_encoder, unique_texts


def _cached_encode(encoder: Encoder, texts: list[str], cache: EmbeddingCache | None) -> np.ndarray:
    """Embeddings of ``texts``: distinct texts once, cached ones read, the rest encoded and stored."""
    n = len(texts)
    if n == 0:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    uniq, inverse = unique_texts(texts)
    if cache is None:
        emb = encoder._encode_unique(uniq, normalize=True)
    else:
        keys = text_keys(uniq)
        found, emb = cache.get(uniq, keys)
        miss = np.nonzero(~found)[0]
        if len(miss):
            miss_texts = [uniq[i] for i in miss]
            vec = encoder._encode_unique(miss_texts, normalize=True)
            emb[miss] = vec
            cache.put(miss_texts, vec, keys[miss])
    return emb if len(uniq) == n else emb[inverse]


def encode(texts, *, model_dir=None, n_threads: int | None = None, cache_dir=None,
           batch_tokens: int | None = None, providers=None) -> np.ndarray:
    """Sentence embeddings with the offline encoder (all-MiniLM-L6-v2 by default).

    Parameters
    ----------
    texts : sequence of str or pyarrow string array, length n
        None / null entries are encoded as "".
    model_dir : str or path, optional
        Directory with ``model.onnx`` + ``tokenizer.json``; default the built-in model.
    n_threads : int, optional
        onnxruntime intra-op threads (None: onnxruntime's default, all cores).
    cache_dir : str or path, optional
        Use the on-disk embedding cache in this folder ("" or "default": the default
        location, see :func:`fastmetrics.embed.cache.default_cache_dir`). None: no cache.
    batch_tokens : int, optional
        Token budget per batch (default 512: small batches keep the activations in cache).
    providers : list of str, optional
        onnxruntime execution providers (default: CUDA when available, else CPU).

    Returns
    -------
    numpy.ndarray of float32, shape (n, 384)
        Rows L2-normalised (mean pooling over the attention mask, as sentence-transformers).

    Notes
    -----
    Model: sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych 2019), int8 ONNX weights.

    Examples
    --------
    >>> import fastmetrics
    >>> e = fastmetrics.encode(["I feel so alone lately.", "That sounds really hard."])
    >>> e.shape, e.dtype
    ((2, 384), dtype('float32'))
    """
    texts = _as_text_list(texts)
    kw = {} if batch_tokens is None else {"batch_tokens": batch_tokens}
    enc = get_encoder(model_dir, n_threads=n_threads, providers=providers, **kw)
    if cache_dir is None:
        return _cached_encode(enc, texts, None)
    root = resolve_cache_dir(cache_dir)
    cache = None if root is None else EmbeddingCache(root, enc.model_id, enc.dim)
    return _cached_encode(enc, texts, cache)


def encode_corpus(corpus, *, model_dir=None, n_threads: int | None = None, cache_dir="",
                  encoder: Encoder | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Fill a turn-embedding array for every turn of a corpus.

    Parameters
    ----------
    corpus : fastmetrics.Corpus
    model_dir, n_threads : see :func:`encode`
    cache_dir : str or path or None
        "" (default): the default cache location; "none": no cache; else a folder.
    encoder : Encoder, optional
        A ready encoder (overrides ``model_dir`` / ``n_threads``).
    out : numpy.ndarray of float32, shape (n_turns, 384), optional
        Filled in place (e.g. a ``numpy.memmap`` for corpora larger than memory).

    Returns
    -------
    numpy.ndarray of float32, shape (n_turns, 384)
    """
    enc = encoder or get_encoder(model_dir, n_threads=n_threads)
    root = resolve_cache_dir(cache_dir)
    cache = None if root is None else EmbeddingCache(root, enc.model_id, enc.dim)
    emb = _cached_encode(enc, _as_text_list(corpus.text), cache)
    if out is not None:
        if out.shape != emb.shape or out.dtype != np.float32:
            raise InputError(f"out must be float32 of shape {emb.shape}, got {out.dtype} {out.shape}")
        out[...] = emb
        return out
    return emb


def corpus_embeddings(corpus, ctx) -> tuple[np.ndarray, dict[str, str]]:
    """The chunk's turn embeddings for a metric family, computed once per chunk.

    ``alliance`` and ``embedding_sync`` both call this: the first call for a chunk encodes it
    (through the on-disk cache), the second finds the array on ``ctx`` keyed by the chunk's
    identity and the encoder settings. Only the latest chunk is kept.

    Returns
    -------
    embeddings : numpy.ndarray of float32, shape (n_turns, d)
    metadata : dict of str -> str
        The model description for the output files.
    """
    opts = ctx.options
    model_dir = opts.get("model_dir") or None
    cache_dir = opts.get("cache_dir", "")
    n_threads = ctx.n_threads if ctx.n_threads and ctx.n_threads > 0 else None
    key = (str(model_dir or ""), str(cache_dir), n_threads)
    slot = ctx.resources.get("embed:chunk")
    if slot is not None and slot[0]() is corpus and slot[1] == key:
        return slot[2], slot[3]
    enc = ctx.resource(f"embed:encoder:{key[0]}:{n_threads}",
                       lambda: get_encoder(model_dir, n_threads=n_threads))
    emb = encode_corpus(corpus, encoder=enc, cache_dir=cache_dir)
    meta = enc.info.metadata()
    try:
        ref = weakref.ref(corpus)
    except TypeError:  # pragma: no cover - Corpus supports weak references
        ref = (lambda c=corpus: c)
    ctx.resources["embed:chunk"] = (ref, key, emb, meta)
    return emb, meta
