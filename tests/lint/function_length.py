#!/usr/bin/env python3
"""Lists functions longer than --max lines in the given folders.

  tests/lint/function_length.py [--max 60] agent checks

A function is counted from the first line of its signature to its closing
brace, lambdas and comments inside it included. It relies on the layout
clang-format gives the code (.clang-format): a definition starts at column 0
(or column 2 inside a class body) and its closing brace sits at the same
column. A function may stay longer only with a comment line saying why right
above its signature, containing "function-length: allowed" (they are listed
as allowed, not as faults). Exits 1 if any other function is over the limit.
"""
import argparse
import os
import re
import sys

NOT_FUNCTION = re.compile(
    r"^\s*(namespace|class|struct|enum|union|extern|template\s*<[^>]*>\s*(class|struct))\b")
CONTROL = re.compile(r"^\s*(if|for|while|switch|else|do|try|catch|case|return)\b")


def functions(path):
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^( {0,2})\S", line)
        if not m or not line.rstrip().endswith("{"):
            continue
        indent = m.group(1)
        text = line.strip()
        if text.startswith(("//", "#", "}")) or NOT_FUNCTION.match(line) or CONTROL.match(line):
            continue
        if re.search(r"=\s*\{$", text):  # an initializer, not a body
            continue
        # The signature may start on earlier lines (a wrapped parameter list).
        start = i
        while start > 0:
            prev = lines[start - 1]
            if (not prev.strip() or prev.rstrip().endswith((";", "}", "{", ":")) or
                    prev.strip().startswith(("//", "#", "template"))):
                break
            start -= 1
        sig = " ".join(l.strip() for l in lines[start:i + 1])
        if "(" not in sig:
            continue
        end = i + 1
        closing = indent + "}"
        while end < len(lines) and not (lines[end].startswith(closing) and
                                        (len(lines[end]) == len(closing) or
                                         lines[end][len(closing)] in " ;/")):
            end += 1
        name = re.sub(r"\s*\(.*", "", sig).split()[-1] if sig else "?"
        allowed = start > 0 and "function-length: allowed" in lines[start - 1]
        out.append((end - start + 1, start + 1, name, allowed))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=60)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    long = []
    for d in args.dirs:
        for root, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith((".cc", ".h")):
                    p = os.path.join(root, f)
                    long += [(n, p, line, name, ok)
                             for n, line, name, ok in functions(p) if n > args.max]
    for n, p, line, name, ok in sorted(long, reverse=True):
        note = "allowed, see the comment above it" if ok else f"limit {args.max}"
        print(f"{p}:{line}: {name}: {n} lines ({note})")
    long = [x for x in long if not x[4]]
    if long:
        print(f"{len(long)} function(s) over {args.max} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
