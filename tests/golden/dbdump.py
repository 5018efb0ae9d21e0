#!/usr/bin/env python3
# dbdump.py — prints every table of a kvtier results database as stable text for tests/golden/golden.sh.
"""Usage: dbdump.py DB [--max-rows N] [--renumber-runs] [--subst OLD=NEW]...

Prints PRAGMA user_version, the schema, and every table's rows ordered by the
table's primary key (else rowid). Columns that hold wall-clock figures are left
out (DROP below). Floats are printed with repr(), which round-trips exactly, so
a change in the last bit shows. Text values go through --subst (literal string
replacement, for scratch directories) and are printed JSON-quoted, one row a
line. BLOBs are printed as their length and SHA-256.

A table with more than --max-rows rows (default 400) is summarized instead:
its row count, the SHA-256 of all its rows, and per column the SHA-256 of the
column's values and, for numbers, their exact sum (math.fsum), then its first
3 rows. A change in any value still changes the output.

--renumber-runs gives runs new ids in the order (sweep, point) of sweep_points,
then by old id, so a sweep run with --jobs N (ids in completion order) prints
the same as one run serially.
"""
import hashlib
import math
import sqlite3
import sys

# Columns that depend on the wall clock (README "Results database"); nothing else is dropped.
DROP = {
    "runs": {"started_utc", "wall_s"},
    "plans": {"created_utc"},
    "sweeps": {"created_utc"},
}


def fmt(v, subst):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bytes):
        return "blob(%d,%s)" % (len(v), hashlib.sha256(v).hexdigest()[:32])
    s = str(v)
    for old, new in subst:
        s = s.replace(old, new)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def main(argv):
    db = None
    max_rows = 400
    renumber = False
    subst = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--max-rows":
            max_rows = int(argv[i + 1]); i += 2; continue
        if a == "--renumber-runs":
            renumber = True; i += 1; continue
        if a == "--subst":
            old, _, new = argv[i + 1].partition("="); subst.append((old, new)); i += 2; continue
        if db is None and not a.startswith("--"):
            db = a; i += 1; continue
        sys.stderr.write("usage: dbdump.py DB [--max-rows N] [--renumber-runs] [--subst OLD=NEW]...\n")
        return 2
    if db is None:
        sys.stderr.write("dbdump.py: no database given\n")
        return 2
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    out = sys.stdout
    out.write("# database %s\n" % fmt(db, subst))
    out.write("user_version %d\n" % con.execute("PRAGMA user_version").fetchone()[0])
    for typ, name, sql in con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "ORDER BY type, name"):
        out.write("schema %s %s: %s\n" % (typ, name, " ".join(sql.split())))

    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]

    runmap = None
    if renumber and "runs" in tables:
        ids = [r[0] for r in con.execute("SELECT id FROM runs")]
        pos = {}
        if "sweep_points" in tables:
            for sid, point, rid in con.execute("SELECT sweep_id, point, run_id FROM sweep_points"):
                pos[rid] = (0, sid, point)
        order = sorted(ids, key=lambda r: pos.get(r, (1, r, 0)))
        runmap = {old: new for new, old in enumerate(order, 1)}

    for t in tables:
        info = con.execute('PRAGMA table_info("%s")' % t.replace('"', '""')).fetchall()
        cols = [c[1] for c in info]
        pk = [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5] > 0]
        keep = [c for c in cols if c not in DROP.get(t, ())]
        dropped = [c for c in cols if c in DROP.get(t, ())]
        q = ", ".join('"%s"' % c.replace('"', '""') for c in keep)
        base = 'SELECT %s FROM "%s"' % (q, t.replace('"', '""'))
        try:
            rows = [list(r) for r in con.execute(base + " ORDER BY rowid")]
        except sqlite3.OperationalError:  # a WITHOUT ROWID table: its primary key orders it below
            rows = [list(r) for r in con.execute(base)]
        if runmap is not None:
            for ci, c in enumerate(keep):
                if c == "run_id" or (t == "runs" and c == "id"):
                    for r in rows:
                        if r[ci] in runmap:
                            r[ci] = runmap[r[ci]]
        keyidx = [keep.index(c) for c in pk if c in keep]
        if keyidx:
            rows.sort(key=lambda r: tuple((r[k] is not None, r[k]) for k in keyidx))
        out.write("\n## table %s: %d rows; columns %s%s\n" % (
            t, len(rows), ",".join(keep), ("; dropped " + ",".join(dropped)) if dropped else ""))
        lines = ["|".join(fmt(v, subst) for v in r) for r in rows]
        if len(rows) <= max_rows:
            for line in lines:
                out.write(line + "\n")
            continue
        whole = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        out.write("summarized (more than %d rows): sha256 of all rows %s\n" % (max_rows, whole))
        for ci, c in enumerate(keep):
            vals = [r[ci] for r in rows]
            h = hashlib.sha256("\n".join(fmt(v, subst) for v in vals).encode()).hexdigest()[:32]
            nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
            extra = ""
            if nums and len(nums) == len([v for v in vals if v is not None]):
                if all(isinstance(v, int) for v in nums):
                    extra = " sum %d" % sum(nums)
                else:
                    extra = " sum %r" % math.fsum(nums)
                nulls = len(vals) - len(nums)
                if nulls:
                    extra += " nulls %d" % nulls
            out.write("  column %s sha256 %s%s\n" % (c, h, extra))
        out.write("  first rows:\n")
        for line in lines[:3]:
            out.write("  " + line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
