"""Optimal-transport kernels (Numba twins of kernels/emd.c, plus Sinkhorn, the nCLiD
reduction and its surrogates).

Algorithms
    * Exact EMD: the primal transportation simplex on the dense bipartite problem (network
      simplex on a complete bipartite graph), matrix-minimum start (a spanning tree of
      n1 + n2 - 1 cells, degenerate cells kept), Dantzig pricing, last-blocking-cell leaving
      rule, only the cut-off subtree re-walked after a pivot; after 100 (n1 + n2) pivots,
      Bland's rule (which cannot cycle). Same steps, same order, as the C kernel.
    * Bags: per turn, the distinct in-vocabulary table rows (first-occurrence order) and their
      weights count / in-vocabulary total (gensim 4 ``wmdistance`` semantics).
    * Pairs: grouped into tasks; a task names a turn range (normally one conversation) whose
      union vocabulary gets one lazily filled, memoised cost matrix.
    * RWMD: max of the two relaxed one-sided transports; WCD: distance of weighted centroids.
    * Sinkhorn: log-domain (dual potentials f, g updated by log-sum-exp), per pair in its own
      ragged shape (no padding); stops when the L1 error of the row marginal is below ``tol``
      (checked every iteration after the g update, where the column marginal is exact).
      The value reported is the transport cost <P, C> of the entropic plan, as POT's
      ``sinkhorn2`` returns.
    * nCLiD: per conversation, reductions over its T*T distance matrix; surrogates (the
      therapist's turns shuffled among the therapist's positions, the shared SplitMix64
      Fisher-Yates of :mod:`fastmetrics._surrogates_numba`) re-read the same matrix through
      the permutation, so N surrogates cost N reductions and no new distance.
Parallel strategy: ``prange`` over tasks (dealt by the caller so that Numba's static split
gives each thread a similar amount of work); per-thread scratch
(stamps, memo) allocated once before the loop and indexed by ``numba.get_thread_id()``, solver
scratch once per task. Every pair's value depends only on its inputs, so results do not depend
on the thread count. nCLiD kernels: ``prange`` over conversations, each writing its own slots.
Memory: per task, a u*u memo (u = distinct words of the task, skipped when u > FM_MEMO_MAX_U) and
O(n1 * n2 + (n1 + n2)^2) solver scratch per pair.
Numerics: the simplex works in float64; costs are computed in the table dtype. No fastmath.
"""
import math

import numba
import numpy as np

from ..._constants import FM_EMD_BLAND_CAP_BASE as BLAND_CAP_BASE
from ..._constants import FM_EMD_BLAND_CAP_N2 as BLAND_CAP_N2
from ..._constants import FM_EMD_DANTZIG_CAP as DANTZIG_CAP
from ..._constants import FM_EMD_PRICE_TOL as PRICE_TOL
from ..._constants import FM_MAX_ITER as MAX_ITER
from ..._constants import FM_MEMO_MAX_U as MEMO_MAX_U
from ..._constants import FM_OK as OK
from ..._surrogates_numba import fill_source


# ------------------------------------------------------------------------------------------
# bags
# ------------------------------------------------------------------------------------------
@numba.njit(parallel=True, cache=True, nogil=True)
def build_bags_kernel(token_offsets, token_ids, vocab_to_row, n_rows, n_ranges,
               out_len, out_rows, out_weights):
    """Distinct in-vocabulary rows and weights per turn, written at ``token_offsets[t]``."""
    n_turns = token_offsets.shape[0] - 1
    for r in numba.prange(n_ranges):
        lo = (n_turns * r) // n_ranges
        hi = (n_turns * (r + 1)) // n_ranges
        stamp = np.full(max(n_rows, 1), -1, dtype=np.int64)
        slot = np.zeros(max(n_rows, 1), dtype=np.int64)
        for t in range(lo, hi):
            a = token_offsets[t]
            b = token_offsets[t + 1]
            u = 0
            total = 0
            for k in range(a, b):
                row = vocab_to_row[token_ids[k]]
                if row < 0:
                    continue
                total += 1
                if stamp[row] != t:
                    stamp[row] = t
                    slot[row] = u
                    out_rows[a + u] = row
                    out_weights[a + u] = 1.0
                    u += 1
                else:
                    out_weights[a + slot[row]] += 1.0
            for k in range(u):
                out_weights[a + k] = out_weights[a + k] / total
            out_len[t] = u
    return 0


