"""The public import path of the valence (VADER) API; it lives in :mod:`fastmetrics.metrics.emotion`."""
from .metrics.emotion import *  # noqa: F401,F403
from .metrics.emotion import __all__  # noqa: F401
