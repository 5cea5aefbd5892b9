"""cffi builder for the C kernels (build time only).

Every ``kernels/*.c`` file is compiled into one extension module,
``fastmetrics._c._fastmetrics_c``. The C declarations handed to cffi are read from the one
header, ``kernels/fastmetrics.h``, between the ``FM_CDEF_BEGIN`` and ``FM_CDEF_END`` markers,
so the header stays the single source of truth for the C interface.

OpenMP is used when the compiler supports it (``-fopenmp``); set ``FASTMETRICS_NO_OPENMP=1``
to build a single-threaded C core.
"""
import os
import re
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "kernels"
HEADER = KERNELS / "fastmetrics.h"


def _cdef_from_header(text: str) -> str:
    m = re.search(r"FM_CDEF_BEGIN \*/(.*?)/\* FM_CDEF_END", text, re.S)
    if m is None:
        raise RuntimeError(f"{HEADER}: FM_CDEF_BEGIN/FM_CDEF_END markers not found")
    body = m.group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)  # comments out
    body = re.sub(r"//[^\n]*", "", body)
    return body


def _compile_args():
    args = ["-O3", "-std=c99", "-fno-strict-aliasing"]
    link = []
    if sys.platform != "win32" and os.environ.get("FASTMETRICS_NO_OPENMP", "0") != "1":
        args.append("-fopenmp")
        link.append("-fopenmp")
    return args, link


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(HEADER.read_text()))
_sources = sorted(str(p.relative_to(ROOT)) for p in KERNELS.glob("*.c"))
_cargs, _largs = _compile_args()
ffibuilder.set_source(
    "fastmetrics._c._fastmetrics_c",
    '#include "fastmetrics.h"\n',
    sources=_sources,
    include_dirs=[str(KERNELS.relative_to(ROOT))],
    extra_compile_args=_cargs,
    extra_link_args=_largs,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
