"""Sentence embeddings: the offline ONNX encoder, the on-disk embedding cache, similarity search.

Heavy imports (onnxruntime, tokenizers, faiss) happen on first use, not at import.
"""
from __future__ import annotations

from .api import corpus_embeddings, encode, encode_corpus
from .search import TurnIndex, nearest_turns

__all__ = ["encode", "encode_corpus", "corpus_embeddings", "nearest_turns", "TurnIndex"]
