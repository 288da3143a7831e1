"""rnnfast.mytorch CTC (probability space, beta excluding the current frame, expected divergence)
against a direct loop transcription of the spec's formulas, on the rnnfast kernels (every backend)
and on the module's NumPy transcription; the lecture's greedy and beam-search decoders on small
hand-made cases, an independent transcription of the lecture's pseudo-code, and exhaustive sums."""
import itertools

import numpy as np
import pytest

import rnnfast
from rnnfast.mytorch.CTC import CTC as ctc_module
from rnnfast.mytorch.CTC.CTC import CTC, CTCLoss
from rnnfast.mytorch.CTC.CTCDecoding import BeamSearchDecoder, GreedySearchDecoder

PATHS = [("numpy-transcription", None)] + [("kernels", b) for b in rnnfast.available_backends()]


@pytest.fixture(params=PATHS, ids=lambda p: p[0] if p[1] is None else f"{p[0]}-{p[1]}")
def impl(request, monkeypatch):
    kind, backend = request.param
    if kind == "kernels":
        if ctc_module._prob_alpha_beta is None:
            pytest.skip("this rnnfast has no probability-space CTC kernels (rnnfast.ctc_prob)")
        monkeypatch.setattr(ctc_module, "KERNELS", True)
        with rnnfast.use_backend(backend):
            yield kind
    else:
        monkeypatch.setattr(ctc_module, "KERNELS", False)
        yield kind


def close(a, b, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1e-300, np.abs(b).max()))


def _spec_alpha_beta(y, ext, skip):
    """Direct loop transcription of the spec's formulas."""
    T, S = y.shape[0], len(ext)
    a = np.zeros((T, S))
    b = np.zeros((T, S))
    a[0, 0] = y[0, ext[0]]
    if S > 1:
        a[0, 1] = y[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            v = a[t - 1, s] + (a[t - 1, s - 1] if s >= 1 else 0) + (a[t - 1, s - 2] if s >= 2 and skip[s] else 0)
            a[t, s] = v * y[t, ext[s]]
    b[T - 1, S - 1] = 1
    if S > 1:
        b[T - 1, S - 2] = 1
    for t in range(T - 2, -1, -1):
        for s in range(S):
            v = b[t + 1, s] * y[t + 1, ext[s]]
            if s + 1 < S:
                v += b[t + 1, s + 1] * y[t + 1, ext[s + 1]]
            if s + 2 < S and skip[s + 2]:
                v += b[t + 1, s + 2] * y[t + 1, ext[s + 2]]
            b[t, s] = v
    return a, b


def test_extend_target_with_blank():
    ctc = CTC()
    ext, skip = ctc.extend_target_with_blank(np.array([1, 1, 2, 3, 3, 1]))
    assert list(ext) == [0, 1, 0, 1, 0, 2, 0, 3, 0, 3, 0, 1, 0]
    assert list(skip) == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0]
    ext, skip = CTC(BLANK=2).extend_target_with_blank([0, 1])
    assert list(ext) == [2, 0, 2, 1, 2] and list(skip) == [0, 0, 0, 1, 0]
    ext, skip = ctc.extend_target_with_blank(np.array([], dtype=int))
    assert list(ext) == [0] and list(skip) == [0]


@pytest.mark.parametrize("target", [[1, 1, 2, 3, 3, 1], [2], [1, 2, 1]])
def test_alpha_beta_gamma_match_the_spec(impl, target):
    ctc = CTC()
    ext, skip = ctc.extend_target_with_blank(np.array(target))
    rng = np.random.default_rng(len(target))
    y = rng.dirichlet(np.ones(4), size=14)
    a, b = ctc.get_forward_probs(y, ext, skip), ctc.get_backward_probs(y, ext, skip)
    ra, rb = _spec_alpha_beta(y, ext, skip)
    close(a, ra)
    close(b, rb)
    g = ctc.get_posterior_probs(a, b)
    close(g, ra * rb / (ra * rb).sum(1, keepdims=True))
    close(g.sum(1), np.ones(14))


