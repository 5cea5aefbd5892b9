"""The public import path of the word vectors API; it lives in :mod:`fastmetrics.metrics.ot.vectors`."""
from .metrics.ot.vectors import *  # noqa: F401,F403
from .metrics.ot.vectors import __all__  # noqa: F401
