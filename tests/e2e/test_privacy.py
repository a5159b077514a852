"""Personal data reaches exactly its audience (DESIGN §5, docs/privacy.md),
with real processes: three schools on loopback, a mobility from A's school to
B's organisation. B receives the participant's name, e-mail and birth date
sealed to its seal key; C holds the signed record but none of the personal
data, on disk, in its API or in its log, and says why; an erasure at A
removes the data at B; forged and tampered envelopes are refused, counted
by reason, and change nothing. The forgeries are built here from the format
in docs/privacy.md, with PyNaCl, not with the node's code."""
import asyncio
import json
import os
import re
import struct
import subprocess
import sys
import unittest
import uuid

import nacl.bindings as sodium
import websockets

sys.path.insert(0, os.path.dirname(__file__))
from attacker import Identity, Peer, _field_bytes, _field_varint, parse_fields, signing_input  # noqa: E402
from harness import Federation, cli, create_organisation, wait_until  # noqa: E402

MOBILITY = 4


# ------------------------------------------------- envelopes (docs/privacy.md)
def envelope(plaintext, commitment, owner, targets, nonce=None):
    """Envelope v1: header (magic, commitment, owner) || nonce || slot count ||
    slots (member id || crypto_box_seal(content key)) sorted by member ||
    ciphertext length (u32 BE) || XChaCha20-Poly1305(content key, nonce,
    ad = header)."""
    key = os.urandom(32)
    nonce = nonce or os.urandom(24)
    header = b"cnE1" + commitment + owner
    out = header + nonce + bytes([len(targets)])
    for member, seal_pub in sorted(targets):
        out += member + sodium.crypto_box_seal(key, seal_pub)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header, nonce, key)
    return out + struct.pack(">I", len(ct)) + ct


def personal_deliver(record_id, envelope_bytes, record_type=MOBILITY):
    """SyncMessage{personal_deliver (8): {record (1), type (2), envelope (3)}}."""
    owner_hex, serial = record_id.split("-")
    rid = _field_bytes(1, bytes.fromhex(owner_hex)) + _field_varint(2, int(serial))
    body = _field_bytes(1, rid) + _field_varint(2, record_type) + _field_bytes(3, envelope_bytes)
    return _field_bytes(8, body)


