"""Live forwarding (DESIGN §6, docs/sync.md "Forwarding before the commit"):
a relay passes a verified delta of another origin on before its own durable
commit; a delta it authors is acknowledged and sent only after its commit.

Three real nodes in a line, A - R - C (A and C are not linked). R's writer is
blocked for real: another process (mdb_load, lmdb-utils) holds the LMDB
write lock of R's store, so no transaction of R can commit until it lets go.
Every wait is a condition with a deadline."""
import os
import re
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BINARY, Federation, create_organisation, wait_until  # noqa: E402

# A header with no records: closing stdin commits an empty transaction.
LMDB_HEADER = b"VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"


class WriterLock:
    """Holds the write lock of a node's LMDB store from another process."""

    def __init__(self, node):
        self.proc = subprocess.Popen(["mdb_load", os.path.join(node.data, "store")], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.proc.stdin.write(LMDB_HEADER)
        self.proc.stdin.flush()
        # It has begun its write transaction once it waits for records on
        # stdin with the store open (before that it waits on the lock, or
        # has not opened the store yet).
        wait_until("mdb_load to hold the write lock", self.holding, timeout=30)

    def holding(self):
        pid = self.proc.pid
        assert self.proc.poll() is None, self.proc.stderr.read().decode()
        with open(f"/proc/{pid}/wchan") as f:
            waits_on_pipe = "pipe" in f.read()
        fds = os.listdir(f"/proc/{pid}/fd")
        opened = any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith("data.mdb") for fd in fds if fd.isdigit())
        return waits_on_pipe and opened

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def seq_of(node, origin):
    return node.status()["version_vector"].get(origin, {}).get("seq", 0)


def metric(node, name):
    _, text = node.api("GET", "/metrics", token=False, expect=200)
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def in_sync_rounds(node):
    return metric(node, "conect_sync_summaries_in_sync_total")


