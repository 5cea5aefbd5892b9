"""Loaders: every supported input format into one :class:`~fastmetrics.corpus.Corpus`.

Formats: long tables (CSV, TSV, JSONL, JSON records, Parquet; pandas / pyarrow / polars in the
API), ConvoKit corpus directories, ESConv one-per-line JSONL and the original ESConv JSON list.
``format="auto"`` detects which one a path is (:func:`detect_format`).
"""
from .detect import FORMATS, detect_format
from .load import TableSpec, iter_corpus, load

__all__ = ["FORMATS", "TableSpec", "detect_format", "iter_corpus", "load"]
