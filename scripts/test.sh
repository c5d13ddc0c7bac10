#!/usr/bin/env bash
# Command two: install dependencies, check formatting, build the dev preset (ASan+UBSan,
# warnings as errors) and run the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --test
scripts/check-format.sh
cmake --preset dev -DSENSOR_WERROR=ON >/dev/null
cmake --build --preset dev --parallel "$(nproc)"
ctest --preset dev --parallel "$(nproc)"
