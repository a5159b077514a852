#!/usr/bin/python3
"""Independent verifier of conect audit bundles.

Written from docs/audit.md alone (not from the C++ sources), so that it checks
the documentation as much as the bundle: if the two verifiers disagree, one of
them or the page is wrong. Needs Debian's python3-nacl, python3-protobuf and
protobuf-compiler (scripts/setup installs them).

    scripts/audit_verify.py BUNDLE [--json] [--proto-dir DIR]

It reads format 1 and 2 bundles, computes the content digest and checks a
format 2 bundle's exporter-signed header (docs/audit.md, "The signed
header"); it checks steps 1-5 of docs/audit.md section 4 in full (roster
cards, chains, signatures with the authenticity rule, dependencies,
equivocation proofs) and the rules of step 6 that need no merged state
(operations whose named authority is not their origin, auditors' operations,
operations of a member after the replicated roster cut it off, references to
another member's organisations and contacts or to records never created). It does not run the full merge, so it does not compute records or
check step 7; its FAIL / not-FAIL verdict must agree with
`conect-node audit verify`.

Exit codes as `conect-node audit verify`: 0 PASS or PASS_WITH_WARNINGS, 1 FAIL,
2 unreadable file; and 3 when this verifier cannot run here (a library or
protoc missing), which says nothing about the bundle.
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings

MAGIC = b"conect-audit"
VERSIONS = (1, 2)
HEADER = 12 + 4 + 8
DIGEST_LABEL = b"conect/audit-content/v1"
MAX_DELTA = 262144


def blake(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def ed25519_ok(public_key, label, message, signature):
    """Signature over label || BLAKE2b-256(message) (docs/audit.md, Signatures)."""
    import nacl.exceptions
    import nacl.signing
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(label + blake(message), signature)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False


def delta_id(body, signature):
    return blake(struct.pack(">I", len(body)) + body + struct.pack(">I", len(signature)) + signature)


# ------------------------------------------------ keys per (origin, seq)
# A port of crdt/membership.h (docs/membership.md): the replicated roster of
# the bundle's membership operations with the same rules (each operation
# judged against its causal past and the global cuts, cuts settled one at a
# time), kept to what decides which key signed each delta: admissions, cuts,
# rotations and rekeys.
MEMBERSHIP_FIELDS = ("found", "admit", "remove", "leave", "rotate", "rekey", "card_update")


def membership_ops(body):
    return [(i, op) for i, op in enumerate(body.ops) if op.WhichOneof("op") in MEMBERSHIP_FIELDS]


class KeyRoster:
    """What decides which key signed each delta: members' admission, cuts and
    keys per seq (a port of ReplicatedRoster::derive, docs/membership.md)."""

    def __init__(self):
        self.quorum = 0
        self.members = {}  # id -> dict(admitted, cut, keys {from_seq: key})

    def key_at(self, origin, seq):
        m = self.members.get(origin)
        if not m or not m["keys"]:
            return origin
        best = origin
        for start in sorted(m["keys"]):
            if start <= seq:
                best = m["keys"][start]
        return best


def _card_ok(pb, card, federation, signer, member=None):
    body = pb.MemberCardBody()
    try:
        body.ParseFromString(card.body)
    except Exception:
        return None
    if len(body.node_id) != 32 or (member is not None and body.node_id != member):
        return None
    if body.federation != federation or body.role not in (1, 2, 3):
        return None
    if not ed25519_ok(signer if signer is not None else body.node_id, b"conect/card/v1", card.body, card.signature):
        return None
    return body


def _in_past(past, origin, seq):
    return origin in past and seq <= past[origin]


class _Evaluation:
    """Every operation judged against its causal past and the decided cuts
    (membership.cc, evaluate)."""

    def __init__(self):
        self.members = {}

    def rec(self, mid):
        return self.members.setdefault(mid, {"founds": [], "admissions": {}, "leave": None, "votes": [],
                                             "rotates": [], "rekeys": []})

    def quorum_in(self, past):
        q = 0
        for mid, m in self.members.items():
            for seq, quorum in m["founds"]:
                if _in_past(past, mid, seq):
                    q = quorum if q == 0 else min(q, quorum)
        return q

    def quorum(self):
        qs = [quorum for m in self.members.values() for _, quorum in m["founds"]]
        return min(qs) if qs else 0

    def admitted_in(self, mid, past):
        m = self.members.get(mid)
        if not m:
            return False
        if any(_in_past(past, mid, seq) for seq, _ in m["founds"]):
            return True
        q = self.quorum_in(past)
        seen = sum(1 for a, seq in m["admissions"].items() if _in_past(past, a, seq))
        return q > 0 and seen >= q

    def removed_in(self, mid, past):
        m = self.members.get(mid)
        if not m:
            return False
        if m["leave"] and _in_past(past, mid, m["leave"][0]):
            return True
        voters = {v[0] for v in m["votes"] if _in_past(past, v[0], v[1])}
        q = self.quorum_in(past)
        return q > 0 and len(voters) >= q


def _evaluate(pb, federation, order, pasts, facts, cuts):
    e = _Evaluation()

    def key_ok(member, raw, proof):
        if len(raw) != 32 or raw == bytes(32) or raw in facts[0] or len(facts[1].get(raw, ())) > 1:
            return False
        return ed25519_ok(raw, b"conect/rotate/v1", member + raw, proof)

    for d in order:
        origin, seq, did, body = d
        past = pasts[(origin, seq)]
        beyond = origin in cuts and seq > cuts[origin][0]
        for _, op in membership_ops(body):
            kind = op.WhichOneof("op")
            if kind == "found":
                if beyond or _card_ok(pb, op.found.card, federation, origin, origin) is None \
                        or op.found.admission_quorum < 1:
                    continue
                e.rec(origin)["founds"].append((seq, op.found.admission_quorum))
                continue
            if beyond or not e.admitted_in(origin, past):
                continue
            if kind == "admit":
                card = _card_ok(pb, op.admit.card, federation, None)
                if card is None:
                    continue
                m = e.rec(card.node_id)
                if e.removed_in(card.node_id, past):
                    continue
                m["admissions"].setdefault(origin, seq)
            elif kind == "remove":
                t = op.remove.member
                if len(t) != 32 or t == origin or not e.admitted_in(t, past):
                    continue
                # A decided cut is final: a voter's first vote counts, and a
                # vote with the removal or leave in its past does not.
                if any(v[0] == origin for v in e.rec(t)["votes"]) or e.removed_in(t, past):
                    continue
                e.rec(t)["votes"].append((origin, seq, op.remove.last_seq, did))
            elif kind == "leave":
                m = e.rec(origin)
                if m["leave"] is None:
                    m["leave"] = (seq, did)
            elif kind == "rotate":
                r = op.rotate
                if not key_ok(origin, r.new_identity_key, r.new_key_proof):
                    continue
                if (r.new_seal_key and len(r.new_seal_key) != 32) or \
                        (r.new_noise_static_key and len(r.new_noise_static_key) != 32):
                    continue
                m = e.rec(origin)
                if any(k == r.new_identity_key for _, k, _ in m["rotates"]):
                    continue
                m["rotates"].append((seq, r.new_identity_key, past))
            elif kind == "rekey":
                r = op.rekey
                t = r.member
                if len(t) != 32 or t == origin or not e.admitted_in(t, past):
                    continue
                if not key_ok(t, r.new_key, r.new_key_proof):
                    continue
                e.rec(t)["rekeys"].append((origin, seq, r.new_key, r.last_seq))
    return e


def _implied_cut(mid, m, quorum):
    out = None
    if m["leave"]:
        out = ((m["leave"][0], "left"), {mid}, m["leave"][1])
    votes = m["votes"]  # one per voter (_evaluate keeps a voter's first)
    if quorum == 0 or len(votes) < quorum:
        return out
    cut = sorted((v[2] for v in votes), reverse=True)[quorum - 1]
    removal = ((cut, "removed"), {v[0] for v in votes}, min(v[3] for v in votes))
    if out is None or cut < out[0][0]:
        out = removal
    return out


def derive_keys(pb, federation, deltas):
    """deltas: (origin, seq, id, body) of membership deltas; returns a KeyRoster."""
    at = {}
    for d in deltas:
        k = (d[0], d[1])
        if k not in at or d[2] < at[k][2]:
            at[k] = d
    chain = {}
    for (origin, seq) in sorted(at):
        chain.setdefault(origin, []).append(seq)

    def latest(origin, upto):
        best = None
        for s in chain.get(origin, []):
            if s <= upto:
                best = s
        return (origin, best) if best is not None else None

    waiting, successors, preds_of = {}, {}, {}
    for key, d in at.items():
        preds = set()
        if d[1] > 1:
            p = latest(d[0], d[1] - 1)
            if p:
                preds.add(p)
        for dep in d[3].deps:
            if len(dep.origin) != 32 or dep.origin == d[0]:
                continue
            p = latest(dep.origin, dep.seq)
            if p:
                preds.add(p)
        waiting[key] = len(preds)
        preds_of[key] = preds
        for p in preds:
            successors.setdefault(p, []).append(key)
    # A topological order (lowest id among ready) and each delta's causal past.
    order, pasts, done = [], {}, set()
    import heapq
    ready = [(at[k][2], k) for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    while len(done) < len(at):
        if not ready:
            k = min((at[k][2], k) for k, n in waiting.items() if k not in done)[1]
            heapq.heappush(ready, (at[k][2], k))
        _, k = heapq.heappop(ready)
        if k in done:
            continue
        done.add(k)
        order.append(at[k])
        past = {}
        for p in preds_of[k]:
            for o, s in pasts.get(p, {}).items():
                past[o] = max(past.get(o, 0), s)
        past[k[0]] = k[1]
        pasts[k] = past
        for s in successors.get(k, []):
            waiting[s] -= 1
            if waiting[s] == 0 and s not in done:
                heapq.heappush(ready, (at[s][2], s))
    # Keys no operation may take: member ids, and keys offered for two members.
    member_ids, offered = set(), {}
    for origin, seq, did, body in order:
        for _, op in membership_ops(body):
            kind = op.WhichOneof("op")
            if kind == "found":
                member_ids.add(origin)
            elif kind == "admit":
                card = pb.MemberCardBody()
                try:
                    card.ParseFromString(op.admit.card.body)
                    if len(card.node_id) == 32:
                        member_ids.add(card.node_id)
                except Exception:
                    pass
            elif kind == "rotate" and len(op.rotate.new_identity_key) == 32:
                offered.setdefault(op.rotate.new_identity_key, set()).add(origin)
            elif kind == "rekey" and len(op.rekey.new_key) == 32 and len(op.rekey.member) == 32:
                offered.setdefault(op.rekey.new_key, set()).add(op.rekey.member)
    facts = (member_ids, offered)
    # Settle the cuts one at a time (unthreatened first, then the lowest id).
    cuts = {}
    e = _evaluate(pb, federation, order, pasts, facts, cuts)
    while True:
        quorum = e.quorum()
        pending = {}
        for mid, m in e.members.items():
            if mid not in cuts:
                c = _implied_cut(mid, m, quorum)
                if c:
                    pending[mid] = c
        if not pending:
            break
        best = None
        for mid, c in sorted(pending.items()):
            safe = not any(v != mid and v in pending for v in c[1])
            if best is None or (safe and not best[1]) or (safe == best[1] and c[2] < pending[best[0]][2]):
                best = (mid, safe)
        cuts[best[0]] = pending[best[0]][0]
        e = _evaluate(pb, federation, order, pasts, facts, cuts)
    roster = KeyRoster()
    roster.quorum = e.quorum()
    for mid, m in e.members.items():
        admitted = bool(m["founds"]) or (roster.quorum > 0 and len(m["admissions"]) >= roster.quorum)
        keys = {1: mid}
        rekeys, events = [], []
        by_key = {}
        for v in m["rekeys"]:
            cur = by_key.setdefault(v[2], {}).get(v[0])
            if cur is None or cur[1] < v[1]:
                by_key[v[2]][v[0]] = v
        for key, voters in by_key.items():
            if roster.quorum == 0 or len(voters) < roster.quorum:
                continue
            last = sorted((v[3] for v in voters.values()), reverse=True)[roster.quorum - 1]
            events.append((last + 1, 1, key))
            rekeys.append((last, list(voters.values())))
        for at_seq, key, past in m["rotates"]:
            replaced = any(at_seq > last and sum(1 for v in vs if _in_past(past, v[0], v[1])) < roster.quorum
                           for last, vs in rekeys)
            if not replaced:
                events.append((at_seq + 1, 0, key))
        for start, _, key in sorted(events):
            keys[start] = key
        roster.members[mid] = {"admitted": admitted, "cut": cuts[mid][0] if mid in cuts else None, "keys": keys}
    return roster


def load_messages(proto_dir):
    out = tempfile.mkdtemp(prefix="conect-audit-pb-")
    files = sorted(os.path.join(proto_dir, f) for f in os.listdir(proto_dir) if f.endswith(".proto"))
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", out] + files, check=True)
    sys.path.insert(0, out)
    import audit_pb2  # noqa: E402  (generated above)
    import delta_pb2  # noqa: E402
    return audit_pb2, delta_pb2


class Unreadable(Exception):
    pass


def read_bundle(data, audit_pb2):
    """Section 1: the framing."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise Unreadable("not a conect audit bundle (no 'conect-audit' magic)")
    if len(data) < HEADER:
        raise Unreadable("truncated inside the header")
    (version,) = struct.unpack(">I", data[12:16])
    if version not in VERSIONS:
        raise Unreadable("format version %d is not supported" % version)
    (length,) = struct.unpack(">Q", data[16:24])
    if length >= 1 << 31:
        raise Unreadable("content length over 2 GiB")
    if len(data) - HEADER < length:
        raise Unreadable("truncated: %d bytes announced, %d present" % (length, len(data) - HEADER))
    if len(data) - HEADER > length:
        raise Unreadable("unexpected bytes after the content")
    bundle = audit_pb2.AuditBundle()
    try:
        bundle.ParseFromString(data[HEADER:])
    except Exception as e:  # DecodeError, RuntimeWarning on bad UTF-8, ...
        raise Unreadable("content does not parse: %s" % e)
    if bundle.format_version != version:
        raise Unreadable("content says format version %d" % bundle.format_version)
    return bundle


