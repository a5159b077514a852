"""`conect-node demo` end to end: it starts four schools, seeds them through
their APIs, they converge to one digest, changes keep flowing, and SIGINT
stops everything cleanly."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BINARY, WEB_ROOT, cli, wait_until  # noqa: E402


def read(path):
    with open(path) as f:
        return f.read()


class Demo(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="conect-demo-test-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def status(self, country):
        return json.loads(cli("status", "--json", data=os.path.join(self.root, country)).stdout)

    def test_demo_converges_and_stops_on_sigint(self):
        args = [BINARY, "demo", "--dir", self.root, "--changes-every", "1"]
        if WEB_ROOT:
            args += ["--web-root", WEB_ROOT]
        out_path = os.path.join(self.root, "demo.out")
        with open(out_path, "w") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            def ready():
                if proc.poll() is not None:
                    raise AssertionError("demo exited early:\n" + read(out_path))
                return "running and in sync" in read(out_path)
            wait_until("the demo federation to come up", ready, timeout=240)
            text = read(out_path)
            self.assertEqual(text.count("/?login="), 4, text)
            countries = ["fi", "se", "no", "ru"]
            # Sample data arrived everywhere: every node holds all four schools' records.
            counts = [self.status(c)["counts"] for c in countries]
            self.assertTrue(all(c["placement"] >= 16 and c["mobility"] >= 20 for c in counts), counts)
            # The sample contacts' names read as names in every language's
            # dashboard: no raw role key ("Demo Rovaniemi mobility_coordinator").
            contacts = json.loads(cli("contact", "list", "--json", data=os.path.join(self.root, "fi")).stdout)["items"]
            names = [c["personal_data"]["name"] for c in contacts if c.get("personal_data")]
            self.assertTrue(names, contacts)
            self.assertFalse([n for n in names if "_" in n], names)
            # A reservation's note is signed and read by every member: the
            # sample notes name no participant (they named each one, as the
            # personal data that only the two schools hold does).
            fi = os.path.join(self.root, "fi")
            held = {m["personal_data"]["name"] for m in
                    json.loads(cli("mobility", "list", "--json", data=fi).stdout)["items"] if m.get("personal_data")}
            notes = [r.get("note", "") for r in json.loads(cli("reservation", "list", "--json", data=fi).stdout)["items"]]
            self.assertTrue(held and notes)
            self.assertFalse([n for n in notes if any(name in n for name in held)], notes)
            # Changes keep landing and the four converge on one digest again.
            first = self.status("fi")["version_vector"]
            wait_until("a random change", lambda: self.status("fi")["version_vector"] != first, timeout=60)

            def converged():
                return len({self.status(c)["digest"] for c in countries}) == 1
            wait_until("the four nodes to converge", converged, timeout=60)
            # Each node's dashboard answers.
            for c in countries:
                ports = json.loads(read(os.path.join(self.root, c, "ports.json")))
                import urllib.request
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['api']}/", timeout=10) as r:
                    self.assertEqual(r.status, 200)
            # A second demo on the same directory stops at once and says why;
            # the running one keeps its nodes and their ports.json.
            second = subprocess.run([BINARY, "demo", "--dir", self.root, "--duration", "1"], capture_output=True,
                                    text=True, timeout=25)
            said = second.stdout + second.stderr
            self.assertEqual(second.returncode, 1, said)
            self.assertIn("already running", said)
            for c in countries:
                self.assertRegex(self.status(c)["node_id"], r"^[0-9a-f]{64}$")
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=90)
        self.assertEqual(code, 0, read(out_path))
        for c in ["fi", "se", "no", "ru"]:
            self.assertFalse(os.path.exists(os.path.join(self.root, c, "ports.json")), f"{c} did not stop cleanly")


if __name__ == "__main__":
    unittest.main(verbosity=2)
