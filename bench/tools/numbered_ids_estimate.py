#!/usr/bin/env python3
"""What numbered node ids would save on disk, measured on a real store
(docs/performance.md "Where the disk goes": the design change that would
bring the store to 2x the signed deltas).

Every key of the record-keyed databases repeats 32-byte node ids: the owner
in each record key (records_*, ops_*, the indexes' items and record-keyed
terms, availability), the origin in log and ops_* keys. This tool rewrites
a STOPPED node's store with each of those ids replaced by a 4-byte number
(ids numbered in sorted order, so every tree keeps its key order), and
optionally in the record states too (--states, a raw substitution: the
sizes are right, the states no longer parse), then compacts each variant
in key order with conect_bench_storage --compact-store (what backup and the
node's compactor write) and prints the sizes beside the unchanged store's.

--trim-log adds a row: the keys numbered, and each `log` value without the
first three fields of its DeltaBody (federation, origin, seq), which the
store's meta and the entry's key already say; the signed bytes come back
exactly by writing them in front again (a body that does not start with
them, in that order and encoding, would be kept whole).

  bench/tools/numbered_ids_estimate.py DIR/store --signed-bytes N
      [--width W] [--prefix] [--trim-log]
      [--bench-storage build/release/bench/storage/conect_bench_storage]

Reads stores of schema 5 (whole ids in keys), as written before schema 6
made the prefixes and the trimmed log real (docs/storage.md); kept to
repeat the estimates of docs/performance.md on such a store.
Needs lmdb-utils (mdb_dump, mdb_load). Node ids are the keys of `heads`
(every origin whose log the store holds) and the owners of record keys.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ID = 32


def lines(dump):
    """Each line of an `mdb_dump -a` text with its database, whether that
    database is dupsort, and for a data line "key" or "value" (else None)."""
    db, dupsort, in_data, is_key = None, False, False, True
    for ln in dump:
        role = None
        if ln.startswith("database="):
            db, dupsort = ln.split("=", 1)[1], False
        elif ln == "dupsort=1":
            dupsort = True
        elif ln == "HEADER=END":
            in_data, is_key = True, True
        elif ln == "DATA=END":
            in_data = False
        elif in_data and ln.startswith(" "):
            role = "key" if is_key else "value"
            is_key = not is_key
        yield ln, db, dupsort, role


def node_ids(dump, width=4, prefix=False):
    """Each node id's number: its rank in sorted order, or (prefix) its own
    first `width` bytes, which keep the order and are the same on every
    node without a table to agree on."""
    ids = set()
    for ln, db, _, role in lines(dump):
        if role == "key" and db == "heads":
            ids.add(bytes.fromhex(ln[1:])[:ID])
        if role == "key" and db.startswith("records_"):
            ids.add(bytes.fromhex(ln[1:])[1:1 + ID])
    if prefix:
        num = {i: i[:width] for i in ids}
        assert len(set(num.values())) == len(num), f"two node ids share their first {width} bytes"
        return num
    return {i: (n + 1).to_bytes(width, "big") for n, i in enumerate(sorted(ids))}


def varint(b, at):
    v, shift = 0, 0
    while True:
        c = b[at]
        v |= (c & 0x7F) << shift
        at += 1
        if not c & 0x80:
            return v, at
        shift += 7


def put_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def trimmed_log_value(b):
    """A SignedDelta (body = 1, signature = 2) with its body's fields 1-3
    (federation 16 bytes, origin 32 bytes, seq varint) left out."""
    assert b[0] == 0x0A, "a log value is a SignedDelta whose body comes first"
    length, at = varint(b, 1)
    body, rest = b[at:at + length], b[at + length:]
    if body[:2] != b"\x0a\x10" or body[18:20] != b"\x12\x20" or body[52] != 0x18:
        return b  # not in the canonical form: kept whole
    _, after_seq = varint(body, 53)
    body = body[after_seq:]
    return b"\x0a" + put_varint(len(body)) + body + rest


def numbered(dump, num, states, trim_log=False):
    def at(b, offsets):
        out, last = bytearray(), 0
        for o in offsets:
            if bytes(b[o:o + ID]) in num:
                out += b[last:o] + num[bytes(b[o:o + ID])]
                last = o + ID
        return bytes(out + b[last:])

    def key(db, b):
        if db == "log":  # origin || seq
            return at(b, [0])
        if db.startswith("ops_"):  # record key (type, owner, serial) || origin || seq || op
            return at(b, [1, 41])
        if db.startswith("records_") or db in ("availability", "idx_mobility_org", "idx_placement_host",
                                                "idx_reservation_placement", "idx_placement_available"):
            return at(b, [1])
        return b

    def value(db, b, dupsort):
        if trim_log and db == "log":
            return trimmed_log_value(b)
        if dupsort and db.startswith("idx_"):  # items: record keys
            return at(b, [1])
        if states and db.startswith("records_"):
            for i, n in num.items():
                b = b.replace(i, n)
        return b

    out = []
    for ln, db, dupsort, role in lines(dump):
        if role:
            b = bytes.fromhex(ln[1:])
            ln = " " + (key(db, b) if role == "key" else value(db, b, dupsort)).hex()
        out.append(ln)
    return out


def compacted_mib(bench_storage, dump, work, name):
    env = os.path.join(work, name)
    os.makedirs(env)
    path = os.path.join(work, name + ".dump")
    with open(path, "w") as f:
        f.write("\n".join(dump) + "\n")
    subprocess.run(["mdb_load", "-f", path, env], check=True, stderr=subprocess.DEVNULL)
    os.remove(path)
    out = subprocess.run([bench_storage, "--compact-store", env], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"backup in key order.*\n\s+its data\.mdb\s+([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--signed-bytes", type=int, required=True)
    ap.add_argument("--bench-storage", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "release",
                                                            "bench", "storage", "conect_bench_storage"))
    ap.add_argument("--width", type=int, default=4, help="bytes per node number (default 4)")
    ap.add_argument("--prefix", action="store_true",
                    help="number each id by its own first WIDTH bytes rather than its rank")
    ap.add_argument("--trim-log", action="store_true",
                    help="also measure log values without their body's federation, origin and seq")
    args = ap.parse_args()
    dump = subprocess.run(["mdb_dump", "-a", args.store], capture_output=True, text=True, check=True).stdout
    dump = dump.split("\n")
    num = node_ids(dump, args.width, args.prefix)
    signed = args.signed_bytes / 2**20
    how = f"their first {args.width} bytes" if args.prefix else f"{args.width}-byte ranks"
    print(f"{len(num)} node ids, numbered by {how}; signed deltas {signed:.1f} MiB")
    with tempfile.TemporaryDirectory(prefix="conect-numbered-") as work:
        rows = [("as it is", dump), ("node ids numbered in keys and index items", numbered(dump, num, False)),
                ("... and in the record states", numbered(dump, num, True))]
        if args.trim_log:
            rows.append(("keys numbered, log values trimmed", numbered(dump, num, False, True)))
            rows.append(("... and in the record states", numbered(dump, num, True, True)))
        for name, variant in rows:
            mib = compacted_mib(args.bench_storage, variant, work, str(len(os.listdir(work))))
            print(f"{name:44s} {mib:8.1f} MiB  {mib / signed:5.2f}x the signed deltas (compacted in key order)")


if __name__ == "__main__":
    sys.exit(main())
