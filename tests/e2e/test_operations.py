"""What an operator meets outside the records: a node without its dashboard
files says so (log and GET /). Real processes."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Federation, cli  # noqa: E402


class Operations(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()
        self.node = self.fed.add("Lapin ammattiopisto", "FI")

    def tearDown(self):
        self.fed.close()

    def test_a_node_without_dashboard_files_says_so_in_its_log_and_on_get_root(self):
        empty = tempfile.mkdtemp(dir=self.fed.root)
        harness.WEB_ROOT, saved = "", harness.WEB_ROOT  # our --web-root instead of the suite's
        try:
            self.node.start(extra=["--web-root", empty])
        finally:
            harness.WEB_ROOT = saved
        status, body = self.node.api("GET", "/", token=False)
        self.assertEqual(status, 404)
        self.assertEqual(body["error"], "no_dashboard")
        self.assertIn("--web-root", body["detail"])
        self.assertEqual(self.node.api("GET", "/healthz", token=False)[0], 200)
        [event] = self.node.log_events("dashboard_missing")
        self.assertIn("--web-root", event["detail"])


if __name__ == "__main__":
    unittest.main()
