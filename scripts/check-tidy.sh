#!/usr/bin/env bash
# clang-tidy (.clang-tidy) on the C++ sources (not tests) touched by the newest five commits,
# or on the files given as arguments. Needs build/dev/compile_commands.json (cmake --preset
# dev). A whole-tree run takes about 20 minutes on a 2-core machine, so CI checks what
# changed recently; checks listed in WarningsAsErrors fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -gt 0 ]]; then
  files=("$@")
else
  mapfile -t files < <(git diff --name-only --diff-filter=AM HEAD~5 HEAD -- '*.cc' 2>/dev/null \
                       | grep -v '^tests/' || true)
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "check-tidy: no C++ sources touched"
  exit 0
fi
echo "check-tidy: ${#files[@]} file(s)"
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy -p build/dev --quiet
echo "check-tidy: ok"
