"""The public import path of the style synchrony (LSM, rLSM, coordination) API; it lives in
:mod:`fastmetrics.metrics.sync`."""
from .metrics.sync import *  # noqa: F401,F403
from .metrics.sync import __all__  # noqa: F401
