#!/usr/bin/env python3
"""Where a store's bytes go: per LMDB sub-database, its entries, the bytes of
their keys and values, the pages holding them and how full those pages are;
the free pages; and the live data of a compacting copy (mdb_copy -c). Uses
lmdb-utils (mdb_stat, mdb_copy) and a walk of data.mdb only, on a STOPPED node's store.

  bench/tools/store_bytes.py DIR/store [--signed-bytes N] [--json]

Page fill = (key + value + 8-byte node header + 2-byte slot) of every entry
/ (leaf pages x page size): LMDB's B+tree splits a page in two, so keys
written out of order leave pages about half full. Overflow pages (values too
large for a page) count whole.

The pages, entries and bytes come from walking data.mdb's trees (mdb_stat
does not count the pages of an MDB_DUPSORT database's sub-trees, where the
query indexes keep their record keys since schema 3). In such a database
an entry is one item (a record key), the keys are the terms as stored (once
per term), and the fill counts an inline sub-page's unused room as unused.
"""
import argparse
import json
import os
import mmap
import re
import struct
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


P_BRANCH, P_LEAF, P_OVERFLOW, P_LEAF2 = 0x01, 0x02, 0x04, 0x20
F_BIGDATA, F_SUBDATA, F_DUPDATA = 0x01, 0x02, 0x04
DB = struct.Struct("<IHHQQQQQ")  # MDB_db: pad flags depth branch leaf overflow entries root


class Tally:
    def __init__(self):
        self.branch = self.leaf = self.overflow = 0
        self.entries = self.key_bytes = self.value_bytes = 0
        self.leaf_used = 0  # node bytes and slots in leaf pages


def walk(m, psize, root, t):
    """Adds the pages and entries of the tree under `root` to `t` (LMDB 0.9,
    64-bit page numbers)."""
    stack = [root]
    while stack:
        pg = stack.pop()
        base = pg * psize
        flags, lower, upper = struct.unpack_from("<HHH", m, base + 10)
        n = (lower - 16) // 2
        if flags & P_LEAF2:
            t.leaf += 1
            ksize = (psize - upper) // n + 2 if n else 0
            t.entries += n
            t.value_bytes += n * ksize
            t.leaf_used += n * ksize
            continue
        ptrs = struct.unpack_from(f"<{n}H", m, base + 16)
        if flags & P_BRANCH:
            t.branch += 1
            for off in ptrs:
                lo, hi, fl = struct.unpack_from("<HHH", m, base + off)
                stack.append(lo | hi << 16 | fl << 32)
            continue
        t.leaf += 1
        t.leaf_used += (lower - 16) + (psize - upper)
        for off in ptrs:
            lo, hi, fl, ks = struct.unpack_from("<HHHH", m, base + off)
            dsize = lo | hi << 16
            data = base + off + 8 + ks
            t.key_bytes += ks
            if fl & F_SUBDATA and fl & F_DUPDATA:  # a term's items in a tree of their own
                sub = DB.unpack_from(m, data)
                walk(m, psize, sub[7], t)
            elif fl & F_DUPDATA:  # items in a sub-page inside this node
                _, sflags, slower, supper = struct.unpack_from("<HHHH", m, data + 8)
                sn = (slower - 16) // 2
                t.leaf_used -= supper - slower  # the sub-page's room for more items
                t.entries += sn
                if sflags & P_LEAF2:  # slots grow by 2 and the room shrinks by size - 2 per item
                    t.value_bytes += (dsize - supper) + (slower - 16)
                else:
                    t.value_bytes += dsize - supper - 8 * sn
            elif fl & F_BIGDATA:
                t.entries += 1
                t.value_bytes += dsize
                opg = struct.unpack_from("<Q", m, data)[0]
                t.overflow += struct.unpack_from("<I", m, opg * psize + 12)[0]
            else:
                t.entries += 1
                t.value_bytes += dsize


def trees(path):
    """Per named sub-database: a Tally of its pages (sub-trees included)."""
    with open(os.path.join(path, "data.mdb"), "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        metas = []
        for pg in (0, 1):
            # The page size is not known yet: meta pages are the first two
            # of any size; read page 0's claim of it first.
            psize = struct.unpack_from("<I", m, 16 + 24)[0] if pg else 0
            base = pg * psize
            free_db = DB.unpack_from(m, base + 16 + 24)
            main_db = DB.unpack_from(m, base + 16 + 24 + DB.size)
            txnid = struct.unpack_from("<Q", m, base + 16 + 24 + 2 * DB.size + 8)[0]
            metas.append((txnid, free_db[0], main_db))
        _, psize, main_db = max(metas)
        out = {}
        # The main tree's leaves name the sub-databases.
        stack = [main_db[7]] if main_db[7] != 2**64 - 1 else []
        while stack:
            pg = stack.pop()
            base = pg * psize
            flags, lower, upper = struct.unpack_from("<HHH", m, base + 10)
            n = (lower - 16) // 2
            ptrs = struct.unpack_from(f"<{n}H", m, base + 16)
            for off in ptrs:
                lo, hi, fl, ks = struct.unpack_from("<HHHH", m, base + off)
                if flags & P_BRANCH:
                    stack.append(lo | hi << 16 | fl << 32)
                    continue
                name = bytes(m[base + off + 8:base + off + 8 + ks]).decode()
                db = DB.unpack_from(m, base + off + 8 + ks)
                t = Tally()
                if db[7] != 2**64 - 1:  # P_INVALID: empty
                    walk(m, psize, db[7], t)
                out[name] = t
        return out, psize


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
    tallies, _ = trees(args.store)
    for name, t in tallies.items():
        pages = t.branch + t.leaf + t.overflow
        leaf_bytes = t.leaf * psize
        fill = t.leaf_used / leaf_bytes if leaf_bytes and not t.overflow else None
        rows.append({"db": name, "entries": t.entries, "key_bytes": t.key_bytes, "value_bytes": t.value_bytes,
                     "pages": pages, "bytes": pages * psize, "leaf_fill": fill, "overflow_pages": t.overflow})
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
