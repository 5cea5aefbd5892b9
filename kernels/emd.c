/*
 * Exact earth mover's distance (transportation simplex) and word-mover distances over batches
 * of pairs of ragged bags of words that index one shared vector table.
 *
 * Algorithm: the primal transportation simplex on the dense bipartite problem (n1 supplies,
 * n2 demands), which is the network simplex specialised to a complete bipartite graph. The
 * start is the matrix-minimum basis (a spanning tree of n1 + n2 - 1 cells, degenerate cells
 * kept with zero flow). The tree is kept as adjacency lists with parents, depths and node
 * potentials; each iteration prices every cell (Dantzig's most negative reduced cost), pushes
 * flow round the cycle closed by the entering cell, drops a blocking cell (the last one met from
 * the apex in the direction of the entering arc) and re-walks only the subtree that the leaving
 * cell cut off. After 100 (n1 + n2) pivots the solver switches to Bland's rule (smallest index
 * enters, smallest blocking index leaves), which cannot cycle, so the solver always ends at an
 * optimal basis; FM_MAX_ITER is returned only if Bland's phase also exceeds its (very large)
 * limit. The result is exact up to floating-point rounding: pricing uses a tolerance of
 * FM_EMD_PRICE_TOL * max|C| (fastmetrics.h).
 *
 * Word mover's distance: bags are (rows, weights) per turn, CSR-like with a start and length
 * per turn. Pairs are grouped into tasks; a task names a range of turns (normally one
 * conversation) whose union vocabulary gets one lazily filled, memoised cost matrix, so a
 * word pair's ground distance is computed once per task however many pairs use it.
 * Modes: 0 exact EMD, 1 RWMD (max of the two relaxed one-sided transports), 2 WCD (distance
 * of the weighted centroids; Euclidean ground cost only).
 *
 * Parallel strategy: OpenMP dynamic schedule over tasks with num_threads(n_threads); each
 * thread owns its scratch. Every pair's value depends only on its own inputs, so results do
 * not depend on the thread count or the schedule.
 * Memory: per thread, n_rows * 12 bytes of stamps plus the task's u*u memo (u = distinct words
 * of the task; the memo is skipped when u > FM_MEMO_MAX_U) plus O(n1 * n2 + (n1 + n2)^2) solver scratch.
 * Numerics: the solver works in double whatever the table dtype; ground costs are computed in
 * the table dtype (a float64 table reproduces scipy's cdist on the same vectors). Outputs are
 * double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fastmetrics.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------------------------------ */
/* transportation simplex                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    int cap_n;      /* capacity in nodes (n1 + n2) */
    int *br, *bc;   /* basis cells: row, column      [n - 1] */
    double *bx;     /* basis flows                   [n - 1] */
    int *deg;       /* active-line flags of the start                [n] */
    int *adj, *nadj;  /* tree adjacency: edges of node v at adj[v * n ..], count nadj[v]  [n * n], [n] */
    int *parent, *pcell, *depth, *queue;            /* [n] each */
    double *pot;    /* potentials: rows 0..n1-1, columns n1..n-1   [n] */
    double *sup, *dem;                              /* [n1], [n2] copies */
    int *pi, *pj;   /* cycle edge lists                            [n] each */
    int *hi;        /* best active column of each row, for the start [n] */
} emd_work;

static void work_free(emd_work *w)
{
    free(w->br); free(w->bc); free(w->bx); free(w->deg); free(w->adj); free(w->nadj);
    free(w->parent); free(w->pcell); free(w->depth); free(w->queue); free(w->pot);
    free(w->sup); free(w->dem); free(w->pi); free(w->pj); free(w->hi);
    memset(w, 0, sizeof(*w));
}

