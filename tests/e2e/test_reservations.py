"""Booking a partner's placement across real nodes: requests made while the
host is cut off stay pending, the host decides them when it is back, and no
node ever shows a window confirmed beyond its capacity, however the requests
and decisions race."""
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Federation, cli, create_organisation, create_placement, wait_until  # noqa: E402

CAPACITY = 3


def in_parallel(calls):
    """Runs the calls at once (released together) and returns their results in order."""
    results = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, call):
        start.wait()
        results[i] = call()
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class Reservations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.host = cls.fed.add("Lapland VET", "FI")
        cls.partners = [cls.fed.add(name, country) for name, country in
                        (("Lulea Gymnasium", "SE"), ("Kirkenes VGS", "NO"), ("Murmansk College", "RU"))]
        cls.fed.trust_all()
        for n in cls.fed.nodes:
            n.start()
        nodes = cls.fed.nodes
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                a.dial(b)
        for a in nodes:
            for b in nodes:
                if a is not b:
                    wait_until(f"{a.name} linked to {b.name}", lambda a=a, b=b: b.node_id in a.connected_peers())

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def window(self, node, placement_id):
        _, p = node.api("GET", f"/api/v1/placements/{placement_id}", expect=200)
        return p["windows"][0]

    def assert_never_overbooked(self, placement_id, confirmed):
        for n in self.fed.nodes:
            w = self.window(n, placement_id)
            self.assertEqual(w["capacity"], CAPACITY, n.name)
            self.assertEqual(w["confirmed"], confirmed, n.name)
            self.assertEqual(w["available"], CAPACITY - confirmed, n.name)
            self.assertFalse(w["overbooked"], n.name)

    def new_placement(self, trade):
        org = create_organisation(self.host, f"Arctic {trade} Oy", "FI", "sme", "Rovaniemi")["id"]
        pl = create_placement(self.host, org, trade, "FI", [("2027-03-01", "2027-03-12", CAPACITY)])["id"]
        self.fed.wait_converged()
        return pl

    def request(self, node, placement_id, slots):
        status, body = node.api("POST", f"/api/v1/placements/{placement_id}/reservations",
                                {"window_id": 1, "slots": slots})
        self.assertEqual(status, 201, body)
        return body["id"]

    def test_requests_made_while_the_host_is_away_never_overbook(self):
        pl = self.new_placement("welding")
        self.host.stop()
        # Three partners ask for two of the three slots at once, host unreachable.
        ids = in_parallel([lambda n=n: self.request(n, pl, 2) for n in self.partners])
        for n, rid in zip(self.partners, ids):
            _, r = n.api("GET", f"/api/v1/reservations/{rid}", expect=200)
            self.assertEqual(r["decision"], "pending")
        self.fed.wait_converged(self.partners)
        for n in self.partners:  # pending requests take nothing yet
            self.assertEqual(self.window(n, pl)["available"], CAPACITY)

        self.host.start()
        def three_pending():
            page = self.host.api("GET", f"/api/v1/reservations?role=incoming&decision=pending&placement={pl}",
                                 expect=200)[1]
            got = {r["id"] for r in page["items"]}
            return got if len(got) == 3 else None
        incoming = wait_until("the host to see the three requests", three_pending)
        self.assertEqual(incoming, set(ids))
        # The CLI lists the same requests for the host's operator.
        listed = json.loads(cli("reservation", "list", "--role", "incoming", "--decision", "pending",
                                "--placement", pl, "--json", data=self.host.data).stdout)
        self.assertEqual({r["id"] for r in listed["items"]}, set(ids))

        # The host's operators confirm all three at once: only one fits.
        answers = in_parallel([lambda rid=rid: self.host.api("POST", f"/api/v1/reservations/{rid}/confirm", {})
                               for rid in ids])
        statuses = sorted(s for s, _ in answers)
        self.assertEqual(statuses, [200, 409, 409], answers)
        for s, body in answers:
            if s == 409:
                self.assertEqual(body["error"], "over_capacity")
        self.fed.wait_converged()
        self.assert_never_overbooked(pl, confirmed=2)
        winner = next(body["id"] for s, body in answers if s == 200)
        for n in self.fed.nodes:
            _, r = n.api("GET", f"/api/v1/reservations/{winner}", expect=200)
            self.assertEqual(r["decision"], "confirmed", n.name)

    def test_a_request_above_the_windows_capacity_is_refused(self):
        pl = self.new_placement("plumbing")
        partner = self.partners[0]
        wait_until("the partner to hold the placement",
                   lambda: partner.api("GET", f"/api/v1/placements/{pl}")[0] == 200)
        before = partner.status()["counts"].get("reservation", 0)
        # More than the window holds could never be confirmed: refused, with why.
        status, body = partner.api("POST", f"/api/v1/placements/{pl}/reservations",
                                   {"window_id": 1, "slots": CAPACITY + 1})
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"], "over_capacity")
        self.assertIn(f"holds {CAPACITY} slots in all", body["detail"])
        self.assertIn("could never be confirmed", body["detail"])
        p = cli("reserve", pl, "--window", "1", "--slots", str(CAPACITY + 1), data=partner.data, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("could never be confirmed", p.stderr)
        self.assertEqual(partner.status()["counts"].get("reservation", 0), before, "nothing was written")
        # The whole window may be asked for: it waits for the host's decision.
        rid = self.request(partner, pl, CAPACITY)
        _, r = partner.api("GET", f"/api/v1/reservations/{rid}", expect=200)
        self.assertEqual(r["decision"], "pending")

    def test_the_last_slot_goes_to_one_requester(self):
        pl = self.new_placement("carpentry")
        first = self.request(self.partners[0], pl, 2)
        wait_until("the host to see the first request",
                   lambda: self.host.api("GET", f"/api/v1/reservations/{first}")[0] == 200)
        self.host.api("POST", f"/api/v1/reservations/{first}/confirm", {}, expect=200)
        # Two partners race for the last slot; the host decides both at once.
        last = in_parallel([lambda n=n: self.request(n, pl, 1) for n in self.partners[1:]])
        for rid in last:
            wait_until("the host to see a request",
                       lambda rid=rid: self.host.api("GET", f"/api/v1/reservations/{rid}")[0] == 200)
        answers = in_parallel([lambda rid=rid: self.host.api("POST", f"/api/v1/reservations/{rid}/confirm", {})
                               for rid in last])
        self.assertEqual(sorted(s for s, _ in answers), [200, 409], answers)
        self.fed.wait_converged()
        self.assert_never_overbooked(pl, confirmed=CAPACITY)
        # A cancelled confirmation frees its slots everywhere.
        self.partners[0].api("POST", f"/api/v1/reservations/{first}/cancel", {}, expect=200)
        self.fed.wait_converged()
        self.assert_never_overbooked(pl, confirmed=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
