#!/usr/bin/env bash
# Runs tokend for real on its embedded demonstration IdP (tokend --dev).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --product tokend
swift build --product tokenctl
exec .build/debug/tokend --dev "$@"
