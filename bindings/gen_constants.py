"""Writes fastmetrics/_constants.py from the ``#define FM_*`` lines of kernels/fastmetrics.h.

The C header is the one source of the status codes and solver limits that the C kernels and
their Numba twins share. Run ``python bindings/gen_constants.py`` after editing the header;
``tests/test_constants.py`` fails when the generated file is out of date.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "kernels" / "fastmetrics.h"
TARGET = ROOT / "fastmetrics" / "_constants.py"

_DEFINE = re.compile(r"^\s*#define\s+(FM_[A-Z0-9_]+)\s+([-+0-9.eE]+)\b", re.M)


def constants(header_text: str) -> dict[str, int | float]:
    """Name -> value of every numeric ``#define FM_*`` of the header, in header order."""
    out: dict[str, int | float] = {}
    for name, value in _DEFINE.findall(header_text):
        out[name] = float(value) if any(c in value for c in ".eE") else int(value)
    return out


def render(header_text: str) -> str:
    lines = ['"""Constants shared by the C kernels and their Numba twins.',
             "",
             "Generated from kernels/fastmetrics.h by bindings/gen_constants.py: do not edit; edit the",
             'header and rerun the script."""',
             "",
             "__all__ = ["]
    consts = constants(header_text)
    lines += [f'    "{n}",' for n in consts] + ["]", ""]
    lines += [f"{n} = {v!r}" for n, v in consts.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render(HEADER.read_text()))
    print(f"wrote {TARGET}", file=sys.stderr)