# ------------------------------------------------------------------------------------------
# transportation simplex
# ------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _tree_walk(n1, n2, C, br, bc, adj, nadj, parent, pcell, depth, queue, pot, s):
    """Parents, depths, potentials of the subtree hanging from node s (see kernels/emd.c)."""
    head = 0
    tail = 0
    queue[tail] = s
    tail += 1
    while head < tail:
        v = queue[head]
        head += 1
        for q in range(nadj[v]):
            e = adj[v, q]
            r = br[e]
            c = n1 + bc[e]
            o = c if v == r else r
            if o == parent[v]:
                continue
            parent[o] = v
            pcell[o] = e
            depth[o] = depth[v] + 1
            pot[o] = C[br[e], bc[e]] - pot[v]
            queue[tail] = o
            tail += 1


@numba.njit(cache=True, nogil=True)
def _adj_remove(adj, nadj, v, e):
    for q in range(nadj[v]):
        if adj[v, q] == e:
            nadj[v] -= 1
            adj[v, q] = adj[v, nadj[v]]
            return


@numba.njit(cache=True, nogil=True)
def make_workspace(nmax):
    """Solver scratch for problems with n1 + n2 <= nmax: (ints (11, nmax), floats (4, nmax),
    adjacency (nmax, nmax)). Allocated once per task, not per pair: allocations inside a
    parallel loop serialise the threads."""
    nmax = max(nmax, 2)
    return (np.empty((11, nmax), dtype=np.int64), np.empty((4, nmax), dtype=np.float64),
            np.empty((nmax, nmax), dtype=np.int64))


