"""``python -m bench [suite ...] [options]`` from the repo root: alias of ``rnnfast bench``."""
import sys

from rnnfast.bench.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
