"""Delivery latency of personal data between real processes (docs/privacy.md
"Delivery", "Carry"): four conect-node processes on loopback, A - B linked
directly and A - C - D in a line (D has no link to A). A mobility from A to
B's organisation goes one hop; one from A to D's organisation is carried
through C. Each sample is the time from A's acknowledged write (HTTP 201)
to the host's API showing the data ("held"), polled every 5 ms; printed
beside one crypto_box_seal_open measured in this run (PyNaCl), the primitive
the host must run, so the figure shows how much of it is the primitive.

  python3 bench/privacy_latency.py [--samples N]
  (CONECT_NODE, CONECT_SEED as for tests/e2e)
Prints a table, then one JSON line {"bench":"privacy_latency","figures":[...]}.
"""
import argparse
import json
import os
import statistics
import sys
import time
import uuid

import nacl.bindings as sodium

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from harness import Federation, create_organisation, wait_until  # noqa: E402


def seal_open_us(rounds=2000):
    pk, sk = sodium.crypto_box_keypair()
    sealed = sodium.crypto_box_seal(os.urandom(32), pk)
    t0 = time.perf_counter()
    for _ in range(rounds):
        sodium.crypto_box_seal_open(sealed, pk, sk)
    return (time.perf_counter() - t0) / rounds * 1e6


def held(node, mid):
    status, body = node.api("GET", f"/api/v1/mobilities/{mid}")
    return status == 200 and body.get("personal_data_status") == "held"


def sample(a, host_node, school, host_org):
    tag = uuid.uuid4().hex[:10]
    t0 = time.perf_counter()
    _, m = a.api("POST", "/api/v1/mobilities", {
        "fixed": {"sending_organisation": school, "receiving_organisation": host_org,
                  "participant": {"pseudonym": f"BENCH-{tag}"}, "type": "learner_otj_company",
                  "category": "ivet_learner"},
        "personal_data": {"name": f"Bench Person {tag}", "birth_date": "2007-01-01"}}, expect=201)
    t1 = time.perf_counter()
    wait_until("held at the host", lambda: held(host_node, m["id"]), timeout=60, interval=0.005)
    return (time.perf_counter() - t1) * 1000, (t1 - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=30)
    args = ap.parse_args()
    fed = Federation()
    try:
        a = fed.add("Lapin ammattiopisto", "FI")
        b = fed.add("Luleå Yrkesgymnasium", "SE")
        c = fed.add("Nord-Troms vgs", "NO")
        d = fed.add("Petrozavodsk College", "RU")
        fed.trust_all()
        for n in fed.nodes:
            n.start()
        b.dial(a)
        c.dial(a)
        d.dial(c)
        wait_until("links", lambda: {b.node_id, c.node_id} <= a.connected_peers() and c.node_id in d.connected_peers())
        wait_until("seal keys everywhere", lambda: all(
            all(m["seal_key"] for m in n.api("GET", "/api/v1/members", expect=200)[1]["items"]) for n in fed.nodes),
            timeout=60)
        school = create_organisation(a, "Lapin ammattiopisto", "FI")["id"]
        org_b = create_organisation(b, "Luleå Bygg AB", "SE", org_type="sme")["id"]
        org_d = create_organisation(d, "Onego Works", "RU", org_type="sme")["id"]
        wait_until("host organisations at a", lambda: all(
            a.api("GET", f"/api/v1/organisations/{o}")[0] == 200 for o in (org_b, org_d)), timeout=60)
        hop, relay, write = [], [], []
        for _ in range(args.samples):
            ms, w = sample(a, b, school, org_b)
            hop.append(ms)
            write.append(w)
            ms, w = sample(a, d, school, org_d)
            relay.append(ms)
            write.append(w)
        open_us = seal_open_us()
    finally:
        fed.close()

    def p(v, q):
        v = sorted(v)
        return v[min(len(v) - 1, int(q * len(v)))]

    figures = [
        ("raw crypto_box_seal_open (PyNaCl)", open_us / 1000, "ms", "the primitive the host runs once per delivery"),
        ("write acknowledged at A (HTTP 201)", statistics.median(write), "ms", "median; durable commit included"),
        ("delivery one hop, p50", statistics.median(hop), "ms", "201 at A to 'held' in B's API"),
        ("delivery one hop, p90", p(hop, 0.9), "ms", ""),
        ("delivery through a relay, p50", statistics.median(relay), "ms", "201 at A to 'held' in D's API, via C"),
        ("delivery through a relay, p90", p(relay, 0.9), "ms", ""),
    ]
    print(f"{'figure':44s} {'value':>10s}  unit  note")
    for name, value, unit, note in figures:
        print(f"{name:44s} {value:10.2f}  {unit:4s}  {note}")
    print(json.dumps({"bench": "privacy_latency", "samples": args.samples, "figures": [
        {"name": n, "value": round(v, 3), "unit": u, "note": t} for n, v, u, t in figures]}))


if __name__ == "__main__":
    main()