def test_raw_probabilities_are_not_renormalised(impl):
    """Rows that do not sum to 1 are used as given (never logged, renormalised or clipped)."""
    ctc = CTC()
    ext, skip = ctc.extend_target_with_blank(np.array([1, 2]))
    y = np.random.default_rng(5).uniform(0.1, 0.9, size=(6, 3))
    close(ctc.get_forward_probs(y, ext, skip), _spec_alpha_beta(y, ext, skip)[0])
    close(ctc.get_backward_probs(y, ext, skip), _spec_alpha_beta(y, ext, skip)[1])


def _spec_loss(y, tg, il, tl):
    ctc = CTC()
    B = tg.shape[0]
    want, dY = 0.0, np.zeros_like(y)
    for b in range(B):
        ext, skip = ctc.extend_target_with_blank(tg[b, :tl[b]])
        yb = y[:il[b], b]
        a, be = _spec_alpha_beta(yb, ext, skip)
        gm = a * be / (a * be).sum(1, keepdims=True)
        want -= (gm * np.log(yb[:, ext])).sum()
        for s, k in enumerate(ext):
            dY[:il[b], b, k] -= gm[:, s] / yb[:, k]
    return want / B, dY


def test_ctc_loss_expected_divergence_and_gradient(impl):
    rng = np.random.default_rng(1)
    T, B, C = 10, 4, 4
    y = rng.dirichlet(np.ones(C), size=(T, B))
    tg = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0], [1, 1, 1]])
    il, tl = np.array([10, 8, 6, 9]), np.array([3, 2, 1, 3])
    crit = CTCLoss()
    loss = crit(y, tg, il, tl)
    assert isinstance(loss, float)
    want, dY = _spec_loss(y, tg, il, tl)
    close(loss, want)
    g = crit.backward()
    assert g.shape == (T, B, C)
    close(g, dY)
    assert not g[8:, 1].any() and not g[6:, 2].any()  # zero beyond each input length
    assert len(crit.gammas) == B and crit.gammas[1].shape == (8, 5)
    assert [list(e) for e in crit.extended_symbols[2:3]] == [[0, 2, 0]]


# ------------------------------------------------------------------------------------------ decoders
def test_greedy_decoder_hand_made():
    y = np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.7, 0.2], [0.2, 0.1, 0.7]]).T[:, :, None]
    path, prob = GreedySearchDecoder(["a", "b"]).decode(y)
    assert path == "aab"  # a, blank, a, a, b -> "a", "a", "b": repeats collapse only when adjacent
    assert prob == 0.6 * 0.7 * 0.7 * 0.7 * 0.7
    y = np.array([[0.5, 0.4], [0.3, 0.1], [0.2, 0.5]])[:, :, None]
    assert GreedySearchDecoder(["a", "b"]).decode(y) == ("b", 0.25)


def test_beam_decoder_hand_made():
    """Symbols a, b; frames (blank, a, b) = (0.5, 0.3, 0.2), (0.4, 0.1, 0.5), worked by hand."""
    y = np.array([[0.5, 0.4], [0.3, 0.1], [0.2, 0.5]])[:, :, None]
    best, merged = BeamSearchDecoder(["a", "b"], beam_width=3).decode(y)  # nothing pruned
    want = {"": 0.2, "a": 0.08 + 0.12, "b": 0.35 + 0.08, "ab": 0.15, "ba": 0.02}
    assert best == "b" and set(merged) == set(want)
    for k in want:
        assert merged[k] == pytest.approx(want[k], abs=1e-15)
    # beam 1: after the first frame only the blank path (0.5) survives the pruning
    best, merged = BeamSearchDecoder(["a", "b"], beam_width=1).decode(y)
    assert best == "b" and set(merged) == {"", "a", "b"}
    for k, v in {"": 0.2, "a": 0.05, "b": 0.25}.items():
        assert merged[k] == pytest.approx(v, abs=1e-15)