def content_digest(bundle):
    """Section "Content digest": label, federation, sorted delta ids, sorted evidence ids."""
    deltas = sorted(delta_id(d.body, d.signature) for c in bundle.chains for d in c.deltas)
    evidence = sorted(blake(b"".join(sorted((delta_id(e.first.body, e.first.signature),
                                              delta_id(e.second.body, e.second.signature)))))
                      for e in bundle.equivocations)
    out = DIGEST_LABEL + bundle.federation
    for ids in (deltas, evidence):
        out += struct.pack(">Q", len(ids)) + b"".join(ids)
    return blake(out)


class Verifier:
    def __init__(self, bundle, delta_pb2, audit_pb2):
        self.b = bundle
        self.pb = delta_pb2
        self.audit_pb2 = audit_pb2
        self.digest = content_digest(bundle)
        self.header_signed = False
        self.exported_by = bundle.exported_by
        self.failures = []
        self.warnings = []
        self.rejected = []  # id-only authorship rule violations
        self.roster = {}  # node id -> (name, country, role)
        self.authentic = {}  # origin -> [(body message, id)] usable deltas, seq order
        self.ids = set()
        self.confirmations = {}

    def fail(self, reason, where, detail, origin=None, seq=0):
        self.failures.append({"reason": reason, "where": where, "detail": detail,
                              "origin": origin.hex() if origin else None, "seq": seq})

    def warn(self, reason, where, detail, origin=None, seq=0):
        self.warnings.append({"reason": reason, "where": where, "detail": detail,
                              "origin": origin.hex() if origin else None, "seq": seq})

    def run(self):
        if len(self.b.federation) != 16:
            self.fail("malformed_body", "bundle", "federation id is not 16 bytes")
            return
        self.check_roster()
        if self.b.format_version >= 2:
            self.check_header()
        else:
            self.check_format_1()
        self.check_chains()
        self.check_dependencies()
        self.check_evidence()
        self.check_authority()

    # Step 1: format 1 is 0.2.0's. A format 2 bundle relabelled as 1 would
    # shed its signed header (and the check that nothing was cut).
    def check_format_1(self):
        if self.b.header or self.b.header_signature:
            self.fail("downgraded_format", "bundle header", "the bundle says format 1 but carries a signed header "
                      "(fields 9-10), which only format 2 has: it was relabelled")
            return
        later = ("seal_key", "envelope_ack") + MEMBERSHIP_FIELDS
        for chain in self.b.chains:
            for sd in chain.deltas:
                body = self.pb.DeltaBody()
                try:
                    body.ParseFromString(sd.body)
                except Exception:
                    continue  # the chain check names an unreadable delta
                if any(op.WhichOneof("op") in later for op in body.ops):
                    self.fail("downgraded_format", "bundle header", "the bundle says format 1 (0.2.0's, unsigned) "
                              "but holds operations 0.2.0 never wrote (delta %d of %s): it was relabelled"
                              % (body.seq, body.origin.hex()[:16]))
                    return

    # Step 2.
    def check_roster(self):
        for i, card in enumerate(self.b.roster):
            where = "member card #%d" % (i + 1)
            body = self.pb.MemberCardBody()
            try:
                body.ParseFromString(card.body)
            except Exception:
                self.fail("malformed_body", where, "card body does not parse")
                continue
            if len(body.node_id) != 32:
                self.fail("malformed_body", where, "node id is not 32 bytes")
                continue
            if not ed25519_ok(body.node_id, b"conect/card/v1", card.body, card.signature):
                self.fail("bad_signature", where, "card self-signature does not verify", body.node_id)
                continue
            if body.federation != self.b.federation:
                self.fail("wrong_federation", where, "card of another federation", body.node_id)
                continue
            self.roster[body.node_id] = (body.name, body.country, {1: "school", 2: "company", 3: "auditor"}.get(
                body.role, "unknown"))

    # "The signed header" (format 2).
    def check_header(self):
        b = self.b
        where = "bundle header"
        if b.HasField("selection") or b.exported_at_ms or b.exported_by:
            return self.fail("malformed_body", where, "unsigned export fields 6-8 in a format 2 bundle")
        h = self.audit_pb2.AuditHeader()
        try:
            h.ParseFromString(b.header)
        except Exception:
            h = None
        if not b.header or h is None:
            return self.fail("malformed_body", where, "no readable header")
        if h.format_version != b.format_version or len(h.exported_by) != 32 or len(h.content_digest) != 32:
            return self.fail("malformed_body", where, "malformed version, exporter or digest")
        self.exported_by = h.exported_by
        if h.federation != b.federation:
            return self.fail("wrong_federation", where, "header of another federation", h.exported_by)
        if not ed25519_ok(h.exported_by, b"conect/audit-header/v1", b.header, b.header_signature):
            return self.fail("bad_signature", where, "the exporter's signature does not verify", h.exported_by)
        if h.content_digest != self.digest:
            return self.fail("content_digest_mismatch", where, "content differs from what the exporter signed",
                             h.exported_by)
        self.header_signed = True
        if h.exported_by not in self.roster:
            self.warn("exporter_not_on_roster", where, "the exporter has no valid card", h.exported_by)

    # Step 3, one delta: decoded body or a failure reason.
    def decode(self, sd):
        if len(sd.body) + len(sd.signature) > MAX_DELTA:
            return None, "limit_exceeded", "delta over 256 KiB"
        body = self.pb.DeltaBody()
        try:
            body.ParseFromString(sd.body)
        except Exception:
            return None, "malformed_body", "body does not parse"
        if len(sd.signature) != 64:
            return None, "malformed_body", "signature is not 64 bytes"
        if len(body.origin) != 32:
            return None, "malformed_body", "origin is not 32 bytes"
        if body.seq == 0:
            return None, "malformed_body", "seq 0"
        if body.federation != self.b.federation:
            return None, "wrong_federation", "delta of another federation"
        if body.seq == 1 and len(body.prev) != 0:
            return None, "malformed_body", "seq 1 names a predecessor"
        if body.seq != 1 and len(body.prev) != 32:
            return None, "malformed_body", "prev is not 32 bytes"
        return body, None, None

    # Step 3.
    def derive_keys(self):
        """Keys per (origin, seq) from the membership deltas whose own
        signature holds under the key derived so far (so a forged Rotate
        cannot vouch for itself), repeated until nothing more verifies."""
        candidates = []
        for chain in self.b.chains:
            for sd in chain.deltas:
                body, _, _ = self.decode(sd)
                if body is not None and membership_ops(body):
                    candidates.append((body.origin, body.seq, delta_id(sd.body, sd.signature), body, sd))
        self.keys, trusted, taken = KeyRoster(), [], set()
        grew = True
        while grew:
            grew = False
            for n, (origin, seq, did, body, sd) in enumerate(candidates):
                if n in taken or not ed25519_ok(self.keys.key_at(origin, seq), b"conect/delta/v1", sd.body, sd.signature):
                    continue
                taken.add(n)
                trusted.append((origin, seq, did, body))
                grew = True
            if grew:
                self.keys = derive_keys(self.pb, self.b.federation, trusted)

    def check_chains(self):
        self.derive_keys()
        seen = set()
        for n, chain in enumerate(self.b.chains):
            origin = chain.origin
            if len(origin) != 32:
                self.fail("malformed_body", "chain #%d" % (n + 1), "origin is not 32 bytes")
                continue
            if origin in seen:
                self.fail("malformed_body", "chain of %s" % origin.hex()[:16], "two chains of one origin", origin)
                continue
            seen.add(origin)
            decoded = []  # (body, id, signature ok)
            for i, sd in enumerate(chain.deltas):
                seq = i + 1
                where = "delta %d of %s" % (seq, origin.hex()[:16])
                body, reason, detail = self.decode(sd)
                if body is None:
                    self.fail(reason, where, detail, origin, seq)
                    break
                if body.origin != origin:
                    self.fail("malformed_body", where, "delta of another origin in this chain", origin, seq)
                    break
                if body.seq != seq:
                    self.fail("sequence_gap", where, "found seq %d" % body.seq, origin, seq)
                    break
                if decoded and body.prev != decoded[-1][1]:
                    self.fail("broken_chain", where, "prev is not the id of the delta before", origin, seq)
                    break
                ok = ed25519_ok(self.keys.key_at(origin, seq), b"conect/delta/v1", sd.body, sd.signature)
                decoded.append((body, delta_id(sd.body, sd.signature), ok))
            covered = 0
            for i in range(len(decoded), 0, -1):
                if decoded[i - 1][2]:
                    covered = i
                    break
            for i, (_, _, ok) in enumerate(decoded):
                if ok:
                    continue
                where = "delta %d of %s" % (i + 1, origin.hex()[:16])
                if i < covered:
                    self.warn("inner_signature_invalid", where, "covered by a later signature", origin, i + 1)
                else:
                    self.fail("bad_signature", where, "signature does not verify, nothing covers it", origin, i + 1)
            if origin not in self.roster:
                self.fail("unknown_origin", "chain of %s" % origin.hex()[:16], "origin not on the roster", origin)
                continue
            self.authentic[origin] = [(body, did) for body, did, _ in decoded[:covered]]

    # Step 4: every dependency names a usable delta; cut chains where one does not.
    def check_dependencies(self):
        changed = True
        while changed:
            changed = False
            for origin, deltas in self.authentic.items():
                for i, (body, _) in enumerate(deltas):
                    problem = None
                    for dep in body.deps:
                        held = self.authentic.get(dep.origin, [])
                        if len(dep.origin) != 32:
                            problem = ("malformed_body", "a dependency names no valid origin")
                        elif dep.seq == 0 or dep.seq > len(held):
                            problem = ("sequence_gap", "a dependency is not in the bundle")
                        elif held[dep.seq - 1][1] != dep.id:
                            problem = ("broken_chain", "a dependency names another delta than the one held")
                        if problem:
                            break
                    if problem:
                        self.fail(problem[0], "delta %d of %s" % (body.seq, origin.hex()[:16]), problem[1], origin,
                                  body.seq)
                        del deltas[i:]
                        changed = True
                        break
        for deltas in self.authentic.values():
            for _, did in deltas:
                self.ids.add(did)

    # Step 5, one delta's cover: the deltas after it in its origin's chain,
    # each linking to the one before, up to one whose own signature verifies.
    def covered(self, body, did, cover):
        prev, seq = did, body.seq
        for sd in cover:
            b, _, _ = self.decode(sd)
            if b is None or b.origin != body.origin or b.seq != seq + 1 or b.prev != prev:
                return False
            if ed25519_ok(self.keys.key_at(b.origin, b.seq), b"conect/delta/v1", sd.body, sd.signature):
                return True
            prev, seq = delta_id(sd.body, sd.signature), b.seq
        return False

    # Step 5.
    def check_evidence(self):
        for n, ev in enumerate(self.b.equivocations):
            where = "equivocation evidence #%d" % (n + 1)
            pair = []
            for sd, cover in ((ev.first, ev.first_cover), (ev.second, ev.second_cover)):
                body, reason, detail = self.decode(sd)
                if body is None:
                    pair = None
                    self.fail(reason, where, detail)
                    break
                did = delta_id(sd.body, sd.signature)
                # Under the key the member signed with at that seq (its id
                # until it rotated): evidence against a member that rotated
                # was called forged.
                signer = self.keys.key_at(body.origin, body.seq)
                if (not ed25519_ok(signer, b"conect/delta/v1", sd.body, sd.signature) and did not in self.ids
                        and not self.covered(body, did, cover)):
                    pair = None
                    self.fail("bad_signature", where, "a delta of the proof is not authentic")
                    break
                pair.append((body, did))
            if pair is None:
                continue
            (a, ida), (b, idb) = pair
            if a.origin != b.origin or a.seq != b.seq or ida == idb:
                self.fail("invalid_argument", where, "not an equivocation", a.origin, a.seq)
                continue
            self.warn("equivocation", "member %s" % a.origin.hex()[:16], "two deltas with seq %d" % a.seq,
                      a.origin, a.seq)

    # Step 6, the rules that need no merged state, and the signature of every
    # confirmation operation (docs/audit.md, "Record keys").
    def check_authority(self):
        self.confirmations = {}  # signer hex -> valid confirmation operations
        for origin, deltas in self.authentic.items():
            auditor = self.roster.get(origin, ("", "", ""))[2] == "auditor"
            for body, _ in deltas:
                for index, op in enumerate(body.ops):
                    if self.unknown(op):
                        self.warn("unknown_operation", "delta %d of %s" % (body.seq, origin.hex()[:16]),
                                  "operation %d is of a kind this verifier does not know" % index, origin, body.seq)
                        continue
                    cut = self.cut_of(origin)
                    if op.WhichOneof("op") == "seal_key":
                        # About the origin, no record: valid when its inner
                        # signature holds (docs/privacy.md "Seal keys"), as the
                        # C++ replica checks it before any cut or role.
                        rule = self.seal_key_rule(origin, body.federation, op.seal_key)
                    elif op.WhichOneof("op") == "envelope_ack":
                        # About its origin too (docs/privacy.md "Carry"): valid
                        # when it names a mobility or contact and a commitment.
                        rule = self.envelope_ack_rule(op.envelope_ack)
                    elif cut is not None and body.seq > cut and op.WhichOneof("op") not in MEMBERSHIP_FIELDS:
                        rule = ("not_authorised", "its origin was removed (or left) after seq %d: nothing it "
                                "wrote later counts" % cut)
                    elif auditor:
                        rule = ("not_authorised", "auditors author no records")
                    else:
                        rule = self.id_rule(origin, op)
                        rule = ("not_authorised", rule) if rule else self.reference_rule(origin, body.seq, op)
                    if rule:
                        self.rejected.append({"origin": origin.hex(), "seq": body.seq, "index": index,
                                              "rule": rule[0], "detail": rule[1]})
                    elif op.WhichOneof("op") == "confirm":
                        c = op.confirm.confirmation
                        key = bytes([4]) + op.confirm.mobility.owner + struct.pack(">Q", op.confirm.mobility.serial)
                        if (c.party in (1, 2) and len(c.agreed_delta) == 32 and len(op.confirm.mobility.owner) == 32
                                and ed25519_ok(c.signer, b"conect/confirm/v1", key + c.agreed_delta, c.signature)):
                            self.confirmations[c.signer.hex()] = self.confirmations.get(c.signer.hex(), 0) + 1
                        else:
                            self.rejected.append({"origin": origin.hex(), "seq": body.seq, "index": index,
                                                  "rule": "bad_signature", "detail": "confirmation does not verify"})

    def cut_of(self, origin):
        """The seq after which the replicated roster cut `origin` off
        (removed or left; docs/membership.md), or None."""
        m = self.keys.members.get(origin)
        return m["cut"] if m and m["admitted"] else None

    @staticmethod
    def envelope_ack_rule(a):
        """An envelope acknowledgement: a mobility (4) or contact (5), an owner
        id and a commitment of 32 bytes each."""
        if a.type not in (4, 5) or len(a.record.owner) != 32 or len(a.commitment) != 32:
            return ("malformed_body", "an envelope acknowledgement names no mobility or contact, or no "
                    "32-byte commitment")
        return None

    @staticmethod
    def seal_key_rule(origin, federation, a):
        """A seal-key announcement: Ed25519 by its origin over
        "conect/seal-key/v1" || BLAKE2b-256(federation || origin || key)."""
        if len(a.seal_key) != 32 or a.seal_key == bytes(32):
            return ("malformed_body", "a seal-key announcement needs a 32-byte key")
        if not ed25519_ok(origin, b"conect/seal-key/v1", federation + origin + a.seal_key, a.signature):
            return ("bad_signature", "the seal-key announcement of %s is not signed by its origin for this "
                    "federation" % origin.hex()[:16])
        return None

    @staticmethod
    def unknown(op):
        """An operation of a kind (or a field group) this verifier does not know, a newer
        conect's: no known case set, but fields there (they parse as unknown fields)."""
        kind = op.WhichOneof("op")
        if kind is None:
            return len(op.SerializeToString()) > 0
        if kind == "write" and op.write.WhichOneof("group") is None:
            return len(op.write.UnknownFields()) > 0
        return False

    # A placement's host_organisation and mentor_contact, a contact's
    # organisation: the writer's own records, created by the operation their
    # id was minted from, no later than this delta (docs/audit.md step 6).
    def reference_rule(self, origin, seq, op):
        if op.WhichOneof("op") != "write":
            return None
        w = op.write
        refs = []
        if w.WhichOneof("group") == "placement":
            if 1 in w.fields and w.placement.HasField("host_organisation"):
                refs.append(("host_organisation", "organisation", w.placement.host_organisation))
            if 15 in w.fields and w.placement.HasField("mentor_contact"):
                refs.append(("mentor_contact", "contact", w.placement.mentor_contact))
        elif w.WhichOneof("group") == "contact" and 1 in w.fields and w.contact.HasField("organisation"):
            refs.append(("organisation", "organisation", w.contact.organisation))
        for field, group, ref in refs:
            if ref.owner != origin:
                return ("not_authorised", "%s names another member's %s" % (field, group))
            minted, index = ref.serial >> 16, ref.serial & 0xFFFF
            held = self.authentic.get(origin, [])
            op_at = None
            if 1 <= minted <= seq and minted <= len(held) and index < len(held[minted - 1][0].ops):
                op_at = held[minted - 1][0].ops[index]
            if not (op_at is not None and op_at.WhichOneof("op") == "write"
                    and op_at.write.WhichOneof("group") == group and op_at.write.id.owner == ref.owner
                    and op_at.write.id.serial == ref.serial):
                return ("invalid_argument", "%s names no %s its owner had created" % (field, group))
        return None

    @staticmethod
    def id_rule(origin, op):
        kind = op.WhichOneof("op")
        if kind == "write":
            group = op.write.WhichOneof("group")
            if group == "mobility_host":
                return None if op.write.authority.owner == origin else "host write by another than the host"
            if group is not None and op.write.id.owner != origin:
                return "%s write by another than the record's owner" % group
        elif kind == "set" and op.set.id.owner != origin:
            return "set change by another than the record's owner"
        elif kind == "decide" and op.decide.placement.owner != origin:
            return "decision by another than the placement's owner"
        elif kind == "cancel" and op.cancel.reservation.owner != origin:
            return "cancel by another than the requester"
        elif kind == "confirm" and (op.confirm.authority.owner != origin or op.confirm.confirmation.signer != origin):
            return "confirmation by another than the party"
        elif kind == "erase" and op.erase.record.owner != origin:
            return "erase by another than the record's owner"
        return None

    def verdict(self):
        if self.failures:
            return "FAIL"
        if self.warnings or self.rejected:
            return "PASS_WITH_WARNINGS"
        return "PASS"

    def institutions(self):
        ids = set(self.roster) | set(self.authentic) | {bytes(c.origin) for c in self.b.chains if len(c.origin) == 32}
        out = []
        for node in sorted(ids):
            name, country, role = self.roster.get(node, ("", "", ""))
            out.append({"node_id": node.hex(), "name": name, "country": country, "role": role,
                        "on_roster": node in self.roster, "deltas": len(self.authentic.get(node, [])),
                        "rejected_operations": sum(1 for r in self.rejected if r["origin"] == node.hex()),
                        "confirmation_operations_valid": self.confirmations.get(node.hex(), 0)})
        return out


