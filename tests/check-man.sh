#!/usr/bin/env bash
# The manual pages: each docs/man/*.scd renders with scdoc, and man reads
# the result without a warning (MANWIDTH=80 man --warnings -l). That every
# configuration key and tokenctl option is documented is checked by the
# Swift tests (ManualTests, TokenctlManualTests), from the parser's lists.
#
#   tests/check-man.sh [OUT_DIR]      (keeps the pages in OUT_DIR if given)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d /tmp/tokend-man.XXXXXX)}
mkdir -p "$out"
status=0
for source in docs/man/*.scd; do
    page=$out/$(basename "${source%.scd}")
    scdoc < "$source" > "$page" || { echo "FAIL scdoc $source"; status=1; continue; }
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    if [[ -n $warnings ]]; then echo "FAIL man --warnings $page:"; echo "$warnings"; status=1
    else echo "ok   $(basename "$page") renders without warnings ($(MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l) lines)"; fi
done
[[ -n ${1:-} ]] || rm -rf "$out"
exit $status
