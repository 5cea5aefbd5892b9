"""The public import path of the function-word lexicons API; it lives in :mod:`fastmetrics.metrics.sync.lexicon`."""
from .metrics.sync.lexicon import *  # noqa: F401,F403
from .metrics.sync.lexicon import __all__  # noqa: F401
