"""The public import path of the optimal transport (WMD, Sinkhorn, nCLiD) API; it lives in
:mod:`fastmetrics.metrics.ot`."""
from .metrics.ot import *  # noqa: F401,F403
from .metrics.ot import __all__  # noqa: F401
