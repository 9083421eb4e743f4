#!/usr/bin/env python3
"""Compares every record of STDF files as decoded by pystdf with our decoder.

Usage: pystdf_compare.py [--perturb] STDF2PARQUET_BINARY FILE.stdf [FILE.stdf ...]

--perturb changes the RESULT of our first PTR by one R4 ulp before comparing,
to show that the comparison notices a one-bit difference (it must then fail).

Our side is `stdf2parquet FILE --dump-jsonl -` (one JSON object per record).
pystdf is an independent implementation installed from PyPI. For each file the
two record streams must agree record by record: same type, same value for every
field (floats bit-exact). Per-type counts
are printed from the comparison. Exit status 0 only when nothing differs.
"""
import json
import math
import struct
import subprocess
import sys
from collections import Counter

from pystdf.IO import Parser
import pystdf.V4 as V4


class Collect:
    def __init__(self):
        self.records = []

    def after_send(self, source, data):
        rec_type, fields = data
        self.records.append((type(rec_type).__name__.upper(), list(fields)))


def pystdf_records(path):
    with open(path, "rb") as f:
        p = Parser(inp=f)
        sink = Collect()
        p.addSink(sink)
        p.parse()
    return sink.records


def ours(binary, path):
    out = subprocess.run([binary, path, "--dump-jsonl", "-"], check=True, capture_output=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def pack_nibbles(vals):
    out = []
    for i in range(0, len(vals), 2):
        lo = vals[i] & 0xF
        hi = (vals[i + 1] & 0xF) if i + 1 < len(vals) else 0
        out.append(lo | (hi << 4))
    return out


def float_equal(a, b, stdf_type):
    if isinstance(b, str):  # our encoding of non-finite values
        b = {"NaN": math.nan, "inf": math.inf, "-inf": -math.inf}[b]
    if math.isnan(a) and math.isnan(b):
        return True
    # Both sides hold the same IEEE value widened to a Python float: demand
    # bit equality (sign of zero included), stricter than "within R4 precision".
    return struct.pack("<d", a) == struct.pack("<d", b)


def value_equal(theirs, mine, stdf_type):
    if theirs is None or mine is None:
        # pystdf reports an absent array as None; we report an empty one as [].
        return theirs == mine or (theirs in (None, []) and mine in (None, []))
    if stdf_type in ("R4", "R8"):
        return float_equal(theirs, mine, stdf_type)
    if stdf_type == "Dn":
        return theirs == mine["bytes"]
    if stdf_type.startswith("k") and stdf_type.endswith("N1"):
        return theirs == pack_nibbles(mine)
    if stdf_type.startswith("k") and stdf_type.endswith("R4"):
        return len(theirs) == len(mine) and all(float_equal(a, b, "R4") for a, b in zip(theirs, mine))
    return theirs == mine


def gdr_equal(theirs, mine_fields):
    gen = mine_fields[1][1] or []
    values = [g["value"] for g in gen if g["type"] != "B0"]
    t = theirs[0] or []
    if len(t) != len(values):
        return False
    for a, g in zip(t, [g for g in gen if g["type"] != "B0"]):
        typ = g["type"]
        if not value_equal(a, g["value"], typ if typ in ("R4", "R8", "Dn") else "U1"):
            return False
    return True


def next_r4(v):
    bits = struct.unpack("<I", struct.pack("<f", v))[0]
    return struct.unpack("<f", struct.pack("<I", bits + 1))[0]


def compare(binary, path, perturb=False):
    known = {type(r).__name__.upper(): r for r in V4.records}
    theirs = pystdf_records(path)
    mine = [r for r in ours(binary, path) if r["rec"] in known]
    if perturb:
        first = next(r for r in mine if r["rec"] == "PTR")
        field = next(f for f in first["fields"] if f[0] == "RESULT")
        field[1] = next_r4(field[1])
    counts = Counter()
    mismatches = []
    if len(theirs) != len(mine):
        mismatches.append(f"record count differs: pystdf {len(theirs)}, ours {len(mine)}")
    for i, ((tname, tfields), m) in enumerate(zip(theirs, mine)):
        where = f"record #{i} at byte {m.get('offset')}"
        if tname != m["rec"]:
            mismatches.append(f"{where}: type pystdf {tname}, ours {m['rec']}")
            continue
        counts[tname] += 1
        rt = known[tname]
        if tname == "GDR":
            if not gdr_equal(tfields, m["fields"]):
                mismatches.append(f"{where}: GDR GEN_DATA pystdf {tfields[0]!r} ours {m['fields'][1][1]!r}")
            continue
        names = list(rt.columnNames)
        mfields = m["fields"]
        if [n for n, _ in mfields] != names:
            mismatches.append(f"{where}: {tname} field names differ: {names} vs {[n for n, _ in mfields]}")
            continue
        for name, stdf_type, tv, (_, mv) in zip(names, rt.fieldStdfTypes, tfields, mfields):
            if not value_equal(tv, mv, stdf_type):
                mismatches.append(f"{where}: {tname}.{name} ({stdf_type}) pystdf {tv!r} ours {mv!r}")
    return counts, mismatches, len(theirs)


def main():
    args = sys.argv[1:]
    perturb = "--perturb" in args
    args = [a for a in args if a != "--perturb"]
    binary, files = args[0], args[1:]
    failed = 0
    for path in files:
        counts, mismatches, total = compare(binary, path, perturb)
        print(f"{path}: {total} records compared, {len(mismatches)} mismatches")
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        for m in mismatches[:20]:
            print("  MISMATCH " + m)
        if mismatches or total == 0:
            failed += 1
        print(json.dumps({"file": path, "records": total, "counts": dict(counts), "mismatches": len(mismatches)}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