@numba.njit(cache=True, nogil=True)
def emd_solve(a, b, C, plan, iw, fw, adj):
    """Exact EMD of weights a[n1], b[n2] and cost C[n1, n2] (float64).

    ``plan`` is a float64 (n1, n2) array to fill with the optimal plan, or a (0, 0) array;
    ``iw, fw, adj`` come from :func:`make_workspace` with nmax >= n1 + n2.
    Returns (cost, status).
    """
    n1 = a.shape[0]
    n2 = b.shape[0]
    want_plan = plan.shape[0] == n1 and plan.shape[1] == n2 and n1 > 0
    if want_plan:
        plan[:, :] = 0.0
    if n1 == 1 or n2 == 1:
        s = 0.0
        for i in range(n1):
            for j in range(n2):
                x = b[j] if n1 == 1 else a[i]
                s += x * C[i, j]
                if want_plan:
                    plan[i, j] = x
        return s, OK
    n = n1 + n2
    m = n - 1
    br = iw[0]
    bc = iw[1]
    deg = iw[2]
    nadj = iw[3]
    hi = iw[4]
    parent = iw[5]
    pcell = iw[6]
    depth = iw[7]
    queue = iw[8]
    pi = iw[9]
    pj = iw[10]
    bx = fw[0]
    pot = fw[1]
    sup = fw[2]
    dem = fw[3]
    for v in range(n):
        nadj[v] = 0

    cmax = 0.0
    for i in range(n1):
        for j in range(n2):
            if abs(C[i, j]) > cmax:
                cmax = abs(C[i, j])
    tol = PRICE_TOL * (cmax if cmax > 0.0 else 1.0)

    # matrix-minimum start with per-row best active column (see kernels/emd.c)
    for i in range(n1):
        sup[i] = a[i]
        deg[i] = 1
    for j in range(n2):
        dem[j] = b[j]
        deg[n1 + j] = 1
    for i in range(n1):
        bj = 0
        for j in range(1, n2):
            if C[i, j] < C[i, bj]:
                bj = j
        hi[i] = bj
    rows_left = n1
    cols_left = n2
    for e in range(m):
        bi = -1
        bcost = np.inf
        for i in range(n1):
            if deg[i] == 0:
                continue
            j = hi[i]
            if deg[n1 + j] == 0:
                j = -1
                for q in range(n2):
                    if deg[n1 + q] != 0 and (j < 0 or C[i, q] < C[i, j]):
                        j = q
                hi[i] = j
            c = C[i, j]
            if bi < 0 or c < bcost:
                bcost = c
                bi = i
        bj = hi[bi]
        x = sup[bi] if sup[bi] < dem[bj] else dem[bj]
        if x < 0.0:
            x = 0.0
        br[e] = bi
        bc[e] = bj
        bx[e] = x
        sup[bi] -= x
        dem[bj] -= x
        if (sup[bi] <= dem[bj] and rows_left > 1) or cols_left == 1:
            deg[bi] = 0
            rows_left -= 1
        else:
            deg[n1 + bj] = 0
            cols_left -= 1

    status = OK
    it = 0
    dantzig_cap = DANTZIG_CAP * n
    bland_cap = BLAND_CAP_N2 * n * n + BLAND_CAP_BASE
    bland = False
    for e in range(m):
        adj[br[e], nadj[br[e]]] = e
        nadj[br[e]] += 1
        adj[n1 + bc[e], nadj[n1 + bc[e]]] = e
        nadj[n1 + bc[e]] += 1
    parent[0] = -1
    pcell[0] = -1
    depth[0] = 0
    pot[0] = 0.0
    _tree_walk(n1, n2, C, br, bc, adj, nadj, parent, pcell, depth, queue, pot, 0)
    while True:
        ei = -1
        ej = -1
        best = -tol
        if not bland:
            # Dantzig, four lanes per row merged by value, ties to the smaller column (as in C)
            for i in range(n1):
                ui = pot[i]
                b0 = best
                b1 = best
                b2 = best
                b3 = best
                j0 = -1
                j1 = -1
                j2 = -1
                j3 = -1
                j = 0
                while j + 3 < n2:
                    r0 = C[i, j] - ui - pot[n1 + j]
                    r1 = C[i, j + 1] - ui - pot[n1 + j + 1]
                    r2 = C[i, j + 2] - ui - pot[n1 + j + 2]
                    r3 = C[i, j + 3] - ui - pot[n1 + j + 3]
                    if r0 < b0:
                        b0 = r0
                        j0 = j
                    if r1 < b1:
                        b1 = r1
                        j1 = j + 1
                    if r2 < b2:
                        b2 = r2
                        j2 = j + 2
                    if r3 < b3:
                        b3 = r3
                        j3 = j + 3
                    j += 4
                while j < n2:
                    r0 = C[i, j] - ui - pot[n1 + j]
                    if r0 < b0:
                        b0 = r0
                        j0 = j
                    j += 1
                rb = best
                rj = -1
                if j0 >= 0 and (b0 < rb or (b0 == rb and j0 < rj)):
                    rb = b0
                    rj = j0
                if j1 >= 0 and (b1 < rb or (b1 == rb and j1 < rj)):
                    rb = b1
                    rj = j1
                if j2 >= 0 and (b2 < rb or (b2 == rb and j2 < rj)):
                    rb = b2
                    rj = j2
                if j3 >= 0 and (b3 < rb or (b3 == rb and j3 < rj)):
                    rb = b3
                    rj = j3
                if rj >= 0:
                    best = rb
                    ei = i
                    ej = rj
        else:
            # Bland: the first cell with a negative reduced cost
            for i in range(n1):
                if ei >= 0:
                    break
                ui = pot[i]
                for j in range(n2):
                    if C[i, j] - ui - pot[n1 + j] < best:
                        ei = i
                        ej = j
                        break
        if ei < 0:
            break
        it += 1
        if not bland and it > dantzig_cap:
            bland = True
            it = 0
        elif bland and it > bland_cap:
            status = MAX_ITER
            break
        vi = ei
        vj = n1 + ej
        li = 0
        lj = 0
        while vi != vj:
            if depth[vi] >= depth[vj]:
                pi[li] = pcell[vi]
                li += 1
                vi = parent[vi]
            else:
                pj[lj] = pcell[vj]
                lj += 1
                vj = parent[vj]
        theta = np.inf
        for k in range(0, li, 2):
            if bx[pi[k]] < theta:
                theta = bx[pi[k]]
        for k in range(0, lj, 2):
            if bx[pj[k]] < theta:
                theta = bx[pj[k]]
        leave = -1
        leave_i_side = False
        if not bland:
            k = lj - 1 - ((lj - 1) & 1) if lj > 0 else -2
            while k >= 0 and leave < 0:
                if bx[pj[k]] == theta:
                    leave = pj[k]
                k -= 2
            k = 0
            while k < li and leave < 0:
                if bx[pi[k]] == theta:
                    leave = pi[k]
                    leave_i_side = True
                k += 2
        else:
            bestidx = -1
            for k in range(0, li, 2):
                e = pi[k]
                idx = br[e] * n2 + bc[e]
                if bx[e] == theta and (bestidx < 0 or idx < bestidx):
                    bestidx = idx
                    leave = e
                    leave_i_side = True
            for k in range(0, lj, 2):
                e = pj[k]
                idx = br[e] * n2 + bc[e]
                if bx[e] == theta and (bestidx < 0 or idx < bestidx):
                    bestidx = idx
                    leave = e
                    leave_i_side = False
        for k in range(li):
            e = pi[k]
            bx[e] += theta if (k & 1) else -theta
        for k in range(lj):
            e = pj[k]
            bx[e] += theta if (k & 1) else -theta
        # tree update (see kernels/emd.c)
        _adj_remove(adj, nadj, br[leave], leave)
        _adj_remove(adj, nadj, n1 + bc[leave], leave)
        br[leave] = ei
        bc[leave] = ej
        bx[leave] = theta
        adj[ei, nadj[ei]] = leave
        nadj[ei] += 1
        adj[n1 + ej, nadj[n1 + ej]] = leave
        nadj[n1 + ej] += 1
        sub = ei if leave_i_side else n1 + ej
        top = n1 + ej if leave_i_side else ei
        parent[sub] = top
        pcell[sub] = leave
        depth[sub] = depth[top] + 1
        pot[sub] = C[ei, ej] - pot[top]
        _tree_walk(n1, n2, C, br, bc, adj, nadj, parent, pcell, depth, queue, pot, sub)
    s = 0.0
    for e in range(m):
        s += bx[e] * C[br[e], bc[e]]
        if want_plan:
            plan[br[e], bc[e]] += bx[e]
    return s, status


