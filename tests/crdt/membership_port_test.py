#!/usr/bin/python3
"""The Python verifier's port of the replicated roster (scripts/audit_verify.py,
derive_keys) derives what crdt/membership.cc does, on 200 random membership
histories (concurrent admissions, removals, mutual removals, leaves, rotations,
rekeys) that conect_crdt_tests writes with their C++ rosters.
    membership_port_test.py CONECT_CRDT_TESTS SOURCE_DIR"""
import importlib.util
import os
import subprocess
import sys
import tempfile


def main():
    tests, root = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("audit_verify", os.path.join(root, "scripts", "audit_verify.py"))
    av = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(av)
    _, pb = av.load_messages(os.path.join(root, "proto"))
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "histories.txt")
        subprocess.run([tests, "--gtest_filter=MembershipPort.*"], check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, CONECT_DUMP_MEMBERSHIP=dump))
        histories = []
        for line in open(dump):
            p = line.split()
            if p[0] == "H":
                histories.append(([], {}))
            elif p[0] == "D":
                histories[-1][0].append((bytes.fromhex(p[1]), bytes.fromhex(p[2])))
            else:
                keys = {int(x.split(":")[0]): x.split(":")[1] for x in p[4:]}
                histories[-1][1][p[1]] = (p[2] == "1", None if p[3] == "-" else int(p[3]), keys)
    differ = 0
    for n, (signed, expected) in enumerate(histories):
        deltas = []
        for body_bytes, signature in signed:
            body = pb.DeltaBody.FromString(body_bytes)
            if av.membership_ops(body):
                deltas.append((body.origin, body.seq, av.delta_id(body_bytes, signature), body))
        federation = pb.DeltaBody.FromString(signed[0][0]).federation
        r = av.derive_keys(pb, federation, deltas)
        got = {mid.hex(): (m["admitted"], m["cut"], {k: v.hex() for k, v in m["keys"].items()})
               for mid, m in r.members.items()}
        if got != expected:
            differ += 1
            for k in sorted(set(got) | set(expected)):
                if got.get(k) != expected.get(k) and differ <= 3:
                    print(f"history {n + 1}: member {k[:16]}: Python {got.get(k)}, C++ {expected.get(k)}")
    print(f"{len(histories)} histories, {differ} derived differently by the Python port")
    return 1 if differ or len(histories) < 200 else 0


if __name__ == "__main__":
    sys.exit(main())
