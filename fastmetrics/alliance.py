"""The public import path of the working alliance (COMPASS) API; it lives in :mod:`fastmetrics.metrics.alliance`."""
from .metrics.alliance import *  # noqa: F401,F403
from .metrics.alliance import __all__  # noqa: F401
