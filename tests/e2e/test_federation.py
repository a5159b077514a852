"""Real conect-node processes on loopback: rosters, topologies, convergence,
kill -9 and restart. Every wait is a condition with a deadline."""
import asyncio
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from attacker import Identity, Peer, summary_entries  # noqa: E402
from harness import Federation, cli, create_organisation, seed, wait_until  # noqa: E402

COUNTRIES = ["FI", "SE", "NO", "RU", "FI"]


class Topologies(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()

    def tearDown(self):
        self.fed.close()

    def make(self, n):
        nodes = [self.fed.add(f"School {i}", COUNTRIES[i]) for i in range(n)]
        self.fed.trust_all()
        for node in nodes:
            node.start()
        return nodes

    def write_everywhere(self, nodes):
        for i, node in enumerate(nodes):
            create_organisation(node, f"Organisation of {node.name}", COUNTRIES[i])

    def wait_all_connected(self, pairs):
        for a, b in pairs:
            wait_until(f"{a.name} linked to {b.name}", lambda: b.node_id in a.connected_peers(), timeout=30)

    def test_three_nodes_full_mesh_converge(self):
        a, b, c = self.make(3)
        a.dial(b), a.dial(c), b.dial(c)
        c.dial(a)  # both directions between a and c: one link must survive
        self.wait_all_connected([(a, b), (a, c), (b, c)])
        self.write_everywhere([a, b, c])
        self.fed.wait_converged()
        for n in (a, b, c):
            self.assertEqual(sum(n.status()["counts"].values()), 3)

    def test_five_nodes_in_a_line_relay_to_the_ends(self):
        nodes = self.make(5)
        for left, right in zip(nodes, nodes[1:]):
            left.dial(right)
        self.wait_all_connected(list(zip(nodes, nodes[1:])))
        create_organisation(nodes[0], "Written at one end", "FI")
        create_organisation(nodes[4], "Written at the other end", "FI")
        self.fed.wait_converged()
        vv = [n.status()["version_vector"] for n in nodes]
        self.assertTrue(all(v == vv[0] for v in vv))

    def test_star_with_a_node_that_only_dials_out(self):
        hub, *spokes = self.make(4)
        for s in spokes:
            s.dial(hub)  # spokes behind NAT: they only dial out
        self.wait_all_connected([(hub, s) for s in spokes])
        self.write_everywhere([hub] + spokes)
        self.fed.wait_converged()

    def test_untrusted_origin_is_not_held(self):
        a, b, c = self.make(3)
        # c is trusted by b but a does not trust c: b relays c's deltas, a skips them.
        from harness import cli
        cli("member", "remove", c.node_id, data=a.data)
        a.dial(b), b.dial(c)
        self.wait_all_connected([(a, b), (b, c)])
        create_organisation(c, "Only b trusts me", "NO")
        create_organisation(a, "Everyone trusts me", "FI")
        wait_until("b to hold both", lambda: sum(b.status()["counts"].values()) == 2)
        wait_until("a to hold its own", lambda: sum(a.status()["counts"].values()) >= 1)
        # a must never hold c's record, however long we wait for b's summary rounds.
        wait_until("a and b to finish a summary round", lambda: a.status()["version_vector"].get(a.node_id) ==
                   b.status()["version_vector"].get(a.node_id))
        self.assertNotIn(c.node_id, a.status()["version_vector"])


class CrashAndResume(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()

    def tearDown(self):
        self.fed.close()

    def test_kill9_mid_catch_up_resumes(self):
        a = self.fed.add("Source", "FI")
        b = self.fed.add("Sink", "SE")
        self.fed.trust_all()
        n = int(os.environ.get("CONECT_E2E_CATCHUP", "50000"))
        # a's store is filled offline by the seeding tool the bench uses too.
        seed(a, n)
        a.start()
        a_seq = a.status()["version_vector"][a.node_id]["seq"]
        self.assertGreaterEqual(a_seq, n)
        b.start()
        b.dial(a)

        def b_seq():
            return b.status()["version_vector"].get(a.node_id, {}).get("seq", 0)
        first = wait_until("catch-up to start", lambda: b_seq() > 0 and b_seq(), timeout=60)
        b.kill9()
        b.start()
        resumed_from = b_seq()
        self.assertGreaterEqual(resumed_from, first, "what was applied before kill -9 must survive")
        wait_until("catch-up to finish", lambda: b_seq() == a_seq, timeout=180)
        self.fed.wait_converged()
        started = b.log_events("catch_up_started")
        self.assertTrue(started, "catch-up was logged")

    def test_restored_node_waits_for_its_own_chain(self):
        a = self.fed.add("Restored", "FI")
        b = self.fed.add("Partner", "SE")
        self.fed.trust_all()
        a.start()
        own = lambda: a.status()["version_vector"][a.node_id]["seq"]  # noqa: E731
        # What the node authors by itself at its first start (a founder's
        # Found, docs/membership.md; its seal-key announcement,
        # docs/privacy.md), then 3 writes in the backup, 3 after.
        started_at = own()
        for i in range(3):
            create_organisation(a, f"Before backup {i}", "FI")
        backup = os.path.join(self.fed.root, "a-backup")
        cli("backup", backup, data=a.data)
        b.start()
        b.dial(a)
        for i in range(3):
            create_organisation(a, f"After backup {i}", "FI")
        self.fed.wait_converged()
        a.stop()
        b.stop()

        p = cli("restore", backup, data=a.data, check=False)
        self.assertEqual(p.returncode, 1, "a data directory with a store is not overwritten")
        self.assertIn("already holds a store", p.stderr)
        os.rename(os.path.join(a.data, "store"), os.path.join(a.data, "store.lost"))
        others = os.path.join(self.fed.root, "b-backup")
        cli("backup", others, data=b.data)
        p = cli("restore", others, data=a.data, check=False)
        self.assertEqual(p.returncode, 1, "another node's backup is refused")
        self.assertIn("belongs to another node", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(a.data, "store", "data.mdb")))
        cli("restore", backup, data=a.data)

        a.start()  # alone: its partner, which holds a's true head, is down
        self.assertEqual(own(), started_at + 3)
        status, body = a.api("POST", "/api/v1/organisations", {
            "names": [{"lang": "en", "text": "Too early"}], "type": "sme", "country": "FI"})
        self.assertEqual(status, 403, body)
        self.assertIn("restored from a backup", body["detail"])
        self.assertEqual(a.status()["writes_fenced"], "restore")
        self.assertIn("writes      refused until a partner", cli("status", data=a.data).stdout)

        b.start()  # b dials a again; a fetches its 3 deltas after the backup back from b
        wait_until("a to fetch its own chain back", lambda: own() == started_at + 6, timeout=60)
        # The fence lifts once the chain is back, without a write being tried:
        # the operator waits for this line (docs/operations.md) and status.
        wait_until("the fence lifted, said in the log", lambda: a.log_events("author_fence_lifted"), timeout=60)
        self.assertIsNone(a.status()["writes_fenced"])
        created = wait_until("writes to open again", lambda: a.api("POST", "/api/v1/organisations", {
            "names": [{"lang": "en", "text": "After restore"}], "type": "sme", "country": "FI"})[0] == 201)
        self.assertTrue(created)
        self.fed.wait_converged()
        head = b.status()["version_vector"][a.node_id]
        self.assertEqual(head["seq"], started_at + 7, "the first write after the restore continues the chain")
        self.assertIsNone(head["frozen_at"], "no equivocation: no sequence number was reused")

    def test_a_lone_node_restored_with_allow_writes_now_writes_at_once(self):
        """A node no partner ever received deltas from (a restore drill, the
        first node of a federation) is never shown its chain: without
        --allow-writes-now it would stay fenced for good."""
        a = self.fed.add("Alone", "FI")
        a.start()
        own = lambda: a.status()["version_vector"][a.node_id]["seq"]  # noqa: E731
        create_organisation(a, "Before backup", "FI")
        in_backup = own()
        backup = os.path.join(self.fed.root, "alone-backup")
        cli("backup", backup, data=a.data)
        a.stop()
        os.rename(os.path.join(a.data, "store"), os.path.join(a.data, "store.lost"))
        out = json.loads(cli("restore", backup, "--allow-writes-now", "--json", data=a.data).stdout)
        self.assertEqual(out, {"restored": backup, "fenced": False})
        a.start()
        status, body = a.api("POST", "/api/v1/organisations", {
            "names": [{"lang": "en", "text": "Right after restore"}], "type": "sme", "country": "FI"})
        self.assertEqual(status, 201, body)
        self.assertEqual(own(), in_backup + 1, "the write continues the restored chain")
        a.stop()

        # Without the flag the same lone node stays fenced: nobody can show it its chain.
        os.rename(os.path.join(a.data, "store"), os.path.join(a.data, "store.lost2"))
        out = json.loads(cli("restore", backup, "--json", data=a.data).stdout)
        self.assertTrue(out["fenced"])
        a.start()
        status, body = a.api("POST", "/api/v1/organisations", {
            "names": [{"lang": "en", "text": "Fenced"}], "type": "sme", "country": "FI"})
        self.assertEqual(status, 403, body)
        self.assertIn("restored from a backup", body["detail"])

    def test_rolled_back_data_directory_fences_authoring(self):
        """A store rolled back without `restore` (a VM snapshot, copied
        files): once a peer shows the node its own chain ahead of its store,
        writes are refused until the node has fetched that chain back, even
        across a restart, so it never reuses a sequence number."""
        a = self.fed.add("Rolled back", "FI")
        b = self.fed.add("Its partner", "SE")
        self.fed.trust_all()
        witness = Identity()  # a member that shows a its chain and serves nothing
        fed_id = bytes.fromhex(a.federation)
        cli("member", "add", witness.card(fed_id), data=a.data)
        a.start()
        b.start()
        b.dial(a)
        create_organisation(a, "Before the snapshot", "FI")
        a.stop()
        snapshot = os.path.join(self.fed.root, "a-snapshot")
        shutil.copytree(a.data, snapshot)  # the VM snapshot, taken by hand
        a.start()
        for i in range(3):
            create_organisation(a, f"After the snapshot {i}", "FI")
        self.fed.wait_converged([a, b])
        true_head = b.status()["version_vector"][a.node_id]
        a.stop()
        b.stop()
        shutil.rmtree(a.data)
        shutil.copytree(snapshot, a.data)  # rolled back: no `restore`, no fence on disk

        a.start()  # alone: nothing has told it yet
        own = lambda: a.status()["version_vector"][a.node_id]["seq"]  # noqa: E731
        self.assertEqual(own(), true_head["seq"] - 3)

        def write(name):
            return a.api("POST", "/api/v1/organisations", {
                "names": [{"lang": "en", "text": name}], "type": "sme", "country": "FI"})

        async def show_the_true_head():
            p = await Peer(a.ports["peer"], fed_id, witness).connect()
            await p.handshake()
            head = bytes.fromhex(true_head["head"])[:16]
            await p.ws.send(p.seal(summary_entries([(bytes.fromhex(a.node_id), true_head["seq"], head)])))
            wait_until("a to see its own chain ahead", lambda: a.log_events("own_chain_behind"))
            status, body = write("While a peer shows the true head")
            await p.ws.close()
            return status, body
        status, body = asyncio.run(show_the_true_head())
        self.assertEqual(status, 403, body)
        self.assertIn("own chain", body["detail"])

        # The witness is gone; the fence is on disk, so a restart keeps it.
        a.stop()
        a.start()
        status, body = write("After a restart, still behind")
        self.assertEqual(status, 403, body)
        self.assertEqual(own(), true_head["seq"] - 3)

        b.start()  # b dials a again; a fetches its own deltas back
        wait_until("a to fetch its own chain back", lambda: own() == true_head["seq"], timeout=60)
        wait_until("writes to open again", lambda: write("Caught up")[0] == 201)
        self.fed.wait_converged([a, b])
        head = b.status()["version_vector"][a.node_id]
        self.assertEqual(head["seq"], true_head["seq"] + 1, "the first write continues the true chain")
        self.assertIsNone(head["frozen_at"], "no equivocation: no sequence number was reused")


if __name__ == "__main__":
    unittest.main(verbosity=2)
