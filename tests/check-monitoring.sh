#!/usr/bin/env bash
# The ready-made monitoring in docs/monitoring (SPEC §10): the alerting rules
# pass `promtool check rules` and their unit tests (`promtool test rules`),
# every tokend_* series they and the dashboard use is one tokend exports,
# and the Grafana dashboard is valid JSON.
set -euo pipefail
cd "$(dirname "$0")/../docs/monitoring"
command -v promtool >/dev/null || { echo "check-monitoring: promtool not found (apt-get install prometheus)" >&2; exit 2; }
promtool check rules tokend-rules.yml
promtool test rules tokend-rules.test.yml
python3 -m json.tool grafana-dashboard.json >/dev/null
exported=$(grep -ho 'tokend_[a-z_]*' ../../Sources/TokendTelemetry/Telemetry.swift | sort -u)
for name in $(grep -ho 'tokend_[a-z_]*' tokend-rules.yml grafana-dashboard.json | sed -E 's/_(bucket|count|sum)$//' | sort -u); do
    grep -qx "$name" <<<"$exported" || { echo "check-monitoring: $name is used but tokend does not export it" >&2; exit 1; }
done
echo "check-monitoring: rules, their tests and the dashboard are consistent"
