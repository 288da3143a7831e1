"""rnnfast's benchmark suite: rnnfast backends against PyTorch CPU and against the BLAS (GEMM) floor.

Run ``rnnfast bench [suite ...]`` (or ``python -m rnnfast.bench``; ``python -m bench`` from the repo
root). Suites are registered in :mod:`rnnfast.bench.suites`; the machinery is in :mod:`rnnfast.bench.common`.
"""
