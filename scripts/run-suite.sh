#!/usr/bin/env bash
# Runs the built test bundle (swift-testing) in six processes at once, each
# running its tests one at a time, and prints each one's output when it ends.
#
# Why not `swift test --parallel`: Swift Testing then runs tests on the
# concurrency runtime's cooperative pool, which has one thread per core (2
# here); the integration tests block a thread while they wait for a daemon
# or a socket, and two of them starve every async test in the process
# (measured: in-process renewal tests hit their 60 s limit). Processes of
# their own share no pool. The groups are balanced on each suite's time
# under ThreadSanitizer, where the suite is slowest (docs/TESTING.md):
# TokenCacheTests alone takes 125 s there.
#
#   scripts/run-suite.sh [SCRATCH_PATH]      (default .build)
set -uo pipefail
cd "$(dirname "$0")/.."
scratch=${1:-.build}
bundle=$(find "$scratch" -path '*/debug/tokendPackageTests.xctest' -type f | head -n 1)
[ -x "$bundle" ] || { echo "run-suite: no test bundle under $scratch (swift build --build-tests first)" >&2; exit 1; }
groups=(
    'TokendIntegrationTests\.(TokenCacheTests|TokenEndpointClientTests|ProxyTests)/'
    'TokendIntegrationTests\.(StressRunTests|MetricsTests|SocketSafetyTests)/'
    'TokendIntegrationTests\.(SystemdIntegrationTests|TokenFileTests|ClientAssertionTests|TLSIntegrationTests)/'
    'TokendIntegrationTests\.FleetIntegrationTests/(eightHosts|etcdUsers|checkValidates|anEntry)'
    'TokendIntegrationTests\.FleetIntegrationTests/(theLeader|theLockHolder|withoutTheFleet)'
)
logs=$(mktemp -d /tmp/tokend-suite.XXXXXX)
pids=()
for index in "${!groups[@]}"; do
    "$bundle" --testing-library swift-testing --no-parallel --filter "${groups[$index]}" >"$logs/$index.log" 2>&1 &
    pids+=($!)
done
skips=()
for group in "${groups[@]}"; do skips+=(--skip "$group"); done
"$bundle" --testing-library swift-testing --no-parallel "${skips[@]}" >"$logs/rest.log" 2>&1 &
pids+=($!)
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for log in "$logs"/*.log; do cat "$log"; done
echo "== run-suite: summary"
grep -h -E 'Test run with' "$logs"/*.log
rm -rf "$logs"
exit $status
