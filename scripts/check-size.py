#!/usr/bin/python3
"""Size limits of the code (ARCHITECTURE.md, "Invariants"): no source file
over 800 lines and no function over 120 lines, outside tests and generated
tables. Prints each violation; exits 1 if there is one (0 with --report).
"""
import os
import re
import sys

MAX_FILE = 800
MAX_FN = 120
# Data rather than logic: keyword tables and generated message tables.
EXEMPT = set()

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(lines):
    """(name, first line, length) of each fn, by brace matching."""
    out = []
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth = 0
        opened = False
        j = i
        while j < len(lines):
            code = lines[j].split("//", 1)[0]
            code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
            code = re.sub(r"'(\\.|[^'\\])'", "''", code)
            depth += code.count("{") - code.count("}")
            if "{" in code:
                opened = True
            if opened and depth <= 0:
                break
            if not opened and code.rstrip().endswith(";"):
                break
            j += 1
        if opened:
            out.append((m.group(6), i + 1, j - i + 1))
        i += 1
    return out


def main():
    report = "--report" in sys.argv
    bad = []
    for root, dirs, files in os.walk("crates"):
        dirs[:] = [d for d in dirs if d not in ("tests", "target", "benches")]
        for f in files:
            if not f.endswith(".rs"):
                continue
            p = os.path.join(root, f)
            if p in EXEMPT:
                continue
            lines = open(p, encoding="utf-8").read().split("\n")
            # Unit-test modules at the end of a file do not count.
            end = len(lines)
            for n, l in enumerate(lines):
                if re.match(r"\s*#\[cfg\(test\)\]", l):
                    end = n
                    break
            code = lines[:end]
            if len(code) > MAX_FILE:
                bad.append(f"{p}: {len(code)} lines (limit {MAX_FILE})")
            for name, first, n in functions(code):
                if n > MAX_FN:
                    bad.append(f"{p}:{first}: fn {name} has {n} lines (limit {MAX_FN})")
    for b in bad:
        print(f"check-size: {b}", file=sys.stderr)
    if not bad:
        print("check-size: every file and function is within its limit")
    return 0 if report or not bad else 1


if __name__ == "__main__":
    sys.exit(main())
