#!/usr/bin/env python3
"""Where a store's bytes go: per LMDB sub-database, its entries, the bytes of
their keys and values, the pages holding them and how full those pages are;
the free pages; and the live data of a compacting copy (mdb_copy -c). Uses
lmdb-utils (mdb_stat, mdb_dump, mdb_copy) only, on a STOPPED node's store.

  bench/tools/store_bytes.py DIR/store [--signed-bytes N] [--json]

Page fill = (key + value + 8-byte node header + 2-byte slot) of every entry
/ (leaf pages x page size): LMDB's B+tree splits a page in two, so keys
written out of order leave pages about half full. Overflow pages (values too
large for a page) count whole.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def stat(path):
    out = subprocess.run(["mdb_stat", "-a", "-e", "-f", path], capture_output=True, text=True, check=True).stdout
    envinfo, dbs, cur = {}, {}, None
    free_pages = 0
    for line in out.splitlines():
        line = line.strip()
        if m := re.match(r"Status of (.+)", line):
            cur = m.group(1)
            dbs[cur] = {}
            continue
        if m := re.match(r"Free pages: (\d+)", line):
            free_pages = int(m.group(1))
            continue
        if m := re.match(r"([A-Za-z ]+): (\d+)$", line):
            (dbs[cur] if cur else envinfo)[m.group(1).strip()] = int(m.group(2))
    return envinfo, dbs, free_pages


def payload(path, name):
    """Entries, key bytes and value bytes of one sub-database (mdb_dump's hex)."""
    p = subprocess.Popen(["mdb_dump", "-s", name, path], stdout=subprocess.PIPE, text=True)
    entries = kb = vb = 0
    in_data, is_key = False, True
    for line in p.stdout:
        if line.startswith("HEADER=END"):
            in_data = True
            continue
        if not in_data or line.startswith("DATA=END"):
            continue
        n = (len(line) - 2) // 2  # " " + hex + "\n"
        if is_key:
            kb += n
            entries += 1
        else:
            vb += n
        is_key = not is_key
    p.wait()
    return entries, kb, vb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--signed-bytes", type=int, default=0, help="the signed deltas' own bytes, for the ratio")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    envinfo, dbs, free_pages = stat(args.store)
    psize = envinfo.get("Page size", 4096)
    file_bytes = os.path.getsize(os.path.join(args.store, "data.mdb"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["mdb_copy", "-c", args.store, tmp], check=True)
        compact_bytes = os.path.getsize(os.path.join(tmp, "data.mdb"))
    rows = []
    for name, s in dbs.items():
        if name == "main DB" or name.startswith("Main") or name == "Freelist":
            continue
        pages = s.get("Branch pages", 0) + s.get("Leaf pages", 0) + s.get("Overflow pages", 0)
        entries, kb, vb = payload(args.store, name)
        leaf_bytes = s.get("Leaf pages", 0) * psize
        fill = (kb + vb + 10 * entries) / leaf_bytes if leaf_bytes and not s.get("Overflow pages") else None
        rows.append({"db": name, "entries": entries, "key_bytes": kb, "value_bytes": vb, "pages": pages,
                     "bytes": pages * psize, "leaf_fill": fill, "overflow_pages": s.get("Overflow pages", 0)})
    rows.sort(key=lambda r: -r["bytes"])
    out = {"file_bytes": file_bytes, "compact_bytes": compact_bytes, "page_size": psize,
           "free_pages": free_pages, "free_bytes": free_pages * psize, "dbs": rows,
           "signed_bytes": args.signed_bytes}
    if args.json:
        print(json.dumps(out))
        return
    sb = args.signed_bytes
    print(f"data.mdb {file_bytes / 2**20:.1f} MiB; compacting copy {compact_bytes / 2**20:.1f} MiB; "
          f"free pages {free_pages} ({free_pages * psize / 2**20:.1f} MiB)"
          + (f"; signed deltas {sb / 2**20:.1f} MiB -> {file_bytes / sb:.2f}x, compact {compact_bytes / sb:.2f}x"
             if sb else ""))
    print(f"{'sub-database':24} {'entries':>9} {'keys MiB':>9} {'values MiB':>10} {'pages MiB':>10} {'fill':>6}")
    for r in rows:
        fill = (f"{r['leaf_fill'] * 100:.0f}%" if r["leaf_fill"] is not None
                else "ovfl" if r["overflow_pages"] else "-")
        print(f"{r['db']:24} {r['entries']:>9} {r['key_bytes'] / 2**20:>9.1f} {r['value_bytes'] / 2**20:>10.1f} "
              f"{r['bytes'] / 2**20:>10.1f} {fill:>6}")


if __name__ == "__main__":
    sys.exit(main())
