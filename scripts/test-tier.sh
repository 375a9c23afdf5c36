#!/usr/bin/env bash
# Run one tier of tests: scripts/test-tier.sh <tier> <test dir>...
#
# A tier never passes by running nothing: a listed directory that does not exist fails it, and so does one in
# which pytest collects no test (its exit status 5). Extra pytest options come from $PYTEST_ARGS
# (make test-unit PYTEST_ARGS="-k hold -x"); -rs lists every skipped test with its reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tier=${1:?usage: scripts/test-tier.sh <tier> <test dir>...}
shift
if (($# == 0)); then
  echo "==> $tier tests FAILED: no test directory given" >&2
  exit 1
fi

# One pytest process per directory: each test package gets its own isolated database, vhost and key prefix (the
# session fixture), so one package's fixtures (availability's, say, writing booking rows directly) can never leak
# into another package's whole-database assertions. Every directory runs; the tier fails if any of them failed.
failed=()
for dir in "$@"; do
  if [[ ! -d $dir ]]; then
    echo "==> $tier tests: $dir does not exist"
    failed+=("$dir (missing)")
    continue
  fi
  echo "==> $tier tests: $dir"
  status=0
  # shellcheck disable=SC2086 # PYTEST_ARGS holds several options on purpose
  .venv/bin/pytest -q -rs ${PYTEST_ARGS:-} "$dir" || status=$?
  if ((status == 5)); then
    echo "==> $tier tests: no test collected in $dir"
    failed+=("$dir (no test collected)")
  elif ((status != 0)); then
    failed+=("$dir")
  fi
done
if ((${#failed[@]} > 0)); then
  echo "==> $tier tests FAILED in: ${failed[*]}"
  exit 1
fi