def missing_tools():
    """What this machine lacks to run the verifier, or None."""
    import importlib.util
    import shutil
    lacking = [pkg for module, pkg in (("nacl", "python3-nacl"), ("google.protobuf", "python3-protobuf"))
               if not has_module(importlib.util, module)]
    if not shutil.which("protoc"):
        lacking.append("protobuf-compiler")
    return lacking or None


def has_module(util, name):
    try:
        return util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def main():
    lacking = missing_tools()
    if lacking:
        print("audit_verify: cannot run here, %s missing (apt-get install %s); this says nothing about the "
              "bundle" % (", ".join(lacking), " ".join(lacking)), file=sys.stderr)
        return 3
    # upb reports some malformed input ("Unexpected end-group tag") as a
    # warning after a partial parse: a malformed body must fail instead.
    warnings.filterwarnings("error", category=RuntimeWarning)
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--proto-dir", default=os.path.join(here, "..", "proto"), help="conect's proto/ folder")
    args = ap.parse_args()
    audit_pb2, delta_pb2 = load_messages(os.path.abspath(args.proto_dir))
    try:
        with open(args.bundle, "rb") as f:
            data = f.read()
        bundle = read_bundle(data, audit_pb2)
    except (OSError, Unreadable) as e:
        if args.json:
            print(json.dumps({"error": "unreadable", "detail": str(e), "verdict": "FAIL"}))
        else:
            print("audit_verify: %s: %s\nverdict: FAIL" % (args.bundle, e), file=sys.stderr)
        return 2
    v = Verifier(bundle, delta_pb2, audit_pb2)
    v.run()
    verdict = v.verdict()
    if args.json:
        print(json.dumps({"federation": bundle.federation.hex(), "format_version": bundle.format_version,
                          "content_digest": v.digest.hex(), "header_signed": v.header_signed,
                          "exported_by": v.exported_by.hex(), "institutions": v.institutions(),
                          "failures": v.failures, "warnings": v.warnings, "rejected_id_only": v.rejected,
                          "verdict": verdict}, indent=2))
    else:
        print("audit bundle of federation %s (format %d, independent verifier)" % (
            bundle.federation.hex(), bundle.format_version))
        changed = any(f["reason"] == "content_digest_mismatch" for f in v.failures)
        print("exported by %s, %s" % (v.exported_by.hex()[:16], "signed by the exporter" if v.header_signed else
                                      "unsigned (format 1)" if bundle.format_version < 2 else
                                      "its signature holds, but the content is not what the exporter signed"
                                      if changed else "the exporter's signature does NOT hold"))
        print("content digest: %s" % v.digest.hex())
        for i in v.institutions():
            print("  %-30s %s %-3s %-8s deltas %-6d rejected %d%s" % (
                i["name"] or "(not on roster)", i["node_id"][:16], i["country"], i["role"], i["deltas"],
                i["rejected_operations"], "" if i["on_roster"] else "  NO CARD"))
        for title, items in (("FAILURES", v.failures), ("WARNINGS", v.warnings)):
            if items:
                print("%s (%d):" % (title, len(items)))
                for f in items:
                    print("  %-26s %s: %s" % (f["reason"], f["where"], f["detail"]))
        if v.rejected:
            print("REJECTED OPERATIONS (id-only rules, %d):" % len(v.rejected))
            for r in v.rejected:
                print("  %s delta %d of %s op %d: %s" % (r["rule"], r["seq"], r["origin"][:16], r["index"],
                                                         r["detail"]))
        print("verdict: %s" % verdict)
    return 1 if verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
