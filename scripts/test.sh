#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The layer map: every import declared in Package.swift, nothing more.
python3 scripts/check-imports.py
# Warnings are errors in the project's own targets (Package.swift).
swift build --build-tests
swift test --no-parallel
bash tests/check-units.sh
bash tests/check-monitoring.sh