def _lecture_beam_search(symbols, y, beam_width):
    """The lecture's pseudo-code, transcribed literally (InitializePaths, Prune, ExtendWithBlank,
    ExtendWithSymbol, MergeIdenticalPaths), as an independent reference."""
    def init(sy, yt):
        blank_score, path_score = {"": yt[0]}, {}
        for i, c in enumerate(sy):
            path_score[c] = yt[i + 1]
        return {""}, set(sy), blank_score, path_score

    def prune(pb, ps, bs, s, bw):
        scores = sorted([bs[p] for p in pb] + [s[p] for p in ps], reverse=True)
        cutoff = scores[bw - 1] if bw < len(scores) else scores[-1]
        npb = {p for p in pb if bs[p] >= cutoff}
        nps = {p for p in ps if s[p] >= cutoff}
        return npb, nps, {p: bs[p] for p in npb}, {p: s[p] for p in nps}

    def extend_blank(pb, ps, bs, s, yt):
        upb, ubs = set(), {}
        for p in pb:
            upb.add(p)
            ubs[p] = bs[p] * yt[0]
        for p in ps:
            if p in upb:
                ubs[p] += s[p] * yt[0]
            else:
                upb.add(p)
                ubs[p] = s[p] * yt[0]
        return upb, ubs

    def extend_symbol(pb, ps, bs, s, sy, yt):
        ups, us = set(), {}
        for p in pb:
            for i, c in enumerate(sy):
                ups.add(p + c)
                us[p + c] = bs[p] * yt[i + 1]
        for p in ps:
            for i, c in enumerate(sy):
                q = p if c == p[-1] else p + c
                if q in ups:
                    us[q] += s[p] * yt[i + 1]
                else:
                    ups.add(q)
                    us[q] = s[p] * yt[i + 1]
        return ups, us

    npb, nps, nbs, ns = init(symbols, y[:, 0])
    for t in range(1, y.shape[1]):
        pb, ps, bs, s = prune(npb, nps, nbs, ns, beam_width)
        npb, nbs = extend_blank(pb, ps, bs, s, y[:, t])
        nps, ns = extend_symbol(pb, ps, bs, s, symbols, y[:, t])
    merged = dict(ns)
    for p in npb:
        merged[p] = merged.get(p, 0.0) + nbs[p]
    return max(merged, key=merged.get), merged


@pytest.mark.parametrize("beam_width", [1, 2, 3, 5])
def test_beam_decoder_matches_the_lecture_pseudo_code(beam_width):
    rng = np.random.default_rng(beam_width)
    syms = ["a", "b", "c"]
    for _ in range(5):
        y = rng.dirichlet(np.ones(4) * 0.7, size=6).T[:, :, None]
        best, merged = BeamSearchDecoder(syms, beam_width).decode(y)
        rbest, rmerged = _lecture_beam_search(syms, y[:, :, 0], beam_width)
        assert best == rbest and set(merged) == set(rmerged)
        for k in rmerged:
            assert merged[k] == pytest.approx(rmerged[k], rel=1e-12)


def test_beam_decoder_against_exhaustive_merge():
    """With a beam wide enough never to prune, the merged scores are the exact probabilities of
    every labelling (the sum over its alignments)."""
    rng = np.random.default_rng(2)
    syms = ["a", "b"]
    T = 4
    y = rng.dirichlet(np.ones(3), size=T).T[:, :, None]
    best, merged = BeamSearchDecoder(syms, beam_width=100).decode(y)
    exact = {}
    for path in itertools.product(range(3), repeat=T):
        lab, prev = [], None
        for c in path:
            if c != prev and c != 0:
                lab.append(syms[c - 1])
            prev = c
        k = "".join(lab)
        exact[k] = exact.get(k, 0.0) + np.prod([y[c, t, 0] for t, c in enumerate(path)])
    assert set(merged) == set(exact)
    for k in exact:
        assert abs(merged[k] - exact[k]) < 1e-12
    assert best == max(exact, key=exact.get)
