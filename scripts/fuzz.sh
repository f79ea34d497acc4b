#!/usr/bin/env bash
# make fuzz: builds each libFuzzer target with -sanitize=fuzzer,address and
# runs it for FUZZ_SECONDS (default 60) on a copy of its committed seed corpus.
# A crash leaves its input in fuzz/crashes/TARGET/; copy it into
# fuzz/corpus/TARGET/ so the test suite replays it from then on.
#
#   scripts/fuzz.sh [TARGET...]    targets: request-line token-response configuration cache-entry private-key idp-limits presented-token etcd-response
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request-line token-response configuration cache-entry private-key idp-limits presented-token etcd-response)
scratch=${FUZZ_SCRATCH_PATH:-.build-fuzz}
[[ $scratch == /* ]] || scratch=$PWD/$scratch
# The targets are the nested package Fuzz/; their bodies are TokendFuzzing's.
flags=(--package-path Fuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING)
status=0
for target in "${targets[@]}"; do
    swift build "${flags[@]}" --product "fuzz-$target"
done
bin=$(swift build "${flags[@]}" --show-bin-path)
for target in "${targets[@]}"; do
    work=$(mktemp -d "/tmp/tokend-fuzz-$target.XXXXXX")
    cp -r "fuzz/corpus/$target/." "$work/"
    mkdir -p "fuzz/crashes/$target"
    extra=()
    # TOMLKit 0.6.0 leaks its error message (~234 bytes) when a parse fails:
    # harmless for a file read at start and reload, but LeakSanitizer would
    # stop every run on the first malformed input. See docs/TESTING.md.
    [ "$target" = configuration ] && extra+=(-detect_leaks=0)
    echo "== fuzz-$target for ${seconds}s (corpus in $work)"
    if ! "$bin/fuzz-$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 "${extra[@]}" \
        -artifact_prefix="fuzz/crashes/$target/" -print_final_stats=1 "$work" 2>&1 | tail -n 25; then
        echo "fuzz-$target FOUND A CRASH: see fuzz/crashes/$target/" >&2
        status=1
    fi
done
exit $status
