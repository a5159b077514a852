"""Chaos: four real nodes whose links run through fault-injecting TCP relays,
with writers at every node while links are cut, blackholed and healed, and
nodes are killed with SIGKILL, frozen with SIGSTOP and restarted.

What must hold at the end, once the faults stop: every write a node
acknowledged (HTTP 201) is on every node, and every confirmation the host
acknowledged shows as confirmed on every node; all digests and version
vectors are equal; no placement window is confirmed beyond its capacity on any
node, at any of the checks made along the way. And the run proves it tested
something: some reservation was confirmed, and every kind of fault was done
(each kind comes once, in a seeded order, before the random schedule) and
seen by the nodes (links lost, killed nodes started again).

Every fault comes from one seed (printed; CONECT_CHAOS_SEED=N replays the same
schedule, CONECT_CHAOS_SECONDS sets its length).
"""
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import Federation, cli, create_organisation, create_placement, wait_until  # noqa: E402

SECONDS = float(os.environ.get("CONECT_CHAOS_SECONDS", "25"))
CAPACITY = 4


class Relay:
    """A TCP relay in front of a node's peer port that can cut or blackhole
    its connections. Noise binds identities, not addresses, so a byte relay is
    invisible to the nodes: only its faults are seen."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.mode = "pass"  # pass | cut (refuse and drop) | blackhole (accept, forward nothing)
        self.pairs = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        peers = {a: b, b: a}
        try:
            while not self.closed:
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.mode != "blackhole":
                        peers[s].sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
            with self.lock:
                if (a, b) in self.pairs:
                    self.pairs.remove((a, b))

    def set(self, mode):
        self.mode = mode
        if mode == "cut":
            with self.lock:
                pairs = list(self.pairs)
            for a, b in pairs:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self):
        self.closed = True
        self.set("cut")
        self.listener.close()


def api_post(node, path, body, timeout=5, expect=201):
    """One API write; returns the answer only when acknowledged (`expect`)."""
    ports = node.ports
    req = urllib.request.Request(f"http://127.0.0.1:{ports['api']}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "Authorization": f"Bearer {node.token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read()) if r.status == expect else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


class Chaos(unittest.TestCase):
    def setUp(self):
        self.seed = int(os.environ.get("CONECT_CHAOS_SEED", str(random.randrange(1 << 30))))
        print(f"\nchaos seed {self.seed} (replay: CONECT_CHAOS_SEED={self.seed})", flush=True)
        self.rng = random.Random(self.seed)
        self.fed = Federation()
        self.nodes = [self.fed.add(name, cc) for name, cc in
                      (("Rovaniemi", "FI"), ("Lulea", "SE"), ("Kirkenes", "NO"), ("Murmansk", "RU"))]
        self.fed.trust_all()
        for n in self.nodes:
            self.tune(n)
            n.start()
        # Every pair linked once, each dial through a relay in front of the dialled node.
        self.relays = []
        for i, a in enumerate(self.nodes):
            for b in self.nodes[i + 1:]:
                relay = Relay(b.ports["peer"])
                self.relays.append(relay)
                cli("peer", "add", f"ws://127.0.0.1:{relay.port}/sync", "--id", b.node_id, data=a.data)
        for a in self.nodes:
            wait_until(f"{a.name} linked to all", lambda a=a: len(a.connected_peers()) == 3, timeout=30)
        self.stopped = set()  # nodes frozen with SIGSTOP

    def tearDown(self):
        for n in self.stopped:
            n.proc.send_signal(signal.SIGCONT)
        for r in self.relays:
            r.close()
        self.fed.close()

    @staticmethod
    def tune(node):
        """Short timers, so links notice faults and come back within the test."""
        node.configure(idle_timeout_ms=2000, summary_interval_ms=500, redial_min_ms=100, redial_max_ms=1000,
                       max_handshakes_per_ip_per_minute=100000)

    # ------------------------------------------------------------- workload
    def writers(self, stop, acknowledged, confirmed, host_placement):
        """Each node writes organisations and asks for slots of the host's
        placement; the host decides every pending request it sees."""
        def write(node):
            i = 0
            while not stop.is_set():
                i += 1
                if node.proc is None or node in self.stopped:
                    time.sleep(0.05)
                    continue
                if i % 3 and node is not self.nodes[0]:
                    rid = api_post(node, f"/api/v1/placements/{host_placement}/reservations",
                                   {"window_id": 1, "slots": 1})
                    kind = "reservation"
                else:
                    rid = api_post(node, "/api/v1/organisations", {
                        "names": [{"lang": "en", "text": f"{node.name} org {i}"}], "type": "sme",
                        "country": "FI"})
                    kind = "organisation"
                if rid:
                    acknowledged.append((node.name, kind, rid["id"]))
                time.sleep(0.02)

        def decide():
            host = self.nodes[0]
            while not stop.is_set():
                if host.proc is None or host in self.stopped:
                    time.sleep(0.05)
                    continue
                try:
                    _, page = host.api("GET", "/api/v1/reservations?role=incoming&decision=pending&limit=20")
                    for r in page.get("items", []):
                        answer = api_post(host, f"/api/v1/reservations/{r['id']}/confirm", {}, expect=200)
                        if answer and answer.get("decision") == "confirmed":
                            confirmed.append(r["id"])
                except Exception:  # the host may be killed mid-request
                    pass
                time.sleep(0.05)
        threads = [threading.Thread(target=write, args=(n,)) for n in self.nodes] + [threading.Thread(target=decide)]
        for t in threads:
            t.start()
        return threads

    # --------------------------------------------------------------- faults
    FAULTS = ["cut", "blackhole", "heal", "kill", "freeze", "thaw"]

    def fault(self, kind):
        """Does one fault; returns what was done (None: nothing to do)."""
        if kind in ("cut", "blackhole"):
            relay = self.rng.choice(self.relays)
            relay.set(kind)
            return f"{kind} a link"
        if kind == "heal":
            for r in self.relays:
                r.set("pass")
            return "heal all links"
        if kind == "kill":
            node = self.rng.choice([n for n in self.nodes if n not in self.stopped])
            node.kill9()
            node.start()
            self.killed.add(node)
            return f"kill -9 and restart {node.name}"
        if kind == "freeze":
            candidates = [n for n in self.nodes if n not in self.stopped]
            if len(candidates) <= 2:
                return None
            node = self.rng.choice(candidates)
            node.proc.send_signal(signal.SIGSTOP)
            self.stopped.add(node)
            return f"SIGSTOP {node.name}"
        if not self.stopped:
            return None
        for node in list(self.stopped):
            node.proc.send_signal(signal.SIGCONT)
            self.stopped.discard(node)
        return "SIGCONT all"

    def schedule(self):
        """Every kind once in a seeded order, then at random."""
        first = list(self.FAULTS)
        self.rng.shuffle(first)
        yield from first
        while True:
            yield self.rng.choice(self.FAULTS + ["heal", "cut"])

    def assert_not_overbooked(self, placement, nodes):
        for n in nodes:
            status, p = n.api("GET", f"/api/v1/placements/{placement}")
            if status != 200:
                continue
            w = p["windows"][0]
            self.assertLessEqual(w["confirmed"], CAPACITY, f"{n.name} shows window 1 overbooked: {w}")
            self.assertFalse(w["overbooked"], n.name)

    def test_acknowledged_writes_survive_and_everyone_converges(self):
        host = self.nodes[0]
        org = create_organisation(host, "Arctic Steel Oy", "FI", "sme")["id"]
        placement = create_placement(host, org, "welding", "FI", [("2027-03-01", "2027-03-12", CAPACITY)])["id"]
        self.fed.wait_converged()
        stop, acknowledged, confirmed = threading.Event(), [], []
        self.killed = set()
        threads = self.writers(stop, acknowledged, confirmed, placement)
        deadline = time.monotonic() + SECONDS
        log, done = [], {kind: 0 for kind in self.FAULTS}
        try:
            for kind in self.schedule():
                if time.monotonic() >= deadline and (all(done.values()) or time.monotonic() >= deadline + 60):
                    break
                what = self.fault(kind)
                if what:
                    done[kind] += 1
                    log.append(what)
                time.sleep(self.rng.uniform(0.3, 1.5))
                live = [n for n in self.nodes if n not in self.stopped and n.proc is not None]
                self.assert_not_overbooked(placement, live)
        finally:
            stop.set()
            for t in threads:
                t.join()
            for node in list(self.stopped):
                node.proc.send_signal(signal.SIGCONT)
            self.stopped.clear()
            for r in self.relays:
                r.set("pass")
        print("faults: " + "; ".join(log), flush=True)
        self.assertGreater(len(acknowledged), 20, "the workload made progress under faults")
        self.assertTrue(confirmed, "the host confirmed some reservation under faults")

        self.fed.wait_converged(timeout=90)
        vvs = [n.status()["version_vector"] for n in self.nodes]
        self.assertTrue(all(v == vvs[0] for v in vvs), "version vectors differ after convergence")
        for name, kind, rid in acknowledged:
            path = f"/api/v1/{'organisations' if kind == 'organisation' else 'reservations'}/{rid}"
            for n in self.nodes:
                self.assertEqual(n.api("GET", path)[0], 200, f"{kind} {rid} acknowledged by {name} missing at {n.name}")
        for rid in confirmed:
            for n in self.nodes:
                decision = n.api("GET", f"/api/v1/reservations/{rid}", expect=200)[1]["decision"]
                self.assertEqual(decision, "confirmed", f"confirmation of {rid} acknowledged by the host, {decision} "
                                 f"at {n.name}")
        self.assert_not_overbooked(placement, self.nodes)
        window = self.nodes[1].api("GET", f"/api/v1/placements/{placement}")[1]["windows"][0]
        self.assertGreaterEqual(window["confirmed"], len(confirmed), "every acknowledged confirmation counts")

        # The nemesis did what it said, and the nodes felt it.
        self.assertTrue(all(done.values()), f"every kind of fault was done: {done}")
        lost = sum(len(n.log_events("peer_disconnected")) for n in self.nodes)
        self.assertGreater(lost, 0, "links were lost")
        for n in self.killed:
            self.assertGreaterEqual(len(n.log_events("node_started")), 2, f"{n.name} was killed and started again")
        print(f"{len(acknowledged)} acknowledged writes; {len(confirmed)} acknowledged confirmations, "
              f"{window['confirmed']} of {CAPACITY} slots confirmed; faults done {done}; {lost} links lost",
              flush=True)

if __name__ == "__main__":
    unittest.main(verbosity=2)
