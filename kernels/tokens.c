/*
 * Per-turn token statistics (n_tokens, n_types) over a ragged token array.
 *
 * Algorithm: one pass per turn; distinct ids are counted with a per-thread "last seen" stamp
 * array of vocab_size int64 (stamp = turn index + 1), so no clearing is needed between turns.
 * Parallel strategy: static OpenMP schedule over turns, one stamp array per thread.
 * Memory: n_threads * vocab_size * 8 bytes of scratch.
 */
#include <stdlib.h>
#include "fastmetrics.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int fm_token_stats(int64_t n_turns, const int64_t *token_offsets, const int32_t *token_ids,
                   int32_t vocab_size, int32_t *out_n_tokens, int32_t *out_n_types,
                   int n_threads)
{
    if (n_turns < 0 || vocab_size < 0) return FM_ERR_INPUT;
    if (n_threads < 1) n_threads = 1;
    int status = FM_OK;

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads)
#endif
    {
        int64_t *seen = (int64_t *)calloc((size_t)(vocab_size > 0 ? vocab_size : 1), sizeof(int64_t));
        int local_status = seen ? FM_OK : FM_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t t = 0; t < n_turns; ++t) {
            if (local_status != FM_OK) continue;
            int64_t a = token_offsets[t], b = token_offsets[t + 1];
            int32_t types = 0;
            for (int64_t k = a; k < b; ++k) {
                int32_t id = token_ids[k];
                if (id < 0 || id >= vocab_size) { local_status = FM_ERR_INPUT; break; }
                if (seen[id] != t + 1) { seen[id] = t + 1; ++types; }
            }
            out_n_tokens[t] = (int32_t)(b - a);
            out_n_types[t] = types;
        }
        free(seen);
        if (local_status != FM_OK) {
#ifdef _OPENMP
#pragma omp critical
#endif
            status = local_status;
        }
    }
    return status;
}
