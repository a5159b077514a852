"""/metrics during a real catch-up between two conect-node processes, parsed
with a real Prometheus text-format parser (Debian's python3-prometheus-client):
the catch-up progress figures move (done grows, total is known), and the
metrics an operator alerts on are there with sane values. Also the same
progress in GET /api/v1/status, `status --watch` and the log."""
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(__file__))
from harness import BINARY, Federation, create_organisation, seed, wait_until  # noqa: E402


def scrape(node):
    url = f"http://127.0.0.1:{node.ports['api']}/metrics"
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    # The parser raises on anything that is not the text exposition format.
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, family, sample=None, **labels):
    """The value of the one sample of `family` named `sample` (default: the
    family's own name) whose labels include `labels`; None when absent."""
    f = families.get(family)
    if f is None:
        return None
    name = sample or family
    found = [s.value for s in f.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, f"{family} {labels}: {len(found)} samples"
    return found[0] if found else None


class CatchUpMetrics(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()

    def tearDown(self):
        self.fed.close()

    def test_scrapes_during_a_catch_up_parse_and_progress_moves(self):
        a = self.fed.add("Source", "FI")
        b = self.fed.add("Sink", "SE")
        self.fed.trust_all()
        n = int(os.environ.get("CONECT_E2E_METRICS_CATCHUP", "60000"))
        seed(a, n)
        # Sampled ten times a second, so a catch-up of a few seconds shows
        # many steps (the default, a second, is for operators).
        b.configure(progress_interval_ms=100)
        a.start()
        b.start()
        a_seq = a.status()["version_vector"][a.node_id]["seq"]
        self.assertGreaterEqual(a_seq, n)
        before = time.time()
        b.dial(a)
        a_short = a.node_id[:16]

        # Scrape until the catch-up task ran and ended; keep every sample.
        running = []  # (done, total) while conect_progress_running{task="catch_up"} == 1
        scrapes = 0
        deadline = time.monotonic() + 300
        while True:
            self.assertLess(time.monotonic(), deadline, f"catch-up did not end; samples: {running[-5:]}")
            fams = scrape(b)
            scrapes += 1
            is_running = value(fams, "conect_progress_running", task="catch_up")
            done = value(fams, "conect_progress_done", task="catch_up")
            total = value(fams, "conect_progress_total", task="catch_up")
            if is_running == 1:
                running.append((done, total))
            elif is_running == 0 and running:
                break
            elif is_running == 0 and not running and done is not None and done >= n:
                self.fail("the catch-up ended before any scrape saw it running; raise CONECT_E2E_METRICS_CATCHUP")
            time.sleep(0.05)

        # The figures moved: done grew while it ran, never fell, never passed
        # the total, and the total was known (about n) from the start.
        dones = [d for d, _ in running]
        self.assertEqual(dones, sorted(dones), f"done went backwards: {running}")
        self.assertGreater(len(set(dones)), 1, f"done never moved while running: {running}")
        self.assertLess(dones[0], n, running)
        for d, t in running:
            self.assertLessEqual(d, t)
            self.assertGreaterEqual(t, n * 0.9, f"total {t} does not reflect the {n} deltas to fetch")
        print(f"\ncatch-up of {n} deltas: {scrapes} scrapes, {len(running)} while running; done "
              f"{dones[0]} -> {dones[-1]} of {running[-1][1]} in the last running scrape", file=sys.stderr)
        final_done = value(fams, "conect_progress_done", task="catch_up")
        final_total = value(fams, "conect_progress_total", task="catch_up")
        self.assertEqual(final_done, final_total)
        # The task counts from its first sample: deltas stored before it (the
        # first batch can land within one sampling interval) are not in it.
        self.assertGreaterEqual(final_done, n * 0.9)
        wait_until("b to hold a's chain",
                   lambda: b.status()["version_vector"].get(a.node_id, {}).get("seq") == a_seq, timeout=60)

        # A write after the catch-up: authored at a, received at b. Counted
        # from what a authored by itself before (its seal-key announcement).
        authored = lambda f: value(f, "conect_deltas_authored", "conect_deltas_authored_total") or 0  # noqa: E731
        authored_before = authored(scrape(a))
        create_organisation(a, "Written after the catch-up", "FI")
        self.fed.wait_converged()
        wait_until("b's lag to a to read 0",
                   lambda: value(scrape(b), "conect_peer_lag_deltas", peer=a_short) == 0, timeout=30)
        fa, fb = scrape(a), scrape(b)
        now = time.time()

        # Per peer: connected, lag in deltas and seconds, last successful sync.
        self.assertEqual(value(fb, "conect_peer_connected", peer=a_short), 1)
        self.assertEqual(value(fb, "conect_peers_connected"), 1)
        self.assertEqual(value(fb, "conect_peer_lag_seconds", peer=a_short), 0)
        last_sync = value(fb, "conect_peer_last_sync_timestamp_seconds", peer=a_short)
        self.assertGreaterEqual(last_sync, int(before) - 1)
        self.assertLessEqual(last_sync, now + 1)
        # Deltas: authored at a, received and applied at b; no refusals.
        self.assertEqual(authored(fa), authored_before + 1)
        self.assertGreaterEqual(value(fb, "conect_sync_deltas_received", "conect_sync_deltas_received_total"), n + 1)
        self.assertGreaterEqual(value(fb, "conect_deltas_applied", "conect_deltas_applied_total"), n + 1)
        self.assertGreaterEqual(value(fb, "conect_sync_deltas_applied", "conect_sync_deltas_applied_total"), n + 1)
        self.assertEqual(value(fb, "conect_deltas_rejected", "conect_deltas_rejected_total", reason="bad_signature"), 0)
        # Write transactions: a histogram whose buckets add up.
        for fam, kind in ((fb, "apply"), (fa, "author")):
            h = fam["conect_store_write_seconds"]
            self.assertEqual(h.type, "histogram")
            buckets = sorted(((float(s.labels["le"]), s.value) for s in h.samples
                              if s.name.endswith("_bucket") and s.labels["kind"] == kind))
            counts = [c for _, c in buckets]
            self.assertEqual(counts, sorted(counts), "cumulative buckets never fall")
            self.assertEqual(buckets[-1][0], float("inf"))
            count = value(fam, "conect_store_write_seconds", "conect_store_write_seconds_count", kind=kind)
            self.assertEqual(buckets[-1][1], count)
            self.assertGreaterEqual(count, 1)
            self.assertGreater(value(fam, "conect_store_write_seconds", "conect_store_write_seconds_sum", kind=kind), 0)
        # LMDB map and disk.
        used = value(fb, "conect_store_used_bytes")
        self.assertGreater(used, n * 100, "60,000 deltas of ~400 B take more than 100 B each")
        self.assertLessEqual(used, value(fb, "conect_store_map_size_bytes"))
        self.assertLessEqual(value(fb, "conect_store_map_size_bytes"), value(fb, "conect_store_map_limit_bytes"))
        free = value(fb, "conect_data_dir_available_bytes")
        self.assertGreater(free, 0)
        self.assertLessEqual(free, value(fb, "conect_data_dir_capacity_bytes"))
        # API requests by route, method and status; the build.
        self.assertGreaterEqual(value(fb, "conect_api_requests", "conect_api_requests_total",
                                      route="/metrics", method="GET", code="200"), scrapes)
        self.assertGreaterEqual(value(fa, "conect_api_requests", "conect_api_requests_total",
                                      route="/api/v1/organisations", method="POST", code="201"), 1)
        build = [s for s in fb["conect_build_info"].samples]
        self.assertEqual(len(build), 1)
        self.assertEqual(build[0].value, 1)
        version = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout.split()[-1]
        self.assertEqual(build[0].labels["version"], version)

        # The same progress in the status, `status --watch` and the log.
        status = b.status()
        task = next(t for t in status["progress"] if t["task"] == "catch_up")
        self.assertEqual(task["state"], "done")
        self.assertEqual(task["done"], task["total"])
        self.assertEqual(task["unit"], "deltas")
        self.assertGreater(task["per_second"], 0)
        print(f"catch-up task: {task['done']} deltas at {task['per_second']}/s", file=sys.stderr)
        peer = next(p for p in status["peers"] if p["node_id"] == a.node_id)
        self.assertEqual(peer["lag"], 0)
        self.assertIsNotNone(peer["last_sync"])
        self.assertEqual(b.api("GET", "/api/v1/progress", expect=200)[1]["items"], status["progress"])
        watch = subprocess.run([BINARY, "status", "--watch", "--json", "--data", b.data],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(watch.returncode, 0, watch.stderr)
        lines = [json.loads(x) for x in watch.stdout.splitlines()]
        self.assertTrue(lines and all(t["state"] != "running" for t in lines[-1]["progress"]))
        human = subprocess.run([BINARY, "status", "--data", b.data], capture_output=True, text=True, timeout=60)
        self.assertIn("catch_up  done: ", human.stdout)
        ended = [e for e in b.log_events("progress_done") if e.get("task") == "catch_up"]
        self.assertTrue(ended, "the end of the catch-up is logged")
        self.assertEqual(ended[-1]["state"], "done")
        self.assertTrue(b.log_events("progress_started"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
