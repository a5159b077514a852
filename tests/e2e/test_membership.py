"""The replicated roster with real processes (docs/membership.md): nodes join
one by one with invites, each invited by a different member, with no card
exchange anywhere; every node lists the same members and converges; invites
that are reused, expired, forged, for another role or shown to another node
are refused with a clear message and admit nobody; a removed member's later
writes count on no node. Every wait is a condition with a deadline."""
import base64
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from attacker import _varint as put_varint, read_varint  # noqa: E402
from harness import (CommandFailed, Federation, Node, cli, create_organisation, create_placement,  # noqa: E402
                     wait_until)

COUNTRIES = ["FI", "SE", "NO", "RU", "FI", "SE", "NO", "FI", "SE", "NO"]


def invite(node, role="school", expires="7d"):
    out = cli("invite", "--address", node.peer_url(), "--role", role, "--expires", expires, "--json",
              data=node.data).stdout
    return json.loads(out)["invite"]


def join(fed, name, country, invite_text, role="school", check=True):
    """init --join; returns the Node (not started) or the failed process."""
    n = Node.__new__(Node)
    n.name = name
    n.data = os.path.join(fed.root, name.replace(" ", "_"))
    p = cli("init", "--join", invite_text, "--name", name, "--country", country, "--role", role,
            "--peer-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--json", data=n.data, check=False)
    if not check:
        p.said = p.stdout + p.stderr  # with --json the refusal is JSON on stdout
        return p
    if p.returncode != 0:
        raise CommandFailed(["init", "--join"], p.returncode, p.stdout, p.stderr)
    out = json.loads(p.stdout)
    n.node_id, n.federation = out["node_id"], out["federation"]
    n.proc, n.ports = None, None
    n.log_path = n.data + ".log"
    fed.nodes.append(n)
    return n


def edit_invite(text, field, change):
    """The invite with length-delimited `field` replaced by change(old bytes)."""
    prefix = "conect-invite:"
    raw = base64.urlsafe_b64decode(text[len(prefix):] + "=" * (-len(text[len(prefix):]) % 4))
    out, at = bytearray(), 0
    while at < len(raw):
        key, nxt = read_varint(raw, at)
        if key & 7 == 2:
            n, body_at = read_varint(raw, nxt)
            value = raw[body_at:body_at + n]
            if key >> 3 == field:
                value = change(value)
            out += put_varint(key) + put_varint(len(value)) + value
            at = body_at + n
        else:
            _, end = read_varint(raw, nxt)
            out += raw[at:end]
            at = end
    return prefix + base64.urlsafe_b64encode(bytes(out)).decode().rstrip("=")


def verify_both(bundle):
    """(conect-node audit verify --json, scripts/audit_verify.py --json) of `bundle`, parsed."""
    p = cli("audit", "verify", bundle, "--json", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    py = subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "audit_verify.py"), bundle, "--json"],
                        capture_output=True, text=True, timeout=120)
    assert py.returncode == 0, py.stdout + py.stderr
    return json.loads(p.stdout), json.loads(py.stdout)


def two_founders(fed, first=("Founder A", "FI"), second=("Founder B", "SE"), quorum=2):
    """Two running, linked founders of a federation with admission quorum
    `quorum` (the second adopts the replicated roster: the 0.2.0 upgrade
    step), once each lists both admitted: a node they invite then learns
    of both in its join."""
    a = fed.add(*first, init_args=["--admission-quorum", str(quorum)])
    b = fed.add(*second)
    a.trust(b)
    b.trust(a)
    cli("member", "upgrade", "--admission-quorum", str(quorum), data=b.data)
    a.start()
    b.start()
    b.dial(a)
    both = {a.node_id, b.node_id}
    for n in (a, b):
        wait_until(f"{n.name} to list both founders admitted",
                   lambda n=n: {k for k, v in members(n).items() if v == "admitted"} == both, timeout=60)
    return a, b


def members(node):
    return {m["node_id"]: m["status"] for m in node.api("GET", "/api/v1/members", expect=200)[1]["items"]}


