"""Today's conect-node on the data directory 0.2.0 left behind
(tests/fixtures/v0.2.0/data: node.toml, test keys, store/data.mdb written by
the 0.2.0 binary): it starts (upgrading the store if its schema changed),
answers every query as the 0.2.0 node did (tests/fixtures/v0.2.0/expected.json,
recorded from that node's API), and verifies the bundle 0.2.0 exported. Real
processes; the fixture is copied, never written."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Federation, Node, cli, wait_until  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "v0.2.0")
FIXTURES_030 = os.path.join(os.path.dirname(__file__), "..", "fixtures", "v0.3.0")


def contains(actual, expected, path="$"):
    """Every field 0.2.0 answered is answered the same; new fields may be
    added. A null in 0.2.0's answer may also be left out today."""
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems = []
        for k, v in expected.items():
            if k not in actual:
                if v is not None:
                    problems.append(f"{path}.{k}: missing")
                continue
            problems += contains(actual[k], v, f"{path}.{k}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [p for i, (a, e) in enumerate(zip(actual, expected)) for p in contains(a, e, f"{path}[{i}]")]
    return [] if actual == expected else [f"{path}: 0.2.0 answered {expected!r}, today {actual!r}"]


class UpgradedFixture(unittest.TestCase):
    """Today's node started on a copy of the data directory an earlier
    version left in FIXTURE (with that version's answers in expected.json)."""
    FIXTURE = None
    NAME = None

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(cls.FIXTURE, "expected.json")) as f:
            cls.expected = json.load(f)
        cls.fed = Federation()
        cls.node = Node.from_copy(cls.fed.root, os.path.join(cls.FIXTURE, "data"), cls.NAME)
        cls.node.node_id = cls.expected["node_id"]
        cls.fed.nodes.append(cls.node)
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def get(self, path):
        return self.node.api("GET", path, expect=200)[1]


class Upgrade020(UpgradedFixture):
    FIXTURE = FIXTURES
    NAME = "Lapin ammattiopisto"

    def test_status_digest_and_version_vector_are_those_of_020(self):
        own_seq = self.expected["version_vector"][self.expected["node_id"]]["seq"]
        status = wait_until("the seal-key announcement", lambda: (s := self.get("/api/v1/status")) and
                            s["version_vector"][self.expected["node_id"]]["seq"] > own_seq and s)
        self.assertEqual(status["node_id"], self.expected["node_id"])
        self.assertEqual(status["digest"], self.expected["digest"])
        self.assertEqual(status["store_schema"], 6, "0.2.0's store (schema 1) is upgraded to this build's")
        self.assertIn("store       schema 6", cli("status", data=self.node.data).stdout)
        # At its first start the node announces its new seal key (docs/privacy.md):
        # one delta more in its own log, no record changed (the digest above).
        own = self.expected["node_id"]
        expected_vv = dict(self.expected["version_vector"])
        announced = status["version_vector"][own]
        self.assertEqual(announced["seq"], expected_vv.pop(own)["seq"] + 1)
        self.assertEqual(contains(status["version_vector"], expected_vv), [])
        self.assertEqual(set(status["version_vector"]), set(self.expected["version_vector"]))

    def test_the_node_made_and_announced_a_seal_key(self):
        mode = os.stat(os.path.join(self.node.data, "seal.key")).st_mode & 0o777
        self.assertEqual(mode, 0o600)
        wait_until("own seal key announced", lambda: {m["node_id"]: m for m in self.get(
            "/api/v1/members")["items"]}[self.expected["node_id"]]["seal_key"])

    def test_every_list_answers_as_020_did(self):
        for key, path in [("organisations", "/api/v1/organisations?limit=500"),
                          ("placements", "/api/v1/placements?limit=500"),
                          ("placements_available", "/api/v1/placements?available=true&limit=500"),
                          ("placements_carpentry", "/api/v1/placements?trade=carpentry&limit=500"),
                          ("mobilities", "/api/v1/mobilities?limit=500"),
                          ("contacts", "/api/v1/contacts?limit=500"),
                          ("reservations", "/api/v1/reservations?limit=500"),
                          ("members", "/api/v1/members")]:
            with self.subTest(key):
                self.assertEqual(contains(self.get(path), self.expected[key]), [])

    def test_personal_data_is_still_held_and_the_erasure_still_holds(self):
        mobilities = {m["id"]: m for m in self.get("/api/v1/mobilities?limit=500")["items"]}
        erased = mobilities[self.expected["records"]["fi"]["erased_mobility"]]
        self.assertFalse(erased.get("personal_data"))
        held = [m for m in self.expected["mobilities"]["items"] if m.get("personal_data")]
        self.assertGreater(len(held), 0)
        for m in held:
            self.assertEqual(mobilities[m["id"]]["personal_data"], m["personal_data"])

    def test_other_commands_work_on_the_upgraded_directory(self):
        members = json.loads(cli("member", "list", "--json", data=self.node.data).stdout)
        self.assertEqual(len(members), len(self.expected["version_vector"]))

    def test_the_020_bundle_still_verifies(self):
        p = cli("audit", "verify", os.path.join(FIXTURES, "audit.bundle"), "--json", check=False)
        self.assertEqual(p.returncode, self.expected["audit_verify"]["exit"], p.stderr)
        report = json.loads(p.stdout)
        self.assertEqual(report["verdict"], self.expected["audit_verify"]["report"]["verdict"])