@numba.njit(cache=True, nogil=True)
def emd_dense(a, b, C, plan):
    """Single dense problem (for :func:`fastmetrics.ot.emd`)."""
    iw, fw, adj = make_workspace(a.shape[0] + b.shape[0])
    return emd_solve(a, b, C, plan, iw, fw, adj)


# ------------------------------------------------------------------------------------------
# batched pairs
# ------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _ground(table, r, s, ground_cost):
    dim = table.shape[1]
    if ground_cost == 0:
        # four partial sums in the table dtype, merged as (s0 + s1) + (s2 + s3) (as in C)
        s0 = table[0, 0] - table[0, 0]
        s1 = s0
        s2 = s0
        s3 = s0
        d = 0
        while d + 3 < dim:
            z0 = table[r, d] - table[s, d]
            z1 = table[r, d + 1] - table[s, d + 1]
            z2 = table[r, d + 2] - table[s, d + 2]
            z3 = table[r, d + 3] - table[s, d + 3]
            s0 += z0 * z0
            s1 += z1 * z1
            s2 += z2 * z2
            s3 += z3 * z3
            d += 4
        while d < dim:
            z = table[r, d] - table[s, d]
            s0 += z * z
            d += 1
        return float(math.sqrt((s0 + s1) + (s2 + s3)))
    xy = table[0, 0] - table[0, 0]
    xx = xy
    yy = xy
    for d in range(dim):
        xy += table[r, d] * table[s, d]
        xx += table[r, d] * table[r, d]
        yy += table[s, d] * table[s, d]
    den = math.sqrt(xx) * math.sqrt(yy)
    c = 1.0 - xy / den if den > 0.0 else 1.0
    c = float(c)
    return c if c > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _pools(task_lo, task_hi, bag_len, n_rows, n_pool):
    """Per-thread scratch allocated once, outside the parallel loop (allocating large blocks
    inside it makes the threads wait on each other): stamps and local indices over the table
    rows, and a memo of ub * ub costs where ub bounds every task's vocabulary size u that gets
    a memo (u <= min(sum of the task's bag lengths, MEMO_MAX_U))."""
    ub = 1
    for t in range(task_lo.shape[0]):
        if task_lo[t] >= 0:
            tot = 0
            for q in range(task_lo[t], task_hi[t]):
                tot += bag_len[q]
            ub = max(ub, min(tot, MEMO_MAX_U))
    stamp_pool = np.full((n_pool, max(n_rows, 1)), -1, dtype=np.int64)
    loc_pool = np.zeros((n_pool, max(n_rows, 1)), dtype=np.int64)
    memo_pool = np.empty((n_pool, ub * ub), dtype=np.float64)
    return stamp_pool, loc_pool, memo_pool


@numba.njit(cache=True, nogil=True)
def _task_vocab(lo, hi, t, bag_start, bag_len, bag_rows, stamp, loc):
    u = 0
    for q in range(lo, hi):
        for k in range(bag_len[q]):
            r = bag_rows[bag_start[q] + k]
            if stamp[r] != t:
                stamp[r] = t
                loc[r] = u
                u += 1
    return u