static int work_reserve(emd_work *w, int n)
{
    if (n <= w->cap_n) return FM_OK;
    work_free(w);
    size_t m = (size_t)n + 1;
    w->br = malloc(m * sizeof(int)); w->bc = malloc(m * sizeof(int));
    w->bx = malloc(m * sizeof(double));
    w->deg = malloc(m * sizeof(int)); w->nadj = malloc(m * sizeof(int));
    w->adj = malloc(m * m * sizeof(int));
    w->parent = malloc(m * sizeof(int)); w->pcell = malloc(m * sizeof(int));
    w->depth = malloc(m * sizeof(int)); w->queue = malloc(m * sizeof(int));
    w->pot = malloc(m * sizeof(double));
    w->sup = malloc(m * sizeof(double)); w->dem = malloc(m * sizeof(double));
    w->pi = malloc(m * sizeof(int)); w->pj = malloc(m * sizeof(int));
    w->hi = malloc(m * sizeof(int));
    if (!w->hi || !w->br || !w->bc || !w->bx || !w->deg || !w->nadj || !w->adj || !w->parent ||
        !w->pcell || !w->depth || !w->queue || !w->pot || !w->sup || !w->dem || !w->pi || !w->pj) {
        work_free(w);
        return FM_ERR_NOMEM;
    }
    w->cap_n = n;
    return FM_OK;
}

/* Breadth-first walk of the subtree hanging from node s (whose parent, parent cell, depth and
 * potential are set): parents, depths and potentials (u_r + v_c = C[r, c]) of its nodes. */
static void tree_walk(emd_work *w, int n1, int n2, const double *C, int s)
{
    int n = n1 + n2, head = 0, tail = 0;
    int *restrict w_br = w->br;
    int *restrict w_bc = w->bc;
    int *restrict w_adj = w->adj;
    int *restrict w_nadj = w->nadj;
    int *restrict w_parent = w->parent;
    int *restrict w_pcell = w->pcell;
    int *restrict w_depth = w->depth;
    int *restrict w_queue = w->queue;
    double *restrict w_pot = w->pot;
    w_queue[tail++] = s;
    while (head < tail) {
        int v = w_queue[head++];
        const int *av = w_adj + (size_t)v * n;
        for (int q = 0; q < w_nadj[v]; ++q) {
            int e = av[q];
            int r = w_br[e], c = n1 + w_bc[e];
            int o = (v == r) ? c : r;
            if (o == w_parent[v]) continue;
            w_parent[o] = v; w_pcell[o] = e; w_depth[o] = w_depth[v] + 1;
            w_pot[o] = C[(size_t)w_br[e] * n2 + w_bc[e]] - w_pot[v];
            w_queue[tail++] = o;
        }
    }
}

static void adj_add(emd_work *w, int n, int v, int e) { w->adj[(size_t)v * n + w->nadj[v]++] = e; }

static void adj_remove(emd_work *w, int n, int v, int e)
{
    int *av = w->adj + (size_t)v * n;
    for (int q = 0; q < w->nadj[v]; ++q)
        if (av[q] == e) { av[q] = av[--w->nadj[v]]; return; }
}

/* Exact EMD between weights a[n1] and b[n2] with cost C[n1 * n2] (row-major).
 * plan (may be NULL): n1 * n2 doubles, written with the optimal flows. */
