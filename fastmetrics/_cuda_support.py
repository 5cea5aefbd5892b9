"""What every CUDA kernel module shares: availability, transfer accounting, packed copies.

* :func:`cuda_status` says whether the ``cuda`` backend can run and why not, without importing
  ``numba.cuda`` or initialising a driver when it is called first for the cheap checks
  (numba-cuda installed, driver library present); only then does it ask numba-cuda for a
  device (that call initialises the driver, once, and is cached).
* The CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) counts as available, reported as such: the
  kernels then run as Python threads on the CPU, for tests only.
* Every host <-> device transfer made by the kernel modules goes through :func:`to_device`,
  :func:`to_host` or :class:`Pack`, which count them in :data:`TRANSFERS` so that tests can
  check that a batch costs one copy in and one copy out.
* :class:`Pack` lays many host arrays into one byte buffer, copies it in one transfer and
  hands out typed device views of its parts.

Nothing here imports torch, cupy or ``numba.cuda`` at import time.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import threading
from functools import lru_cache

import numpy as np

__all__ = ["cuda_status", "is_simulator", "TRANSFERS", "reset_transfers", "transfer_counts",
           "to_device", "to_host", "as_device_array", "is_device_array", "input_array", "Pack",
           "OutPack", "device_facts", "multiprocessors", "rounded_mul", "launch_1d"]

#: Host <-> device transfers made by fastmetrics' CUDA kernels (counts and bytes).
TRANSFERS = {"h2d": 0, "d2h": 0, "h2d_bytes": 0, "d2h_bytes": 0}
_LOCK = threading.Lock()
_ALIGN = 256


def reset_transfers() -> None:
    """Set every transfer counter back to zero."""
    with _LOCK:
        for k in TRANSFERS:
            TRANSFERS[k] = 0


def transfer_counts() -> dict:
    """A copy of the transfer counters."""
    with _LOCK:
        return dict(TRANSFERS)


def _count(kind: str, nbytes: int) -> None:
    with _LOCK:
        TRANSFERS[kind] += 1
        TRANSFERS[kind + "_bytes"] += int(nbytes)


def is_simulator() -> bool:
    """True when numba-cuda runs its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        import numba.core.config as cfg  # cheap; does not import numba.cuda

        return bool(int(getattr(cfg, "ENABLE_CUDASIM", 0))) or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    except Exception:  # noqa: BLE001 - numba missing: only the environment can say
        return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


@lru_cache(maxsize=1)
def _status_cached() -> tuple[bool, str]:
    if importlib.util.find_spec("numba_cuda") is None:
        return False, ("numba-cuda is not installed (pip install 'fastmetrics[gpu]' on a machine "
                       "with an NVIDIA GPU)")
    if is_simulator():
        return True, ("CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run as Python threads on "
                      "the CPU, for tests only")
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False, "no NVIDIA driver found (libcuda.so.1 cannot be loaded): no GPU on this machine"
    try:
        from numba import cuda

        if not cuda.is_available():
            return False, "the NVIDIA driver is installed but numba-cuda finds no usable GPU"
        dev = cuda.get_current_device()
        cc = dev.compute_capability
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    except Exception as exc:  # noqa: BLE001 - driver errors come in many kinds
        return False, f"CUDA initialisation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # noqa: BLE001
        return False, (f"numba-cuda cannot compile kernels (NVVM missing: {type(exc).__name__}); "
                       "install numba-cuda with its CUDA extra, e.g. pip install 'numba-cuda[cu13]'")
    return True, f"{name} (compute capability {cc[0]}.{cc[1]})"


def cuda_status(refresh: bool = False) -> tuple[bool, str]:
    """Whether the ``cuda`` backend can run here, and a one-line reason.

    Parameters
    ----------
    refresh : bool
        Ask again instead of returning the cached answer.

    Returns
    -------
    available : bool
    reason : str
        The device name when available; otherwise why not (numba-cuda missing, no driver or
        GPU, CUDA initialisation failure, NVVM missing). The simulator is available and says so.
    """
    if refresh:
        _status_cached.cache_clear()
    return _status_cached()


def device_facts() -> dict:
    """Name, compute capability, multiprocessors and memory of the current device (or {})."""
    ok, reason = cuda_status()
    if not ok:
        return {"available": False, "reason": reason}
    if is_simulator():
        return {"available": True, "simulator": True, "reason": reason, "multiprocessors": 2}
    from numba import cuda

    dev = cuda.get_current_device()
    free, total = cuda.current_context().get_memory_info()
    return {"available": True, "simulator": False, "reason": reason,
            "name": dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name),
            "compute_capability": list(dev.compute_capability),
            "multiprocessors": int(dev.MULTIPROCESSOR_COUNT),
            "memory_total_bytes": int(total), "memory_free_bytes": int(free)}


def multiprocessors() -> int:
    """Streaming multiprocessors of the current device (2 under the simulator)."""
    if is_simulator():
        return 2
    from numba import cuda

    return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)


def _fake_array_type():
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    return FakeCUDAArray


def is_device_array(x) -> bool:
    """True for device arrays: ``__cuda_array_interface__`` (numba, cupy, torch on CUDA), or the
    simulator's device arrays."""
    if isinstance(x, np.ndarray) or x is None:
        return False
    if is_simulator():
        return isinstance(x, _fake_array_type())
    return hasattr(x, "__cuda_array_interface__")


def as_device_array(x):
    """A numba device view of a CUDA array (no copy), or None for host arrays."""
    if not is_device_array(x):
        return None
    if is_simulator():
        return x
    from numba import cuda

    return cuda.as_cuda_array(x)