@numba.njit(cache=True, nogil=True)
def _fill_cost(ra, rb, table, ground_cost, use_memo, memo, u, loc, C):
    n1 = ra.shape[0]
    n2 = rb.shape[0]
    for i in range(n1):
        for j in range(n2):
            if use_memo:
                li = loc[ra[i]]
                lj = loc[rb[j]]
                c = memo[li * u + lj]
                if c < 0.0:
                    c = 0.0 if ra[i] == rb[j] else _ground(table, ra[i], rb[j], ground_cost)
                    memo[li * u + lj] = c
                    memo[lj * u + li] = c
            else:
                c = 0.0 if ra[i] == rb[j] else _ground(table, ra[i], rb[j], ground_cost)
            C[i, j] = c


@numba.njit(cache=True, nogil=True, inline="always")
def _copy_bag(start, n, bag_rows, bag_weights, rbuf, wbuf):
    """Copy one bag into task-local buffers: views of the shared arrays would make every
    thread update the same reference counts."""
    for i in range(n):
        rbuf[i] = bag_rows[start + i]
        wbuf[i] = bag_weights[start + i]


@numba.njit(cache=True, nogil=True, inline="always")
def _task_setup(t, lo, hi, want_memo, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
                stamp, loc, memo):
    """Per-task set-up shared by the pair kernels: the task's vocabulary and cleared cost memo
    (when the task has a turn range, ``want_memo`` holds and the vocabulary is small enough),
    the largest bag sizes of its pairs, and task-local cost / bag buffers sized for them."""
    u = 0
    use_memo = False
    if lo >= 0 and want_memo:
        u = _task_vocab(lo, hi, t, bag_start, bag_len, bag_rows, stamp, loc)
        if u <= MEMO_MAX_U:
            use_memo = True
            for q in range(u * u):
                memo[q] = -1.0
    l1 = 0
    l2 = 0
    for p in range(task_pair_off[t], task_pair_off[t + 1]):
        l1 = max(l1, bag_len[pair_a[p]])
        l2 = max(l2, bag_len[pair_b[p]])
    cbuf = np.empty(max(l1 * l2, 1), dtype=np.float64)
    rbuf_a = np.empty(max(l1, 1), dtype=bag_rows.dtype)
    rbuf_b = np.empty(max(l2, 1), dtype=bag_rows.dtype)
    wbuf_a = np.empty(max(l1, 1), dtype=np.float64)
    wbuf_b = np.empty(max(l2, 1), dtype=np.float64)
    return u, use_memo, l1, l2, cbuf, rbuf_a, rbuf_b, wbuf_a, wbuf_b


@numba.njit(parallel=True, cache=True, nogil=True)
def wmd_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len,
                     bag_rows, bag_weights, table, ground_cost, mode, out, n_pool):
    """Exact WMD (mode 0), RWMD (1) or WCD (2) per pair; returns a status (0 ok, 4 max-iter)."""
    n_tasks = task_lo.shape[0]
    n_rows = table.shape[0]
    dim = table.shape[1]
    status = np.zeros(max(n_tasks, 1), dtype=np.int64)
    stamp_pool, loc_pool, memo_pool = _pools(task_lo, task_hi, bag_len, n_rows, n_pool)
    for t in numba.prange(n_tasks):
        lo = task_lo[t]
        hi = task_hi[t]
        tid = numba.get_thread_id()
        loc = loc_pool[tid]
        memo = memo_pool[tid]
        u, use_memo, l1, l2, cbuf, rbuf_a, rbuf_b, wbuf_a, wbuf_b = _task_setup(
            t, lo, hi, mode != 2, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
            stamp_pool[tid], loc, memo)
        noplan = np.empty((0, 0), dtype=np.float64)
        iw, fw, adj = make_workspace(l1 + l2)
        for p in range(task_pair_off[t], task_pair_off[t + 1]):
            ta = pair_a[p]
            tb = pair_b[p]
            n1 = bag_len[ta]
            n2 = bag_len[tb]
            if n1 == 0 or n2 == 0:
                out[p] = np.inf
                continue
            _copy_bag(bag_start[ta], n1, bag_rows, bag_weights, rbuf_a, wbuf_a)
            _copy_bag(bag_start[tb], n2, bag_rows, bag_weights, rbuf_b, wbuf_b)
            ra = rbuf_a[:n1]
            rb = rbuf_b[:n2]
            wa = wbuf_a[:n1]
            wb = wbuf_b[:n2]
            if mode == 2:
                acc = 0.0
                for d in range(dim):
                    ca = 0.0
                    for i in range(n1):
                        ca += wa[i] * float(table[ra[i], d])
                    cb = 0.0
                    for j in range(n2):
                        cb += wb[j] * float(table[rb[j], d])
                    z = ca - cb
                    acc += z * z
                out[p] = math.sqrt(acc)
                continue
            C = cbuf[:n1 * n2].reshape((n1, n2))
            _fill_cost(ra, rb, table, ground_cost, use_memo, memo, u, loc, C)
            if mode == 1:
                s1 = 0.0
                for i in range(n1):
                    mn = np.inf
                    for j in range(n2):
                        if C[i, j] < mn:
                            mn = C[i, j]
                    s1 += wa[i] * mn
                s2 = 0.0
                for j in range(n2):
                    mn = np.inf
                    for i in range(n1):
                        if C[i, j] < mn:
                            mn = C[i, j]
                    s2 += wb[j] * mn
                out[p] = s1 if s1 > s2 else s2
                continue
            v, st = emd_solve(wa, wb, C, noplan, iw, fw, adj)
            out[p] = v
            if st != OK:
                status[t] = st
    return status.max() if n_tasks > 0 else 0


