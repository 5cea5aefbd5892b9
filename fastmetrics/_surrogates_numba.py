"""The surrogate permutation scheme, shared by the synchrony kernels (Numba).

Surrogate s of conversation c keeps every turn's position and role and shuffles the
*therapist's* turns among the therapist's positions (a Fisher-Yates shuffle). Client turns, the
role sequence and the number of pairs stay as they are; only which therapist turn answers which
client turn changes, which is what every synchrony measure (both directions) depends on.

Random numbers: SplitMix64 (Steele, Lea & Flood 2014). The state of surrogate s of a
conversation starts at ``mix(conv_seed + mix(s + 1))`` where ``conv_seed`` is the 64-bit key of
the conversation (:func:`fastmetrics.surrogates.conversation_seeds`, from the run's seed and the
conversation id); Fisher-Yates draws j = next() mod (i + 1) for i = m-1 .. 1 (modulo bias below
2^-50 for any conversation length). A pure-Python twin is
:func:`fastmetrics.testing.reference_surrogates.permutation`.
"""
import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(z):
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def fill_source(a, b, role, conv_seed, s, slots, src):
    """src[t - a] = the turn whose content position t takes in surrogate s (therapist turns
    shuffled among therapist positions, every other turn itself). ``slots`` is scratch of
    length >= b - a."""
    m = 0
    for t in range(a, b):
        src[t - a] = t
        if role[t] == 1:
            slots[m] = t
            m += 1
    state = conv_seed + _mix(np.uint64(s) + np.uint64(1))
    for i in range(m - 1, 0, -1):
        state = state + _GOLDEN
        r = _mix(state - _GOLDEN)
        j = np.int64(r % np.uint64(i + 1))
        tmp = slots[i]
        slots[i] = slots[j]
        slots[j] = tmp
    k = 0
    for t in range(a, b):
        if role[t] == 1:
            src[t - a] = slots[k]
            k += 1
    return m