def to_device(x: np.ndarray):
    """Copy one host array to the device (counted)."""
    from numba import cuda

    x = np.ascontiguousarray(x)
    _count("h2d", x.nbytes)
    return cuda.to_device(x)


def to_host(d, out: np.ndarray | None = None) -> np.ndarray:
    """Copy one device array back to the host (counted)."""
    nbytes = int(np.prod(d.shape)) * np.dtype(d.dtype).itemsize
    _count("d2h", nbytes)
    if out is None:
        return d.copy_to_host()
    d.copy_to_host(out)
    return out


def input_array(x, dtype=None):
    """A device view of ``x`` when it is already on the device (no copy), else None.

    Host inputs go into a :class:`Pack` instead; this is for embeddings and series that a GPU
    stage upstream (the encoder) left on the device.
    """
    d = as_device_array(x)
    if d is not None and dtype is not None and np.dtype(d.dtype) != np.dtype(dtype):
        raise TypeError(f"device array has dtype {d.dtype}, expected {np.dtype(dtype)}")
    return d


class Pack:
    """Many host arrays laid into one buffer, copied to the device in one transfer.

    Examples
    --------
    >>> p = Pack()                                   # doctest: +SKIP
    >>> p.add("a", np.arange(3)); p.zeros("n", 4, np.int64)   # doctest: +SKIP
    >>> d = p.upload(); d["a"]                       # doctest: +SKIP
    """

    def __init__(self):
        self._parts: list[tuple[str, np.ndarray | None, tuple, np.dtype, int]] = []
        self._size = 0

    def _reserve(self, shape, dtype) -> int:
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) * dt.itemsize
        off = self._size
        self._size = off + max(-(-n // _ALIGN) * _ALIGN, _ALIGN)
        return off

    def add(self, name: str, array) -> None:
        """Add a host array (copied into the buffer as C-contiguous)."""
        a = np.ascontiguousarray(array)
        off = self._reserve(a.shape, a.dtype)
        self._parts.append((name, a, a.shape, a.dtype, off))

    def zeros(self, name: str, shape, dtype) -> None:
        """Reserve a zero-filled part (counters, outputs)."""
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        off = self._reserve(shape, dtype)
        self._parts.append((name, None, shape, np.dtype(dtype), off))

    @property
    def nbytes(self) -> int:
        return self._size

    def upload(self) -> dict:
        """One host -> device copy; returns name -> typed device view."""
        from numba import cuda

        buf = np.zeros(max(self._size, _ALIGN), dtype=np.uint8)
        for _name, a, _shape, _dt, off in self._parts:
            if a is not None and a.size:
                buf[off:off + a.nbytes] = a.reshape(-1).view(np.uint8)
        _count("h2d", buf.nbytes)
        dbuf = cuda.to_device(buf)
        return {name: _view(dbuf, off, shape, dt) for name, a, shape, dt, off in self._parts}


def _view(dbuf, off, shape, dt):
    n = int(np.prod(shape))
    nbytes = max(n * dt.itemsize, dt.itemsize)
    v = dbuf[off:off + nbytes].view(dt)
    if n == 0:
        return v[:0].reshape(shape) if len(shape) == 1 else v[:0]
    return v.reshape(shape) if len(shape) != 1 else v


class OutPack:
    """Outputs laid into one device buffer, copied back to the host in one transfer."""

    def __init__(self):
        self._parts: list[tuple[str, tuple, np.dtype, int]] = []
        self._size = 0
        self._dbuf = None

    def add(self, name: str, shape, dtype) -> None:
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) * dt.itemsize
        self._parts.append((name, shape, dt, self._size))
        self._size += max(-(-n // _ALIGN) * _ALIGN, _ALIGN)

    def allocate(self) -> dict:
        """Device buffer (uninitialised) and name -> typed device view."""
        from numba import cuda

        self._dbuf = cuda.device_array(max(self._size, _ALIGN), dtype=np.uint8)
        return {name: _view(self._dbuf, off, shape, dt) for name, shape, dt, off in self._parts}

    def download(self) -> dict:
        """One device -> host copy; returns name -> host array."""
        _count("d2h", self._dbuf.shape[0])
        buf = self._dbuf.copy_to_host()
        out = {}
        for name, shape, dt, off in self._parts:
            n = int(np.prod(shape))
            out[name] = buf[off:off + n * dt.itemsize].view(dt).reshape(shape)
        return out


_MULS: dict = {}


def rounded_mul(f32: bool = False):
    """A device function a * b rounded on its own (``dmul_rn`` / ``fmul_rn``), so that the
    compiler cannot fuse it with a following addition into an FMA: sums of products then round
    as on the CPU. Under the simulator, plain multiplication (Python arithmetic is not fused)."""
    key = (bool(f32), is_simulator())
    if key in _MULS:
        return _MULS[key]
    from numba import cuda

    if key[1]:
        @cuda.jit(device=True)
        def mul(a, b):
            return a * b
    elif f32:
        from numba.cuda import libdevice

        @cuda.jit(device=True)
        def mul(a, b):
            return libdevice.fmul_rn(a, b)
    else:
        from numba.cuda import libdevice

        @cuda.jit(device=True)
        def mul(a, b):
            return libdevice.dmul_rn(a, b)
    _MULS[key] = mul
    return mul


def launch_1d(n: int, tpb: int | None = None) -> tuple[int, int]:
    """(blocks, threads per block) covering n items with one thread each."""
    if tpb is None:
        tpb = 32 if is_simulator() else 128
    return max(1, -(-int(n) // tpb)), tpb