class Upgrade030(UpgradedFixture):
    """Today's conect-node on the data directory 0.3.0 left behind
    (tests/fixtures/v0.3.0: its store in schema 5, the layout before node
    codes, recorded by tests/fixtures/record_v0.3.0.py from 0.3.0's
    binary): it upgrades the store at its first start and answers every
    list, record and history as 0.3.0 did (expected.json), and 0.3.0's
    audit bundle verifies."""
    FIXTURE = FIXTURES_030
    NAME = "Lapin ammattiopisto 030"

    def test_the_store_was_upgraded_from_schema_5(self):
        upgraded = self.node.log_events("store_upgraded")
        self.assertEqual(len(upgraded), 1, upgraded)
        self.assertEqual(str(upgraded[0]["from_schema"]), "5")
        self.assertEqual(self.get("/api/v1/status")["store_schema"], 6)

    def test_status_is_that_of_030(self):
        status = self.get("/api/v1/status")
        self.assertEqual(status["node_id"], self.expected["node_id"])
        self.assertEqual(status["digest"], self.expected["status"]["digest"])
        self.assertEqual(status["counts"], self.expected["status"]["counts"])
        self.assertEqual(contains(status["version_vector"], self.expected["status"]["version_vector"]), [])

    def test_every_list_answers_as_030_did(self):
        for key in ("organisations", "placements", "placements_available", "placements_carpentry", "mobilities",
                    "contacts", "reservations", "members"):
            with self.subTest(key):
                path = {"placements_available": "/api/v1/placements?available=true&limit=500",
                        "placements_carpentry": "/api/v1/placements?trade=carpentry&limit=500",
                        "members": "/api/v1/members"}.get(key, f"/api/v1/{key}?limit=500")
                got = self.get(path)
                # A cursor names a key of the store's layout: only its presence must match.
                self.assertEqual(got.get("next_cursor") is None, self.expected[key].get("next_cursor") is None)
                got.pop("next_cursor", None)
                self.assertEqual(contains(got, {k: v for k, v in self.expected[key].items() if k != "next_cursor"}), [])

    def test_every_record_and_history_answers_as_030_did(self):
        kinds = {}
        for key in ("organisations", "placements", "mobilities", "contacts", "reservations"):
            for item in self.expected[key]["items"]:
                kinds[item["id"]] = key
        for rid, want in self.expected["records"].items():
            with self.subTest(rid):
                record = rid.split("/")[0]
                path = f"/api/v1/records/{record}/history" if rid.endswith("/history") else \
                    f"/api/v1/{kinds[record]}/{record}"
                self.assertEqual(contains(self.get(path), want), [])

    def test_the_030_bundle_still_verifies(self):
        p = cli("audit", "verify", os.path.join(FIXTURES_030, "audit.bundle"), "--json", check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout)["verdict"], "PASS")


class RestoreOf020Backup(unittest.TestCase):
    """A backup made by 0.2.0 (its store, schema 1) restored by today's
    conect-node: upgraded on the way in, and the restore says so."""

    def test_the_restore_says_it_upgraded_the_backup(self):
        with tempfile.TemporaryDirectory(prefix="conect-restore-") as root:
            data = Node.from_copy(root, os.path.join(FIXTURES, "data"), "data").data
            backup = os.path.join(root, "backup")
            os.makedirs(backup)
            shutil.move(os.path.join(data, "store", "data.mdb"), os.path.join(backup, "data.mdb"))
            shutil.rmtree(os.path.join(data, "store"))
            out = json.loads(cli("restore", backup, "--json", data=data).stdout)
            self.assertEqual(out["upgraded"]["from_schema"], 1)
            self.assertGreaterEqual(out["upgraded"]["to_schema"], 6)
            shutil.rmtree(os.path.join(data, "store"))
            text = cli("restore", backup, data=data).stdout
            self.assertIn("the backup held schema 1 of an older conect-node: upgraded to schema", text)


if __name__ == "__main__":
    unittest.main()
