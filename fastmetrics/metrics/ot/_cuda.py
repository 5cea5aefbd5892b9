"""Optimal-transport kernels on CUDA (numba-cuda): batched exact EMD, RWMD, WCD and ragged
log-domain Sinkhorn, with the same host entry points as the Numba kernels they replace.

Algorithms
    * Exact EMD: the primal transportation simplex of the CPU kernels (matrix-minimum start,
      Dantzig pricing, last-blocking-cell leaving rule, subtree re-walk after each pivot,
      Bland's rule after 100 (n1 + n2) pivots, MAX_ITER after 50000 n^2 + 100000 Bland
      pivots), step for step: the entering cell is the least reduced cost, ties to the smallest
      row-major index, exactly as the CPU's lane-merged scan picks it; so the pivot sequence,
      the optimal basis and the summed value are the CPU's. The tree is kept as doubly linked
      adjacency lists (O(n) memory instead of the CPU's n x n table); parents, depths and
      potentials do not depend on adjacency order, so nothing changes numerically.
    * RWMD: max of the two relaxed one-sided transports; WCD: distance of weighted centroids.
    * Sinkhorn: the CPU kernel's log-domain iteration (f update, g update, L1 error of the row
      marginal checked every iteration, stop below ``tol``), value <P, C> of the entropic plan.
    * Cost matrices are built on the device from the vector table, in the table dtype, with
      the CPU's expressions (Euclidean: four partial sums merged as (s0 + s1) + (s2 + s3);
      cosine: 1 - x.y / (|x| |y|), clipped at 0), identical words at cost 0.
Parallel strategy: one problem (pair) per thread block; blocks take problems from an atomic
counter (dynamic schedule over problems sorted by decreasing n1 * n2), so problems of
different sizes share one launch without padding and each stops on its own. Inside a block
the threads split the parallel steps (cost matrix, pricing over all cells, start-basis row
scans, row/column log-sum-exps) and reduce with (value, index) lexicographic minima; the tree
operations of a pivot run on thread 0.
Memory: small problems (n1 + n2 <= 64, n1 * n2 <= 1024) live entirely in shared memory;
larger ones use one preallocated global scratch slab per resident block, sized on the host
from the largest problem of that class. Nothing is allocated inside a kernel. The batch goes
to the device in one packed copy and the outputs come back in one.
Numerics: float64 solver whatever the table dtype; products that the CPU rounds separately are
written with round-to-nearest intrinsics (``dmul_rn``/``fmul_rn``) so that the compiler cannot
fuse them into FMAs: exact EMD, RWMD and WCD values equal the CPU kernels' bit for bit (tested
to 1e-12 relative). Sinkhorn uses the device's exp/log (within 2 ulp of the host's): values
agree to about 1e-12 relative and iteration counts can differ only where the error crosses
``tol`` within rounding. No fastmath.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int32, int64

from ..._cuda_support import OutPack, Pack, is_simulator, multiprocessors

__all__ = ["wmd_pairs_kernel", "sinkhorn_pairs_kernel", "SH_NODES", "SH_CELLS", "EMD_CAPS"]

# status codes (fastmetrics/_status.py)
OK, ERR_INPUT, ERR_NOMEM, ERR_INFEASIBLE, MAX_ITER = 0, 1, 2, 3, 4

#: Largest problem kept in shared memory: n1 + n2 <= SH_NODES and n1 * n2 <= SH_CELLS.
SH_NODES = 64
SH_CELLS = 1024
#: Threads per block for problems in shared memory and for larger ones (fewer under the
#: simulator, where every thread is a Python thread; the code path is the same).
TPB_SMALL = 8 if is_simulator() else 32
TPB_LARGE = 16 if is_simulator() else 128
#: Pivot limits (Dantzig pivots per node; Bland pivots = b * n^2 + c), as the CPU kernels.
EMD_CAPS = (100, 50000, 100000)
#: Scratch budget (bytes) of the global slab of one launch.
SLAB_BYTES = 1 << 30
_BIG = np.int64(1) << 62

_SIM = is_simulator()
_KERNELS: dict = {}


def _arith(f32: bool):
    """Rounded products (no FMA contraction on the device) and the table scalar type."""
    if _SIM:
        @cuda.jit(device=True)
        def mul64(a, b):
            return a * b

        mul_t = mul64
    else:
        from numba.cuda import libdevice

        @cuda.jit(device=True)
        def mul64(a, b):
            return libdevice.dmul_rn(a, b)

        if f32:
            @cuda.jit(device=True)
            def mul_t(a, b):
                return libdevice.fmul_rn(a, b)
        else:
            mul_t = mul64
    return mul64, mul_t, (np.float32 if f32 else np.float64)


def _make(f32: bool, tpb: int, shared: bool):
    """Compile-time specialised kernels: table dtype, threads per block, memory placement."""
    key = (f32, tpb, shared)
    if key in _KERNELS:
        return _KERNELS[key]
    mul64, mul_t, to_t = _arith(f32)
    TPB = tpb
    SHARED = shared
    SHN = SH_NODES if shared else 1
    SHC = SH_CELLS if shared else 1
    SH5 = 5 * SHN
    SH15 = 15 * SHN

    @cuda.jit(device=True)
    def ground(table, r, s, gc):
        dim = table.shape[1]
        if gc == 0:
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
                s0 += mul_t(z0, z0)
                s1 += mul_t(z1, z1)
                s2 += mul_t(z2, z2)
                s3 += mul_t(z3, z3)
                d += 4
            while d < dim:
                z = table[r, d] - table[s, d]
                s0 += mul_t(z, z)
                d += 1
            return np.float64(to_t(math.sqrt((s0 + s1) + (s2 + s3))))
        xy = table[0, 0] - table[0, 0]
        xx = xy
        yy = xy
        for d in range(dim):
            xy += mul_t(table[r, d], table[s, d])
            xx += mul_t(table[r, d], table[r, d])
            yy += mul_t(table[s, d], table[s, d])
        den = mul_t(to_t(math.sqrt(xx)), to_t(math.sqrt(yy)))
        c = 1.0
        if den > 0.0:
            c = 1.0 - np.float64(to_t(xy / den))
        return c if c > 0.0 else 0.0

    @cuda.jit(device=True)
    def block_argmin(red_v, red_i, tid):
        """Lexicographic (value, index) minimum of the block's candidates into slot 0."""
        cuda.syncthreads()
        s = TPB // 2
        while s > 0:
            if tid < s:
                v2 = red_v[tid + s]
                i2 = red_i[tid + s]
                v1 = red_v[tid]
                if v2 < v1 or (v2 == v1 and i2 < red_i[tid]):
                    red_v[tid] = v2
                    red_i[tid] = i2
            cuda.syncthreads()
            s //= 2

    @cuda.jit(device=True)
    def build_cost(C, n1, n2, ra0, rb0, bag_rows, table, gc, tid):
        for k in range(tid, n1 * n2, TPB):
            i = k // n2
            j = k - i * n2
            r = bag_rows[ra0 + i]
            s = bag_rows[rb0 + j]
            C[k] = 0.0 if r == s else ground(table, r, s, gc)

    # ------------------------------------------------------------------ simplex, thread 0
    @cuda.jit(device=True)
    def adj_add(head, nxt, prv, v, slot):
        h = head[v]
        nxt[slot] = h
        prv[slot] = -1
        if h >= 0:
            prv[h] = slot
        head[v] = slot

    @cuda.jit(device=True)
    def adj_remove(head, nxt, prv, v, slot):
        a = prv[slot]
        b = nxt[slot]
        if a >= 0:
            nxt[a] = b
        else:
            head[v] = b
        if b >= 0:
            prv[b] = a

    @cuda.jit(device=True)
    def tree_walk(n1, n2, C, br, bc, head, nxt, parent, pcell, depth, queue, pot, s):
        hd = 0
        tl = 0
        queue[tl] = s
        tl += 1
        while hd < tl:
            v = queue[hd]
            hd += 1
            slot = head[v]
            while slot >= 0:
                e = slot >> 1
                r = br[e]
                c = n1 + bc[e]
                o = c if v == r else r
                if o != parent[v]:
                    parent[o] = v
                    pcell[o] = e
                    depth[o] = depth[v] + 1
                    pot[o] = C[br[e] * n2 + bc[e]] - pot[v]
                    queue[tl] = o
                    tl += 1
                slot = nxt[slot]

    @cuda.jit(device=True)
    def pivot(n1, n2, C, ei, ej, bland, br, bc, bx, head, nxt, prv, parent, pcell, depth,
              queue, pot, pi, pj):
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
        theta = math.inf
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
            if k & 1:
                bx[e] += theta
            else:
                bx[e] -= theta
        for k in range(lj):
            e = pj[k]
            if k & 1:
                bx[e] += theta
            else:
                bx[e] -= theta
        adj_remove(head, nxt, prv, br[leave], 2 * leave)
        adj_remove(head, nxt, prv, n1 + bc[leave], 2 * leave + 1)
        br[leave] = ei
        bc[leave] = ej
        bx[leave] = theta
        adj_add(head, nxt, prv, ei, 2 * leave)
        adj_add(head, nxt, prv, n1 + ej, 2 * leave + 1)
        sub = ei if leave_i_side else n1 + ej
        top = n1 + ej if leave_i_side else ei
        parent[sub] = top
        pcell[sub] = leave
        depth[sub] = depth[top] + 1
        pot[sub] = C[ei * n2 + ej] - pot[top]
        tree_walk(n1, n2, C, br, bc, head, nxt, parent, pcell, depth, queue, pot, sub)

    # ------------------------------------------------------------------ WMD kernel
    @cuda.jit
    def wmd_kernel(plist, counter, pair_a, pair_b, bag_start, bag_len, bag_rows, bag_weights,
                   table, gc, mode, fslab, islab, fstride, istride, ncap, ccap, caps, out, status):
        tid = cuda.threadIdx.x
        blk = cuda.blockIdx.x
        sh_q = cuda.shared.array(1, int64)
        sh_i = cuda.shared.array(4, int64)
        red_v = cuda.shared.array(TPB, float64)
        red_i = cuda.shared.array(TPB, int64)
        c_sh = cuda.shared.array(SHC, float64)
        f_sh = cuda.shared.array(SH5, float64)
        i_sh = cuda.shared.array(SH15, int32)
        n_list = plist.shape[0]
        dim = table.shape[1]
        if SHARED:
            nc = SHN
            C = c_sh[:SHC]
            fw = f_sh[:5 * SHN]
            iw = i_sh[:15 * SHN]
        else:
            nc = ncap
            C = fslab[blk * fstride:blk * fstride + ccap]
            fw = fslab[blk * fstride + ccap:blk * fstride + ccap + 5 * ncap]
            iw = islab[blk * istride:blk * istride + 15 * ncap]
        bx = fw[0:nc]
        pot = fw[nc:2 * nc]
        sup = fw[2 * nc:3 * nc]
        dem = fw[3 * nc:4 * nc]
        tmp = fw[4 * nc:5 * nc]
        br = iw[0:nc]
        bc = iw[nc:2 * nc]
        deg = iw[2 * nc:3 * nc]
        hi = iw[3 * nc:4 * nc]
        parent = iw[4 * nc:5 * nc]
        pcell = iw[5 * nc:6 * nc]
        depth = iw[6 * nc:7 * nc]
        queue = iw[7 * nc:8 * nc]
        pi = iw[8 * nc:9 * nc]
        pj = iw[9 * nc:10 * nc]
        head = iw[10 * nc:11 * nc]
        nxt = iw[11 * nc:13 * nc]
        prv = iw[13 * nc:15 * nc]
        while True:
            if tid == 0:
                sh_q[0] = cuda.atomic.add(counter, 0, 1)
            cuda.syncthreads()
            q = sh_q[0]
            cuda.syncthreads()
            if q >= n_list:
                break
            p = plist[q]
            ta = pair_a[p]
            tb = pair_b[p]
            n1 = bag_len[ta]
            n2 = bag_len[tb]
            sa = bag_start[ta]
            sb = bag_start[tb]
            if n1 == 0 or n2 == 0:
                if tid == 0:
                    out[p] = math.inf
                    status[p] = OK
                continue
            if mode == 2:
                # WCD: per dimension (thread-split), centroid difference squared; summed in order
                for d in range(tid, dim, TPB):
                    ca = 0.0
                    for i in range(n1):
                        ca += mul64(bag_weights[sa + i], np.float64(table[bag_rows[sa + i], d]))
                    cb = 0.0
                    for j in range(n2):
                        cb += mul64(bag_weights[sb + j], np.float64(table[bag_rows[sb + j], d]))
                    z = ca - cb
                    C[d] = mul64(z, z)
                cuda.syncthreads()
                if tid == 0:
                    acc = 0.0
                    for d in range(dim):
                        acc += C[d]
                    out[p] = math.sqrt(acc)
                    status[p] = OK
                cuda.syncthreads()
                continue
            build_cost(C, n1, n2, sa, sb, bag_rows, table, gc, tid)
            cuda.syncthreads()
            if mode == 1:
                for i in range(tid, n1, TPB):
                    mn = math.inf
                    for j in range(n2):
                        if C[i * n2 + j] < mn:
                            mn = C[i * n2 + j]
                    tmp[i] = mul64(bag_weights[sa + i], mn)
                for j in range(tid, n2, TPB):
                    mn = math.inf
                    for i in range(n1):
                        if C[i * n2 + j] < mn:
                            mn = C[i * n2 + j]
                    tmp[n1 + j] = mul64(bag_weights[sb + j], mn)
                cuda.syncthreads()
                if tid == 0:
                    s1 = 0.0
                    for i in range(n1):
                        s1 += tmp[i]
                    s2 = 0.0
                    for j in range(n2):
                        s2 += tmp[n1 + j]
                    out[p] = s1 if s1 > s2 else s2
                    status[p] = OK
                cuda.syncthreads()
                continue
            if n1 == 1 or n2 == 1:
                if tid == 0:
                    s = 0.0
                    for i in range(n1):
                        for j in range(n2):
                            x = bag_weights[sb + j] if n1 == 1 else bag_weights[sa + i]
                            s += mul64(x, C[i * n2 + j])
                    out[p] = s
                    status[p] = OK
                cuda.syncthreads()
                continue
            n = n1 + n2
            m = n - 1
            # ---- tolerance: 1e-13 max|C| (max is order-free)
            cm = 0.0
            for k in range(tid, n1 * n2, TPB):
                if abs(C[k]) > cm:
                    cm = abs(C[k])
            red_v[tid] = -cm
            red_i[tid] = 0
            block_argmin(red_v, red_i, tid)
            cmax = -red_v[0]
            tol = mul64(1e-13, cmax if cmax > 0.0 else 1.0)
            # ---- matrix-minimum start
            for i in range(tid, n1, TPB):
                sup[i] = bag_weights[sa + i]
                deg[i] = 1
                bj = 0
                for j in range(1, n2):
                    if C[i * n2 + j] < C[i * n2 + bj]:
                        bj = j
                hi[i] = bj
            for j in range(tid, n2, TPB):
                dem[j] = bag_weights[sb + j]
                deg[n1 + j] = 1
            for v in range(tid, n, TPB):
                head[v] = -1
            if tid == 0:
                sh_i[0] = n1  # rows left
                sh_i[1] = n2  # columns left
            cuda.syncthreads()
            for e in range(m):
                bv = math.inf
                bi = _BIG
                for i in range(tid, n1, TPB):
                    if deg[i] == 0:
                        continue
                    j = hi[i]
                    if deg[n1 + j] == 0:
                        j = -1
                        for qq in range(n2):
                            if deg[n1 + qq] != 0 and (j < 0 or C[i * n2 + qq] < C[i * n2 + j]):
                                j = qq
                        hi[i] = j
                    c = C[i * n2 + j]
                    if bi == _BIG or c < bv:
                        bv = c
                        bi = i
                red_v[tid] = bv
                red_i[tid] = bi
                block_argmin(red_v, red_i, tid)
                if tid == 0:
                    ib = red_i[0]
                    jb = hi[ib]
                    x = sup[ib] if sup[ib] < dem[jb] else dem[jb]
                    if x < 0.0:
                        x = 0.0
                    br[e] = ib
                    bc[e] = jb
                    bx[e] = x
                    sup[ib] -= x
                    dem[jb] -= x
                    if (sup[ib] <= dem[jb] and sh_i[0] > 1) or sh_i[1] == 1:
                        deg[ib] = 0
                        sh_i[0] -= 1
                    else:
                        deg[n1 + jb] = 0
                        sh_i[1] -= 1
                cuda.syncthreads()
            # ---- start tree, potentials
            if tid == 0:
                for e in range(m):
                    adj_add(head, nxt, prv, br[e], 2 * e)
                    adj_add(head, nxt, prv, n1 + bc[e], 2 * e + 1)
                parent[0] = -1
                pcell[0] = -1
                depth[0] = 0
                pot[0] = 0.0
                tree_walk(n1, n2, C, br, bc, head, nxt, parent, pcell, depth, queue, pot, 0)
                sh_i[2] = 0  # bland
                sh_i[3] = 0  # stop (max-iter)
            cuda.syncthreads()
            it = 0
            st = OK
            dantzig_cap = caps[0] * n
            bland_cap = caps[1] * n * n + caps[2]
            while True:
                bland = sh_i[2]
                bv = math.inf
                bk = _BIG
                ntot = n1 * n2
                if bland == 0:
                    lim = -tol
                    for k in range(tid, ntot, TPB):
                        i = k // n2
                        r = C[k] - pot[i] - pot[n1 + (k - i * n2)]
                        if r < lim:
                            lim = r
                            bk = k
                    if bk != _BIG:
                        bv = lim
                else:
                    for k in range(tid, ntot, TPB):
                        i = k // n2
                        if C[k] - pot[i] - pot[n1 + (k - i * n2)] < -tol:
                            bk = k
                            bv = 0.0
                            break
                red_v[tid] = bv
                red_i[tid] = bk
                block_argmin(red_v, red_i, tid)
                if red_v[0] == math.inf:
                    break
                if tid == 0:
                    k = red_i[0]
                    ei = k // n2
                    ej = k - ei * n2
                    it += 1
                    if bland == 0 and it > dantzig_cap:
                        bland = 1
                        it = 0
                        sh_i[2] = 1
                    elif bland != 0 and it > bland_cap:
                        st = MAX_ITER
                        sh_i[3] = 1
                    if sh_i[3] == 0:
                        pivot(n1, n2, C, ei, ej, bland != 0, br, bc, bx, head, nxt, prv, parent,
                              pcell, depth, queue, pot, pi, pj)
                cuda.syncthreads()
                if sh_i[3] != 0:
                    break
            if tid == 0:
                s = 0.0
                for e in range(m):
                    s += mul64(bx[e], C[br[e] * n2 + bc[e]])
                out[p] = s
                status[p] = st
            cuda.syncthreads()

    # ------------------------------------------------------------------ Sinkhorn kernel
    @cuda.jit
    def sinkhorn_kernel(plist, counter, pair_a, pair_b, bag_start, bag_len, bag_rows,
                        bag_weights, table, gc, reg, max_iter, tol, fslab, fstride, ncap, ccap,
                        out, out_iter, out_conv):
        tid = cuda.threadIdx.x
        blk = cuda.blockIdx.x
        sh_q = cuda.shared.array(1, int64)
        sh_flag = cuda.shared.array(1, int64)
        c_sh = cuda.shared.array(SHC, float64)
        v_sh = cuda.shared.array(SH5, float64)
        n_list = plist.shape[0]
        if SHARED:
            nc = SHN
            C = c_sh[:SHC]
            vw = v_sh[:5 * SHN]
        else:
            nc = ncap
            C = fslab[blk * fstride:blk * fstride + ccap]
            vw = fslab[blk * fstride + ccap:blk * fstride + ccap + 5 * ncap]
        f = vw[0:nc]
        g = vw[nc:2 * nc]
        la = vw[2 * nc:3 * nc]
        lb = vw[3 * nc:4 * nc]
        tmp = vw[4 * nc:5 * nc]
        while True:
            if tid == 0:
                sh_q[0] = cuda.atomic.add(counter, 0, 1)
            cuda.syncthreads()
            q = sh_q[0]
            cuda.syncthreads()
            if q >= n_list:
                break
            p = plist[q]
            ta = pair_a[p]
            tb = pair_b[p]
            n1 = bag_len[ta]
            n2 = bag_len[tb]
            sa = bag_start[ta]
            sb = bag_start[tb]
            if n1 == 0 or n2 == 0:
                if tid == 0:
                    out[p] = math.inf
                    out_iter[p] = 0
                    out_conv[p] = 1
                continue
            build_cost(C, n1, n2, sa, sb, bag_rows, table, gc, tid)
            for i in range(tid, n1, TPB):
                f[i] = 0.0
                la[i] = math.log(bag_weights[sa + i])
            for j in range(tid, n2, TPB):
                g[j] = 0.0
                lb[j] = math.log(bag_weights[sb + j])
            cuda.syncthreads()
            it = 0
            conv = 0
            while it < max_iter:
                it += 1
                for i in range(tid, n1, TPB):
                    mx = -math.inf
                    for j in range(n2):
                        z = (g[j] - C[i * n2 + j]) / reg
                        if z > mx:
                            mx = z
                    s = 0.0
                    for j in range(n2):
                        s += math.exp((g[j] - C[i * n2 + j]) / reg - mx)
                    f[i] = mul64(reg, la[i]) - mul64(reg, mx + math.log(s))
                cuda.syncthreads()
                for j in range(tid, n2, TPB):
                    mx = -math.inf
                    for i in range(n1):
                        z = (f[i] - C[i * n2 + j]) / reg
                        if z > mx:
                            mx = z
                    s = 0.0
                    for i in range(n1):
                        s += math.exp((f[i] - C[i * n2 + j]) / reg - mx)
                    g[j] = mul64(reg, lb[j]) - mul64(reg, mx + math.log(s))
                cuda.syncthreads()
                for i in range(tid, n1, TPB):
                    r = 0.0
                    for j in range(n2):
                        r += math.exp((f[i] + g[j] - C[i * n2 + j]) / reg)
                    tmp[i] = abs(r - bag_weights[sa + i])
                cuda.syncthreads()
                if tid == 0:
                    err = 0.0
                    for i in range(n1):
                        err += tmp[i]
                    sh_flag[0] = 1 if err < tol else 0
                cuda.syncthreads()
                if sh_flag[0] != 0:
                    conv = 1
                    break
            # value <P, C>: cell terms in place of C, summed in row-major order by thread 0
            for k in range(tid, n1 * n2, TPB):
                i = k // n2
                j = k - i * n2
                C[k] = mul64(math.exp((f[i] + g[j] - C[k]) / reg), C[k])
            cuda.syncthreads()
            if tid == 0:
                cost = 0.0
                for k in range(n1 * n2):
                    cost += C[k]
                out[p] = cost
                out_iter[p] = it
                out_conv[p] = conv
            cuda.syncthreads()

    _KERNELS[key] = (wmd_kernel, sinkhorn_kernel)
    return _KERNELS[key]


