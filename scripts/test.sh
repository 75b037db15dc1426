#!/usr/bin/env bash
# test.sh: the whole suite, as CI runs it. Installs missing test packages, checks formatting,
# vets, then runs every test with the race detector, including the real-network black-box
# tests in test/ (network namespaces, see test/netns; end to end and the window under Xvfb, see
# test/e2e).
# Extra arguments go to `go test` (e.g. scripts/test.sh -run TestE2E -v).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
export CGO_ENABLED=1   # -race needs cgo

fail=0
status=()

unformatted=$(gofmt -l . 2>&1 | grep -v '^vendor/' || true)
if [[ -n $unformatted ]]; then
  echo "test.sh: these files need gofmt -w:" >&2
  printf '  %s\n' "$unformatted" >&2
  status+=("gofmt: FAIL"); fail=1
else
  status+=("gofmt: ok")
fi

if go vet ./...; then status+=("go vet: ok"); else status+=("go vet: FAIL"); fail=1; fi

if command -v shellcheck >/dev/null; then
  if shellcheck scripts/*.sh .ci/run; then status+=("shellcheck: ok"); else status+=("shellcheck: FAIL"); fail=1; fi
fi

log=$(mktemp -t porch-test.XXXXXX)
trap 'rm -f "$log" "$log.fuzz"' EXIT
# -v always: the summary below counts tests from its --- PASS/FAIL/SKIP lines.
# ./test/... first (go test starts packages in the order named): its end-to-end tests take the
# longest, and the other packages run beside them.
if go test -race -count=1 -v -timeout "${PORCH_TEST_TIMEOUT:-30m}" "$@" ./test/... ./... 2>&1 | tee "$log"; then
  status+=("go test: ok")
else
  status+=("go test: FAIL"); fail=1
fi

# Every fuzz target of a decoder of remote input runs briefly on its own
# (PORCH_FUZZ_TIME per target, default 2s; 0 skips them), beyond the seed
# corpus that go test ran above.
fuzztime=${PORCH_FUZZ_TIME:-2s}
if [[ $fuzztime != 0 ]]; then
  fuzzed=0 fuzzfail=0
  while read -r pkg; do
    for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log.fuzz" 2>&1; then
        fuzzed=$((fuzzed + 1))
      else
        echo "test.sh: fuzzing $target in $pkg failed:" >&2
        cat "$log.fuzz" >&2
        fuzzfail=1
      fi
    done
  done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
  rm -f "$log.fuzz"
  if [[ $fuzzfail == 0 ]]; then status+=("fuzz: ok ($fuzzed targets, $fuzztime each)"); else status+=("fuzz: FAIL"); fail=1; fi
fi

echo
echo "== summary =="
printf '%s\n' "${status[@]}"
# Counts of tests and subtests, and of packages.
passed=$(grep -c -- '^\(    \)*--- PASS' "$log" || true)
failed=$(grep -c -- '^\(    \)*--- FAIL' "$log" || true)
skipped=$(grep -c -- '^\(    \)*--- SKIP' "$log" || true)
pkgok=$(grep -c '^ok ' "$log" || true)
pkgfail=$(grep -c '^FAIL'$'\t' "$log" || true)
echo "packages: $pkgok ok, $pkgfail failed"
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$fail"
