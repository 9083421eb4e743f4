#!/usr/bin/env python3
"""Reads one STDF file with a peer parser, for whole-process timing.

Usage: bench_peer.py pystdf|stdf-convert|stdfast FILE
Prints the number of records (or rows) the parser produced.
"""
import sys


def run_pystdf(path):
    from pystdf.IO import Parser

    class Count:
        n = 0

        def after_send(self, source, data):
            self.n += 1

    with open(path, "rb") as f:
        p = Parser(inp=f)
        c = Count()
        p.addSink(c)
        p.parse()
    return c.n


def run_stdf_convert(path):
    import stdf_convert

    # Streaming Arrow batches, one table per record type (like our records layout).
    return sum(batch.num_rows for _, batch in stdf_convert.batches(path))


def run_stdfast(path):
    import stdfast

    return sum(1 for _ in stdfast.iter_raw_records(path))


def main():
    tool, path = sys.argv[1], sys.argv[2]
    fn = {"pystdf": run_pystdf, "stdf-convert": run_stdf_convert, "stdfast": run_stdfast}[tool]
    print(f"{tool}: {fn(path)} records")


if __name__ == "__main__":
    main()
