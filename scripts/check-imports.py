#!/usr/bin/env python3
"""Fails when a target imports a module that its entry in Package.swift does
not declare, or declares a dependency that none of its files imports.

SwiftPM's --explicit-target-dependency-import-check lets a module through
that arrives transitively (a target importing TokendHTTP because TokendEngine
depends on it); this check does not: every `import` of a Swift file must be
the target's own declared dependency (a target, or a product's module), the
toolchain's (Glibc, Foundation, Dispatch, Testing, XCTest, ...), or the
target itself. Run from the package root; exits 1 and lists the offenders.
"""
import json
import os
import re
import subprocess
import sys

TOOLCHAIN = {"Glibc", "Foundation", "FoundationEssentials", "Dispatch", "Testing", "XCTest", "Swift",
             "_Concurrency", "_StringProcessing", "Synchronization", "Musl", "SwiftShims"}
IMPORT = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|internal|package|private|fileprivate)\s+)?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def main():
    package = json.loads(subprocess.run(["swift", "package", "dump-package"], check=True,
                                        capture_output=True, text=True).stdout)
    problems = []
    for target in package["targets"]:
        name = target["name"]
        if target["type"] in ("system", "binary", "plugin"):
            continue
        declared = set()
        for dependency in target.get("dependencies", []):
            for kind in ("byName", "target", "product"):
                if kind in dependency:
                    declared.add(dependency[kind][0])
        allowed = {name} | TOOLCHAIN | declared
        imported = set()
        swift_files = 0
        path = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
        for root, _, files in os.walk(path):
            for file in sorted(files):
                if not file.endswith(".swift"):
                    continue
                full = os.path.join(root, file)
                swift_files += 1
                with open(full, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        match = IMPORT.match(line)
                        if match:
                            imported.add(match.group(1))
                        if match and match.group(1) not in allowed:
                            problems.append(f"{full}:{number}: {name} imports {match.group(1)}, which Package.swift does not list among its dependencies")
        if swift_files:
            for unused in sorted(declared - imported):
                problems.append(f"{path}: {name} declares {unused} in Package.swift but no file imports it")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-imports: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-imports: the imports of {len(package['targets'])} targets match their dependencies in Package.swift")
    return 0


if __name__ == "__main__":
    sys.exit(main())
