"""The word-level LM's fused pieces against PyTorch autograd: the in-place softmax cross-entropy,
the SciPy-BLAS matmul and the sorted scatter-add of embedding gradients."""
import numpy as np
import pytest

from rnnfast.nn.layers import blas_matmul, scatter_add_rows_
from rnnfast.nn.loss import softmax_cross_entropy_

torch = pytest.importorskip("torch")

TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 1e-5, "atol": 1e-6}}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,C,block", [(1, 5, 32), (37, 101, 8), (70, 673, 32), (64, 50, 64), (5, 3, 1)])
def test_softmax_cross_entropy_matches_torch(dtype, N, C, block):
    rng = np.random.default_rng(N * 1000 + C)
    x = (rng.standard_normal((N, C)) * 4).astype(dtype)
    t = rng.integers(0, C, N)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    ref = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t))
    ref.backward()
    b0 = rng.standard_normal(C).astype(dtype)
    db = b0.copy()
    a = x.copy()
    loss, g = softmax_cross_entropy_(a, t, db, block_rows=block)
    assert g is a                                        # in place
    assert isinstance(loss, float)
    tol = TOL[dtype]
    np.testing.assert_allclose(loss, ref.item(), rtol=tol["rtol"])
    np.testing.assert_allclose(g, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(db - b0, xt.grad.numpy().sum(0), **tol)


def test_softmax_cross_entropy_large_logits_stay_finite():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, 3e4]], np.float32)
    t = np.array([1, 2])
    xt = torch.from_numpy(x.copy()).requires_grad_()
    ref = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t))
    ref.backward()
    loss, g = softmax_cross_entropy_(x, t)
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-6)
    np.testing.assert_allclose(g, xt.grad.numpy(), atol=1e-7)


def test_softmax_cross_entropy_bad_input():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy_(x, np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy_(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy_(x, np.zeros(4))
    with pytest.raises(TypeError, match="logits"):
        softmax_cross_entropy_(x.astype(np.int32), np.zeros(4, int))
    with pytest.raises(ValueError, match="C-contiguous"):
        softmax_cross_entropy_(np.zeros((3, 4), np.float32).T, np.zeros(4, int))
    with pytest.raises(ValueError, match="bias_grad"):
        softmax_cross_entropy_(x, np.zeros(4, int), np.zeros(3, np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blas_matmul_layouts_and_out(dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 9)).astype(dtype)
    tol = TOL[dtype]
    for x, y in [(a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b)),
                 (np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T), (a[:, :4], b[:4])]:
        ref = torch.from_numpy(np.ascontiguousarray(x)) @ torch.from_numpy(np.ascontiguousarray(y))
        r = blas_matmul(x, y)
        assert r.flags.c_contiguous
        np.testing.assert_allclose(r, ref.numpy(), **tol)
        out = np.full(r.shape, np.nan, dtype)
        assert blas_matmul(x, y, out=out) is out
        np.testing.assert_allclose(out, ref.numpy(), **tol)
    s = rng.standard_normal((9, 6)).astype(dtype)[::2]       # strided: copied, still right
    np.testing.assert_allclose(blas_matmul(s, s.T), s @ s.T, **tol)
    assert blas_matmul(np.zeros((3, 0), dtype), np.zeros((0, 2), dtype)).shape == (3, 2)
    with pytest.raises(ValueError, match="do not chain"):
        blas_matmul(a, a)
    with pytest.raises(TypeError, match="float32"):
        blas_matmul(a.astype(np.float32), b.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scatter_add_rows_matches_torch_embedding_backward(dtype):
    rng = np.random.default_rng(2)
    V, D = 11, 4
    ids = rng.integers(0, V, (6, 5))
    ids[0, :3] = 7                                            # repeats
    dy = rng.standard_normal(ids.shape + (D,)).astype(dtype)
    w = torch.zeros(V, D, dtype=torch.float64 if dtype == np.float64 else torch.float32, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(ids), w).backward(torch.from_numpy(dy))
    g0 = rng.standard_normal((V, D)).astype(dtype)
    g = g0.copy()
    assert scatter_add_rows_(g, ids, dy) is g
    np.testing.assert_allclose(g - g0, w.grad.numpy(), **TOL[dtype])
    assert scatter_add_rows_(g, np.zeros(0, int), np.zeros((0, D), dtype)) is g
