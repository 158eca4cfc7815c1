#!/usr/bin/env python3
"""Every relative link in the project's Markdown resolves.

    tests/lint/links.py [FILE.md ...]

Without arguments it reads README.md, CONTRIBUTING.md, CHANGELOG.md,
docs/*.md, charts/*/README.md and manifests/README.md. For each link or
image, inline (`[text](target)`), reference-style (`[name]: target`) or in
HTML (`href="..."`, `src="..."`), outside code blocks and code spans:

* a relative target must name a file or folder that exists (resolved from
  the Markdown file's folder; a target starting with `/` from the
  repository's root);
* a `#anchor` (alone, or after a `.md` target) must be a heading of that
  file, slugged as GitHub does (lower case, punctuation dropped, spaces to
  hyphens, `-1`, `-2` for repeats), or an `<a id="...">` / `<a name="...">`.

URLs with a scheme (`https:`, `mailto:`) are not followed: no network.
Prints one line per broken link (`FILE:LINE: target: why`) and exits 1 if
there is any, 0 otherwise.
"""

import glob
import os
import re
import sys
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/*.md",
           "charts/*/README.md", "manifests/README.md"]

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML = re.compile(r"\b(?:href|src)\s*=\s*\"([^\"]+)\"")
ANCHOR_TAG = re.compile(r"<a\s+(?:id|name)\s*=\s*\"([^\"]+)\"")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def lines_outside_code(text):
    """(line number, line) for each line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits, _ (Unicode too)
    return text.replace(" ", "-")


_anchor_cache = {}


def anchors(path):
    """The anchors a Markdown file defines."""
    if path not in _anchor_cache:
        found, seen = set(), {}
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for _, line in lines_outside_code(text):
            for a in ANCHOR_TAG.findall(line):
                found.add(a)
            m = HEADING.match(line)
            if m:
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
        _anchor_cache[path] = found
    return _anchor_cache[path]


def targets(line):
    """Link targets on one line, code spans left out."""
    line = CODE_SPAN.sub("", line)
    out = [m.group(1) for m in INLINE.finditer(line)]
    m = REFDEF.match(line)
    if m:
        out.append(m.group(1))
    out += HTML.findall(line)
    return out


def check_file(path):
    problems = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rel = os.path.relpath(path, ROOT)
    for number, line in lines_outside_code(text):
        for target in targets(line):
            if SCHEME.match(target) or target.startswith("//"):
                continue
            where, _, fragment = target.partition("#")
            where = urllib.parse.unquote(where)
            fragment = urllib.parse.unquote(fragment)
            if where:
                base = ROOT if where.startswith("/") else os.path.dirname(path)
                resolved = os.path.normpath(os.path.join(base, where.lstrip("/")))
                if not os.path.exists(resolved):
                    problems.append(f"{rel}:{number}: {target}: no such file")
                    continue
            else:
                resolved = path
            if fragment and resolved.endswith(".md") and os.path.isfile(resolved):
                if fragment not in anchors(resolved):
                    problems.append(f"{rel}:{number}: {target}: no heading or anchor "
                                    f"#{fragment} in {os.path.relpath(resolved, ROOT)}")
    return problems


def main(argv):
    if argv:
        files = [os.path.abspath(a) for a in argv]
    else:
        files = sorted({p for pattern in DEFAULT for p in glob.glob(os.path.join(ROOT, pattern))})
    problems = []
    for path in files:
        problems += check_file(path)
    for p in problems:
        print(p)
    print(f"links: {len(files)} files, {len(problems)} broken", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
