#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test.
#
# The suite runs built with ThreadSanitizer, the tokend processes it starts
# included (a data race anywhere fails the run): one instrumented build
# instead of a plain one and a ThreadSanitizer one keeps a CI run under 15
# minutes on 2 cores (docs/TESTING.md). TOKEND_TEST_SANITIZER=none runs it on
# a plain debug build (.build) instead; `swift test` is the quick loop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The layer map: every import declared in Package.swift, nothing more.
python3 scripts/check-imports.py
# Warnings are errors in the project's own targets (Package.swift).
sanitizer=${TOKEND_TEST_SANITIZER:-thread}
if [[ $sanitizer == none ]]; then
    swift build --build-tests
    # Six test processes at once (scripts/run-suite.sh says why not --parallel).
    bash scripts/run-suite.sh .build
    bin=$(swift build --show-bin-path)
else
    # Builds and runs the suite as make test-sanitize does, for this one sanitizer.
    SANITIZERS=$sanitizer bash scripts/test-sanitize.sh
    bin=$(bash scripts/test-sanitize.sh --show-bin-path "$sanitizer")
fi
# The nested packages (Benchmarks/: tokend-bench; Fuzz/: the libFuzzer
# targets) must build with warnings as errors: their runs are make targets,
# not CI steps. Built in the background, at the lowest priority, while the
# checks and the systemd stage run: the stage's own release build comes
# first, and its container checks mostly wait.
# In a process group of its own, so that a failure below (or Ctrl-C) takes
# the whole build down with this script.
nested_log=$(mktemp /tmp/tokend-nested.XXXXXX)
setsid bash -c 'nice -n 19 swift build --package-path Benchmarks && nice -n 19 swift build --package-path Fuzz' >"$nested_log" 2>&1 &
nested=$!
trap 'kill -- -"$nested" 2>/dev/null; rm -f "$nested_log"' EXIT
bash tests/check-man.sh
bash tests/check-completions.sh "$bin"
TOKEND_BIN=$bin/tokend bash tests/check-units.sh
bash tests/check-monitoring.sh
# The Debian package under a real systemd (PID 1 of a booted Debian 12
# container): needs root for systemd-nspawn.
if ((EUID == 0)); then bash tests/systemd-stage.sh; else sudo bash tests/systemd-stage.sh; fi
if ! wait "$nested"; then
    cat "$nested_log"
    echo "test: a nested package (Benchmarks/ or Fuzz/) does not build" >&2
    exit 1
fi
echo "test: the nested packages Benchmarks/ and Fuzz/ build"