static int emd_solve(int n1, int n2, const double *a, const double *b, const double *C,
                     emd_work *w, double *cost_out, double *plan)
{
    int n = n1 + n2, m = n - 1;
    if (plan) memset(plan, 0, (size_t)n1 * n2 * sizeof(double));
    if (n1 == 1 || n2 == 1) { /* the only feasible plan */
        double s = 0.0;
        for (int i = 0; i < n1; ++i)
            for (int j = 0; j < n2; ++j) {
                double x = (n1 == 1) ? b[j] : a[i];
                s += x * C[(size_t)i * n2 + j];
                if (plan) plan[(size_t)i * n2 + j] = x;
            }
        *cost_out = s;
        return FM_OK;
    }
    int st = work_reserve(w, n);
    if (st != FM_OK) return st;
    int *w_br = w->br;
    int *w_bc = w->bc;
    double *w_bx = w->bx;
    int *w_deg = w->deg;
    int *w_nadj = w->nadj;
    int *w_parent = w->parent;
    int *w_pcell = w->pcell;
    int *w_depth = w->depth;
    double *w_pot = w->pot;
    double *w_sup = w->sup;
    double *w_dem = w->dem;
    int *w_pi = w->pi;
    int *w_pj = w->pj;
    int *w_hi = w->hi;
    double cmax = 0.0;
    for (size_t q = 0; q < (size_t)n1 * n2; ++q) if (fabs(C[q]) > cmax) cmax = fabs(C[q]);
    double tol = FM_EMD_PRICE_TOL * (cmax > 0.0 ? cmax : 1.0);

    /* start: the matrix-minimum rule. Repeatedly take the active cell of least (cost, index),
       ship min(supply, demand) and retire exactly one of its two lines (the row on ties, unless
       it is the last active row). This gives n - 1 cells forming a spanning tree, degenerate
       cells kept with zero flow. Each active row keeps its best active column (hi[i]), which is
       recomputed only when that column retires. */
    for (int i = 0; i < n1; ++i) { w_sup[i] = a[i]; w_deg[i] = 1; }
    for (int j = 0; j < n2; ++j) { w_dem[j] = b[j]; w_deg[n1 + j] = 1; }
    for (int i = 0; i < n1; ++i) {
        const double *Ci = C + (size_t)i * n2;
        int bj = 0;
        for (int j = 1; j < n2; ++j) if (Ci[j] < Ci[bj]) bj = j;
        w_hi[i] = bj;
    }
    {
        int rows_left = n1, cols_left = n2;
        for (int e = 0; e < m; ++e) {
            int bi = -1;
            double bc = INFINITY;
            for (int i = 0; i < n1; ++i) {
                if (!w_deg[i]) continue;
                int j = w_hi[i];
                if (!w_deg[n1 + j]) { /* its best column retired: rescan the row */
                    const double *Ci = C + (size_t)i * n2;
                    j = -1;
                    for (int q = 0; q < n2; ++q)
                        if (w_deg[n1 + q] && (j < 0 || Ci[q] < Ci[j])) j = q;
                    w_hi[i] = j;
                }
                double c = C[(size_t)i * n2 + j];
                if (bi < 0 || c < bc) { bc = c; bi = i; }
            }
            int bj = w_hi[bi];
            double x = w_sup[bi] < w_dem[bj] ? w_sup[bi] : w_dem[bj];
            if (x < 0.0) x = 0.0;
            w_br[e] = bi; w_bc[e] = bj; w_bx[e] = x;
            w_sup[bi] -= x; w_dem[bj] -= x;
            if ((w_sup[bi] <= w_dem[bj] && rows_left > 1) || cols_left == 1) { w_deg[bi] = 0; --rows_left; }
            else { w_deg[n1 + bj] = 0; --cols_left; }
        }
    }

    int status = FM_OK;
    long iter = 0, dantzig_cap = (long)FM_EMD_DANTZIG_CAP * n,
         bland_cap = (long)FM_EMD_BLAND_CAP_N2 * n * (long)n + FM_EMD_BLAND_CAP_BASE;
    int bland = 0;
    /* the start tree: adjacency, then parents/depths/potentials from root node 0 */
    for (int v = 0; v < n; ++v) w_nadj[v] = 0;
    for (int e = 0; e < m; ++e) { adj_add(w, n, w_br[e], e); adj_add(w, n, n1 + w_bc[e], e); }
    w_parent[0] = -1; w_pcell[0] = -1; w_depth[0] = 0; w_pot[0] = 0.0;
    tree_walk(w, n1, n2, C, 0);
    for (;;) {
        int ei = -1, ej = -1;
        double best = -tol;
        if (!bland) {
            /* Dantzig: the least reduced cost, first in row-major order on ties; four
               independent lanes per row (then merged by value, ties to the smaller column) */
            const double *vpot = w_pot + n1;
            for (int i = 0; i < n1; ++i) {
                const double *Ci = C + (size_t)i * n2;
                double ui = w_pot[i];
                double b0 = best, b1 = best, b2 = best, b3 = best;
                int j0 = -1, j1 = -1, j2 = -1, j3 = -1, j = 0;
                for (; j + 3 < n2; j += 4) {
                    double r0 = Ci[j] - ui - vpot[j], r1 = Ci[j + 1] - ui - vpot[j + 1];
                    double r2 = Ci[j + 2] - ui - vpot[j + 2], r3 = Ci[j + 3] - ui - vpot[j + 3];
                    if (r0 < b0) { b0 = r0; j0 = j; }
                    if (r1 < b1) { b1 = r1; j1 = j + 1; }
                    if (r2 < b2) { b2 = r2; j2 = j + 2; }
                    if (r3 < b3) { b3 = r3; j3 = j + 3; }
                }
                for (; j < n2; ++j) {
                    double r0 = Ci[j] - ui - vpot[j];
                    if (r0 < b0) { b0 = r0; j0 = j; }
                }
                double rb = best;
                int rj = -1;
                if (j0 >= 0 && (b0 < rb || (b0 == rb && j0 < rj))) { rb = b0; rj = j0; }
                if (j1 >= 0 && (b1 < rb || (b1 == rb && j1 < rj))) { rb = b1; rj = j1; }
                if (j2 >= 0 && (b2 < rb || (b2 == rb && j2 < rj))) { rb = b2; rj = j2; }
                if (j3 >= 0 && (b3 < rb || (b3 == rb && j3 < rj))) { rb = b3; rj = j3; }
                if (rj >= 0) { best = rb; ei = i; ej = rj; }
            }
        } else {
            /* Bland: the first cell with a negative reduced cost */
            for (int i = 0; i < n1 && ei < 0; ++i) {
                const double *Ci = C + (size_t)i * n2;
                double ui = w_pot[i];
                for (int j = 0; j < n2; ++j)
                    if (Ci[j] - ui - w_pot[n1 + j] < best) { ei = i; ej = j; break; }
            }
        }
        if (ei < 0) break; /* optimal */
        ++iter;
        if (!bland && iter > dantzig_cap) { bland = 1; iter = 0; }
        else if (bland && iter > bland_cap) { status = FM_MAX_ITER; break; }

        /* cycle: tree path from column node (n1 + ej) and row node ei up to their apex */
        int vi = ei, vj = n1 + ej, li = 0, lj = 0;
        while (vi != vj) {
            if (w_depth[vi] >= w_depth[vj]) { w_pi[li++] = w_pcell[vi]; vi = w_parent[vi]; }
            else { w_pj[lj++] = w_pcell[vj]; vj = w_parent[vj]; }
        }
        /* minus edges: even positions on both sides (see module comment) */
        double theta = INFINITY;
        for (int k = 0; k < li; k += 2) if (w_bx[w_pi[k]] < theta) theta = w_bx[w_pi[k]];
        for (int k = 0; k < lj; k += 2) if (w_bx[w_pj[k]] < theta) theta = w_bx[w_pj[k]];
        int leave = -1, leave_i_side = 0;
        if (!bland) {
            /* traversal order from the apex along the entering arc: i-side from apex down to
               row ei (k = li-1 .. 0), then j-side from column ej up (k = 0 .. lj-1): take the last */
            for (int k = lj - 1 - ((lj - 1) & 1); k >= 0 && leave < 0; k -= 2)
                if (w_bx[w_pj[k]] == theta) leave = w_pj[k];
            for (int k = 0; k < li && leave < 0; k += 2)
                if (w_bx[w_pi[k]] == theta) { leave = w_pi[k]; leave_i_side = 1; }
        } else {
            long bestidx = -1;
            for (int k = 0; k < li; k += 2) {
                int e = w_pi[k];
                long idx = (long)w_br[e] * n2 + w_bc[e];
                if (w_bx[e] == theta && (bestidx < 0 || idx < bestidx)) { bestidx = idx; leave = e; leave_i_side = 1; }
            }
            for (int k = 0; k < lj; k += 2) {
                int e = w_pj[k];
                long idx = (long)w_br[e] * n2 + w_bc[e];
                if (w_bx[e] == theta && (bestidx < 0 || idx < bestidx)) { bestidx = idx; leave = e; leave_i_side = 0; }
            }
        }
        for (int k = 0; k < li; ++k) { int e = w_pi[k]; w_bx[e] += (k & 1) ? theta : -theta; }
        for (int k = 0; k < lj; ++k) { int e = w_pj[k]; w_bx[e] += (k & 1) ? theta : -theta; }
        /* tree update: the leaving cell's slot takes the entering cell; the side that the
           leaving cell cut off (it holds ei if the cell was on ei's path) hangs from the
           entering cell, and only its nodes get new parents, depths and potentials */
        adj_remove(w, n, w_br[leave], leave);
        adj_remove(w, n, n1 + w_bc[leave], leave);
        w_br[leave] = ei; w_bc[leave] = ej; w_bx[leave] = theta;
        adj_add(w, n, ei, leave);
        adj_add(w, n, n1 + ej, leave);
        int sub = leave_i_side ? ei : n1 + ej, top = leave_i_side ? n1 + ej : ei;
        w_parent[sub] = top; w_pcell[sub] = leave; w_depth[sub] = w_depth[top] + 1;
        w_pot[sub] = C[(size_t)ei * n2 + ej] - w_pot[top];
        tree_walk(w, n1, n2, C, sub);
    }
    double s = 0.0;
    for (int e = 0; e < m; ++e) {
        s += w_bx[e] * C[(size_t)w_br[e] * n2 + w_bc[e]];
        if (plan) plan[(size_t)w_br[e] * n2 + w_bc[e]] += w_bx[e];
    }
    *cost_out = s;
    return status;
}

