"""Helpers shared by the numba recurrent kernels (gru.py, lstm.py, rnn.py), mirroring the identically
named helpers of csrc/gru.cpp, lstm.cpp, rnn.cpp."""
import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def row_valid(lengths, has_len, t, b):
    return not has_len or t < lengths[b]


@_jit
def restore_carried(dh, keep, has_keep, lengths, t):
    """Rows past their length at step t carry dL/dh unchanged, but the step's product dh += dg W_hh still
    adds 0 * W_hh to them, NaN where W_hh holds an inf or a NaN (the sequence kernels call this only
    then). Put back their carried value, keep's row (or 0): in time order dh_n's row (every later step
    was past their length too), in reverse order the row saved by save_carried (recurrent.h)."""
    for b in range(dh.shape[0]):
        if t >= lengths[b]:
            if has_keep:
                dh[b] = keep[b]
            else:
                dh[b] = 0


@_jit
def save_carried(keep, dh, lengths, t):
    """Reverse order, before step t: rows whose sequence ends here start carrying dL/dh (recurrent.h)."""
    for b in range(dh.shape[0]):
        if lengths[b] == t:
            keep[b] = dh[b]


@_jit
def time_at(T, reverse, s):
    """The s-th step visited: t = s, or T-1-s in reverse order (recurrent.h TimeOrder)."""
    return T - 1 - s if reverse else s


@_jit
def slot_in(reverse, t):
    """Slot of hs holding the state entering step t; the state leaving it is in slot_in(not reverse, t)."""
    return t + 1 if reverse else t


@_jit
def transpose(dst, src, accumulate):
    """dst (R,C) = src^T (+ dst if accumulate), src (C,R); dst may be a strided view (a column block of a
    wider array). Up to 2^18 elements one pass over the rows of dst (the strided reads of src stay in
    cache; measured 0.9 vs 3.4 us at (16,384), 40 vs 54 us at (64,1536) against 16 x 16 tiles);
    beyond, 16 x 16 tiles as the C++ transpose (460 vs 700 us at (128,3072))."""
    R, C = dst.shape
    if R * C <= 1 << 18:
        for i in range(R):
            d = dst[i]
            if accumulate:
                for j in range(C):
                    d[j] += src[j, i]
            else:
                for j in range(C):
                    d[j] = src[j, i]
        return
    for i0 in range(0, R, 16):
        i1 = min(R, i0 + 16)
        for j0 in range(0, C, 16):
            j1 = min(C, j0 + 16)
            for i in range(i0, i1):
                d = dst[i]
                if accumulate:
                    for j in range(j0, j1):
                        d[j] += src[j, i]
                else:
                    for j in range(j0, j1):
                        d[j] = src[j, i]


@_jit
def mul_wT(out, inp, W, sT, accumulate):
    """out (B,N) (+)= inp (B,K) W^T, W (N,K), through the BLAS in lstm.cpp/rnn.cpp mul_wT's form: the weight is
    the first operand and the state enters as a transposed operand, sT (N,B) = W inp^T, then sT is
    transposed back. B = 1: one matrix-vector product straight into out. sT: flat scratch of B*(N+K)."""
    B, K = inp.shape
    N = W.shape[0]
    if B == 1:
        s1 = sT[:N]
        np.dot(W, inp[0], s1)
        if accumulate:
            out[0] += s1
        else:
            out[0] = s1
        return
    s = sT[:N * B].reshape(N, B)
    np.dot(W, inp.T, s)
    transpose(out, s, accumulate)