# ------------------------------------------------------------------------------------------
# Sinkhorn (log domain)
# ------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def sinkhorn_log(a, b, C, reg, max_iter, tol, sw):
    """Log-domain Sinkhorn for one problem; returns (<P, C>, iterations, converged).

    ``sw``: float64 scratch of shape (4, >= max(n1, n2)).
    """
    n1 = a.shape[0]
    n2 = b.shape[0]
    f = sw[0, :n1]
    g = sw[1, :n2]
    la = sw[2, :n1]
    lb = sw[3, :n2]
    for i in range(n1):
        f[i] = 0.0
        la[i] = math.log(a[i])
    for j in range(n2):
        g[j] = 0.0
        lb[j] = math.log(b[j])
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        # f update: f_i = reg log a_i - reg LSE_j((g_j - C_ij) / reg)
        for i in range(n1):
            mx = -np.inf
            for j in range(n2):
                z = (g[j] - C[i, j]) / reg
                if z > mx:
                    mx = z
            s = 0.0
            for j in range(n2):
                s += math.exp((g[j] - C[i, j]) / reg - mx)
            f[i] = reg * la[i] - reg * (mx + math.log(s))
        for j in range(n2):
            mx = -np.inf
            for i in range(n1):
                z = (f[i] - C[i, j]) / reg
                if z > mx:
                    mx = z
            s = 0.0
            for i in range(n1):
                s += math.exp((f[i] - C[i, j]) / reg - mx)
            g[j] = reg * lb[j] - reg * (mx + math.log(s))
        # row-marginal error of P_ij = exp((f_i + g_j - C_ij) / reg)
        err = 0.0
        for i in range(n1):
            r = 0.0
            for j in range(n2):
                r += math.exp((f[i] + g[j] - C[i, j]) / reg)
            err += abs(r - a[i])
        if err < tol:
            converged = True
            break
    cost = 0.0
    for i in range(n1):
        for j in range(n2):
            cost += math.exp((f[i] + g[j] - C[i, j]) / reg) * C[i, j]
    return cost, it, converged


@numba.njit(parallel=True, cache=True, nogil=True)
def sinkhorn_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len,
                          bag_rows, bag_weights, table, ground_cost, reg, max_iter, tol,
                          out, out_iter, out_conv, n_pool):
    """Entropic OT cost per pair (ragged, no padding); returns 4 if any pair did not converge."""
    n_tasks = task_lo.shape[0]
    n_rows = table.shape[0]
    status = np.zeros(max(n_tasks, 1), dtype=np.int64)
    stamp_pool, loc_pool, memo_pool = _pools(task_lo, task_hi, bag_len, n_rows, n_pool)
    for t in numba.prange(n_tasks):
        lo = task_lo[t]
        hi = task_hi[t]
        tid = numba.get_thread_id()
        loc = loc_pool[tid]
        memo = memo_pool[tid]
        u, use_memo, l1, l2, cbuf, rbuf_a, rbuf_b, wbuf_a, wbuf_b = _task_setup(
            t, lo, hi, True, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
            stamp_pool[tid], loc, memo)
        sw = np.empty((4, max(l1, l2, 1)), dtype=np.float64)
        for p in range(task_pair_off[t], task_pair_off[t + 1]):
            ta = pair_a[p]
            tb = pair_b[p]
            n1 = bag_len[ta]
            n2 = bag_len[tb]
            if n1 == 0 or n2 == 0:
                out[p] = np.inf
                out_iter[p] = 0
                out_conv[p] = True
                continue
            _copy_bag(bag_start[ta], n1, bag_rows, bag_weights, rbuf_a, wbuf_a)
            _copy_bag(bag_start[tb], n2, bag_rows, bag_weights, rbuf_b, wbuf_b)
            ra = rbuf_a[:n1]
            rb = rbuf_b[:n2]
            wa = wbuf_a[:n1]
            wb = wbuf_b[:n2]
            C = cbuf[:n1 * n2].reshape((n1, n2))
            _fill_cost(ra, rb, table, ground_cost, use_memo, memo, u, loc, C)
            v, it, conv = sinkhorn_log(wa, wb, C, reg, max_iter, tol, sw)
            out[p] = v
            out_iter[p] = it
            out_conv[p] = conv
            if not conv:
                status[t] = MAX_ITER
    return status.max() if n_tasks > 0 else 0


