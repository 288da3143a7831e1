"""Repo-root alias of the benchmark suite: ``python -m bench ...`` = ``rnnfast bench ...``.
The code lives in rnnfast/bench/ (installed with the package); results go to bench/results/."""
