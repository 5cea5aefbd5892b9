"""Style-synchrony families: ``lsm``, ``rlsm`` and ``coordination``.

All three share one compiled pass (:func:`fastmetrics.sync.synchrony`); when several are
requested for the same chunk the pass runs once and its result is reused. Definitions:
:mod:`fastmetrics.sync` and docs METRICS.md section 4. The built-in function-word lists are
the project's own (not LIWC); ``--dictionary FILE`` (a LIWC-format ``.dic``) replaces them.
"""
from __future__ import annotations

from ..registry import Context, MetricFamily, MetricResult, Option

_CACHE_ATTR = "_fastmetrics_sync_cache"


def _opt_path(value: str):
    return value or None


def _positive_int(value) -> int:
    from ..errors import InputError

    try:
        v = int(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a positive integer, got {value!r}") from None
    if v < 1:
        raise InputError(f"expected a positive integer, got {value!r}")
    return v


OPTIONS = (
    Option("dictionary", _opt_path, None,
           "LIWC-format .dic file replacing the built-in (non-LIWC) function-word lists"),
    Option("window", _positive_int, 8,
           "W, window length in turns (rolling-window rLSM: each speaker's last W own turns; "
           "embedding synchrony: the last W turns)"),
    Option("coordination_threshold", int, 3,
           "coordination: minimum target turns exhibiting a marker (ConvoKit target_thresh)"),
)


def _result(corpus, ctx: Context):
    from ..lexicon import load_lexicon
    from ..sync import synchrony

    opts = ctx.options
    dictionary = opts.get("dictionary")
    window = int(opts.get("window", 8) or 8)
    thresh = int(opts.get("coordination_threshold", 3))
    key = (dictionary, window, thresh)
    cached = getattr(corpus, _CACHE_ATTR, None)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    lexicon = ctx.resource(f"lexicon:{dictionary}", lambda: load_lexicon(dictionary))
    res = synchrony(corpus, lexicon=lexicon, window=window, target_thresh=thresh, n_threads=ctx.n_threads)
    setattr(corpus, _CACHE_ATTR, (key, res, lexicon.source))
    return res, lexicon.source


def _meta(source: str, ctx: Context) -> dict[str, str]:
    return {"sync_dictionary": source, "sync_window": str(ctx.options.get("window", 8)),
            "sync_backend": "numba"}


def _lsm(corpus, ctx: Context) -> MetricResult:
    res, src = _result(corpus, ctx)
    return MetricResult(turns={"lsm_prev": res.lsm_prev}, conversations={"lsm": res.lsm},
                        metadata=_meta(src, ctx))


def _rlsm(corpus, ctx: Context) -> MetricResult:
    res, src = _result(corpus, ctx)
    return MetricResult(turns={"rlsm_turn": res.rlsm_turn, "rlsm_window": res.rlsm_window},
                        conversations={"rlsm": res.rlsm, "rlsm_client": res.rlsm_client,
                                       "rlsm_therapist": res.rlsm_therapist},
                        metadata=_meta(src, ctx))


def _coordination(corpus, ctx: Context) -> MetricResult:
    res, src = _result(corpus, ctx)
    return MetricResult(conversations={
        "coordination_therapist_client": res.coordination_therapist_client,
        "coordination_client_therapist": res.coordination_client_therapist},
        metadata=_meta(src, ctx))


LSM = MetricFamily(
    name="lsm", description="language style matching per conversation and per speaker change",
    compute=_lsm, needs=frozenset({"tokens"}), turn_columns=("lsm_prev",),
    conversation_columns=("lsm",), options=OPTIONS,
    reference="Ireland & Pennebaker 2010; METRICS.md 4")

RLSM = MetricFamily(
    name="rlsm", description="reciprocal LSM (turn level, per person, dyad) and rolling-window rLSM",
    compute=_rlsm, needs=frozenset({"tokens"}), turn_columns=("rlsm_turn", "rlsm_window"),
    conversation_columns=("rlsm", "rlsm_client", "rlsm_therapist"), options=OPTIONS,
    reference="Müller-Frommeyer, Frommeyer & Kauffeld 2019; METRICS.md 4")

COORDINATION = MetricFamily(
    name="coordination", description="function-word coordination therapist->client and client->therapist",
    compute=_coordination, needs=frozenset({"tokens"}),
    conversation_columns=("coordination_therapist_client", "coordination_client_therapist"),
    options=OPTIONS, reference="Danescu-Niculescu-Mizil et al. 2012 (ConvoKit Coordination)")
