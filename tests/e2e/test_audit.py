"""Audit against two real nodes: mobilities made through the API, then
`audit export` from a data directory, `audit verify` with no data directory,
`report --format json`, and the independent Python verifier
(scripts/audit_verify.py, written from docs/audit.md) on the same bundles,
untouched and tampered. Both verifiers must agree on every verdict."""
import json
import os
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Federation, cli, create_organisation, wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY_VERIFIER = os.path.join(ROOT, "scripts", "audit_verify.py")


def py_verify(path):
    p = subprocess.run(["/usr/bin/python3", PY_VERIFIER, path, "--json"], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


class Audit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.a, cls.b = cls.fed.linked_pair()
        cls.org_a = create_organisation(cls.a, "Lapin ammattiopisto", "FI")["id"]
        cls.org_b = create_organisation(cls.b, "Luleå Yrkesgymnasium", "SE")["id"]
        cls.fed.wait_converged()
        # a sends 3 learners to b (one cancelled), b sends 2 teachers to a.
        cls.mobilities = []
        plan = [(cls.a, cls.org_a, cls.org_b, "ivet_learner", "learner_otj_company", "2026-03-02"),
                (cls.a, cls.org_a, cls.org_b, "ivet_learner", "learner_otj_company", "2026-09-01"),
                (cls.a, cls.org_a, cls.org_b, "apprentice", "learner_otj_company", "2027-01-10"),
                (cls.b, cls.org_b, cls.org_a, "teacher", "job_shadowing", "2026-05-04"),
                (cls.b, cls.org_b, cls.org_a, "teacher", "job_shadowing", "2026-05-18")]
        for i, (node, sending, receiving, category, kind, start) in enumerate(plan):
            _, m = node.api("POST", "/api/v1/mobilities", {
                "fixed": {"sending_organisation": sending, "receiving_organisation": receiving,
                          "participant": {"pseudonym": "P-%04d" % i}, "type": kind, "category": category},
                "sending": {"planned_start": start, "status": "nominated"}}, expect=201)
            cls.mobilities.append(m["id"])
        cls.a.api("POST", "/api/v1/mobilities/%s/cancel" % cls.mobilities[2], expect=200)
        cls.fed.wait_converged()
        # Both parties confirm the first mobility.
        cls.a.api("POST", "/api/v1/mobilities/%s/confirm" % cls.mobilities[0], expect=200)
        wait_until("b holds a's confirmation", lambda: len(
            cls.b.api("GET", "/api/v1/mobilities/" + cls.mobilities[0], expect=200)[1]["confirmations"]) == 1)
        cls.b.api("POST", "/api/v1/mobilities/%s/confirm" % cls.mobilities[0], expect=200)
        cls.fed.wait_converged()
        cls.bundle = os.path.join(cls.fed.root, "all.bundle")
        cli("audit", "export", "--out", cls.bundle, data=cls.b.data)  # while b runs

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def tampered(self, name, change):
        with open(self.bundle, "rb") as f:
            data = bytearray(f.read())
        change(data)
        path = os.path.join(self.fed.root, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def verify(self, path):
        """Runs both verifiers (no data directory for either); returns both results."""
        p = subprocess.run([os.environ.get("CONECT_NODE", "conect-node"), "audit", "verify", path, "--json"],
                           capture_output=True, text=True, timeout=120, cwd=self.fed.root,
                           env={k: v for k, v in os.environ.items() if k != "CONECT_DATA"})
        cpp = json.loads(p.stdout) if p.stdout.strip() else None
        py_code, py, py_err = py_verify(path)
        self.assertEqual(p.returncode, py_code, f"exit codes differ\nC++: {p.stdout}{p.stderr}\nPython: {py_err}")
        self.assertEqual(cpp["verdict"] == "FAIL", py["verdict"] == "FAIL", (cpp, py))
        return p.returncode, cpp, py

    def test_export_verifies_with_both_verifiers(self):
        code, cpp, py = self.verify(self.bundle)
        self.assertEqual(code, 0, cpp)
        self.assertEqual(cpp["verdict"], "PASS", json.dumps(cpp, indent=1))
        self.assertEqual(py["verdict"], "PASS", json.dumps(py, indent=1))
        self.assertEqual(cpp["federation"], self.a.federation)
        inst = {i["node_id"]: i for i in cpp["institutions"]}
        self.assertEqual(set(inst), {self.a.node_id, self.b.node_id})
        self.assertEqual(inst[self.a.node_id]["name"], "Lapin ammattiopisto")
        self.assertEqual(inst[self.a.node_id]["mobilities_sent"], 3)
        self.assertEqual(inst[self.a.node_id]["mobilities_received"], 2)
        self.assertEqual(inst[self.b.node_id]["mobilities_sent"], 2)
        self.assertEqual(inst[self.a.node_id]["confirmations_valid"], 1)
        self.assertEqual(inst[self.b.node_id]["confirmations_valid"], 1)
        self.assertTrue(all(i["chain_valid"] and i["on_roster"] for i in inst.values()))
        # Both verifiers count the same deltas per origin, and (each party
        # confirmed once) the same valid confirmations.
        py_inst = {i["node_id"]: i for i in py["institutions"]}
        self.assertEqual({k: v["deltas"] for k, v in py_inst.items()}, {k: v["deltas"] for k, v in inst.items()})
        self.assertEqual({k: v["confirmation_operations_valid"] for k, v in py_inst.items()},
                         {k: v["confirmations_valid"] for k, v in inst.items()})
        for node in (self.a, self.b):
            head = node.status()["version_vector"]
            for origin, entry in head.items():
                seq = entry["seq"] if isinstance(entry, dict) else entry
                self.assertEqual(inst[origin]["deltas"], seq, (origin, entry))

    def test_rejected_operations_warn_and_strict_fails(self):
        # The seed bundle of the fuzz target: b writes a's organisation, an
        # authentic operation the merge rejects (tests/fuzz/make_audit_corpus.cc).
        path = os.path.join(ROOT, "tests", "fuzz", "corpus", "audit", "valid.bundle")
        code, cpp, py = self.verify(path)
        self.assertEqual((code, cpp["verdict"], py["verdict"]), (0, "PASS_WITH_WARNINGS", "PASS_WITH_WARNINGS"))
        self.assertEqual([r["rule"] for r in cpp["rejected_operations"]], ["not_authorised"])
        # What the id-only rules find, the full merge finds too.
        positions = {(r["origin"], r["seq"], r["index"]) for r in cpp["rejected_operations"]}
        self.assertTrue(py["rejected_id_only"])
        self.assertLessEqual({(r["origin"], r["seq"], r["index"]) for r in py["rejected_id_only"]}, positions)
        p = subprocess.run([os.environ.get("CONECT_NODE", "conect-node"), "audit", "verify", path, "--strict"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("REJECTED OPERATIONS (1", p.stdout)

    def test_hostile_references_and_auditors_are_refused_by_both_verifiers(self):
        # tests/fuzz/make_audit_corpus.cc: a member shows its placement as
        # hosted by another member's organisation, files a contact under it,
        # names another member's contact as mentor and a placement as host;
        # an auditor authors; and a delta holds a newer version's operation.
        path = os.path.join(ROOT, "tests", "fuzz", "corpus", "audit", "hostile.bundle")
        code, cpp, py = self.verify(path)
        self.assertEqual((code, cpp["verdict"], py["verdict"]), (0, "PASS_WITH_WARNINGS", "PASS_WITH_WARNINGS"))
        rules = sorted((r["seq"], r["rule"]) for r in cpp["rejected_operations"])
        self.assertEqual(len(rules), 6, json.dumps(cpp["rejected_operations"], indent=1))
        self.assertEqual(sorted(r for _, r in rules), ["invalid_argument"] + ["not_authorised"] * 5)
        # The independent verifier finds exactly the same operations, by the same rules.
        as_set = lambda rs: {(r["origin"], r["seq"], r["index"], r["rule"]) for r in rs}  # noqa: E731
        self.assertEqual(as_set(py["rejected_id_only"]), as_set(cpp["rejected_operations"]))
        for result in (cpp, py):
            unknown = [w for w in result["warnings"] if w["reason"] == "unknown_operation"]
            self.assertEqual(len(unknown), 1, result["warnings"])

    def test_text_output_and_exit_code(self):
        p = subprocess.run([os.environ.get("CONECT_NODE", "conect-node"), "audit", "verify", self.bundle],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.strip().splitlines()[-1].split()[:2], ["verdict:", "PASS"])
        self.assertIn("Luleå Yrkesgymnasium", p.stdout)

    def test_report_counts_from_store_and_bundle(self):
        from_store = json.loads(cli("report", "--format", "json", data=self.a.data).stdout)
        from_bundle = json.loads(cli("report", "--bundle", self.bundle, "--format", "json").stdout)
        for r in (from_store, from_bundle):
            self.assertEqual(r["total"], 4, r)
            self.assertEqual(r["cancelled_excluded"], 1, r)
            pairs = {(p["sending_country"], p["receiving_country"]): p["count"] for p in r["by_country_pair"]}
            self.assertEqual(pairs, {("FI", "SE"): 2, ("SE", "FI"): 2})
            self.assertEqual(r["by_category"], {"ivet_learner": 2, "teacher": 2})
            self.assertEqual(r["by_activity"], {"learner_otj_company": 2, "job_shadowing": 2})
            self.assertEqual(r["by_period"], {"2026": 4})
        self.assertEqual(from_store["rows"], from_bundle["rows"])
        monthly = json.loads(cli("report", "--bundle", self.bundle, "--format", "json", "--by", "month").stdout)
        self.assertEqual(monthly["by_period"], {"2026-03": 1, "2026-09": 1, "2026-05": 2})
        csv = cli("report", "--bundle", self.bundle, "--format", "csv").stdout
        self.assertIn("FI,SE,ivet_learner,learner_otj_company,2026,2", csv)

    def test_a_flipped_byte_fails_both_verifiers(self):
        with open(self.bundle, "rb") as f:
            data = f.read()
        # The last occurrence is the organisation record in a's first delta
        # (chains come after the roster's cards in the content).
        at = data.rindex("Lapin ammattiopisto".encode())
        path = self.tampered("flipped.bundle", lambda d: d.__setitem__(at, d[at] ^ 0x01))
        code, cpp, py = self.verify(path)
        self.assertEqual(code, 1)
        self.assertEqual(cpp["verdict"], "FAIL")
        self.assertIn("bad_signature", {f["reason"] for f in cpp["failures"]})
        self.assertIn("content_digest_mismatch", {f["reason"] for f in cpp["failures"]})
        self.assertEqual({(f["reason"], f.get("origin"), f.get("seq", 0)) for f in cpp["failures"]},
                         {(f["reason"], f["origin"], f["seq"]) for f in py["failures"]})
        p = cli("report", "--bundle", path, check=False)
        self.assertEqual(p.returncode, 1, "a bundle that fails gives no report")

    def test_both_verifiers_agree_on_random_corruptions(self):
        import importlib.util
        import random
        import warnings
        spec = importlib.util.spec_from_file_location("audit_verify", PY_VERIFIER)
        av = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(av)
        audit_pb2, delta_pb2 = av.load_messages(os.path.join(ROOT, "proto"))
        with open(self.bundle, "rb") as f:
            original = f.read()
        rng = random.Random(20261128)
        path = os.path.join(self.fed.root, "corrupt.bundle")
        fails = 0
        for i in range(60):
            data = bytearray(original)
            for _ in range(rng.choice([1, 1, 2, 3])):
                at = rng.randrange(24, len(data))
                data[at] ^= 1 << rng.randrange(8)
            with open(path, "wb") as f:
                f.write(data)
            p = subprocess.run([os.environ.get("CONECT_NODE", "conect-node"), "audit", "verify", path, "--json"],
                               capture_output=True, text=True, timeout=60)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    v = av.Verifier(av.read_bundle(bytes(data), audit_pb2), delta_pb2, audit_pb2)
                    v.run()
                py_code = 1 if v.verdict() == "FAIL" else 0
            except av.Unreadable:
                py_code = 2
            self.assertEqual(p.returncode, py_code, f"corruption {i}: C++ {p.stdout[-400:]}")
            fails += p.returncode != 0
        self.assertGreater(fails, 40, "most single-bit corruptions must be caught")

    def test_a_truncated_or_foreign_file_is_unreadable(self):
        path = self.tampered("cut.bundle", lambda d: d.__delitem__(slice(len(d) // 2, None)))
        code, cpp, py = self.verify(path)
        self.assertEqual(code, 2)
        self.assertIn("truncated", cpp["detail"])
        path = self.tampered("v3.bundle", lambda d: d.__setitem__(slice(12, 16), struct.pack(">I", 3)))
        self.assertEqual(self.verify(path)[0], 2)
        p = subprocess.run([os.environ.get("CONECT_NODE", "conect-node"), "audit", "verify",
                            os.path.join(self.fed.root, "missing.bundle")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        # A Python without python3-nacl and python3-protobuf (-S: no
        # dist-packages) cannot verify: it says so and exits 3, not 1 (FAIL),
        # which a script would read as a tampered bundle.
        p = subprocess.run(["/usr/bin/python3", "-S", PY_VERIFIER, self.bundle], capture_output=True, text=True)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("says nothing about the bundle", p.stderr)

    def pb(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location("audit_verify", PY_VERIFIER)
        av = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(av)
        return av, *av.load_messages(os.path.join(ROOT, "proto"))

    def rewritten(self, name, change):
        """The bundle's content parsed, changed by `change(bundle, audit_pb2)`,
        written back with its framing (version from the content)."""
        av, audit_pb2, _ = self.pb()
        with open(self.bundle, "rb") as f:
            bundle = av.read_bundle(f.read(), audit_pb2)
        change(bundle, audit_pb2)
        payload = bundle.SerializeToString()
        path = os.path.join(self.fed.root, name)
        with open(path, "wb") as f:
            f.write(b"conect-audit" + struct.pack(">IQ", bundle.format_version, len(payload)) + payload)
        return path

    def test_the_header_is_signed_and_both_verifiers_print_the_same_digest(self):
        code, cpp, py = self.verify(self.bundle)
        self.assertEqual((cpp["format_version"], py["format_version"]), (2, 2))
        self.assertTrue(cpp["header_signed"] and py["header_signed"])
        self.assertEqual((cpp["exported_by"], py["exported_by"]), (self.b.node_id, self.b.node_id))
        self.assertEqual(cpp["content_digest"], py["content_digest"])
        # a's export of everything, converged with b: another exporter, the same digest.
        other = os.path.join(self.fed.root, "from_a.bundle")
        out = json.loads(cli("audit", "export", "--out", other, "--json", data=self.a.data).stdout)
        self.assertEqual(out["content_digest"], cpp["content_digest"])
        self.assertEqual(self.verify(other)[1]["content_digest"], cpp["content_digest"])

    def test_an_altered_header_or_a_cut_chain_fails_both_verifiers(self):
        def later(bundle, audit_pb2):
            h = audit_pb2.AuditHeader()
            h.ParseFromString(bundle.header)
            h.exported_at_ms += 86_400_000
            bundle.header = h.SerializeToString()
        code, cpp, py = self.verify(self.rewritten("later.bundle", later))
        self.assertEqual(code, 1)
        self.assertEqual([f["reason"] for f in cpp["failures"]], ["bad_signature"])
        self.assertEqual([f["reason"] for f in py["failures"]], ["bad_signature"])

        def cut(bundle, _):
            del bundle.chains[0].deltas[-1]  # still a valid, shorter chain
        code, cpp, py = self.verify(self.rewritten("cut_chain.bundle", cut))
        self.assertEqual(code, 1)
        self.assertEqual([f["reason"] for f in cpp["failures"]], ["content_digest_mismatch"])
        self.assertEqual([f["reason"] for f in py["failures"]], ["content_digest_mismatch"])

        def format_1(bundle, audit_pb2):  # the same cut, as 0.2.0 wrote bundles: unsigned
            h = audit_pb2.AuditHeader()
            h.ParseFromString(bundle.header)
            cut(bundle, audit_pb2)
            bundle.format_version = 1
            bundle.selection.CopyFrom(h.selection)
            bundle.exported_at_ms, bundle.exported_by = h.exported_at_ms, h.exported_by
            bundle.ClearField("header")
            bundle.ClearField("header_signature")
        # Relabelled as 0.2.0's format to shed the signed digest: what this
        # version writes (the roster's Found) gives it away, to both verifiers.
        code, cpp, py = self.verify(self.rewritten("format1.bundle", format_1))
        self.assertEqual((code, cpp["format_version"], cpp["header_signed"]), (1, 1, False), cpp)
        self.assertEqual([f["reason"] for f in cpp["failures"]], ["downgraded_format"])
        self.assertEqual([f["reason"] for f in py["failures"]], ["downgraded_format"])

    def test_the_0_2_0_bundle_fixture_still_verifies(self):
        fixtures = os.path.join(ROOT, "tests", "fixtures", "v0.2.0")
        bundles = sorted(f for f in os.listdir(fixtures) if f.endswith(".bundle")) if os.path.isdir(fixtures) else []
        if not bundles:
            self.skipTest("no 0.2.0 bundle fixture in tests/fixtures/v0.2.0 yet")
        for name in bundles:
            code, cpp, py = self.verify(os.path.join(fixtures, name))
            self.assertEqual(code, 0, (name, cpp))
            self.assertEqual(cpp["format_version"], 1)
            self.assertEqual(cpp["content_digest"], py["content_digest"])

    def test_selection_of_one_mobility_verifies_and_counts_only_it(self):
        path = os.path.join(self.fed.root, "one.bundle")
        out = json.loads(cli("audit", "export", "--out", path, "--record", self.mobilities[3], "--json",
                             data=self.a.data).stdout)
        self.assertIn(self.mobilities[3], out["selection"])
        code, cpp, py = self.verify(path)
        self.assertEqual((code, cpp["verdict"], py["verdict"]), (0, "PASS", "PASS"))
        r = json.loads(cli("report", "--bundle", path, "--format", "json").stdout)
        self.assertEqual(r["total"], 1)
        self.assertEqual(r["by_category"], {"teacher": 1})
        p = cli("audit", "export", "--out", path + "2", "--record", "nonsense", data=self.a.data, check=False)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