# ------------------------------------------------------------------------------------------
# host side
# ------------------------------------------------------------------------------------------
def _classes(n1, n2, dim, mode):
    """Pair indices split into the shared-memory class and the global-slab class, each sorted
    by decreasing n1 * n2 (dynamic scheduling then starts with the longest problems)."""
    cells = n1.astype(np.int64) * n2
    nodes = n1.astype(np.int64) + n2
    if mode == 2:
        small = np.full(len(n1), dim <= SH_CELLS)
    else:
        small = (nodes <= SH_NODES) & (cells <= SH_CELLS)
    order = np.argsort(-cells, kind="stable")
    small_o = order[small[order]]
    large_o = order[~small[order]]
    return small_o.astype(np.int64), large_o.astype(np.int64), cells, nodes


def _blocks_small(n: int) -> int:
    return int(max(1, min(n, 2 if _SIM else multiprocessors() * 16)))


def _slab_geometry(idx, cells, nodes, dim, mode, fixed_bytes_per_block=0):
    ncap = int(max(nodes[idx].max(), 2))
    ccap = int(max(cells[idx].max(), dim if mode == 2 else 1, 1))
    fstride = ccap + 5 * ncap
    istride = 15 * ncap
    per_block = fstride * 8 + istride * 4 + fixed_bytes_per_block
    nb = int(max(1, min(len(idx), SLAB_BYTES // per_block, 2 if _SIM else multiprocessors() * 8)))
    return ncap, ccap, fstride, istride, nb


def _prepare(pair_a, pair_b, bag_start, bag_len, bag_rows, bag_weights, table):
    pa_ = np.ascontiguousarray(pair_a, dtype=np.int64)
    pb_ = np.ascontiguousarray(pair_b, dtype=np.int64)
    bl = np.ascontiguousarray(bag_len, dtype=np.int32)
    n1 = bl[pa_]
    n2 = bl[pb_]
    tab = np.ascontiguousarray(table)
    if tab.dtype not in (np.float32, np.float64):
        tab = tab.astype(np.float64)
    pack = Pack()
    pack.add("pair_a", pa_)
    pack.add("pair_b", pb_)
    pack.add("bag_start", np.ascontiguousarray(bag_start, dtype=np.int64))
    pack.add("bag_len", bl)
    pack.add("bag_rows", np.ascontiguousarray(bag_rows, dtype=np.int32))
    pack.add("bag_weights", np.ascontiguousarray(bag_weights, dtype=np.float64))
    pack.add("table", tab if tab.size else np.zeros((1, max(tab.shape[1], 1)), tab.dtype))
    return pack, n1, n2, tab


def wmd_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len,
                     bag_rows, bag_weights, table, ground_cost, mode, out, n_pool) -> int:
    """Exact WMD (mode 0), RWMD (1) or WCD (2) per pair on the GPU.

    Parameters
    ----------
    task_lo, task_hi, task_pair_off : numpy.ndarray of int64
        Task structure of the CPU kernels; unused (the device schedules pairs itself).
    pair_a, pair_b : numpy.ndarray of int64, shape (n_pairs,)
    bag_start : numpy.ndarray of int64, shape (n_turns,)
    bag_len : numpy.ndarray of int32, shape (n_turns,)
    bag_rows : numpy.ndarray of int32, shape (n_tokens,)
    bag_weights : numpy.ndarray of float64, shape (n_tokens,)
    table : numpy.ndarray of float32 or float64, shape (n_rows, dim)
    ground_cost : int
        0 Euclidean, 1 cosine.
    mode : int
        0 exact, 1 RWMD, 2 WCD.
    out : numpy.ndarray of float64, shape (n_pairs,)
        Filled in place; +inf where a bag is empty.
    n_pool : int
        Unused (CPU thread pool size).

    Returns
    -------
    int
        0, or 4 (MAX_ITER) if some exact problem hit the pivot limit (its value is then the
        cost of a feasible plan, an upper bound).
    """
    n_pairs = len(pair_a)
    if n_pairs == 0:
        return OK
    pack, n1, n2, tab = _prepare(pair_a, pair_b, bag_start, bag_len, bag_rows, bag_weights, table)
    dim = tab.shape[1]
    small, large, cells, nodes = _classes(n1, n2, dim, int(mode))
    pack.add("plist_small", small)
    pack.add("plist_large", large)
    pack.zeros("counters", 2, np.int64)
    pack.add("caps", np.array(EMD_CAPS, dtype=np.int64))
    geo = None
    if len(large):
        geo = _slab_geometry(large, cells, nodes, dim, int(mode))
    d = pack.upload()
    outs = OutPack()
    outs.add("out", n_pairs, np.float64)
    outs.add("status", n_pairs, np.int64)
    o = outs.allocate()
    f32 = tab.dtype == np.float32
    gc, md = np.int64(ground_cost), np.int64(mode)
    if len(small):
        k, _ = _make(f32, TPB_SMALL, True)
        dummy_f = d["bag_weights"][:1]
        dummy_i = d["bag_rows"][:1]
        k[_blocks_small(len(small)), TPB_SMALL](
            d["plist_small"], d["counters"][0:1], d["pair_a"], d["pair_b"], d["bag_start"],
            d["bag_len"], d["bag_rows"], d["bag_weights"], d["table"], gc, md, dummy_f, dummy_i,
            np.int64(0), np.int64(0), np.int64(1), np.int64(1), d["caps"], o["out"], o["status"])
    if len(large):
        ncap, ccap, fstride, istride, nb = geo
        fslab = cuda.device_array(nb * fstride, dtype=np.float64)
        islab = cuda.device_array(nb * istride, dtype=np.int32)
        k, _ = _make(f32, TPB_LARGE, False)
        k[nb, TPB_LARGE](
            d["plist_large"], d["counters"][1:2], d["pair_a"], d["pair_b"], d["bag_start"],
            d["bag_len"], d["bag_rows"], d["bag_weights"], d["table"], gc, md, fslab, islab,
            np.int64(fstride), np.int64(istride), np.int64(ncap), np.int64(ccap), d["caps"],
            o["out"], o["status"])
    h = outs.download()
    out[:n_pairs] = h["out"]
    return int(h["status"].max()) if n_pairs else OK


def sinkhorn_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len,
                          bag_rows, bag_weights, table, ground_cost, reg, max_iter, tol,
                          out, out_iter, out_conv, n_pool) -> int:
    """Log-domain Sinkhorn per pair on the GPU (ragged: each pair in its own n1 x n2).

    Parameters
    ----------
    task_lo, task_hi, task_pair_off, n_pool
        Unused (CPU task structure and thread pool size).
    pair_a, pair_b, bag_start, bag_len, bag_rows, bag_weights, table, ground_cost
        As in :func:`wmd_pairs_kernel`.
    reg : float
        Entropic regularisation.
    max_iter : int
    tol : float
        Stop when the L1 error of the row marginal is below ``tol``.
    out : numpy.ndarray of float64, shape (n_pairs,)
        <P, C> of the entropic plan; +inf for empty bags.
    out_iter : numpy.ndarray of int64, shape (n_pairs,)
    out_conv : numpy.ndarray of bool, shape (n_pairs,)

    Returns
    -------
    int
        0, or 4 (MAX_ITER) if some pair did not converge.
    """
    n_pairs = len(pair_a)
    if n_pairs == 0:
        return OK
    pack, n1, n2, tab = _prepare(pair_a, pair_b, bag_start, bag_len, bag_rows, bag_weights, table)
    cells = n1.astype(np.int64) * n2
    vec = np.maximum(n1, n2).astype(np.int64)
    small_mask = (vec <= SH_NODES) & (cells <= SH_CELLS)
    order = np.argsort(-cells, kind="stable")
    small = order[small_mask[order]].astype(np.int64)
    large = order[~small_mask[order]].astype(np.int64)
    pack.add("plist_small", small)
    pack.add("plist_large", large)
    pack.zeros("counters", 2, np.int64)
    d = pack.upload()
    outs = OutPack()
    outs.add("out", n_pairs, np.float64)
    outs.add("iter", n_pairs, np.int64)
    outs.add("conv", n_pairs, np.int64)
    o = outs.allocate()
    f32 = tab.dtype == np.float32
    args = (d["pair_a"], d["pair_b"], d["bag_start"], d["bag_len"], d["bag_rows"],
            d["bag_weights"], d["table"], np.int64(ground_cost), np.float64(reg),
            np.int64(max_iter), np.float64(tol))
    if len(small):
        _, k = _make(f32, TPB_SMALL, True)
        k[_blocks_small(len(small)), TPB_SMALL](
            d["plist_small"], d["counters"][0:1], *args, d["bag_weights"][:1], np.int64(0),
            np.int64(1), np.int64(1), o["out"], o["iter"], o["conv"])
    if len(large):
        ncap = int(max(vec[large].max(), 1))
        ccap = int(max(cells[large].max(), 1))
        fstride = ccap + 5 * ncap
        nb = int(max(1, min(len(large), SLAB_BYTES // (fstride * 8), 2 if _SIM else multiprocessors() * 8)))
        fslab = cuda.device_array(nb * fstride, dtype=np.float64)
        _, k = _make(f32, TPB_LARGE, False)
        k[nb, TPB_LARGE](d["plist_large"], d["counters"][1:2], *args, fslab, np.int64(fstride),
                         np.int64(ncap), np.int64(ccap), o["out"], o["iter"], o["conv"])
    h = outs.download()
    out[:n_pairs] = h["out"]
    out_iter[:n_pairs] = h["iter"]
    out_conv[:n_pairs] = h["conv"] != 0
    return MAX_ITER if not np.all(h["conv"] != 0) else OK


# ------------------------------------------------------------------------------------------
# operations (the backend interface: same names and signatures as _numba.py and _c.py)
# ------------------------------------------------------------------------------------------
def wmd_pairs(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
              bag_weights, table, ground_cost, mode, out, n_threads):
    """Exact WMD (mode 0), RWMD (1) or WCD (2) for every pair into ``out``; returns a status."""
    return int(wmd_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start,
                                bag_len, bag_rows, bag_weights, table, ground_cost, mode, out, 0))


def sinkhorn_pairs(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
                   bag_weights, table, ground_cost, reg, max_iter, tol, out, out_iter, out_conv,
                   n_threads):
    """Log-domain Sinkhorn cost per pair into ``out`` (iterations, convergence); returns a status."""
    return int(sinkhorn_pairs_kernel(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start,
                                     bag_len, bag_rows, bag_weights, table, ground_cost, reg,
                                     max_iter, tol, out, out_iter, out_conv, 0))
