"""Public entry points of the encoder: ``fastmetrics.encode`` and the corpus-level call."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .cache import EmbeddingCache, resolve_cache_dir, text_keys
from .encoder import Encoder, as_text_list, get_encoder, unique_texts

__all__ = ["cached_encode", "encode", "encode_corpus", "encode_texts", "corpus_embeddings"]


def cached_encode(encoder: Encoder, texts: list[str], cache: EmbeddingCache | None,
                  on_progress=None) -> np.ndarray:
    """Embeddings of ``texts``: distinct texts once, cached ones read, the rest encoded and stored."""
    n = len(texts)
    if n == 0:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    uniq, inverse = unique_texts(texts)
    if cache is None:
        emb = encoder.encode_distinct(uniq, normalize=True, on_progress=on_progress)
    else:
        keys = text_keys(uniq)
        found, emb = cache.get(uniq, keys)
        miss = np.nonzero(~found)[0]
        if len(miss):
            miss_texts = [uniq[i] for i in miss]
            vec = encoder.encode_distinct(miss_texts, normalize=True, on_progress=on_progress)
            emb[miss] = vec
            cache.put(miss_texts, vec, keys[miss])
    return emb if len(uniq) == n else emb[inverse]


def encode(texts, *, model_dir=None, n_threads: int | None = None, cache_dir=None,
           batch_tokens: int | None = None, providers=None, encoder: str = "minilm") -> np.ndarray:
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
    encoder : {"minilm", "static"}
        The encoder tier (default "minilm"); "static" is the model2vec table distilled from
        MiniLM (256-d rows, :mod:`fastmetrics.embed.static`).

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
    texts = as_text_list(texts)
    kw = {} if batch_tokens is None else {"batch_tokens": batch_tokens}
    if encoder == "minilm":
        enc = get_encoder(model_dir, n_threads=n_threads, providers=providers, **kw)
    else:
        enc = _tier_encoder(encoder)
    if cache_dir is None:
        return cached_encode(enc, texts, None)
    root = resolve_cache_dir(cache_dir)
    cache = None if root is None else EmbeddingCache(root, enc.model_id, enc.dim)
    return cached_encode(enc, texts, cache)


def encode_corpus(corpus, *, model_dir=None, n_threads: int | None = None, cache_dir="",
                  encoder: Encoder | None = None, out: np.ndarray | None = None,
                  on_progress=None) -> np.ndarray:
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
    on_progress : callable, optional
        Receives the fraction of the texts' tokens encoded, after each batch.

    Returns
    -------
    numpy.ndarray of float32, shape (n_turns, 384)
    """
    enc = encoder or get_encoder(model_dir, n_threads=n_threads)
    root = resolve_cache_dir(cache_dir)
    cache = None if root is None else EmbeddingCache(root, enc.model_id, enc.dim)
    emb = cached_encode(enc, as_text_list(corpus.text), cache, on_progress=on_progress)
    if out is not None:
        if out.shape != emb.shape or out.dtype != np.float32:
            raise InputError(f"out must be float32 of shape {emb.shape}, got {out.dtype} {out.shape}")
        out[...] = emb
        return out
    return emb


def _run_encoder(ctx):
    """The run's encoder (built once per run from the options) and its embedding cache."""
    model_dir = ctx.options.get("model_dir") or None
    cache_dir = ctx.options.get("cache_dir", "")
    tier = ctx.options.get("encoder") or "minilm"
    n_threads = ctx.n_threads if ctx.n_threads and ctx.n_threads > 0 else None

    device = _encoder_device(ctx.backend) if tier == "minilm" else "cpu"

    def build():
        if device == "cuda":
            from .gpu import GpuEncoder

            enc = GpuEncoder(model_dir=None)
        else:
            enc = _tier_encoder(tier, model_dir, n_threads)
        root = resolve_cache_dir(cache_dir)
        cache = None if root is None else EmbeddingCache(root, enc.model_id, enc.dim)
        return enc, cache

    return ctx.resource(f"embed:encoder:{tier}:{device}:{model_dir or ''}:{cache_dir}:{n_threads}", build)


def run_encoder_reads(ctx, trained_id: str) -> tuple[bool, str]:
    """Whether a head trained on embeddings of encoder ``trained_id`` can read this run's
    (:func:`fastmetrics.models.linear.same_encoder`), and this run's encoder model id."""
    from ..models.linear import same_encoder

    enc, _ = _run_encoder(ctx)
    return same_encoder(trained_id, enc.model_id), enc.model_id


def _encoder_device(backend: str) -> str:
    """Where the MiniLM tier runs: "cuda" (the fp16 GPU encoder, :mod:`fastmetrics.embed.gpu`)
    when ``--backend cuda`` is requested, or with ``auto`` on a host with a real GPU and
    PyTorch; else "cpu". A named ``cuda`` request on a host without one fails with the reason."""
    if backend not in ("cuda", "auto"):
        return "cpu"
    from .. import backends

    if backend == "auto" and (not backends.available("cuda") or backends.is_simulator()):
        return "cpu"
    from .gpu import gpu_encoder_status

    ok, why = gpu_encoder_status()
    if ok:
        return "cuda"
    if backend == "cuda" and not backends.is_simulator():
        from ..errors import BackendUnavailableError

        raise BackendUnavailableError(f"--backend cuda: the GPU encoder is unavailable: {why}")
    return "cpu"


def _tier_encoder(tier: str, model_dir=None, n_threads: int | None = None):
    """The shared encoder of a tier: "minilm" (the ONNX model, or ``model_dir``) or "static"
    (the model2vec table, :mod:`fastmetrics.embed.static`; ``model_dir`` does not apply)."""
    if tier == "static":
        from .static import get_static_encoder

        return get_static_encoder()
    if tier != "minilm":
        raise InputError(f"encoder must be 'minilm' or 'static', got {tier!r}")
    return get_encoder(model_dir, n_threads=n_threads)


def encode_texts(texts, ctx) -> np.ndarray:
    """Embeddings of ``texts`` (anchors, prototypes) with the run's encoder and cache.

    Parameters
    ----------
    texts : sequence of str
    ctx : fastmetrics.registry.Context
        Its ``model_dir`` / ``cache_dir`` options choose the encoder and the cache.

    Returns
    -------
    numpy.ndarray of float32, shape (len(texts), d)
    """
    enc, cache = _run_encoder(ctx)
    return cached_encode(enc, as_text_list(texts), cache)


def corpus_embeddings(corpus, ctx) -> tuple[np.ndarray, dict[str, str]]:
    """The chunk's turn embeddings for a metric family, computed once per chunk.

    Every embedding-based family (alliance, embedding_sync, empathy, behaviour) calls this:
    the first call for a chunk encodes it (through the on-disk cache) and keeps the array in
    the chunk-scoped cache of ``ctx`` (:meth:`fastmetrics.registry.Context.cached`), which the
    engine clears after the chunk.

    Returns
    -------
    embeddings : numpy.ndarray of float32, shape (n_turns, d)
    metadata : dict of str -> str
        The model description for the output files.
    """
    enc, _ = _run_encoder(ctx)

    def build():
        emb = encode_corpus(corpus, encoder=enc, cache_dir=ctx.options.get("cache_dir", ""),
                            on_progress=ctx.report)
        return emb, enc.info.metadata()

    return ctx.cached(("embeddings", enc.model_id), build)
