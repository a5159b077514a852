"""The command line as an operator meets it: exit codes, --json output parsed
(not grepped), and the error text of common mistakes. Real processes."""
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Federation, cli, wait_until  # noqa: E402


class InitAndCards(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()

    def tearDown(self):
        self.fed.close()

    def test_init_creates_the_fixed_layout_with_private_modes(self):
        n = self.fed.add("Lapin ammattiopisto", "FI")
        for name in ("node.toml", "identity.key", "noise.key", "api.token", "store"):
            self.assertTrue(os.path.exists(os.path.join(n.data, name)), name)
        self.assertEqual(stat.S_IMODE(os.stat(n.data).st_mode), 0o700)
        for secret in ("identity.key", "noise.key", "api.token"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(n.data, secret)).st_mode), 0o600, secret)
        self.assertRegex(n.node_id, r"^[0-9a-f]{64}$")
        self.assertRegex(n.federation, r"^[0-9a-f]{32}$")

    def test_init_refuses_to_overwrite_an_identity(self):
        n = self.fed.add("Luleå Yrkesgymnasium", "SE")
        with open(os.path.join(n.data, "identity.key"), "rb") as f:
            before = f.read()
        p = cli("init", "--name", "Other", "--country", "SE", "--role", "school", data=n.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already initialised", p.stderr)
        with open(os.path.join(n.data, "identity.key"), "rb") as f:
            self.assertEqual(f.read(), before)

    def test_init_usage_errors(self):
        d = os.path.join(self.fed.root, "x")
        # A flag value init cannot take is a usage error (2), as in every other command.
        for flag, value, said in (("--country", "ZZ", "ISO 3166-1"), ("--role", "teacher", "--role must be"),
                                  ("--api-listen", "nonsense", "is not HOST:PORT"),
                                  ("--federation", "zz", "32 hex characters")):
            args = {"--name": "X", "--country": "FI", "--role": "school", flag: value}
            p = cli("init", *[x for kv in args.items() for x in kv], data=d, check=False)
            self.assertEqual(p.returncode, 2, f"{flag} {value}: {p.stderr}")
            self.assertIn(said, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "identity.key")))
        p = cli("init", "--country", "FI", "--role", "school", data=d, check=False)
        self.assertEqual(p.returncode, 2, "a missing required flag is a usage error")
        # With --json the usage error is JSON on standard output, like every refusal.
        p = cli("init", "--country", "FI", "--role", "school", "--json", data=d, check=False)
        self.assertEqual(p.returncode, 2)
        err = json.loads(p.stdout)
        self.assertEqual(err["error"], "usage")
        self.assertIn("--name is required", err["detail"])
        p = cli("frobnicate", check=False)
        self.assertEqual(p.returncode, 2)
        # A mistyped command is named, with the ones that exist (it said
        # "A subcommand is required").
        p = cli("placment", "list", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("'placment' is not a command of conect-node; one of: init,", p.stderr)
        self.assertIn(" placement,", p.stderr)
        p = cli("export", "placement", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("'placement' is not a command of conect-node export; one of: placements, mobilities, contacts",
                      p.stderr)
        self.assertRegex(cli("--version").stdout.strip(), r"^conect-node \d+\.\d+\.\d+$")

    def test_card_is_one_line_and_member_add_checks_it(self):
        a = self.fed.add("Kirkenes videregående skole", "NO")
        b = self.fed.add("Murmansk Construction College", "RU")
        card = a.card()
        self.assertTrue(card.startswith("conect-card:"))
        self.assertNotIn("\n", card)
        out = json.loads(cli("member", "add", card, "--json", data=b.data).stdout)
        self.assertEqual(out["node_id"], a.node_id)
        self.assertEqual(out["country"], "NO")
        members = json.loads(cli("member", "list", "--json", data=b.data).stdout)
        self.assertEqual({m["node_id"] for m in members}, {a.node_id, b.node_id})
        # A mistyped card is refused and the roster is unchanged.
        typo = card[:-5] + ("A" if card[-5] != "A" else "B") + card[-4:]
        p = cli("member", "add", typo, data=b.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(len(json.loads(cli("member", "list", "--json", data=b.data).stdout)), 2)
        # A card from a file works too.
        path = os.path.join(self.fed.root, "card.txt")
        with open(path, "w") as f:
            f.write(card + "\n")
        cli("member", "add", path, data=b.data)

    def test_card_of_another_federation_is_refused(self):
        a = self.fed.add("Lapin ammattiopisto", "FI")
        other = Federation()
        try:
            stranger = other.add("Elsewhere", "DE")
            p = cli("member", "add", stranger.card(), data=a.data, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("federation", p.stderr)
        finally:
            other.close()

    def test_peer_add_needs_an_expected_id(self):
        a = self.fed.add("Lapin ammattiopisto", "FI")
        p = cli("peer", "add", "ws://127.0.0.1:7999/sync", data=a.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--id", p.stderr)
        # Arguments of the wrong form are usage errors (2), as in the data commands.
        p = cli("peer", "add", "http://127.0.0.1:7999/", "--id", "0" * 64, data=a.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("ws://", p.stderr)
        p = cli("peer", "add", "ws://127.0.0.1:7999/sync", "--id", "nothex", data=a.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("64-hex-character", p.stderr)
        p = cli("member", "remove", "nothex", data=a.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("64-hex-character", p.stderr)
        p = cli("invite", "--address", "http://127.0.0.1:7999/", data=a.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("ws://", p.stderr)
        cli("peer", "add", "ws://127.0.0.1:7999/sync", "--id", "ab" * 32, data=a.data)
        peers = json.loads(cli("peer", "list", "--json", data=a.data).stdout)
        self.assertEqual(peers, [{"url": "ws://127.0.0.1:7999/sync", "node_id": "ab" * 32, "source": "peer add"}])
        # The same node under a second address: said, with how to drop the old one.
        out = cli("peer", "add", "ws://127.0.0.1:7998/sync", "--id", "ab" * 32, data=a.data).stdout
        self.assertIn("also dialled at ws://127.0.0.1:7999/sync", out)
        self.assertIn("peer remove ws://127.0.0.1:7999/sync", out)
        cli("peer", "remove", "ab" * 32, data=a.data)
        self.assertEqual(json.loads(cli("peer", "list", "--json", data=a.data).stdout), [])


class RunFailsClearly(unittest.TestCase):
    def setUp(self):
        self.fed = Federation()

    def tearDown(self):
        self.fed.close()

    def test_missing_data_directory(self):
        d = os.path.join(self.fed.root, "nothing-here")
        p = cli("run", data=d, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not an initialised data directory", p.stderr)
        self.assertFalse(os.path.exists(d), "nothing may be written")

    def test_config_typo_names_file_line_and_field(self):
        n = self.fed.add("Lapin ammattiopisto", "FI")
        path = os.path.join(n.data, "node.toml")
        with open(path) as f:
            text = f.read().replace("peer_listen =", "peer_lisen =")
        with open(path, "w") as f:
            f.write(text)
        p = cli("run", data=n.data, check=False)
        self.assertEqual(p.returncode, 1)
        line = next(i + 1 for i, l in enumerate(text.splitlines()) if l.startswith("peer_lisen"))
        self.assertIn(f"node.toml:{line}: network.peer_lisen: unknown field", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(n.data, "ports.json")))

    def test_port_in_use(self):
        n = self.fed.add("Lapin ammattiopisto", "FI")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            p = cli("run", "--peer-listen", f"127.0.0.1:{port}", data=n.data, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(f"cannot listen for peers on 127.0.0.1:{port}", p.stderr)
        finally:
            s.close()

    def test_a_bad_listen_flag_is_a_usage_error(self):
        n = self.fed.add("Lapin ammattiopisto", "FI")
        p = cli("run", "--api-listen", "127.0.0.1:99999", data=n.data, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("port must be a number from 0 to 65535", p.stderr)

    def test_a_second_run_on_the_same_data_directory_is_refused(self):
        # On other ports it would serve the same store from a second process
        # and take ports.json over (and remove it when stopped).
        n = self.fed.add("Lapin ammattiopisto", "FI")
        n.start()
        ports = os.path.join(n.data, "ports.json")
        with open(ports) as f:
            before = f.read()
        p = cli("run", "--peer-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", data=n.data, check=False,
                timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("already running", p.stderr)
        self.assertIn(f"pid {n.proc.pid}", p.stderr)
        with open(ports) as f:
            self.assertEqual(f.read(), before, "ports.json still names the first node")
        self.assertEqual(json.loads(cli("status", "--json", data=n.data).stdout)["node_id"], n.node_id)
        # Once the first has stopped (or was killed), the directory runs again.
        n.kill9()
        n.start()
        self.assertEqual(n.api("GET", "/healthz", token=False)[0], 200)

    def test_no_token_to_a_port_the_node_does_not_hold(self):
        # The node is not running; something else listens on its API port.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        d = os.path.join(self.fed.root, "stopped")
        cli("init", "--name", "Lapin ammattiopisto", "--country", "FI", "--role", "school",
            "--peer-listen", "127.0.0.1:0", "--api-listen", f"127.0.0.1:{port}", data=d)

        def nothing_received():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                return True
            conn.settimeout(1)
            got = conn.recv(4096)
            conn.close()
            return b"Bearer" not in got

        try:
            p = cli("status", data=d, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("not running", p.stderr)
            self.assertTrue(nothing_received(), "the token went to a port the node does not hold")
            # A ports.json left behind by a process that has ended: the same.
            gone = subprocess.Popen(["true"])
            gone.wait()
            with open(os.path.join(d, "ports.json"), "w") as f:
                json.dump({"peer": 1, "api": port, "pid": gone.pid}, f)
            p = cli("status", data=d, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("has ended", p.stderr)
            self.assertTrue(nothing_received(), "the token went to a port the node does not hold")
        finally:
            listener.close()

    def test_sigterm_stops_cleanly(self):
        n = self.fed.add("Lapin ammattiopisto", "FI")
        n.start()
        self.assertEqual(n.api("GET", "/healthz", token=False)[0], 200)
        self.assertEqual(n.stop(), 0)
        self.assertFalse(os.path.exists(os.path.join(n.data, "ports.json")))

    def test_status_json_contract(self):
        n = self.fed.add("Lapin ammattiopisto", "FI")
        n.start()
        s = json.loads(cli("status", "--json", data=n.data).stdout)
        self.assertEqual(s["node_id"], n.node_id)
        self.assertRegex(s["digest"], r"^[0-9a-f]{64}$")
        self.assertIn("version_vector", s)
        self.assertIsInstance(s["peers"], list)
        n.stop()
        p = cli("status", data=n.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("conect-node run", p.stderr)


class DataCommands(unittest.TestCase):
    """Placements and reservations from the command line, against two real nodes."""

    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.a, cls.b = cls.fed.linked_pair()

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def run_json(self, node, *args):
        return json.loads(cli(*args, "--json", data=node.data).stdout)

    def test_book_a_partners_placement(self):
        org = cli("org", "add", "--name", "Napapiirin Rakennus Oy", "--type", "sme", "--country", "FI",
                  data=self.a.data).stdout.strip()
        self.assertRegex(org, r"^[0-9a-f]{64}-\d+$", "without --json a create prints the id alone")
        pl = self.run_json(self.a, "placement", "add", "--host", org, "--title", "Log house carpentry",
                           "--trade", "carpentry", "--country", "FI", "--window", "2027-02-01:2027-02-12:2",
                           "--language", "en:B1")
        self.assertEqual(pl["windows"][0]["available"], 2)
        wait_until("placement at b", lambda: any(
            p["id"] == pl["id"] for p in self.run_json(self.b, "placement", "list", "--trade", "carpentry")["items"]))
        res = self.run_json(self.b, "reserve", pl["id"], "--window", "1", "--slots", "1")
        self.assertEqual(res["decision"], "pending")
        # Only the host decides: b may not confirm its own request.
        p = cli("reservation", "confirm", res["id"], data=self.b.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("conect-node: "), p.stderr)
        wait_until("request at a", lambda: cli("reservation", "confirm", res["id"], data=self.a.data,
                                               check=False).returncode == 0)

        def available_at_b():
            shown = self.run_json(self.b, "placement", "show", pl["id"])
            return shown["windows"][0]["available"] == 1
        wait_until("availability to drop at b", available_at_b)

    def test_lists_print_aligned_columns(self):
        # Padded by characters (å and Cyrillic are two bytes each), "-" for
        # what is unset: org list printed "()" without a city, mobility list
        # ".." without dates, and the columns drifted apart.
        made = {}
        for name, args in (("Luleå Bygg AB", ["--type", "sme", "--country", "SE", "--city", "Luleå"]),
                           ("Murmansk Building College", ["--type", "large_enterprise", "--country", "RU",
                                                          "--name-local", "ru:Мурманский колледж"]),
                           ("Oulun ammattiopisto", ["--type", "vet_school", "--country", "FI", "--city", "Oulu"])):
            made[name] = cli("org", "add", "--name", name, *args, data=self.a.data).stdout.strip()
        lines = cli("org", "list", data=self.a.data).stdout.splitlines()
        rows = {name: next(line for line in lines if line.startswith(made[name])) for name in made}
        self.assertEqual(len({row.index(name) for name, row in rows.items()}), 1, "\n".join(rows.values()))
        self.assertEqual(len({row.index(" RU ") if " RU " in row else row.index(" SE ") if " SE " in row
                              else row.index(" FI ") for row in rows.values()}), 1)
        self.assertNotIn("()", "\n".join(lines))
        murmansk = rows["Murmansk Building College"].split()
        self.assertEqual(murmansk[1:4], ["RU", "large_enterprise", "-"], murmansk)
        self.assertIn("ru: Мурманский колледж", rows["Murmansk Building College"])
        for pseudonym, dates in (("FI-90", ["--start", "2027-03-01", "--end", "2027-03-12"]), ("FI-91", [])):
            cli("mobility", "add", "--sending", made["Oulun ammattiopisto"], "--receiving", made["Luleå Bygg AB"],
                "--pseudonym", pseudonym, *dates, data=self.a.data)
        lines = cli("mobility", "list", data=self.a.data).stdout.splitlines()
        rows = {p: next(line for line in lines if f" {p} " in line) for p in ("FI-90", "FI-91")}
        self.assertEqual(len({row.index(p) for p, row in rows.items()}), 1, "\n".join(rows.values()))
        self.assertIn("2027-03-01..2027-03-12", rows["FI-90"])
        self.assertNotIn("..", rows["FI-91"])
        self.assertEqual(rows["FI-91"].split()[4:], ["-", "-"], rows["FI-91"])

    def test_erase_a_participants_personal_data(self):
        school = cli("org", "add", "--name", "Lapin ammattiopisto", "--type", "vet_school", "--country", "FI",
                     data=self.a.data).stdout.strip()
        host = cli("org", "add", "--name", "Luleå Bygg AB", "--type", "sme", "--country", "SE",
                   data=self.a.data).stdout.strip()
        m = json.loads(cli("mobility", "add", "--sending", school, "--receiving", host, "--pseudonym", "FI-77",
                           "--personal-data-file", "-", "--json", data=self.a.data,
                           input=json.dumps({"name": "Aino Virtanen", "birth_date": "2007-05-14"})).stdout)
        self.assertEqual(m["personal_data"]["name"], "Aino Virtanen")
        # The node's refusal names a step the CLI takes too.
        p = cli("mobility", "complete", m["id"], data=self.a.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("nominate it first", p.stderr)
        self.assertIn("is nominated", cli("mobility", "status", m["id"], "nominated", data=self.a.data).stdout)
        p = cli("mobility", "status", m["id"], "done", data=self.a.data, check=False)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        # Only the owner erases; b holds the record but may not.
        wait_until("mobility at b", lambda: self.b.api("GET", f"/api/v1/mobilities/{m['id']}")[0] == 200)
        p = cli("erase", m["id"], data=self.b.data, check=False)
        self.assertEqual(p.returncode, 1)
        out = cli("erase", m["id"], data=self.a.data).stdout
        self.assertIn("erased the personal data of mobility", out)
        shown = self.run_json(self.a, "mobility", "show", m["id"])
        # Without --json, fields a person reads: nested, unset ones left out.
        text = cli("mobility", "show", m["id"], data=self.a.data).stdout
        self.assertIn("\n    pseudonym: FI-77\n", text)
        self.assertIn("personal_data_erased: true", text)
        self.assertNotIn("{", text)
        self.assertNotIn("null", text)
        self.assertIsNone(shown["personal_data"])
        self.assertTrue(shown["personal_data_erased"])
        self.assertEqual(shown["fixed"]["participant"]["pseudonym"], "FI-77")
        # The erasure is a signed delta: b applies it too.
        wait_until("erasure at b", lambda: self.b.api("GET", f"/api/v1/mobilities/{m['id']}")[1]["personal_data_erased"])
        p = cli("erase", m["id"], "--json", data=self.a.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["error"], "invalid_state")

    def test_personal_data_is_not_taken_from_the_command_line(self):
        # Arguments are visible to every user of the machine (ps) and stay in
        # shell history: the old flags are refused, saying what to do.
        school = cli("org", "add", "--name", "Lapin ammattiopisto", "--type", "vet_school", "--country", "FI",
                     data=self.a.data).stdout.strip()
        head = self.a.status()["version_vector"][self.a.node_id]["seq"]
        for args in (["mobility", "add", "--sending", school, "--receiving", school, "--pseudonym", "FI-78",
                      "--name", "Aino Virtanen"],
                     ["contact", "add", "--organisation", school, "--display-name", "Coordinator",
                      "--email", "aino@example.fi"]):
            p = cli(*args, data=self.a.data, check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--personal-data-file", p.stderr)
            self.assertNotIn("aino", p.stderr.lower())
        self.assertEqual(self.a.status()["version_vector"][self.a.node_id]["seq"], head, "nothing was written")
        # A file works, and so does standard input.
        path = os.path.join(self.fed.root, "contact.json")
        with open(path, "w") as f:
            json.dump({"name": "Aino Virtanen", "email": "aino@example.fi", "phone": "+358401234567"}, f)
        c = json.loads(cli("contact", "add", "--organisation", school, "--display-name", "Coordinator",
                           "--personal-data-file", path, "--json", data=self.a.data).stdout)
        self.assertEqual(c["personal_data"]["email"], "aino@example.fi")
        p = cli("contact", "add", "--organisation", school, "--display-name", "Coordinator",
                "--personal-data-file", "-", data=self.a.data, input='{"shoe_size": "44"}', check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown field", p.stderr)

    def test_common_mistakes(self):
        p = cli("placement", "add", "--host", "nope", "--title", "x", "--trade", "x", "--country", "FI",
                "--window", "2026-02-30:2026-03-12:1", data=self.a.data, check=False)
        self.assertEqual(p.returncode, 2, "a request the node calls malformed or invalid is a usage error")
        self.assertIn("host_organisation", p.stderr)
        p = cli("placement", "show", "0" * 64 + "-1", "--json", data=self.a.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["error"], "not_found")
        p = cli("reserve", "not-an-id", "--window", "1", data=self.a.data, check=False)
        self.assertIn(p.returncode, (1, 2))
        self.assertTrue(p.stderr.strip())


if __name__ == "__main__":
    unittest.main(verbosity=2)