# ------------------------------------------------------------------------------------------
# nCLiD reduction
# ------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _mean_finite(s, n):
    return s / n if n > 0 else np.inf


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_distance(mat, base, T, perm, identity, i, j):
    """Distance between the contents at positions i < j of a conversation: its own turns
    (``identity``), or turns ``perm[i]`` and ``perm[j]`` (stored once, at the smaller index first)."""
    if identity:
        return mat[base + i * T + j]
    a = perm[i]
    b = perm[j]
    if a < b:
        return mat[base + a * T + b]
    return mat[base + b * T + a]


@numba.njit(cache=True, nogil=True)
def _nclid_one(role, t0, T, mat, base, perm, identity, k, anchor, coord, use_mean):
    """(uCLiD, nCLiD) of one direction (anchor -> coordinator) of one conversation whose
    position p holds turn ``perm[p]`` (roles by position; a permutation must keep them)."""
    n_a = 0
    n_b = 0
    for i in range(T):
        if role[t0 + i] == anchor:
            n_a += 1
        elif role[t0 + i] == coord:
            n_b += 1
    if n_a == 0 or n_b == 0:
        return np.nan, np.nan
    # uCLiD: per anchor, min over the next k coordinator turns after it
    d_sum = 0.0
    nd = 0
    for i in range(T):
        if role[t0 + i] != anchor:
            continue
        di = np.inf
        seen = 0
        j = i + 1
        while j < T and seen < k:
            if role[t0 + j] == coord:
                seen += 1
                v = _pair_distance(mat, base, T, perm, identity, i, j)
                if v < di:
                    di = v
            j += 1
        if seen == 0 or di == np.inf:
            continue
        d_sum += di
        nd += 1
    uclid = _mean_finite(d_sum, nd)
    # normalisers
    sa = 0.0
    na = 0
    sb = 0.0
    nb = 0
    sab = 0.0
    nab = 0
    for i in range(T):
        ri = role[t0 + i]
        for j in range(i + 1, T):
            rj = role[t0 + j]
            v = _pair_distance(mat, base, T, perm, identity, i, j)
            if v == np.inf:
                continue
            if ri == anchor and rj == anchor:
                sa += v
                na += 1
            elif ri == coord and rj == coord:
                sb += v
                nb += 1
            elif ri == anchor and rj == coord:
                sab += v
                nab += 1
    alpha = _mean_finite(sa, na) + _mean_finite(sb, nb) + _mean_finite(sab, nab)
    if use_mean:
        alpha = alpha / 3.0
    if alpha != np.inf and alpha != 0.0:
        return uclid, uclid / alpha
    return uclid, np.inf


@numba.njit(parallel=True, cache=True, nogil=True)
def nclid_reduce_kernel(conv_offsets, role, mat_offsets, mat, k, anchor, coord, use_mean, out_u, out_n):
    """uCLiD and nCLiD of one direction (anchor -> coordinator) per conversation.

    ``mat[mat_offsets[c]:...]`` is conversation c's T*T distance matrix (row-major, turn
    positions; only i < j is read). Conversations where either role is absent get NaN.
    """
    n_conv = conv_offsets.shape[0] - 1
    noperm = np.zeros(0, dtype=np.int64)
    for c in numba.prange(n_conv):
        t0 = conv_offsets[c]
        T = conv_offsets[c + 1] - t0
        u, n = _nclid_one(role, t0, T, mat, mat_offsets[c], noperm, True, k, anchor, coord, use_mean)
        out_u[c] = u
        out_n[c] = n
    return 0