class Invitations(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()
        self.founder = self.fed.add("Founding school", "FI")  # init without --federation founds
        self.founder.start()

    def tearDown(self):
        self.fed.close()

    def joined_members(self, *names):
        """Members (name, country) invited by the founder and started, once
        every node sees all of them admitted."""
        joined = []
        for name, country in names:
            n = join(self.fed, name, country, invite(self.founder))
            n.start()
            joined.append(n)
        everyone = [self.founder] + joined
        for n in everyone:
            wait_until(f"{n.name} to see {len(everyone)} members",
                       lambda: sum(1 for v in members(n).values() if v == "admitted") == len(everyone), timeout=60)
        return joined

    def late_write_of_a_removed_member(self, m, others):
        """The founder expels m while m is down; m comes back alone (its one
        peer, the founder, removed; new ports) not knowing it, and writes
        once. Its node refuses writes once it holds its removal, so only a
        node that does not know yet can sign a late delta. The founder trusts
        m by a local override, so once m dials it the late delta arrives.
        Returns m's seq before the late write and the late write's."""
        self.founder.trust(m)
        m.stop()
        cli("member", "expel", m.node_id, data=self.founder.data)
        for n in others:
            wait_until(f"{n.name} to see {m.name} removed", lambda n=n: members(n).get(m.node_id) == "removed",
                       timeout=60)
        cli("peer", "remove", self.founder.node_id, data=m.data)
        m.ports = None
        m.start()
        before = m.status()["version_vector"][m.node_id]["seq"]
        m.api("POST", "/api/v1/organisations", {"names": [{"lang": "en", "text": "Written after the removal"}],
                                                 "type": "vet_school", "country": "NO"}, expect=201)
        late = m.status()["version_vector"][m.node_id]["seq"]
        self.assertEqual(late, before + 1)
        m.dial(self.founder)
        return before, late

    def test_nodes_join_one_by_one_each_invited_by_another_member(self):
        # Ten members, no `member add` anywhere: each join is invited by an
        # existing member other than the previous inviter, old and new ones
        # alike (the founder twice, a middle member, the newest). (With nine
        # joins the inviters cannot all differ and avoid the newest: the
        # k-th join has only k members to choose from.)
        inviters = [0, 1, 0, 2, 4, 3, 5, 1, 6]
        nodes = [self.founder]
        for i, k in enumerate(inviters, start=1):
            inviter = nodes[k]
            # It invites only once its own store holds its admission.
            wait_until(f"{inviter.name} to hold its own admission",
                       lambda: members(inviter).get(inviter.node_id) == "admitted", timeout=60)
            n = join(self.fed, f"School {i}", COUNTRIES[i], invite(inviter))
            self.assertEqual(members(inviter).get(n.node_id), "admitted", f"{n.name} admitted at {inviter.name}")
            n.start()
            nodes.append(n)
        self.assertEqual(len(nodes), 10)
        ids = {n.node_id for n in nodes}
        for n in nodes:
            wait_until(f"{n.name} to list all {len(ids)} members admitted",
                       lambda: {k for k, v in members(n).items() if v == "admitted"} == ids, timeout=90)
        for i, n in enumerate(nodes):
            create_organisation(n, f"Organisation of {n.name}", COUNTRIES[i])
        self.fed.wait_converged(nodes)
        for n in nodes:
            self.assertEqual(sum(n.status()["counts"].values()), len(nodes))

    def test_peer_add_takes_the_expected_id_from_the_replicated_roster(self):
        # No card was exchanged by hand: the joiner's card (with the address it
        # advertises) reached the founder only in the Admit it wrote.
        address = "ws://127.0.0.1:7999/sync"
        data = os.path.join(self.fed.root, "Advertised")
        out = json.loads(cli("init", "--join", invite(self.founder), "--name", "Advertised", "--country", "SE",
                             "--role", "school", "--peer-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                             "--advertise", address, "--json", data=data).stdout)
        cli("peer", "add", address, data=self.founder.data)
        peers = json.loads(cli("peer", "list", "--json", data=self.founder.data).stdout)
        self.assertIn(out["node_id"], [p["node_id"] for p in peers if p["url"] == address], peers)

    def test_refused_invites_say_why_and_admit_nobody(self):
        good = invite(self.founder)
        first = join(self.fed, "First", "SE", good)
        self.assertTrue(first.node_id)
        # Reused.
        p = join(self.fed, "Second", "NO", good, check=False)
        self.assertEqual(p.returncode, 1, p.said)
        self.assertIn("used already", p.said)
        self.assertFalse(os.path.exists(os.path.join(self.fed.root, "Second")), "a refused join leaves nothing")
        # A flag value init cannot take is a usage error (2) with --join too
        # (it exited 1), checked before the invite is used: it still works.
        fresh = invite(self.founder)
        p = join(self.fed, "Badcountry", "ZZ", fresh, check=False)
        self.assertEqual(p.returncode, 2, p.said)
        self.assertIn("is not an ISO 3166-1 alpha-2 code", p.said)
        self.assertFalse(os.path.exists(os.path.join(self.fed.root, "Badcountry")), "a refused join leaves nothing")
        good_country = join(self.fed, "Goodcountry", "FI", fresh)
        # Into a directory that exists already (the .deb makes /var/lib/conect):
        # a refused join leaves it as it was, so a fresh invite can be used there.
        prepared = os.path.join(self.fed.root, "Prepared")
        os.mkdir(prepared, 0o700)
        p = join(self.fed, "Prepared", "NO", good, check=False)
        self.assertEqual(p.returncode, 1, p.said)
        self.assertEqual(os.listdir(prepared), [], "a refused join leaves nothing")
        prepared = join(self.fed, "Prepared", "NO", invite(self.founder))
        # An invite whose address only this machine can dial (the default a
        # server listening on 0.0.0.0 derives) says so; one given --address not.
        local = Node(self.fed.root, "Loopback founder", "FI",
                     init_args=["--advertise", "ws://127.0.0.1:7999/sync"])
        p = cli("invite", data=local.data)
        self.assertIn("only this machine can dial", p.stderr)
        self.assertTrue(p.stdout.startswith("conect-invite:"), p.stdout)
        p = cli("invite", "--address", "ws://school.example:7700/sync", data=local.data)
        self.assertEqual(p.stderr, "")
        # Empty (`--join "$INVITE"` after the invite command failed): a usage
        # error, not a new federation of one (it founded one, exit 0).
        p = join(self.fed, "Empty", "NO", "", check=False)
        self.assertEqual(p.returncode, 2, p.said)
        self.assertIn("--join was given an empty invite", p.said)
        self.assertFalse(os.path.exists(os.path.join(self.fed.root, "Empty")), "a refused join leaves nothing")
        # Forged: another secret under the same invite id.
        forged = edit_invite(invite(self.founder), 5, lambda secret: bytes(b ^ 0xff for b in secret))
        p = join(self.fed, "Forger", "NO", forged, check=False)
        self.assertEqual(p.returncode, 1, p.said)
        self.assertIn("forged or altered", p.said)
        # Another role than the invite's.
        p = join(self.fed, "Company", "NO", invite(self.founder, role="company"), role="school", check=False)
        self.assertEqual(p.returncode, 1, p.said)
        self.assertIn("the invite is for a company", p.said)
        # Expired (the invite is checked before anything is created).
        short = invite(self.founder, expires="1s")
        minted = time.time()
        wait_until("the invite's second to pass", lambda: time.time() > minted + 1.1)
        p = join(self.fed, "Late", "NO", short, check=False)
        self.assertEqual(p.returncode, 1, p.said)
        self.assertIn("expired", p.said)
        # Shown to another node: the joiner expects the inviter and reaches someone else.
        other = join(self.fed, "Other", "SE", invite(self.founder))
        other.start()
        wait_until("Other to listen", lambda: other.ports)
        stolen = edit_invite(invite(self.founder), 3, lambda _: other.peer_url().encode())
        p = join(self.fed, "Misdirected", "NO", stolen, check=False)
        self.assertEqual(p.returncode, 1, p.said)
        self.assertTrue("expected member" in p.said or "not on the roster" in p.said, p.said)
        # Nobody but First, Goodcountry, Prepared and Other was admitted.
        admitted = {k for k, v in members(self.founder).items() if v == "admitted"}
        self.assertEqual(admitted, {self.founder.node_id, first.node_id, prepared.node_id, other.node_id,
                                    good_country.node_id})

    def test_a_removed_members_later_writes_count_nowhere(self):
        b, c = self.joined_members(("Member B", "SE"), ("Member C", "NO"))
        create_organisation(c, "Written before the removal", "NO")
        self.fed.wait_converged([self.founder, b, c])
        # c's late delta reaches the founder (which trusts it by a local
        # override) and, relayed, b: the merge must refuse it.
        _, late_seq = self.late_write_of_a_removed_member(c, [b])
        wait_until("c to learn it was removed", lambda: members(c).get(c.node_id) == "removed", timeout=60)
        # From then on its own node refuses its writes and says why (it said
        # "written but did not take effect"), and writes nothing.
        status, body = c.api("POST", "/api/v1/organisations", {
            "names": [{"lang": "en", "text": "Refused"}], "type": "vet_school", "country": "NO"})
        self.assertEqual(status, 403, body)
        self.assertIn("this node is no longer a member of the federation (removed", body["detail"])
        self.assertEqual(c.status()["version_vector"][c.node_id]["seq"], late_seq)
        for n in (self.founder, b):
            wait_until(f"{n.name} to hold c's late delta",
                       lambda: n.status()["version_vector"].get(c.node_id, {}).get("seq", 0) >= late_seq, timeout=60)
            self.assertEqual(sum(n.status()["counts"].values()), 1, "only the organisation written before the cut")
        # Both audit verifiers replay the cut: c's late write is a rejected
        # operation in each, and they agree on the verdict.
        bundle = os.path.join(self.fed.root, "removal.bundle")
        cli("audit", "export", "--out", bundle, data=b.data)
        cpp, py = verify_both(bundle)
        self.assertEqual(cpp["verdict"], "PASS_WITH_WARNINGS", cpp)
        self.assertEqual(py["verdict"], cpp["verdict"], py)
        late = {(c.node_id, late_seq, 0, "not_authorised")}
        self.assertEqual({(r["origin"], r["seq"], r["index"], r["rule"]) for r in cpp["rejected_operations"]}, late)
        self.assertEqual({(r["origin"], r["seq"], r["index"], r["rule"]) for r in py["rejected_id_only"]}, late)
        counts = [{i["node_id"]: i["rejected_operations"] for i in v["institutions"]} for v in (cpp, py)]
        self.assertEqual(counts[0], counts[1])
        self.assertEqual(counts[0][c.node_id], 1)
        # Expelling it again is refused: a further vote (by default at c's
        # head here) would move the decided cut and make the late write count.
        p = cli("member", "expel", c.node_id, data=self.founder.data, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no longer a member (removed at seq", p.stderr)
        self.assertEqual(members(self.founder).get(c.node_id), "removed")
        self.assertEqual(sum(self.founder.status()["counts"].values()), 1, "the late write still counts nowhere")
        # Nor is it admitted again, by id or by card, and nothing is written.
        own = self.founder.status()["version_vector"][self.founder.node_id]["seq"]
        for again in (c.node_id, c.card()):
            p = cli("member", "admit", again, data=self.founder.data, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("comes back only under a new identity", p.stderr)
        self.assertEqual(self.founder.status()["version_vector"][self.founder.node_id]["seq"], own)

    def test_rotation_under_writes_loses_nothing_audits_and_still_invites(self):
        b = join(self.fed, "Member B", "SE", invite(self.founder))
        b.start()
        wait_until("b to see itself admitted", lambda: members(b).get(b.node_id) == "admitted", timeout=60)
        before = invite(self.founder)
        for i in range(4):
            create_organisation(self.founder, f"Before rotation {i}", "FI")
        cli("key", "rotate", data=self.founder.data)
        # The founder's Noise binding is signed with its new key from now on
        # (every join through a rotated member was refused as a man in the
        # middle): an invite made after the rotation names that key, and one
        # made before works too, the handshake showing the Rotate.
        old = join(self.fed, "Old invite", "NO", before)
        self.assertEqual(members(self.founder).get(old.node_id), "admitted")
        c = join(self.fed, "Member C", "NO", invite(self.founder))
        c.start()
        wait_until("b to list C admitted", lambda: members(b).get(c.node_id) == "admitted", timeout=60)
        for i in range(4):
            create_organisation(self.founder, f"After rotation {i}", "FI")
        self.fed.wait_converged([self.founder, b, c])
        self.assertEqual(sum(b.status()["counts"].values()), 8, "every write before and after the rotation arrived")
        self.assertTrue(os.path.exists(os.path.join(self.founder.data, "signing.key")))
        # Both verifiers check each delta under the key valid at its seq.
        bundle = os.path.join(self.fed.root, "rotated.bundle")
        cli("audit", "export", "--out", bundle, data=b.data)
        p = cli("audit", "verify", bundle, "--json", check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        py = subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "audit_verify.py"), bundle, "--json"],
                            capture_output=True, text=True, timeout=120)
        self.assertEqual(py.returncode, 0, py.stdout + py.stderr)

    def test_the_quorum_replaces_a_lost_key_and_the_member_continues_with_the_new_one(self):
        b = join(self.fed, "Member B", "SE", invite(self.founder))
        b.start()
        c = join(self.fed, "Member C", "NO", invite(self.founder))
        c.start()
        for n in (b, c):
            wait_until(f"{n.name} to see three members",
                       lambda: sum(1 for v in members(n).values() if v == "admitted") == 3, timeout=60)
        create_organisation(c, "Written with the old key", "NO")
        self.fed.wait_converged([self.founder, b, c])

        def refused(*args, said):
            p = cli("key", "replace", *args, data=self.founder.data, check=False)
            self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn(said, p.stdout + p.stderr)

        # C's key is lost: C (stopped) makes a new key and offers it.
        c.stop()
        offer = cli("key", "offer", data=c.data).stdout.strip()
        self.assertTrue(offer.startswith("conect-key:" + c.node_id + ":"), offer)
        # Refusals in plain words, and nothing written.
        head = self.founder.status()["version_vector"][self.founder.node_id]["seq"]
        refused("--member", "ab" * 32, "--key", offer, said="no member " + "ab" * 32)
        refused("--member", c.node_id, "--key", "garbage", said="not a key offer")
        refused("--member", b.node_id, "--key", offer, said="the offer is for member " + c.node_id)
        refused("--member", self.founder.node_id, "--key", offer, said="key rotate")
        parts = offer.split(":")
        other_key = ("0" if parts[2][0] != "0" else "1") + parts[2][1:]
        refused("--member", c.node_id, "--key", ":".join(parts[:2] + [other_key, parts[3]]),
                said="does not verify")
        self.assertEqual(self.founder.status()["version_vector"][self.founder.node_id]["seq"], head,
                         "a refused key replacement wrote nothing")
        # Quorum 1: the founder's vote replaces the key on every node.
        cli("key", "replace", "--member", c.node_id, "--key", offer, data=self.founder.data)
        for n in (self.founder, b):
            wait_until(f"{n.name} to hold C's new key", lambda: member_item(n, c.node_id)["key_changes"] == 1,
                       timeout=60)
        # C starts with its new key: peers that hold the Rekey take its link,
        # it learns the Rekey, and its next write is signed by the new key and counts.
        c.start()
        wait_until("C to hold its own Rekey", lambda: member_item(c, c.node_id)["key_changes"] == 1, timeout=60)
        create_organisation(c, "Written with the new key", "NO")
        self.fed.wait_converged([self.founder, b, c])
        for n in (self.founder, b):
            self.assertEqual(sum(n.status()["counts"].values()), 2, "both of C's writes count")

    def test_a_removal_reaches_a_node_that_was_offline(self):
        b, m, d = self.joined_members(("Member B", "SE"), ("Member M", "NO"), ("Member D", "FI"))
        everyone = [self.founder, b, m, d]
        create_organisation(m, "Written before the removal", "NO")
        self.fed.wait_converged(everyone)
        # D is offline for the removal and M's later write. The founder keeps
        # M linked by a local override, so M's late delta still arrives.
        d.stop()
        before, late = self.late_write_of_a_removed_member(m, [b])
        for n in (self.founder, b):
            wait_until(f"{n.name} to hold M's late delta",
                       lambda: n.status()["version_vector"].get(m.node_id, {}).get("seq", 0) >= late, timeout=60)
        # D comes back: it learns the removal and M's late delta (from M itself
        # or relayed by the others, in whatever order) and counts only the
        # write before the cut.
        d.start()
        wait_until("D to hold M's late delta",
                   lambda: d.status()["version_vector"].get(m.node_id, {}).get("seq", 0) >= late, timeout=60)
        wait_until("D to see M removed", lambda: members(d).get(m.node_id) == "removed", timeout=60)
        self.fed.wait_converged([self.founder, b, d])
        for n in (self.founder, b, d):
            self.assertEqual(sum(n.status()["counts"].values()), 1,
                             f"{n.name}: only the organisation written before the cut counts")
        self.assertEqual(member_item(d, m.node_id)["last_seq"], before)

    def test_a_removed_member_is_unlinked_and_gets_no_later_data(self):
        b, c, d = self.joined_members(("Member B", "SE"), ("Member C", "NO"), ("Member D", "FI"))
        everyone = [self.founder, b, c, d]
        # c is linked to the founder (which it dialled) and to b (which dials it).
        b.dial(c)
        for n in (self.founder, b):
            wait_until(f"{n.name} to be linked to c", lambda: c.node_id in n.connected_peers(), timeout=60)
        host = create_organisation(b, "Host written before the removal", "SE")["id"]
        self.fed.wait_converged(everyone)
        joins = lambda: [e for e in self.founder.log_events("join_started") if e.get("joiner") == c.node_id[:16]]  # noqa: E731
        joined = joins()  # c's own join
        cli("member", "expel", c.node_id, data=self.founder.data)
        for n in (self.founder, b):
            wait_until(f"{n.name} to see c removed", lambda: members(n).get(c.node_id) == "removed", timeout=60)
            wait_until(f"{n.name} to close its link to c", lambda: c.node_id not in n.connected_peers(), timeout=30)
            self.assertIn("removed from the roster",
                          [e.get("reason") for e in n.log_events("peer_disconnected") if e.get("peer") == c.node_id[:16]])
        # c redials the founder: the handshake refuses it as removed, and tells
        # it so; c stops redialling the founder and says why, once (it went on
        # redialling on its backoff forever).
        refusals = lambda: [e for e in self.founder.log_events("handshake_refused")  # noqa: E731
                            if c.node_id in e.get("reason", "")]
        wait_until("the founder to refuse c's redial", lambda: any(
            "was removed from the federation" in e["reason"] for e in refusals()), timeout=60)
        self.assertEqual(joins(), joined, "c's redial was taken for a join")
        told = lambda: [e for e in c.log_events("peer_refuses_us") if e.get("peer") == self.founder.node_id[:16]]  # noqa: E731
        wait_until("c to learn the founder refuses it as removed", lambda: told(), timeout=30)
        self.assertIn("removed from the federation", told()[0]["reason"])
        seen = {p["node_id"]: p for p in c.status()["peers"]}
        self.assertEqual(seen[self.founder.node_id]["refuses_us"], "this node was removed from the federation")
        self.assertIn("refuses us: this node was removed from the federation",
                      cli("status", data=c.data).stdout)
        refused_so_far = len(refusals())
        # b, which dialled c, does not redial it.
        not_dialled = lambda: [e for e in b.log_events("peer_not_dialled") if e.get("peer") == c.node_id[:16]]  # noqa: E731
        wait_until("b to stop dialling c", lambda: len(not_dialled()) == 1, timeout=30)
        # A placement written afterwards reaches the remaining members, never c.
        placement = create_placement(b, host, "welding", "SE", [("2027-03-01", "2027-03-12", 2)])["id"]
        head = b.status()["version_vector"][b.node_id]["seq"]
        wait_until("d to hold the placement",
                   lambda: d.api("GET", f"/api/v1/placements/{placement}")[0] == 200, timeout=60)
        self.fed.wait_converged([self.founder, b, d])
        self.assertEqual(c.api("GET", f"/api/v1/placements/{placement}")[0], 404)
        self.assertLess(c.status()["version_vector"][b.node_id]["seq"], head)
        for n in (self.founder, b, d):
            self.assertNotIn(c.node_id, n.connected_peers(), n.name)
        self.assertEqual(len(not_dialled()), 1, "b dialled c once more")
        self.assertEqual(len(told()), 1, "c said it more than once")
        self.assertEqual(len(refusals()), refused_so_far, "c redialled the founder after it was told")

    def test_a_partner_away_during_a_rotation_links_again(self):
        # A federation of two: b is down while the founder rotates. b's roster
        # knows only the founder's first key, and the Rotate that would tell
        # it the new one can only come over a link to the founder: the
        # founder's handshake shows it (every handshake was refused as a man
        # in the middle, for good).
        b = join(self.fed, "Member B", "SE", invite(self.founder))
        b.start()
        wait_until("b to see itself admitted", lambda: members(b).get(b.node_id) == "admitted", timeout=60)
        b.stop()
        cli("key", "rotate", data=self.founder.data)
        create_organisation(self.founder, "Written with the new key", "FI")
        b.start()
        wait_until("b to hold the founder's rotation",
                   lambda: member_item(b, self.founder.node_id)["key_changes"] == 1, timeout=60)
        self.fed.wait_converged([self.founder, b])
        self.assertEqual(sum(b.status()["counts"].values()), 1)
        self.assertFalse([e for e in b.log_events("handshake_refused") if "binding" in e.get("reason", "")])

    def test_after_a_rotation_the_old_key_is_refused_and_the_new_one_connects(self):
        b = join(self.fed, "Member B", "SE", invite(self.founder))
        b.start()
        wait_until("b to see itself admitted", lambda: members(b).get(b.node_id) == "admitted", timeout=60)
        cli("key", "rotate", data=self.founder.data)
        wait_until("b to hold the founder's new key",
                   lambda: member_item(b, self.founder.node_id)["key_changes"] == 1, timeout=60)
        # A copy of the founder's data directory signing with its first key
        # (signing.key removed): a stale backup, or whoever stole that key.
        self.founder.stop()
        stale = Node.from_copy(self.fed.root, self.founder.data, "Stale copy")
        stale.node_id, stale.federation = self.founder.node_id, self.founder.federation
        os.remove(os.path.join(stale.data, "signing.key"))
        if os.path.exists(os.path.join(stale.data, "ports.json")):
            os.remove(os.path.join(stale.data, "ports.json"))
        self.fed.nodes.append(stale)
        seen = len(b.log_events("handshake_refused"))
        stale.start()
        cli("peer", "add", b.peer_url(), "--id", b.node_id, data=stale.data)

        def refused_as_retired():
            return [e for e in b.log_events("handshake_refused")[seen:]
                    if self.founder.node_id in e["reason"] and "rotated away from" in e["reason"]]
        wait_until("b to refuse the old key's handshake, saying why", refused_as_retired, timeout=60)
        self.assertNotIn(self.founder.node_id, b.connected_peers(), "a link made with the retired key")
        stale.stop()
        # The founder with its current key connects again.
        self.founder.start()
        wait_until("b to link with the founder's current key",
                   lambda: self.founder.node_id in b.connected_peers(), timeout=60)


def member_item(node, member_id):
    return next(m for m in node.api("GET", "/api/v1/members", expect=200)[1]["items"] if m["node_id"] == member_id)


def metric(node, name):
    """The sum of a counter's samples in node's /metrics."""
    status, text = node.api("GET", "/metrics", token=False)
    assert status == 200, text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


class QuorumOfTwo(unittest.TestCase):
    """DESIGN §2: with admission_quorum 2 a card admitted once is pending on
    every node, and its deltas are taken nowhere, until a second member
    admits it; then they are. Meanwhile it catches up receive-only."""

    def setUp(self):
        self.fed = Federation()

    def tearDown(self):
        self.fed.close()

    def test_a_member_admitted_once_is_pending_everywhere_until_a_second_admission(self):
        a, b = two_founders(self.fed)
        c = join(self.fed, "Newcomer C", "NO", invite(a))
        c.start()
        for n in (a, b):
            wait_until(f"{n.name} to list C pending", lambda: members(n).get(c.node_id) == "pending", timeout=60)
            item = member_item(n, c.node_id)
            self.assertEqual((item["admissions"], item["quorum"]), (1, 2), item)
        # C catches up receive-only (DESIGN §2, docs/membership.md): A and B take its link and
        # send it the federation's deltas; its own are held back (skipped and counted).
        create_organisation(a, "Written by A while C is pending", "FI")
        a_seq = a.status()["version_vector"][a.node_id]["seq"]
        wait_until("pending C to receive A's write",
                   lambda: c.status()["version_vector"].get(a.node_id, {}).get("seq", 0) >= a_seq, timeout=60)
        skipped = metric(a, "conect_sync_untrusted_skipped_total")
        create_organisation(c, "Written while pending", "NO")
        c_seq = c.status()["version_vector"][c.node_id]["seq"]
        wait_until("A to hold C's delta back (skipped and counted)",
                   lambda: metric(a, "conect_sync_untrusted_skipped_total") > skipped, timeout=60)
        for n in (a, b):
            wait_until(f"{n.name} to hold A's write", lambda: sum(n.status()["counts"].values()) == 1, timeout=60)
            self.assertNotIn(c.node_id, n.status()["version_vector"], f"{n.name} took a pending member's delta")
        # A's own second admission of C would be written and change nothing
        # (1 of 2 still): refused, naming who may give the next one.
        a_seq = a.status()["version_vector"][a.node_id]["seq"]
        p = cli("member", "admit", c.node_id[:16], data=a.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"this node admitted member {c.node_id[:16]} already (1 of 2 admissions)", p.stderr)
        self.assertEqual(a.status()["version_vector"][a.node_id]["seq"], a_seq)
        # The second admission, by id (no card exchange; the 16 hex digits
        # `member list` shows will do): C is admitted everywhere and its delta taken.
        cli("member", "admit", c.node_id[:16], data=b.data)
        for n in (a, b, c):
            wait_until(f"{n.name} to list C admitted", lambda: members(n).get(c.node_id) == "admitted", timeout=60)
        # Its receive-only link became a member's link without being closed
        # (it was, "no longer pending nor a member", and redialled).
        for n in (a, b):
            self.assertFalse([e for e in n.log_events("peer_disconnected")
                              if e.get("reason") == "no longer pending nor a member"], n.name)
        for n in (a, b):
            wait_until(f"{n.name} to take C's delta",
                       lambda: n.status()["version_vector"].get(c.node_id, {}).get("seq", 0) >= c_seq, timeout=60)
        self.fed.wait_converged([a, b, c])
        self.assertEqual(sum(a.status()["counts"].values()), 2)
        # C, admitted by invitation, founds nothing: its Found would set the
        # quorum to 1 on every node, and C could then expel anyone alone.
        c_head = c.status()["version_vector"][c.node_id]["seq"]
        p = cli("member", "upgrade", "--admission-quorum", "1", data=c.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("already an admitted member of the federation's replicated roster", p.stderr)
        self.assertEqual(c.status()["version_vector"][c.node_id]["seq"], c_head, "an upgrade was written")
        c_org = create_organisation(c, "Nordkapp Maritime AS", "NO", "sme")["id"]
        c_placement = create_placement(c, c_org, "welding", "NO", [("2027-03-01", "2027-03-12", 2)])["id"]
        wait_until("A to hold C's placement",
                   lambda: a.api("GET", f"/api/v1/placements/{c_placement}")[0] == 200, timeout=60)
        # A second admission of an admitted member, or of an unknown id, is refused with why.
        p = cli("member", "admit", c.node_id, data=a.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("admitted already", p.stdout + p.stderr)
        # Expelling takes the quorum too. A's vote alone removes nobody, and
        # A's second vote is refused: a voter's first vote is its vote.
        p = cli("member", "expel", "deadbeefdeadbeef", data=a.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no member id starts with deadbeefdeadbeef", p.stderr)
        cli("member", "expel", c.node_id[:16], data=a.data)
        wait_until("B to hold A's vote", lambda: member_item(b, c.node_id)["removal_votes"] == 1,
                   timeout=60)
        self.assertEqual(members(b).get(c.node_id), "admitted", "one vote of two removed C")
        self.assertIn("[admitted (1/2 votes to expel)]", cli("member", "list", data=b.data).stdout)
        a_seq = a.status()["version_vector"][a.node_id]["seq"]
        p = cli("member", "expel", c.node_id, data=a.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("voted to expel", p.stdout + p.stderr)
        self.assertEqual(a.status()["version_vector"][a.node_id]["seq"], a_seq, "a vote that cannot count was written")
        cli("member", "expel", c.node_id, data=b.data)
        for n in (a, b):
            wait_until(f"{n.name} to list C removed", lambda: members(n).get(c.node_id) == "removed", timeout=60)
        # Nobody decides a request for the removed member's placement: refused.
        status, body = a.api("POST", f"/api/v1/placements/{c_placement}/reservations", {"window_id": 1, "slots": 1})
        self.assertEqual(status, 409, body)
        self.assertIn("was removed from the federation", body["detail"])
        self.assertIn("nobody would decide this request", body["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
