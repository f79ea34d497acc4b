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
bash tests/check-man.sh
bash tests/check-completions.sh "$bin"
TOKEND_BIN=$bin/tokend bash tests/check-units.sh
bash tests/check-monitoring.sh
# The Debian package under a real systemd (PID 1 of a booted Debian 12
# container): needs root for systemd-nspawn.
if ((EUID == 0)); then bash tests/systemd-stage.sh; else sudo bash tests/systemd-stage.sh; fi
# The nested package Fuzz/ (the libFuzzer mains around TokendFuzzing, which
# the suite replays) must build with warnings as errors: about 30 s. Benchmarks/
# (tokend-bench: its command line and the perf run around TokendStress, which
# the suite runs) costs a debug build of everything again, about 2 minutes,
# which would take CI past 15: `make bench` builds it (docs/TESTING.md).
swift build --package-path Fuzz