int fm_emd_f64(int32_t n1, int32_t n2, const double *a, const double *b, const double *cost,
               double *out_cost, double *out_plan)
{
    if (n1 < 1 || n2 < 1) return FM_ERR_INPUT;
    emd_work w;
    memset(&w, 0, sizeof(w));
    int st = emd_solve(n1, n2, a, b, cost, &w, out_cost, out_plan);
    work_free(&w);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* batched word mover's distances                                                             */
/* ------------------------------------------------------------------------------------------ */


static double ground(const float *t32, const double *t64, int32_t dim, int32_t r, int32_t s,
                     int ground_cost)
{
    if (t64) {
        const double *x = t64 + (size_t)r * dim, *y = t64 + (size_t)s * dim;
        if (ground_cost == 0) { /* four partial sums, merged as (s0 + s1) + (s2 + s3) */
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            int d = 0;
            for (; d + 3 < dim; d += 4) {
                double z0 = x[d] - y[d], z1 = x[d + 1] - y[d + 1];
                double z2 = x[d + 2] - y[d + 2], z3 = x[d + 3] - y[d + 3];
                s0 += z0 * z0; s1 += z1 * z1; s2 += z2 * z2; s3 += z3 * z3;
            }
            for (; d < dim; ++d) { double z = x[d] - y[d]; s0 += z * z; }
            return sqrt((s0 + s1) + (s2 + s3));
        } else {
            double xy = 0.0, xx = 0.0, yy = 0.0;
            for (int d = 0; d < dim; ++d) { xy += x[d] * y[d]; xx += x[d] * x[d]; yy += y[d] * y[d]; }
            double den = sqrt(xx) * sqrt(yy);
            double c = den > 0.0 ? 1.0 - xy / den : 1.0;
            return c > 0.0 ? c : 0.0;
        }
    } else {
        const float *x = t32 + (size_t)r * dim, *y = t32 + (size_t)s * dim;
        if (ground_cost == 0) {
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            int d = 0;
            for (; d + 3 < dim; d += 4) {
                float z0 = x[d] - y[d], z1 = x[d + 1] - y[d + 1];
                float z2 = x[d + 2] - y[d + 2], z3 = x[d + 3] - y[d + 3];
                s0 += z0 * z0; s1 += z1 * z1; s2 += z2 * z2; s3 += z3 * z3;
            }
            for (; d < dim; ++d) { float z = x[d] - y[d]; s0 += z * z; }
            return (double)sqrtf((s0 + s1) + (s2 + s3));
        } else {
            float xy = 0.0f, xx = 0.0f, yy = 0.0f;
            for (int d = 0; d < dim; ++d) { xy += x[d] * y[d]; xx += x[d] * x[d]; yy += y[d] * y[d]; }
            float den = sqrtf(xx) * sqrtf(yy);
            float c = den > 0.0f ? 1.0f - xy / den : 1.0f;
            return c > 0.0f ? (double)c : 0.0;
        }
    }
}

typedef struct {
    int64_t *stamp; int32_t *loc;      /* [n_rows] */
    double *memo; int64_t memo_cap;    /* u * u */
    double *C; int64_t C_cap;          /* n1 * n2 */
    double *a, *b; int64_t ab_cap;
    emd_work w;
} pair_scratch;

static int grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return FM_OK;
    free(*p);
    *p = malloc((size_t)need * elem);
    if (!*p) { *cap = 0; return FM_ERR_NOMEM; }
    *cap = need;
    return FM_OK;
}

