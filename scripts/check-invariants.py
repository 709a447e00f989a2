#!/usr/bin/python3
"""Architecture invariants that a tool can check (ARCHITECTURE.md, "Invariants").

1. The pure cores never depend, even transitively through normal
   dependencies, on an async runtime, on OS bindings or on an edge crate.
2. Their sources never read a clock or the file system: time and file
   contents are passed in (keel-config reads files only through its
   `FileSource` trait, whose one std::fs implementation is listed below).

Run by scripts/test.sh; exits 1 naming each violation.
"""
import json
import os
import re
import subprocess
import sys

CORES = ["keel-config", "keel-vrrp", "keel-sim", "keel-lvs", "keel-check-core"]
FORBIDDEN = {
    "tokio": "an async runtime",
    "mio": "an async runtime's I/O",
    "libc": "OS bindings",
    "nix": "OS bindings",
    "socket2": "sockets",
    "rustix": "OS bindings",
    "keel-linux": "an edge crate",
    "keel-daemon": "an edge crate",
    "keel-ipvs": "an edge crate",
    "keel-nft": "an edge crate",
    "keel-lab": "the test lab",
}
# Calls that read a clock or the file system.
IMPURE = re.compile(
    r"\b(Instant::now|SystemTime::now|std::fs::|fs::read|fs::write|File::open|File::create|OpenOptions::new)\b"
)
# The one place a core may touch the file system: keel-config's FileSource
# implementation for real files, chosen by the caller.
IMPURE_ALLOWED = {os.path.join("crates", "keel-config", "src", "source.rs")}


def main() -> int:
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1"],
            stderr=subprocess.DEVNULL,
        )
    )
    names = {p["id"]: p["name"] for p in meta["packages"]}
    dirs = {p["name"]: os.path.dirname(p["manifest_path"]) for p in meta["packages"]}
    graph = {}
    for node in meta["resolve"]["nodes"]:
        normal = []
        for dep in node["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                normal.append(dep["pkg"])
        graph[node["id"]] = normal
    by_name = {names[i]: i for i in graph if names[i] in CORES}

    problems = []
    for core in CORES:
        if core not in by_name:
            continue
        # Breadth-first over normal dependencies, remembering one path for
        # the message.
        seen = {by_name[core]: [core]}
        queue = [by_name[core]]
        while queue:
            cur = queue.pop(0)
            for dep in graph.get(cur, []):
                if dep in seen:
                    continue
                seen[dep] = seen[cur] + [names[dep]]
                queue.append(dep)
        for pid, path in seen.items():
            why = FORBIDDEN.get(names[pid])
            if why:
                problems.append(
                    f"core crate {core} depends on {names[pid]} ({why}): {' -> '.join(path)}"
                )
        root = os.path.relpath(os.path.join(dirs[core], "src"))
        for dirpath, _, files in os.walk(root):
            for f in files:
                if not f.endswith(".rs"):
                    continue
                p = os.path.join(dirpath, f)
                if p in IMPURE_ALLOWED:
                    continue
                in_tests = False
                with open(p, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        # Unit-test modules may use the clock and temp files.
                        if re.match(r"\s*#\[cfg\(test\)\]", line):
                            in_tests = True
                        if in_tests:
                            continue
                        code = line.split("//", 1)[0]
                        m = IMPURE.search(code)
                        if m:
                            problems.append(
                                f"{p}:{n}: core crate {core} calls {m.group(1)} (pass the time or the data in)"
                            )
    for p in problems:
        print(f"check-invariants: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-invariants: the core crates ({', '.join(c for c in CORES if c in by_name)}) are pure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
