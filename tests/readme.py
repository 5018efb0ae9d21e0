#!/usr/bin/env python3
# readme.py — runs every command shown in README.md and docs/*.md and checks that it prints what the page shows.
#
# usage: tests/readme.py SRCDIR KVTIER [FILE.md...]
#
# The convention (README "Tests"): a fenced block whose info string is `console` holds commands
# on lines starting with `$ ` and, after each, the output it shows (stdout and stderr together).
# Output is compared whole line by whole line, after trailing blanks are dropped, with two
# explicit elisions:
#   `…` alone on a line      any number of lines (none included)
#   a line ending in `…`     one line that starts with the text before the `…`
# A block opened as ```console not-run: REASON is shown, never run (the reason says why: it
# takes minutes, it needs MPI). An indented (4-space) line starting with `$ ` fails the check,
# so that no example escapes it. The commands of one page run in order in one fresh temporary
# directory holding links to the source tree's data folders, `sim/kvtier` and `kvtier` on PATH:
# a page's later commands see the databases its earlier ones wrote, and nothing else.
import os
import re
import shutil
import subprocess
import sys
import tempfile

ELLIPSIS = "\u2026"
DATA_DIRS = ("scenarios", "models", "hwprofiles", "engines", "sweeps", "data", "tests", "validation", "docs")
TIMEOUT_S = 120


def blocks(path):
    """Yields (line number, info string, lines) per fenced block; fails on indented prompts."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(.*)$", lines[i])
        if m:
            start, info, body = i + 1, m.group(1).strip(), []
            i += 1
            while i < len(lines) and lines[i] != "```":
                body.append(lines[i])
                i += 1
            yield start, info, body
        elif lines[i].startswith("    $ "):
            yield i + 1, "indented", [lines[i]]
        i += 1


def examples(body, first_line):
    """Splits a console block into (line number, command, expected output lines)."""
    out = []
    for k, line in enumerate(body):
        if line.startswith("$ "):
            out.append((first_line + k + 1, line[2:], []))
        elif out:
            out[-1][2].append(line)
    return out


def line_matches(want, got):
    if want.endswith(ELLIPSIS):
        return got.startswith(want[:-1])
    return want == got


def agrees(want, got):
    """Whether got fits want, `…` lines matching any run of lines (backtracking)."""
    if not want:
        return not got
    if want[0] == ELLIPSIS:
        return any(agrees(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and line_matches(want[0], got[0]) and agrees(want[1:], got[1:])


def sandbox(src, kvtier):
    d = tempfile.mkdtemp(prefix="kvtier-readme.")
    for name in DATA_DIRS:
        os.symlink(os.path.join(src, name), os.path.join(d, name))
    os.makedirs(os.path.join(d, "sim"))
    os.makedirs(os.path.join(d, ".bin"))
    os.symlink(kvtier, os.path.join(d, "sim", "kvtier"))
    os.symlink(kvtier, os.path.join(d, ".bin", "kvtier"))
    return d


def check_page(src, kvtier, page):
    """Runs one page's examples; returns (checked, failures)."""
    rel = os.path.relpath(page, src)
    checked, failures = 0, []
    work = sandbox(src, kvtier)
    env = dict(os.environ, PATH=os.path.join(work, ".bin") + os.pathsep + os.environ["PATH"],
               LC_ALL="C", TZ="UTC", COLUMNS="80")
    env.pop("KVTIER_DATA", None)
    try:
        for start, info, body in blocks(page):
            if info == "indented":
                failures.append(f"{rel}:{start}: a `$ ` example outside a ```console block is never checked")
                continue
            if not info.startswith("console"):
                continue
            if re.match(r"^console\s+not-run:\s*\S", info):
                continue
            if info != "console":
                failures.append(f"{rel}:{start}: unknown block kind '{info}' (console, or console not-run: REASON)")
                continue
            for line, cmd, want in examples(body, start):
                while want and want[-1] == "":
                    want.pop()
                try:
                    p = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    failures.append(f"{rel}:{line}: `{cmd}` ran past {TIMEOUT_S} s")
                    continue
                got = [l.rstrip() for l in p.stdout.decode("utf-8", "replace").split("\n")]
                while got and got[-1] == "":
                    got.pop()
                want = [l.rstrip() for l in want]
                checked += 1
                if not want and p.returncode != 0:
                    failures.append(f"{rel}:{line}: `{cmd}` shows no output but exited {p.returncode}:\n"
                                    + "\n".join("    " + l for l in got[:10]))
                elif not agrees(want, got):
                    failures.append(f"{rel}:{line}: `{cmd}` printed something else\n  shown:\n"
                                    + "\n".join("    " + l for l in want)
                                    + "\n  printed:\n" + "\n".join("    " + l for l in got))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return checked, failures


def main(argv):
    if len(argv) < 3:
        print("usage: readme.py SRCDIR KVTIER [FILE.md...]", file=sys.stderr)
        return 2
    src, kvtier = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    pages = argv[3:] or [os.path.join(src, "README.md")] + sorted(
        os.path.join(src, "docs", f) for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md"))
    total, bad = 0, []
    for page in pages:
        n, failures = check_page(src, kvtier, os.path.abspath(page))
        print(f"{os.path.relpath(page, src)}: {n} examples run, {len(failures)} failing")
        total += n
        bad += failures
    for f in bad:
        print("FAIL " + f)
    print(f"readme: {total} examples run, {len(bad)} failing")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
