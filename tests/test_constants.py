"""The constants shared by the C kernels and the Numba twins come from the C header only."""
import importlib.util
from pathlib import Path

from fastmetrics import _constants
from fastmetrics._status import KernelStatus

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_constants", ROOT / "bindings" / "gen_constants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_constants_are_up_to_date():
    gen = _generator()
    header = (ROOT / "kernels" / "fastmetrics.h").read_text()
    assert (ROOT / "fastmetrics" / "_constants.py").read_text() == gen.render(header), \
        "kernels/fastmetrics.h changed: run python bindings/gen_constants.py"
    assert gen.constants(header)["FM_MAX_ITER"] == _constants.FM_MAX_ITER


def test_status_enum_and_c_library_use_the_header_values():
    assert [s.value for s in KernelStatus] == [_constants.FM_OK, _constants.FM_ERR_INPUT,
                                               _constants.FM_ERR_NOMEM, _constants.FM_ERR_INFEASIBLE,
                                               _constants.FM_MAX_ITER]
    from fastmetrics import _c

    if _c.available:  # the compiled library exposes the integer #defines of the cffi cdef
        assert _c.lib.FM_MAX_ITER == _constants.FM_MAX_ITER
        assert _c.lib.FM_ERR_INFEASIBLE == _constants.FM_ERR_INFEASIBLE


def test_no_kernel_source_restates_a_shared_limit():
    """The C and Numba kernels read the limits from the header / the generated module."""
    numba_src = (ROOT / "fastmetrics" / "metrics" / "ot" / "_numba.py").read_text()
    c_src = (ROOT / "kernels" / "emd.c").read_text()
    for literal in ("2048", "1e-13", "50000", "100000"):
        assert literal not in numba_src, literal
        assert literal not in c_src, literal