@numba.njit(parallel=True, cache=True, nogil=True)
def nclid_surrogates_kernel(conv_offsets, role, mat_offsets, mat, k, use_mean, conv_seeds,
                            n_surrogates, out):
    """out[c, :, s] = (nCLiD therapist->client, nCLiD client->therapist, their mean) of
    surrogate s of conversation c: its therapist turns shuffled among the therapist positions
    (:func:`fastmetrics._surrogates_numba.fill_source`), read from the same distance matrix
    with permuted indices (no new distance is computed)."""
    n_conv = conv_offsets.shape[0] - 1
    for c in numba.prange(n_conv):
        t0 = conv_offsets[c]
        t1 = conv_offsets[c + 1]
        T = t1 - t0
        base = mat_offsets[c]
        src = np.empty(T, dtype=np.int64)
        slots = np.empty(T, dtype=np.int64)
        perm = np.empty(T, dtype=np.int64)
        for s in range(n_surrogates):
            fill_source(t0, t1, role, conv_seeds[c], s, slots, src)
            for p in range(T):
                perm[p] = src[p] - t0
            _, n_tc = _nclid_one(role, t0, T, mat, base, perm, False, k, 0, 1, use_mean)
            _, n_ct = _nclid_one(role, t0, T, mat, base, perm, False, k, 1, 0, use_mean)
            out[c, 0, s] = n_tc
            out[c, 1, s] = n_ct
            out[c, 2, s] = (n_tc + n_ct) / 2
    return 0


# ------------------------------------------------------------------------------------------
# operations (the backend interface: same names and signatures in _c.py and _cuda.py)
# ------------------------------------------------------------------------------------------
def _pool_size() -> int:
    """Rows of per-thread scratch: one per Numba pool thread (thread ids are below this)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def emd(a, b, cost, plan):
    """Exact EMD of one dense problem; fills ``plan`` (n1, n2); returns (status, cost)."""
    value, status = emd_dense(a, b, cost, plan)
    return int(status), float(value)


def wmd_pairs(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
              bag_weights, table, ground_cost, mode, out, n_threads):
    """Exact WMD (mode 0), RWMD (1) or WCD (2) for every pair into ``out``; returns a status."""
    from ..._threads import threads

    with threads(n_threads):
        return int(wmd_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start,
                                    bag_len, bag_rows, bag_weights, table, ground_cost, mode, out,
                                    _pool_size()))


def sinkhorn_pairs(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
                   bag_weights, table, ground_cost, reg, max_iter, tol, out, out_iter, out_conv,
                   n_threads):
    """Log-domain Sinkhorn cost per pair into ``out`` (iterations, convergence); returns a status."""
    from ..._threads import threads

    with threads(n_threads):
        return int(sinkhorn_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start,
                                         bag_len, bag_rows, bag_weights, table, ground_cost, reg,
                                         max_iter, tol, out, out_iter, out_conv, _pool_size()))


def build_bags(token_offsets, token_ids, vocab_to_row, n_rows, out_len, out_rows, out_weights,
               n_threads):
    """Per-turn bags (distinct in-vocabulary rows, weights) written at ``token_offsets[t]``."""
    from ..._threads import threads

    n_turns = len(token_offsets) - 1
    with threads(n_threads) as nt:
        build_bags_kernel(token_offsets, token_ids, vocab_to_row, n_rows, min(nt, max(n_turns, 1)),
                          out_len, out_rows, out_weights)
    return 0


def nclid_reduce(conv_offsets, role, mat_offsets, mat, k, anchor, coord, use_mean, out_u, out_n,
                 n_threads):
    """uCLiD and nCLiD of one direction (anchor -> coordinator) per conversation."""
    from ..._threads import threads

    with threads(n_threads):
        return int(nclid_reduce_kernel(conv_offsets, role, mat_offsets, mat, k, anchor, coord,
                                       use_mean, out_u, out_n))


def nclid_surrogates(conv_offsets, role, mat_offsets, mat, k, use_mean, conv_seeds, n_surrogates, out,
                     n_threads):
    """nCLiD (both directions and their mean) of N shuffled surrogates per conversation into
    ``out`` (n_conversations, 3, N); see ``nclid_surrogates_kernel``."""
    from ..._threads import threads

    with threads(n_threads):
        return int(nclid_surrogates_kernel(conv_offsets, role, mat_offsets, mat, k, use_mean,
                                           conv_seeds, int(n_surrogates), out))
