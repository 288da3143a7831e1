#!/usr/bin/env bash
# Developer build: compile rnnfast._core with CMake into build/dev-<name> and drop it into rnnfast/
# so that `python -c "import rnnfast"` from the source tree uses it. Usage: ./dev_build.sh [name]
set -euo pipefail
cd "$(dirname "$0")"
name=${1:-default}
bdir=build/dev-$name
cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build "$bdir"
so=$(ls "$bdir"/_core*.so)
cp "$so" "rnnfast/$(basename "$so").tmp.$$" && mv "rnnfast/$(basename "$so").tmp.$$" "rnnfast/$(basename "$so")"
echo "built $(basename "$so")"
