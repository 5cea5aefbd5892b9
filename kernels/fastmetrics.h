/*
 * fastmetrics C kernels: the one public header.
 *
 * Conventions (see docs/STYLE): plain C types, caller-allocated outputs, an int status
 * (FM_OK on success), an explicit n_threads (<= 0 means one thread), no global OpenMP state,
 * no Python API. Names carry the fm_ prefix and a _f32/_f64 suffix where the dtype varies.
 * Ragged data is passed as CSR: an offsets array of length n + 1 over a flat values array.
 *
 * The block between FM_CDEF_BEGIN and FM_CDEF_END is read verbatim (comments stripped) by
 * bindings/build_cffi.py as the cffi cdef: keep it to declarations cffi can parse.
 */
#ifndef FASTMETRICS_H
#define FASTMETRICS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FM_CDEF_BEGIN */

/* Status codes, shared with fastmetrics/_status.py (KernelStatus). */
#define FM_OK 0
#define FM_ERR_INPUT 1
#define FM_ERR_NOMEM 2
#define FM_ERR_INFEASIBLE 3
#define FM_MAX_ITER 4

/* Per-turn token statistics over a ragged token array.
 *   token_offsets : int64[n_turns + 1]   CSR offsets into token_ids
 *   token_ids     : int32[n_tokens]      ids in [0, vocab_size)
 *   out_n_tokens  : int32[n_turns]       number of tokens per turn
 *   out_n_types   : int32[n_turns]       number of distinct token ids per turn
 * Returns FM_ERR_INPUT if an id is out of range, FM_ERR_NOMEM if scratch allocation fails.
 */
int fm_token_stats(int64_t n_turns, const int64_t *token_offsets, const int32_t *token_ids,
                   int32_t vocab_size, int32_t *out_n_tokens, int32_t *out_n_types,
                   int n_threads);

/* FM_CDEF_END */

#ifdef __cplusplus
}
#endif
#endif /* FASTMETRICS_H */
