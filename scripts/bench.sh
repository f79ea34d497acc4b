#!/usr/bin/env bash
# make bench | chaos | abuse: a release build (Swift standard library linked
# statically, as installed), then one tokend-bench run against it.
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
swift build "${flags[@]}"
bin=$(swift build "${flags[@]}" --show-bin-path)
case "$mode" in
    perf) exec "$bin/tokend-bench" perf --tokend "$bin/tokend" --tokenctl "$bin/tokenctl" "$@" ;;
    chaos|abuse) exec "$bin/tokend-bench" "$mode" --tokend "$bin/tokend" "$@" ;;
    *) echo "usage: scripts/bench.sh [perf|chaos|abuse] [options]" >&2; exit 64 ;;
esac