static int wmd_pairs(int64_t n_tasks, const int64_t *task_turn_lo, const int64_t *task_turn_hi,
                     const int64_t *task_pair_offsets, const int64_t *pair_a, const int64_t *pair_b,
                     const int64_t *bag_start, const int32_t *bag_len, const int32_t *bag_rows,
                     const double *bag_weights, int32_t n_rows, int32_t dim,
                     const float *t32, const double *t64, int ground_cost, int mode,
                     double *out, int n_threads)
{
    if (n_tasks < 0 || n_rows < 0 || dim < 1 || mode < 0 || mode > 2 || ground_cost < 0 ||
        ground_cost > 1 || (mode == 2 && ground_cost != 0))
        return FM_ERR_INPUT;
    if (n_threads < 1) n_threads = 1;
    int status = FM_OK;

#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads)
#endif
    {
        pair_scratch s;
        memset(&s, 0, sizeof(s));
        int local = FM_OK;
        s.stamp = malloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof(int64_t));
        s.loc = malloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof(int32_t));
        double *cen = malloc(2 * (size_t)dim * sizeof(double));
        if (!s.stamp || !s.loc || !cen) local = FM_ERR_NOMEM;
        else for (int32_t r = 0; r < n_rows; ++r) s.stamp[r] = -1;

