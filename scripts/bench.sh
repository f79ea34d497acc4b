#!/usr/bin/env bash
# make bench | chaos | abuse: a release build of tokend and tokenctl (Swift
# standard library linked statically, as installed), a release build of
# tokend-bench (the nested package Benchmarks/), then one run.
#
#   scripts/bench.sh perf  [--requests N] [--idle-seconds S] [--runs N]
#   scripts/bench.sh chaos [--duration S] [--clients N]
#   scripts/bench.sh chaos --fleet N [--duration S] [--without-fleet-store]   (SPEC §14, real etcd)
#   scripts/bench.sh abuse [--duration S]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
mode=${1:-perf}
shift || true
scratch=${SCRATCH_PATH:-.build-release}
flags=(-c release --static-swift-stdlib --scratch-path "$scratch")
swift build "${flags[@]}" --product tokend
swift build "${flags[@]}" --product tokenctl
bin=$(swift build "${flags[@]}" --show-bin-path)
# tokend-bench is the nested package Benchmarks/ (its own build directory).
swift build -c release --package-path Benchmarks --product tokend-bench
bench=$(swift build -c release --package-path Benchmarks --show-bin-path)/tokend-bench
case "$mode" in
    perf) exec "$bench" perf --tokend "$bin/tokend" --tokenctl "$bin/tokenctl" "$@" ;;
    chaos|abuse) exec "$bench" "$mode" --tokend "$bin/tokend" "$@" ;;
    *) echo "usage: scripts/bench.sh [perf|chaos|abuse] [options]" >&2; exit 64 ;;
esac
