#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The layer map: every import declared in Package.swift, nothing more.
python3 scripts/check-imports.py
# Warnings are errors in the project's own targets (Package.swift).
swift build --build-tests
# Three test processes at once (scripts/run-suite.sh says why not --parallel).
bash scripts/run-suite.sh .build
bash tests/check-man.sh
bash tests/check-completions.sh "$(swift build --show-bin-path)"
bash tests/check-units.sh
bash tests/check-monitoring.sh
# The installed units under a real systemd (PID 1 of a booted Debian 12
# container): needs root for systemd-nspawn.
if ((EUID == 0)); then bash tests/systemd-stage.sh; else sudo bash tests/systemd-stage.sh; fi
