#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 30s).
set -euo pipefail
time=${FUZZTIME:-30s}
status=0
for dir in $(go list -f '{{.Dir}}' ./...); do
  pkg=$(go list "$dir")
  for f in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort -u); do
    echo "== $pkg $f ($time)"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$time" "$pkg" || status=1
  done
done
exit $status
