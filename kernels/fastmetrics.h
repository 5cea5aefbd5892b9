/*
 * fastmetrics C kernels: the one public header.
 *
 * Conventions (docs/STYLE.md): plain C types, caller-allocated outputs, an int status
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

/* Status codes. This header is the one source of the constants the C kernels and their Numba
 * twins share: bindings/gen_constants.py writes them to fastmetrics/_constants.py, and a test
 * fails when that file is out of date. */
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

/* Exact earth mover's distance of one dense problem (transportation simplex).
 *   a        : double[n1]        source weights (non-negative, same total as b)
 *   b        : double[n2]        target weights
 *   cost     : double[n1 * n2]   ground cost, row-major
 *   out_cost : double[1]         optimal transport cost
 *   out_plan : double[n1 * n2]   optimal plan, row-major (may be NULL)
 * Returns FM_MAX_ITER if the pivot limit was hit (out_cost then holds a feasible upper bound).
 */
int fm_emd_f64(int32_t n1, int32_t n2, const double *a, const double *b, const double *cost,
               double *out_cost, double *out_plan);

/* Word mover's distances for a batch of pairs of bags that index one vector table.
 *   task_turn_lo, task_turn_hi : int64[n_tasks]    turn range whose vocabulary shares one
 *                                                  memoised cost matrix (lo < 0: no memo)
 *   task_pair_offsets          : int64[n_tasks + 1] CSR offsets into the pairs
 *   pair_a, pair_b             : int64[n_pairs]    turn indices of each pair
 *   bag_start                  : int64[n_turns]    start of each turn's bag in bag_rows
 *   bag_len                    : int32[n_turns]    distinct in-vocabulary words of the turn
 *   bag_rows                   : int32[...]        table rows, in [0, n_rows)
 *   bag_weights                : double[...]       count / in-vocabulary total
 *   table                      : float or double[n_rows * dim] word vectors, row-major
 *   ground_cost                : 0 Euclidean, 1 cosine distance
 *   mode                       : 0 exact EMD, 1 RWMD, 2 WCD (Euclidean only)
 *   out                        : double[n_pairs]   +inf where a bag is empty
 */
int fm_wmd_pairs_f64(int64_t n_tasks, const int64_t *task_turn_lo, const int64_t *task_turn_hi,
                     const int64_t *task_pair_offsets, const int64_t *pair_a, const int64_t *pair_b,
                     const int64_t *bag_start, const int32_t *bag_len, const int32_t *bag_rows,
                     const double *bag_weights, int32_t n_rows, int32_t dim, const double *table,
                     int ground_cost, int mode, double *out, int n_threads);
int fm_wmd_pairs_f32(int64_t n_tasks, const int64_t *task_turn_lo, const int64_t *task_turn_hi,
                     const int64_t *task_pair_offsets, const int64_t *pair_a, const int64_t *pair_b,
                     const int64_t *bag_start, const int32_t *bag_len, const int32_t *bag_rows,
                     const double *bag_weights, int32_t n_rows, int32_t dim, const float *table,
                     int ground_cost, int mode, double *out, int n_threads);

/* FM_CDEF_END */

/* Solver limits and tolerances shared with the Numba kernels (not part of the cffi cdef: cffi
 * only reads integer constants). */
#define FM_MEMO_MAX_U 2048          /* largest task vocabulary with a memoised cost matrix */
#define FM_EMD_PRICE_TOL 1e-13      /* pricing tolerance, relative to max |C| */
#define FM_EMD_DANTZIG_CAP 100      /* Dantzig pivots per node before switching to Bland's rule */
#define FM_EMD_BLAND_CAP_N2 50000   /* Bland pivots: FM_EMD_BLAND_CAP_N2 * n^2 + FM_EMD_BLAND_CAP_BASE */
#define FM_EMD_BLAND_CAP_BASE 100000

#ifdef __cplusplus
}
#endif
#endif /* FASTMETRICS_H */
