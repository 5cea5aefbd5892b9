"""The public import path of the trajectory features API; it lives in :mod:`fastmetrics.metrics.trajectory`."""
from .metrics.trajectory import *  # noqa: F401,F403
from .metrics.trajectory import __all__  # noqa: F401
