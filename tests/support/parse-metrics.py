#!/usr/bin/env python3
"""Parses a Prometheus text exposition (stdin) with the Prometheus project's
own Python parser (prometheus_client.parser), not tokend's code, and prints
it as JSON: {"FAMILY": {"type": "counter", "samples": [[name, {labels}, value], ...]}}.
A text the parser refuses exits 1 with its error.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    families = {}
    try:
        for family in text_string_to_metric_families(text):
            families[family.name] = {
                "type": family.type,
                "samples": [[s.name, dict(s.labels), s.value] for s in family.samples],
            }
    except Exception as e:  # the parser's refusal is the test's failure
        print(f"unparsable: {e!r}", file=sys.stderr)
        sys.exit(1)
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