#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t t = 0; t < n_tasks; ++t) {
            if (local != FM_OK) continue;
            int64_t lo = task_turn_lo[t], hi = task_turn_hi[t];
            int64_t u = 0;
            int use_memo = 0;
            if (lo >= 0 && mode != 2) {
                for (int64_t q = lo; q < hi; ++q)
                    for (int32_t k = 0; k < bag_len[q]; ++k) {
                        int32_t r = bag_rows[bag_start[q] + k];
                        if (s.stamp[r] != t) { s.stamp[r] = t; s.loc[r] = (int32_t)u++; }
                    }
                if (u <= FM_MEMO_MAX_U) {
                    use_memo = 1;
                    if (grow((void **)&s.memo, &s.memo_cap, u * u > 0 ? u * u : 1, sizeof(double))) {
                        local = FM_ERR_NOMEM; continue;
                    }
                    for (int64_t q = 0; q < u * u; ++q) s.memo[q] = -1.0;
                }
            }
            for (int64_t p = task_pair_offsets[t]; p < task_pair_offsets[t + 1]; ++p) {
                int64_t ta = pair_a[p], tb = pair_b[p];
                int32_t n1 = bag_len[ta], n2 = bag_len[tb];
                const int32_t *ra = bag_rows + bag_start[ta], *rb = bag_rows + bag_start[tb];
                const double *wa = bag_weights + bag_start[ta], *wb = bag_weights + bag_start[tb];
                if (n1 == 0 || n2 == 0) { out[p] = INFINITY; continue; }
                if (mode == 2) { /* WCD */
                    for (int d = 0; d < 2 * dim; ++d) cen[d] = 0.0;
                    for (int32_t i = 0; i < n1; ++i)
                        for (int d = 0; d < dim; ++d)
                            cen[d] += wa[i] * (t64 ? t64[(size_t)ra[i] * dim + d] : (double)t32[(size_t)ra[i] * dim + d]);
                    for (int32_t j = 0; j < n2; ++j)
                        for (int d = 0; d < dim; ++d)
                            cen[dim + d] += wb[j] * (t64 ? t64[(size_t)rb[j] * dim + d] : (double)t32[(size_t)rb[j] * dim + d]);
                    double acc = 0.0;
                    for (int d = 0; d < dim; ++d) { double z = cen[d] - cen[dim + d]; acc += z * z; }
                    out[p] = sqrt(acc);
                    continue;
                }
                if (grow((void **)&s.C, &s.C_cap, (int64_t)n1 * n2, sizeof(double))) { local = FM_ERR_NOMEM; break; }
                for (int32_t i = 0; i < n1; ++i) {
                    for (int32_t j = 0; j < n2; ++j) {
                        double c;
                        if (use_memo) {
                            int64_t li = s.loc[ra[i]], lj = s.loc[rb[j]];
                            c = s.memo[li * u + lj];
                            if (c < 0.0) {
                                c = ra[i] == rb[j] ? 0.0 : ground(t32, t64, dim, ra[i], rb[j], ground_cost);
                                s.memo[li * u + lj] = c; s.memo[lj * u + li] = c;
                            }
                        } else {
                            c = ra[i] == rb[j] ? 0.0 : ground(t32, t64, dim, ra[i], rb[j], ground_cost);
                        }
                        s.C[(size_t)i * n2 + j] = c;
                    }
                }
                if (mode == 1) { /* RWMD */
                    double s1 = 0.0, s2 = 0.0;
                    for (int32_t i = 0; i < n1; ++i) {
                        double mn = INFINITY;
                        for (int32_t j = 0; j < n2; ++j) if (s.C[(size_t)i * n2 + j] < mn) mn = s.C[(size_t)i * n2 + j];
                        s1 += wa[i] * mn;
                    }
                    for (int32_t j = 0; j < n2; ++j) {
                        double mn = INFINITY;
                        for (int32_t i = 0; i < n1; ++i) if (s.C[(size_t)i * n2 + j] < mn) mn = s.C[(size_t)i * n2 + j];
                        s2 += wb[j] * mn;
                    }
                    out[p] = s1 > s2 ? s1 : s2;
                    continue;
                }
                double v;
                int st = emd_solve(n1, n2, wa, wb, s.C, &s.w, &v, NULL);
                if (st == FM_ERR_NOMEM) { local = st; break; }
                if (st == FM_MAX_ITER && local == FM_OK) local = FM_MAX_ITER;
                out[p] = v;
            }
        }
        free(s.stamp); free(s.loc); free(s.memo); free(s.C); free(s.a); free(s.b); free(cen);
        work_free(&s.w);
        if (local != FM_OK) {
#ifdef _OPENMP
#pragma omp critical
#endif
            {
                if (status == FM_OK || local == FM_ERR_NOMEM) status = local;
            }
        }
    }
    return status;
}

