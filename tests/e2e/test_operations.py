"""What an operator meets outside the records: a node without its dashboard
files says so (log and GET /), nightly backups keep only the newest copies,
and a command run as root on a data directory that belongs to another user is
refused. Real processes."""
import json
import os
import pwd
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

    def test_backup_keep_writes_dated_copies_and_prunes_the_oldest(self):
        target = os.path.join(self.fed.root, "backups")
        os.makedirs(os.path.join(target, "not-a-backup"))
        written = []
        for _ in range(3):
            out = json.loads(cli("backup", "--keep", "2", target, "--json", data=self.node.data).stdout)
            self.assertTrue(os.path.exists(os.path.join(out["backup"], "data.mdb")))
            written.append(out["backup"])
        self.assertEqual(len(set(written)), 3, "two backups in one second must not share a folder")
        kept = sorted(d for d in os.listdir(target) if d.startswith("conect-"))
        self.assertEqual([os.path.join(target, d) for d in kept], written[1:])
        self.assertTrue(os.path.isdir(os.path.join(target, "not-a-backup")), "--keep removed a folder it did not write")
        # The newest copy restores.
        fresh = os.path.join(self.fed.root, "restored")
        os.makedirs(fresh)
        for name in ("node.toml", "identity.key", "noise.key", "api.token"):
            with open(os.path.join(self.node.data, name), "rb") as f, open(os.path.join(fresh, name), "wb") as g:
                g.write(f.read())
            os.chmod(os.path.join(fresh, name), 0o600)
        cli("restore", written[-1], data=fresh)

    def test_restore_is_refused_while_the_node_runs(self):
        # An operator who moved the store aside but did not stop the node: it
        # would go on writing to the moved store, and the restore would look done.
        backup = os.path.join(self.fed.root, "backup")
        cli("backup", backup, data=self.node.data)
        self.node.start()
        os.rename(os.path.join(self.node.data, "store"), os.path.join(self.node.data, "store.old"))
        p = cli("restore", backup, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"a node is already running on {self.node.data} (pid {self.node.proc.pid}): stop it first",
                      p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.node.data, "store")), "nothing may be restored")
        self.node.stop()
        cli("restore", backup, data=self.node.data)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_root_is_refused_on_a_data_directory_of_another_user(self):
        nobody = pwd.getpwnam("nobody")
        os.chown(self.node.data, nobody.pw_uid, nobody.pw_gid)
        for args in (["member", "list"], ["backup", os.path.join(self.fed.root, "b")],
                     ["init", "--name", "x", "--country", "FI", "--role", "school"]):
            with self.subTest(args[0]):
                p = cli(*args, data=self.node.data, check=False)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("belongs to user nobody", p.stderr)
                self.assertIn("sudo -u nobody", p.stderr)
        os.chown(self.node.data, 0, 0)


if __name__ == "__main__":
    unittest.main()
