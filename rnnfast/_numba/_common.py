"""Helpers shared by the numba recurrent kernels (gru.py, lstm.py, rnn.py), mirroring the identically
named helpers of csrc/gru.cpp, lstm.cpp, rnn.cpp."""
from numba import njit

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def row_valid(lengths, has_len, t, b):
    return not has_len or t < lengths[b]


@_jit
def transpose(dst, src, accumulate):
    """dst (R,C) = src^T (+ dst if accumulate), src (C,R); tiled in 16 x 16 blocks (as the C++ transpose).
    dst may be a strided view (a column block of a wider array)."""
    R, C = dst.shape
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