class ForwardBeforeCommit(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()
        self.a, self.r, self.c = [self.fed.add(f"School {i}", "FI") for i in range(3)]
        self.fed.trust_all()
        for n in (self.a, self.r, self.c):
            n.configure(summary_interval_ms=200)
            n.start()
        self.a.dial(self.r)
        self.r.dial(self.c)
        wait_until("A-R", lambda: self.r.node_id in self.a.connected_peers())
        wait_until("R-C", lambda: self.c.node_id in self.r.connected_peers())
        # Each node's first delta (its seal key) everywhere: R writes nothing
        # of its own while its writer is blocked below. Then one summary round
        # on each link, so that each node knows what its peers hold and pushes
        # them new deltas (before it, a peer that caught up by requests is only
        # told of them).
        self.fed.wait_converged()
        rounds = {n: in_sync_rounds(n) for n in (self.a, self.c)}
        for n in (self.a, self.c):
            wait_until(f"a summary round at {n.name}", lambda: in_sync_rounds(n) > rounds[n])
        self.lock = None

    def tearDown(self):
        if self.lock:
            self.lock.release()
        self.fed.close()

    def test_relay_forwards_before_its_commit(self):
        before = seq_of(self.a, self.a.node_id)
        self.lock = WriterLock(self.r)
        create_organisation(self.a, "Written at A", "FI")  # 201 after A's commit
        # C verified and stored A's delta while R could not commit it.
        wait_until("C holds A's delta", lambda: seq_of(self.c, self.a.node_id) == before + 1)
        self.assertEqual(seq_of(self.r, self.a.node_id), before)
        self.assertGreaterEqual(metric(self.r, "conect_sync_pushes_forwarded_before_commit_total"), 1)
        self.lock.release()
        wait_until("R commits it", lambda: seq_of(self.r, self.a.node_id) == before + 1)
        self.fed.wait_converged()

    def test_authored_delta_is_acknowledged_and_sent_only_after_its_commit(self):
        own = seq_of(self.r, self.r.node_id)
        self.lock = WriterLock(self.r)
        done = {}

        def write():
            done["org"] = create_organisation(self.r, "Written at R", "FI")
        writer = threading.Thread(target=write)
        writer.start()
        # A delta of A crosses R meanwhile: R's strand runs, only its writer
        # waits. By then R's own write has had every chance to go out early.
        before = seq_of(self.a, self.a.node_id)
        create_organisation(self.a, "Written at A", "FI")
        wait_until("C holds A's delta", lambda: seq_of(self.c, self.a.node_id) == before + 1)
        self.assertNotIn("org", done, "the write was acknowledged before its commit")
        self.assertEqual(seq_of(self.a, self.r.node_id), own)
        self.assertEqual(seq_of(self.c, self.r.node_id), own)
        self.lock.release()
        writer.join(timeout=60)
        self.assertIn("org", done)
        wait_until("A holds R's delta", lambda: seq_of(self.a, self.r.node_id) == own + 1)
        wait_until("C holds R's delta", lambda: seq_of(self.c, self.r.node_id) == own + 1)
        self.fed.wait_converged()

    def test_relay_killed_before_its_commit_leaves_peers_consistent(self):
        before = seq_of(self.a, self.a.node_id)
        self.lock = WriterLock(self.r)
        create_organisation(self.a, "Written at A", "FI")
        wait_until("C holds A's delta", lambda: seq_of(self.c, self.a.node_id) == before + 1)
        self.r.kill9()  # forwarded, never committed
        self.lock.release()
        self.r.start()
        wait_until("R fetches it back", lambda: seq_of(self.r, self.a.node_id) == before + 1)
        self.fed.wait_converged()
        for n in (self.a, self.r, self.c):
            self.assertEqual(n.status()["version_vector"], self.a.status()["version_vector"])


def set_push(node, mode):
    """Sets node.toml [sync] push (init writes it once); read at the next start."""
    path = os.path.join(node.data, "node.toml")
    with open(path) as f:
        text = f.read()
    text, n = re.subn(r'^push = "[a-z]*"$', f'push = "{mode}"', text, flags=re.M)
    assert n == 1, "node.toml has no single 'push = \"...\"' line"
    with open(path, "w") as f:
        f.write(text)


class PushModes(unittest.TestCase):
    """node.toml [sync] push: three nodes in a triangle, each in another mode
    (lazy, tree, pruned), as a federation upgrading one node at a time runs."""

    def setUp(self):
        self.fed = Federation()
        self.nodes = [self.fed.add(f"School {i}", "FI") for i in range(3)]
        self.fed.trust_all()
        for n, mode in zip(self.nodes, ("lazy", "tree", "pruned")):
            set_push(n, mode)
            n.configure(summary_interval_ms=200)
            n.start()
        a, b, c = self.nodes
        a.dial(b)
        b.dial(c)
        c.dial(a)
        for x, y in ((a, b), (b, c), (c, a)):
            wait_until(f"{x.name}-{y.name}", lambda: y.node_id in x.connected_peers())
        self.fed.wait_converged()

    def tearDown(self):
        self.fed.close()

    def test_each_mode_spreads_what_its_node_writes(self):
        lazy, tree, pruned = self.nodes
        pushed = {n: metric(n, "conect_sync_pushes_sent_total") for n in self.nodes}
        for writer in self.nodes:
            before = seq_of(writer, writer.node_id)
            for k in range(3):
                create_organisation(writer, f"Written at {writer.name} {k}", "FI")
            for n in self.nodes:
                wait_until(f"{n.name} holds {writer.name}'s deltas",
                           lambda: seq_of(n, writer.node_id) == before + 3)
        self.fed.wait_converged()
        # The lazy node announced and never pushed; the others pushed.
        self.assertEqual(metric(lazy, "conect_sync_pushes_sent_total"), pushed[lazy])
        self.assertGreater(metric(lazy, "conect_sync_haves_sent_total"), 0)
        self.assertGreater(metric(tree, "conect_sync_pushes_sent_total"), pushed[tree])
        self.assertGreater(metric(pruned, "conect_sync_pushes_sent_total"), pushed[pruned])
        # Prunes and grafts of the tree node are ignored by the others, never
        # taken for misbehaviour.
        for n in self.nodes:
            self.assertEqual(metric(n, "conect_sync_misbehaving_peers_total"), 0, n.name)
            self.assertEqual(n.status()["version_vector"], lazy.status()["version_vector"])

    def test_an_unknown_mode_stops_the_node_naming_the_file_key_and_values(self):
        n = self.nodes[0]
        n.stop()
        set_push(n, "fast")
        out = subprocess.run([BINARY, "run", "--data", n.data], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        said = out.stdout + out.stderr
        self.assertIn(os.path.join(n.data, "node.toml") + ":", said)
        self.assertIn("sync.push: 'fast' is not one of eager, pruned, lazy, tree", said)


if __name__ == "__main__":
    unittest.main()