def counter(node, name, **labels):
    _, text = node.api("GET", "/metrics", token=False, expect=200)
    total = 0
    for line in text.splitlines():
        m = re.match(name + r'(?:\{(.*)\})? (\d+)$', line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += int(m.group(2))
    return total


def files_containing(root, needles):
    """Every file under root holding any of the needles (bytes)."""
    hits = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            with open(path, "rb") as f:
                data = f.read()
            hits += [(path, x) for x in needles if x in data]
    return hits


class PersonalData(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.a = cls.fed.add("Lapin ammattiopisto", "FI")
        cls.b = cls.fed.add("Luleå Yrkesgymnasium", "SE")
        cls.c = cls.fed.add("Nord-Troms vgs", "NO")
        cls.fed.trust_all()
        for n in cls.fed.nodes:
            n.start()
        cls.b.dial(cls.a)
        cls.c.dial(cls.a)
        cls.c.dial(cls.b)
        wait_until("mesh", lambda: {cls.a.node_id, cls.b.node_id} <= cls.c.connected_peers()
                   and cls.a.node_id in cls.b.connected_peers())
        # Every node learns every seal key through the ordinary sync.
        wait_until("seal keys everywhere", lambda: all(
            all(m["seal_key"] for m in n.api("GET", "/api/v1/members", expect=200)[1]["items"])
            for n in cls.fed.nodes))
        cls.school = create_organisation(cls.a, "Lapin ammattiopisto", "FI")["id"]
        cls.host = create_organisation(cls.b, "Luleå Bygg AB", "SE", org_type="sme")["id"]
        wait_until("host organisation at a", lambda: cls.a.api("GET", f"/api/v1/organisations/{cls.host}")[0] == 200)

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def new_mobility(self):
        tag = uuid.uuid4().hex[:10]
        person = {"name": f"Aino Virtanen-{tag}", "email": f"aino.{tag}@example.fi",
                  "birth_date": "2007-05-14"}
        _, m = self.a.api("POST", "/api/v1/mobilities", {
            "fixed": {"sending_organisation": self.school, "receiving_organisation": self.host,
                      "participant": {"pseudonym": f"FI-{tag}"}, "type": "learner_otj_company",
                      "category": "ivet_learner"},
            "personal_data": person}, expect=201)
        return m, person

    def shown(self, node, mid):
        status, body = node.api("GET", f"/api/v1/mobilities/{mid}")
        return body if status == 200 else None

    def test_the_host_school_sees_the_student_and_no_one_else_does(self):
        m, person = self.new_mobility()
        self.assertEqual(m["personal_data_status"], "held")
        at_b = wait_until("personal data at b", lambda: (s := self.shown(self.b, m["id"])) and
                          s["personal_data_status"] == "held" and s, timeout=20)
        self.assertEqual(at_b["personal_data"], person)
        # C holds the signed record, not the data, and says why.
        at_c = wait_until("record at c", lambda: self.shown(self.c, m["id"]))
        self.assertEqual(at_c["fixed"]["participant"]["pseudonym"], m["fixed"]["participant"]["pseudonym"])
        self.assertIsNone(at_c["personal_data"])
        self.assertEqual(at_c["personal_data_status"], "not_shared_with_this_node")
        self.assertIn("receiving organisation", at_c["personal_data_reason"])
        # The owner lists who may hold it and that each can receive it.
        self.assertEqual({x["node_id"] for x in m["personal_data_audience"]}, {self.a.node_id, self.b.node_id})
        self.assertTrue(all(x["seal_key_announced"] for x in m["personal_data_audience"]))
        # Not a byte of it at C: store files, logs, API answers.
        needles = [person["name"].encode(), person["email"].encode(), b"2007-05-14"]
        self.fed.wait_converged()
        self.assertEqual(files_containing(self.c.data, needles), [])
        for n in self.fed.nodes:
            self.assertEqual([x for x in needles if x.decode() in n.read_log()], [], n.name + "'s log")
        _, listing = self.c.api("GET", "/api/v1/mobilities?limit=500", expect=200)
        self.assertNotIn(person["name"], json.dumps(listing))

    def test_erasure_at_the_owner_removes_the_data_at_the_host(self):
        m, person = self.new_mobility()
        wait_until("personal data at b", lambda: self.shown(self.b, m["id"])["personal_data_status"] == "held")
        cli("erase", m["id"], data=self.a.data)
        at_b = wait_until("erasure at b", lambda: (s := self.shown(self.b, m["id"])) and
                          s["personal_data_status"] == "erased" and s, timeout=20)
        self.assertIsNone(at_b["personal_data"])
        self.assertTrue(at_b["personal_data_erased"])  # kept for one release
        self.assertEqual(self.shown(self.a, m["id"])["personal_data_status"], "erased")

    def test_erasure_reaches_the_live_store_files_and_nothing_else_goes(self):
        # docs/privacy.md "Erasure reaches the disk": LMDB keeps freed pages,
        # so the erased name stays in data.mdb until the node compacts it,
        # which it does within the documented bound (compactor.h).
        kept, kept_person = self.new_mobility()
        m, person = self.new_mobility()
        for n in (self.a, self.b):
            wait_until("personal data at " + n.name, lambda n=n: all(
                self.shown(n, x["id"])["personal_data_status"] == "held" for x in (kept, m)), timeout=20)
        needles = [person["name"].encode(), person["email"].encode()]
        store = {n: os.path.join(n.data, "store", "data.mdb") for n in (self.a, self.b)}
        # Held in clear at both ends of the mobility: what is about to be erased.
        for n in (self.a, self.b):
            self.assertEqual(len(files_containing(os.path.dirname(store[n]), needles[:1])), 1, n.name)
        compactions = {n: counter(n, "conect_store_compactions_total") for n in (self.a, self.b)}
        cli("erase", m["id"], data=self.a.data)
        for n in (self.a, self.b):
            wait_until("erasure at " + n.name, lambda n=n: self.shown(n, m["id"])["personal_data_status"] == "erased",
                       timeout=20)
        # Bound: 10 s between compactions + a 1 s check + the copy (docs/privacy.md).
        for n in (self.a, self.b):
            wait_until("erased name gone from " + n.name + "'s data.mdb",
                       lambda n=n: files_containing(os.path.dirname(store[n]), needles) == [], timeout=30)
            # (A later write may reuse the freed page first: the compaction
            # still comes within the bound.)
            wait_until("compaction at " + n.name, lambda n=n: counter(
                n, "conect_store_compactions_total") > compactions[n] and counter(
                n, "conect_store_compaction_due") == 0, timeout=30)
            self.assertIn("store_compacted", n.read_log())
        # Nothing else went: the erased record itself, the other mobility's
        # personal data, the logs and roster; the nodes still agree and sync.
        self.fed.wait_converged()
        for n in (self.a, self.b):
            self.assertEqual(self.shown(n, m["id"])["fixed"]["participant"]["pseudonym"],
                             m["fixed"]["participant"]["pseudonym"])
            self.assertEqual(self.shown(n, kept["id"])["personal_data"], kept_person)
            self.assertEqual(len(n.api("GET", "/api/v1/members", expect=200)[1]["items"]), 3)
            _, history = n.api("GET", f"/api/v1/records/{m['id']}/history", expect=200)
            # Its signed history (creation and erasure) verifies as before.
            self.assertGreaterEqual(len(history["deltas"]), 2)
            self.assertTrue(all(d["verification"]["ok"] for d in history["deltas"]))
        after, after_person = self.new_mobility()
        wait_until("a new mobility's personal data at b after compaction", lambda: (
            s := self.shown(self.b, after["id"])) and s["personal_data"] == after_person, timeout=20)

    def test_the_owner_widens_a_contact_from_the_cli(self):
        tag = uuid.uuid4().hex[:10]
        person = {"name": f"Pekka Laajennettu-{tag}", "phone": "+358409876543"}
        cid = cli("contact", "add", "--organisation", self.school, "--display-name", "Workshop master",
                  "--audience", "local", "--personal-data-file", "-", data=self.a.data,
                  input=json.dumps(person)).stdout.strip()
        contact = lambda n: n.api("GET", f"/api/v1/contacts/{cid}")[1]  # noqa: E731
        for n in (self.b, self.c):
            wait_until(f"local contact at {n.name}", lambda n=n: contact(n).get("personal_data_status") ==
                       "not_shared_with_this_node")
        # Widened to B: the CLI lists who may hold it now, B receives it, C not.
        out = cli("contact", "audience", cid, self.b.node_id, data=self.a.data).stdout
        self.assertIn(self.b.node_id[:16] + "  can receive it", out)
        self.assertIn(self.a.node_id[:16], out)
        wait_until("widened contact at b", lambda: contact(self.b)["personal_data"] == person, timeout=20)
        self.assertEqual(contact(self.c)["personal_data_status"], "not_shared_with_this_node")
        # Narrowing (back to local, or to C without B) is refused with the
        # API's reason and exit code 2 (the CLI's code for input the API calls
        # invalid, 422); nothing changes.
        for narrower in ("local", self.c.node_id):
            p = cli("contact", "audience", cid, narrower, data=self.a.data, check=False)
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn("only widens", p.stdout + p.stderr)
        # A member id that is not on the roster: refused in plain words.
        p = cli("contact", "audience", cid, self.b.node_id + ",00ff", data=self.a.data, check=False)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("audience.members[1]", p.stdout + p.stderr)
        self.assertEqual(contact(self.a)["audience"], {"kind": "members", "members": [self.b.node_id]})
        # Widened to the federation: C receives it too.
        cli("contact", "audience", cid, "federation", data=self.a.data)
        wait_until("contact at c after widening", lambda: contact(self.c)["personal_data"] == person, timeout=20)

    def test_forged_and_tampered_envelopes_are_refused_and_counted(self):
        m, person = self.new_mobility()
        wait_until("personal data at b", lambda: self.shown(self.b, m["id"])["personal_data_status"] == "held")
        members = {x["node_id"]: x for x in self.b.api("GET", "/api/v1/members", expect=200)[1]["items"]}
        b_seal = bytes.fromhex(members[self.b.node_id]["seal_key"])
        c_seal = bytes.fromhex(members[self.c.node_id]["seal_key"])
        commitment = bytes.fromhex(m["fixed"]["participant"]["personal"]["commitment"])
        owner, b_id, c_id = (bytes.fromhex(x) for x in (self.a.node_id, self.b.node_id, self.c.node_id))
        forged_plain = b"s" * 16 + json.dumps({"name": "Mallory Forged"}).encode()
        genuine_form = envelope(forged_plain, commitment, owner, [(b_id, b_seal)])
        tampered = bytearray(genuine_form)
        tampered[-5] ^= 1
        cases_b = {
            # Opens with B's key (crypto_box_seal is anonymous): only the
            # commitment in A's signed record tells it is not A's data.
            "commitment_mismatch": genuine_form,
            "tampered": bytes(tampered),
            "wrong_seal_key": envelope(forged_plain, commitment, owner, [(b_id, c_seal)]),
            "wrong_record": envelope(forged_plain, os.urandom(32), owner, [(b_id, b_seal)]),
            "malformed": b"cnE1" + b"\0" * 10,
        }
        insider = Identity()
        for n in (self.b, self.c):
            cli("member", "add", insider.card(bytes.fromhex(n.federation)), data=n.data)
        before = {r: counter(self.b, "conect_personal_envelopes_refused_total", reason=r) for r in cases_b}
        before_c = counter(self.c, "conect_personal_envelopes_refused_total", reason="not_in_audience")

        async def deliver(node, messages):
            """False while the node refuses the insider: the responder
            refuses after handshake message 3, which the initiator cannot
            tell from its side, so wait for the node's stream header (its
            first frame once it accepted the link)."""
            p = Peer(node.ports["peer"], bytes.fromhex(node.federation), insider)
            await p.connect()
            await p.handshake()
            try:
                await asyncio.wait_for(p.ws.recv(), 10)
            except websockets.ConnectionClosed:
                return False
            for msg in messages:
                await p.ws.send(p.seal(msg))
            await p.ws.close()  # the closing handshake flushes what was sent
            return True

        async def attack():
            # The insider must be on the roster first (the roster poll runs every second).
            return await deliver(self.b, [personal_deliver(m["id"], e) for e in cases_b.values()])

        wait_until("insider admitted at b", lambda: asyncio.run(attack()), timeout=20)
        for reason in cases_b:
            wait_until(f"refusal {reason} counted at b", lambda r=reason: counter(
                self.b, "conect_personal_envelopes_refused_total", reason=r) > before[r], timeout=20)
        # Delivered (not carried) to a node outside the audience: refused.
        to_c = envelope(forged_plain, commitment, owner, [(c_id, c_seal)])
        wait_until("insider admitted at c", lambda: asyncio.run(deliver(self.c, [personal_deliver(m["id"], to_c)])),
                   timeout=20)
        wait_until("refusal counted at c", lambda: counter(
            self.c, "conect_personal_envelopes_refused_total", reason="not_in_audience") > before_c, timeout=20)
        # Nothing changed: B shows A's data, C none; the refusals name the owner.
        self.assertEqual(self.shown(self.b, m["id"])["personal_data"], person)
        self.assertIsNone(self.shown(self.c, m["id"])["personal_data"])
        events = self.b.log_events("personal_envelope_refused")
        self.assertTrue(any(e.get("reason") == "commitment_mismatch" and e.get("owner") == self.a.node_id[:16]
                            for e in events), events)
        self.assertNotIn("Mallory Forged", self.b.read_log())

    def test_a_contact_reaches_every_school_by_default(self):
        _, contact = self.a.api("POST", "/api/v1/contacts", {
            "organisation": self.school, "display_name": "Coordinator, Lapland VET",
            "personal_data": {"name": "Matti Esimerkki", "phone": "+358401234567"}}, expect=201)
        for n in (self.b, self.c):
            got = wait_until(f"contact at {n.name}", lambda n=n: (s := n.api(
                "GET", f"/api/v1/contacts/{contact['id']}")[1]) and s.get("personal_data_status") == "held" and s,
                timeout=20)
            self.assertEqual(got["personal_data"]["phone"], "+358401234567")
        # A local contact stays with its owner, and the others say so.
        _, local = self.a.api("POST", "/api/v1/contacts", {
            "organisation": self.school, "display_name": "Principal", "audience": {"kind": "local"},
            "personal_data": {"name": "Liisa Paikallinen"}}, expect=201)
        got = wait_until("local contact at b", lambda: (s := self.b.api(
            "GET", f"/api/v1/contacts/{local['id']}")[1]) and "personal_data_status" in s and s)
        self.assertEqual(got["personal_data_status"], "not_shared_with_this_node")
        self.assertIn("owner only", got["personal_data_reason"])
        # Widening it to B delivers it to B, not to C.
        self.a.api("PATCH", f"/api/v1/contacts/{local['id']}",
                   {"audience": {"kind": "members", "members": [self.b.node_id]}}, expect=200)
        wait_until("widened contact at b", lambda: self.b.api(
            "GET", f"/api/v1/contacts/{local['id']}")[1]["personal_data_status"] == "held", timeout=20)
        self.assertEqual(self.c.api("GET", f"/api/v1/contacts/{local['id']}")[1]["personal_data_status"],
                         "not_shared_with_this_node")
        # Narrowing is refused: erase instead.
        status, err = self.a.api("PATCH", f"/api/v1/contacts/{local['id']}", {"audience": {"kind": "local"}})
        self.assertEqual(status, 422, err)
        self.assertIn("only widens", err["detail"])


class CarriedThroughARelay(unittest.TestCase):
    """Line A - C - B, no A-B link (docs/privacy.md "Carry"): the owner A hands
    the sealed envelope to C, which is outside the mobility's audience; C keeps
    it in memory and delivers it to B; B's acknowledgement (an operation of
    B's own log) reaches A through the ordinary sync; C's relay queue is
    empty, and C's files, log and API hold none of the personal data."""

    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.a = cls.fed.add("Lapin ammattiopisto", "FI")
        cls.b = cls.fed.add("Luleå Yrkesgymnasium", "SE")
        cls.c = cls.fed.add("Nord-Troms vgs", "NO")
        cls.fed.trust_all()
        for n in cls.fed.nodes:
            n.start()
        cls.c.dial(cls.a)
        cls.b.dial(cls.c)
        wait_until("line a - c - b", lambda: cls.a.node_id in cls.c.connected_peers()
                   and cls.c.node_id in cls.b.connected_peers())
        wait_until("seal keys everywhere", lambda: all(
            all(m["seal_key"] for m in n.api("GET", "/api/v1/members", expect=200)[1]["items"])
            for n in cls.fed.nodes))
        cls.school = create_organisation(cls.a, "Lapin ammattiopisto", "FI")["id"]
        cls.host = create_organisation(cls.b, "Luleå Bygg AB", "SE", org_type="sme")["id"]
        wait_until("host organisation at a", lambda: cls.a.api("GET", f"/api/v1/organisations/{cls.host}")[0] == 200)

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def test_the_host_receives_through_the_relay_which_holds_no_plaintext(self):
        self.assertNotIn(self.a.node_id, self.b.connected_peers())
        self.assertNotIn(self.b.node_id, self.a.connected_peers())
        tag = uuid.uuid4().hex[:10]
        person = {"name": f"Eero Kantaja-{tag}", "email": f"eero.{tag}@example.fi", "birth_date": "2006-11-03"}
        _, m = self.a.api("POST", "/api/v1/mobilities", {
            "fixed": {"sending_organisation": self.school, "receiving_organisation": self.host,
                      "participant": {"pseudonym": f"FI-{tag}"}, "type": "learner_otj_company",
                      "category": "ivet_learner"},
            "personal_data": person}, expect=201)
        at_b = wait_until("personal data at b, through c", lambda: (s := self.b.api(
            "GET", f"/api/v1/mobilities/{m['id']}")[1]) and s.get("personal_data_status") == "held" and s,
            timeout=30)
        self.assertEqual(at_b["personal_data"], person)
        # C carried it (and only as ciphertext: it is not in the audience).
        self.assertGreaterEqual(counter(self.c, "conect_personal_carry_queued_total"), 1)
        self.assertGreaterEqual(counter(self.a, "conect_personal_carry_sent_total"), 1)
        # B acknowledged it in its own log; the owner learns it through C.
        wait_until("b's acknowledgement at a", lambda: any(
            x["node_id"] == self.b.node_id and x["acknowledged"]
            for x in self.a.api("GET", f"/api/v1/mobilities/{m['id']}")[1]["personal_data_audience"]),
            timeout=30)
        self.assertGreaterEqual(counter(self.b, "conect_personal_envelope_acks_total"), 1)
        # C's relay queue (memory only) is empty, and says why it let go.
        wait_until("c's relay queue empty", lambda: counter(self.c, "conect_personal_relay_queue_envelopes") == 0)
        self.assertEqual(counter(self.c, "conect_personal_relay_queue_bytes"), 0)
        self.assertGreaterEqual(counter(self.c, "conect_personal_carry_dropped_total", reason="delivered")
                                + counter(self.c, "conect_personal_carry_dropped_total", reason="acknowledged"), 1)
        # Nothing of it at C: the API, every file of its data directory, its log.
        at_c = self.c.api("GET", f"/api/v1/mobilities/{m['id']}")[1]
        self.assertIsNone(at_c["personal_data"])
        self.assertEqual(at_c["personal_data_status"], "not_shared_with_this_node")
        self.fed.wait_converged()
        needles = [person["name"].encode(), person["email"].encode(), b"2006-11-03"]
        self.assertEqual(files_containing(self.c.data, needles), [])
        self.assertEqual([x for x in needles if x.decode() in self.c.read_log()], [])
        self.assertEqual(counter(self.c, "conect_personal_envelopes_opened_total"), 0)


class Retention(unittest.TestCase):
    """[privacy] retain_mobility_personal_data_days (docs/privacy.md,
    "Retention"): the sending node erases, by itself, the personal data of a
    mobility that ended longer ago than that; the host drops it too, and both
    store files lose it; a mobility still running keeps its data."""

    def test_the_sending_node_erases_what_ended_longer_ago_than_the_retention_days(self):
        fed = Federation()
        self.addCleanup(fed.close)
        a = fed.add("Lapin ammattiopisto", "FI")
        b = fed.add("Luleå Yrkesgymnasium", "SE")
        fed.trust_all()
        for n in fed.nodes:
            n.start()
        a.dial(b)
        wait_until("link", lambda: b.node_id in a.connected_peers())
        wait_until("seal keys", lambda: all(all(m["seal_key"] for m in n.api("GET", "/api/v1/members", expect=200)[1]["items"])
                                            for n in fed.nodes))
        school = create_organisation(a, "Lapin ammattiopisto", "FI")["id"]
        host = create_organisation(b, "Luleå Bygg AB", "SE", org_type="sme")["id"]
        wait_until("host organisation at a", lambda: a.api("GET", f"/api/v1/organisations/{host}")[0] == 200)

        def mobility(tag, start, end):
            person = {"name": f"Aino Virtanen-{tag}", "email": f"aino.{tag}@example.fi"}
            _, m = a.api("POST", "/api/v1/mobilities", {
                "fixed": {"sending_organisation": school, "receiving_organisation": host,
                          "participant": {"pseudonym": f"FI-{tag}"}, "type": "learner_otj_company",
                          "category": "ivet_learner"},
                "sending": {"planned_start": start, "planned_end": end},
                "personal_data": person}, expect=201)
            return m, person

        ended, ended_person = mobility(uuid.uuid4().hex[:10], "2020-01-06", "2020-01-31")
        running, running_person = mobility(uuid.uuid4().hex[:10], "2026-03-02", "2099-04-30")
        shown = lambda n, m: n.api("GET", f"/api/v1/mobilities/{m['id']}", expect=200)[1]  # noqa: E731
        for n in (a, b):
            wait_until("personal data at " + n.name, lambda n=n: all(
                shown(n, m)["personal_data_status"] == "held" for m in (ended, running)), timeout=20)

        # Off by default: nothing happened. One day of retention from the next start.
        self.assertEqual(counter(a, "conect_personal_data_retention_erased_total"), 0)
        a.stop()
        a.configure(retain_mobility_personal_data_days=1)
        a.start()
        for n in (a, b):
            wait_until("retention erasure at " + n.name,
                       lambda n=n: shown(n, ended)["personal_data_status"] == "erased", timeout=30)
            self.assertEqual(shown(n, running)["personal_data"], running_person)
        self.assertEqual(counter(a, "conect_personal_data_retention_erased_total"), 1)
        self.assertIn("personal_data_retention_erased", a.read_log())
        self.assertIn(ended["id"], a.read_log())
        needles = [ended_person["name"].encode(), ended_person["email"].encode()]
        for n in (a, b):
            wait_until("erased name gone from " + n.name + "'s data.mdb", lambda n=n: files_containing(
                os.path.join(n.data, "store"), needles) == [], timeout=30)
            self.assertEqual(len(files_containing(os.path.join(n.data, "store"), [running_person["name"].encode()])), 1)
        # The erasure is an ordinary signed delta of the owner.
        _, history = b.api("GET", f"/api/v1/records/{ended['id']}/history", expect=200)
        self.assertTrue(any(op.get("erase") for d in history["deltas"] for op in d["operations"]))


def stored_blob(node, commitment):
    """salt || content of `commitment` from the node's live store (mdb_dump
    of the `blobs` table, read-only beside the running node): what the
    owner sealed. Only the test reads it, to seal a genuine envelope."""
    out = subprocess.run(["mdb_dump", "-s", "blobs", os.path.join(node.data, "store")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    rows = [line.strip() for line in out[out.index("HEADER=END") + 1:out.index("DATA=END")]]
    return bytes.fromhex(dict(zip(rows[0::2], rows[1::2]))[commitment.hex()])


class SealKeyRotation(unittest.TestCase):
    """B rotates its keys (`key rotate`: a Rotate with a new identity key and
    a new seal key, docs/privacy.md "Seal keys"). Personal data sealed after
    the rotation goes to the new seal key; what B held stays held; an
    envelope sealed to B's old key that arrives after the rotation still
    opens (the keyring keeps the old secret); audits of the rotated log pass
    with both verifiers. A replicated-roster federation (invites): only an
    admitted member's Rotate counts."""

    @classmethod
    def setUpClass(cls):
        from test_membership import invite, join, members  # the invite flow (docs/membership.md)
        cls.fed = Federation()
        cls.a = cls.fed.add("Lapin ammattiopisto", "FI")
        cls.a.start()
        cls.b = join(cls.fed, "Luleå Yrkesgymnasium", "SE", invite(cls.a))
        cls.b.start()
        wait_until("b admitted at both", lambda: members(cls.b).get(cls.b.node_id) == "admitted"
                   and members(cls.a).get(cls.b.node_id) == "admitted", timeout=60)
        wait_until("both seal keys at a", lambda: all(m["seal_key"] for m in cls.members_of(cls.a).values()))
        cls.school = create_organisation(cls.a, "Lapin ammattiopisto", "FI")["id"]
        cls.host = create_organisation(cls.b, "Luleå Bygg AB", "SE", org_type="sme")["id"]
        wait_until("host organisation at a", lambda: cls.a.api("GET", f"/api/v1/organisations/{cls.host}")[0] == 200)

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    @staticmethod
    def members_of(node):
        return {m["node_id"]: m for m in node.api("GET", "/api/v1/members", expect=200)[1]["items"]}

    def new_mobility(self):
        tag = uuid.uuid4().hex[:10]
        person = {"name": f"Elsa Lindqvist-{tag}", "email": f"elsa.{tag}@example.se", "birth_date": "2006-11-02"}
        _, m = self.a.api("POST", "/api/v1/mobilities", {
            "fixed": {"sending_organisation": self.school, "receiving_organisation": self.host,
                      "participant": {"pseudonym": f"FI-{tag}"}, "type": "learner_otj_company",
                      "category": "ivet_learner"},
            "personal_data": person}, expect=201)
        return m, person

    def held_at_b(self, m):
        status, body = self.b.api("GET", f"/api/v1/mobilities/{m['id']}")
        return body if status == 200 and body["personal_data_status"] == "held" else None

    def test_b_rotates_its_seal_key_and_old_and_new_envelopes_open(self):
        a, b = self.a, self.b
        before, before_person = self.new_mobility()
        wait_until("the mobility made before the rotation held at b", lambda: self.held_at_b(before), timeout=20)
        old_seal = bytes.fromhex(self.members_of(a)[b.node_id]["seal_key"])
        with open(os.path.join(b.data, "seal.key"), "rb") as f:
            old_secret = f.read()
        noise_file, noise_pending = (os.path.join(b.data, f) for f in ("noise.key", "noise.key.pending"))
        with open(noise_file, "rb") as f:
            old_noise_secret = f.read()

        _, rotated = b.api("POST", "/api/v1/keys/rotate", {}, expect=201)
        new_seal = bytes.fromhex(rotated["seal_key"])
        self.assertNotEqual(new_seal, old_seal)
        # B's files: the new seal key in seal.key, the old secret in the
        # keyring (mode 0600, "cnK1" || retired_ms || secret), nothing pending.
        with open(os.path.join(b.data, "seal.key"), "rb") as f:
            self.assertEqual(sodium.crypto_scalarmult_base(f.read()), new_seal)
        ring = os.path.join(b.data, "seal.keyring")
        self.assertEqual(os.stat(ring).st_mode & 0o777, 0o600)
        with open(ring, "rb") as f:
            data = f.read()
        self.assertEqual((data[:4], len(data), data[12:44]), (b"cnK1", 44, old_secret))
        self.assertFalse(os.path.exists(os.path.join(b.data, "seal.key.pending")))
        # The Noise static key rotates too (issue 15): a new noise.key (mode
        # 0600, 32 raw bytes), its public half in the Rotate, nothing pending.
        new_noise = bytes.fromhex(rotated["noise_static_key"])
        self.assertNotEqual(new_noise, sodium.crypto_scalarmult_base(old_noise_secret))
        self.assertEqual(os.stat(noise_file).st_mode & 0o777, 0o600)
        with open(noise_file, "rb") as f:
            self.assertEqual(sodium.crypto_scalarmult_base(f.read()), new_noise)
        self.assertFalse(os.path.exists(noise_pending))
        # Every member learns the new seal key from the Rotate (no separate
        # announcement): A seals to it from now on.
        wait_until("b's new seal key at a", lambda: self.members_of(a)[b.node_id]["seal_key"] == new_seal.hex(),
                   timeout=20)
        self.assertEqual(self.members_of(b)[b.node_id]["seal_key"], new_seal.hex())
        self.assertFalse(b.log_events("seal_key_announced")[1:], "the Rotate carried the key; nothing re-announced")
        self.assertEqual(b.log_events("key_rotated")[-1]["seal_key"], new_seal.hex()[:16])

        # Sealed after the rotation: opened by B with its new key.
        after, after_person = self.new_mobility()
        self.assertEqual(wait_until("the mobility made after the rotation held at b",
                                    lambda: self.held_at_b(after), timeout=20)["personal_data"], after_person)
        # Held before the rotation: still held.
        self.assertEqual(self.held_at_b(before)["personal_data"], before_person)

        # An envelope sealed to B's OLD key arriving after the rotation (an
        # owner that had not yet heard of it; built here from docs/privacy.md
        # with A's genuine plaintext) opens while the old secret is kept:
        # B refuses nothing. A malformed delivery sent after it on the same
        # link marks when B has processed it (one link, in order).
        commitment = bytes.fromhex(before["fixed"]["participant"]["personal"]["commitment"])
        plaintext = stored_blob(a, commitment)
        owner, b_id = bytes.fromhex(a.node_id), bytes.fromhex(b.node_id)
        to_old = envelope(plaintext, commitment, owner, [(b_id, old_seal)])
        to_stranger = envelope(plaintext, commitment, owner, [(b_id, sodium.crypto_box_keypair()[0])])
        insider = Identity()
        cli("member", "add", insider.card(bytes.fromhex(b.federation)), data=b.data)
        refused = lambda r: counter(b, "conect_personal_envelopes_refused_total", reason=r)  # noqa: E731

        statics = []  # (B's Noise static key, its binding) per handshake

        async def deliver(messages):
            p = Peer(b.ports["peer"], bytes.fromhex(b.federation), insider)
            await p.connect()
            payload = await p.handshake()
            statics.append((p.noise.rs, payload))
            try:
                await asyncio.wait_for(p.ws.recv(), 10)  # B's stream header: the link is accepted
            except websockets.ConnectionClosed:
                return False
            for msg in messages:
                await p.ws.send(p.seal(msg))
            await p.ws.close()
            return True

        def delivered_then_marked(env):
            wrong, marks = refused("wrong_seal_key"), refused("malformed")
            wait_until("insider admitted at b", lambda: asyncio.run(deliver(
                [personal_deliver(before["id"], env), personal_deliver(before["id"], b"cnE1" + b"\0" * 10)])),
                timeout=20)
            wait_until("b to process the delivery", lambda: refused("malformed") > marks, timeout=20)
            return refused("wrong_seal_key") - wrong

        self.assertEqual(delivered_then_marked(to_old), 0, "an envelope sealed to b's retired key was refused")
        # B's listener answered with its new Noise static key, without a
        # restart, bound by its new identity key (docs/handshake.md §5).
        rs, payload = statics[-1]
        self.assertEqual(rs, new_noise)
        fields = parse_fields(payload)
        [binding] = fields[3]  # HandshakePayload.static_binding
        self.assertEqual(len(binding), 64)
        # It shows its Rotate, for a peer that was away (HandshakePayload.rotations).
        self.assertEqual(len(fields.get(4, [])), 1, "the handshake carries b's one Rotate")
        sodium.crypto_sign_open(  # raises unless the new identity key signed it
            binding + signing_input(b"conect/noise-static/v1", rs + bytes.fromhex(b.federation)),
            bytes.fromhex(rotated["key"]))
        # After a restart too: the daemon loads the keyring file at start.
        b.stop()
        b.start()
        self.assertEqual(delivered_then_marked(to_old), 0, "after a restart, the retired key was not loaded")
        # The same check refuses a key B never had: the counter does move.
        self.assertEqual(delivered_then_marked(to_stranger), 1)
        self.assertEqual(self.held_at_b(before)["personal_data"], before_person)

        # Audits of the rotated log: both verifiers pass.
        from test_membership import verify_both
        self.fed.wait_converged([a, b])
        bundle = os.path.join(self.fed.root, "seal-rotated.bundle")
        cli("audit", "export", "--out", bundle, data=a.data)
        cpp, py = verify_both(bundle)
        self.assertEqual(py["verdict"], cpp["verdict"])

        # A crash after the Rotate was stored but before the old secret
        # reached the keyring (rebuilt here: the new key back in
        # seal.key.pending, the old one in seal.key, no keyring): settled at
        # start, the old secret kept, the new key adopted.
        b.stop()
        ring, pending, seal = (os.path.join(b.data, f) for f in ("seal.keyring", "seal.key.pending", "seal.key"))
        os.rename(seal, pending)
        os.remove(ring)
        fd = os.open(seal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, old_secret)
        os.close(fd)
        # The Noise key likewise: the new one back in noise.key.pending.
        os.rename(noise_file, noise_pending)
        fd = os.open(noise_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, old_noise_secret)
        os.close(fd)
        b.start()
        self.assertTrue(b.log_events("noise_key_rotation_completed"))
        self.assertFalse(os.path.exists(noise_pending))
        with open(noise_file, "rb") as f:
            self.assertEqual(sodium.crypto_scalarmult_base(f.read()), new_noise)
        self.assertTrue(b.log_events("seal_key_rotation_completed"))
        self.assertFalse(os.path.exists(pending))
        with open(seal, "rb") as f:
            self.assertEqual(sodium.crypto_scalarmult_base(f.read()), new_seal)
        with open(ring, "rb") as f:
            self.assertEqual(f.read()[12:44], old_secret)
        self.assertEqual(delivered_then_marked(to_old), 0, "the settled rotation lost the old secret")

    def test_a_bad_keyring_stops_the_start_and_a_rotation_never_written_is_dropped(self):
        b = self.b
        ring, pending, seal = (os.path.join(b.data, f) for f in ("seal.keyring", "seal.key.pending", "seal.key"))
        kept = open(ring, "rb").read() if os.path.exists(ring) else None
        with open(seal, "rb") as f:
            seal_before = f.read()
        b.stop()
        try:
            # Not a keyring: the node does not start, and says which file and what to do.
            with open(ring, "wb") as f:
                f.write(b"not a keyring")
            os.chmod(ring, 0o600)
            p = cli("run", "--peer-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", data=b.data, check=False,
                    timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(ring + " is not a seal keyring", p.stdout + p.stderr)
            self.assertIn("move it away", p.stdout + p.stderr)
        finally:
            if kept is None:
                os.remove(ring)
            else:
                with open(ring, "wb") as f:
                    f.write(kept)
        # A pending seal key whose Rotate was never stored (a crash before
        # it): dropped at start, the current key stays.
        noise, noise_pending = (os.path.join(b.data, f) for f in ("noise.key", "noise.key.pending"))
        with open(noise, "rb") as f:
            noise_before = f.read()
        for path in (pending, noise_pending):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, os.urandom(32))
            os.close(fd)
        b.start()
        self.assertFalse(os.path.exists(pending))
        with open(seal, "rb") as f:
            self.assertEqual(f.read(), seal_before)
        self.assertTrue(b.log_events("seal_key_rotation_abandoned"))
        self.assertFalse(os.path.exists(noise_pending))
        with open(noise, "rb") as f:
            self.assertEqual(f.read(), noise_before)
        self.assertTrue(b.log_events("noise_key_rotation_abandoned"))
        wait_until("b linked to a again", lambda: self.a.node_id in b.connected_peers(), timeout=30)


if __name__ == "__main__":
    unittest.main()