int fm_wmd_pairs_f64(int64_t n_tasks, const int64_t *task_turn_lo, const int64_t *task_turn_hi,
                     const int64_t *task_pair_offsets, const int64_t *pair_a, const int64_t *pair_b,
                     const int64_t *bag_start, const int32_t *bag_len, const int32_t *bag_rows,
                     const double *bag_weights, int32_t n_rows, int32_t dim, const double *table,
                     int ground_cost, int mode, double *out, int n_threads)
{
    return wmd_pairs(n_tasks, task_turn_lo, task_turn_hi, task_pair_offsets, pair_a, pair_b,
                     bag_start, bag_len, bag_rows, bag_weights, n_rows, dim, NULL, table,
                     ground_cost, mode, out, n_threads);
}

int fm_wmd_pairs_f32(int64_t n_tasks, const int64_t *task_turn_lo, const int64_t *task_turn_hi,
                     const int64_t *task_pair_offsets, const int64_t *pair_a, const int64_t *pair_b,
                     const int64_t *bag_start, const int32_t *bag_len, const int32_t *bag_rows,
                     const double *bag_weights, int32_t n_rows, int32_t dim, const float *table,
                     int ground_cost, int mode, double *out, int n_threads)
{
    return wmd_pairs(n_tasks, task_turn_lo, task_turn_hi, task_pair_offsets, pair_a, pair_b,
                     bag_start, bag_len, bag_rows, bag_weights, n_rows, dim, table, NULL,
                     ground_cost, mode, out, n_threads);
}
