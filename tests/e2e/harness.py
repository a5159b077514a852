"""Multi-process test harness: real conect-node processes on loopback.

Every wait is a condition polled against a deadline (no sleep-and-hope), and
every node's log is kept so a failure shows what each process said.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BINARY = os.environ.get("CONECT_NODE", "conect-node")
SEED = os.environ.get("CONECT_SEED", "conect-seed")
WEB_ROOT = os.environ.get("CONECT_WEB_ROOT", "")


class CommandFailed(Exception):
    def __init__(self, args, code, out, err):
        super().__init__(f"{' '.join(args)} exited {code}\nstdout: {out}\nstderr: {err}")
        self.code, self.out, self.err = code, out, err


def wait_until(what, predicate, timeout=30.0, interval=0.05):
    """Polls predicate() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a node still starting up answers with errors
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" +
                         (f" (last error: {last_error})" if last_error else ""))


def cli(*args, data=None, check=True, input=None, timeout=60):
    argv = [BINARY] + list(args)
    if data is not None:
        argv += ["--data", data]
    p = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise CommandFailed(argv, p.returncode, p.stdout, p.stderr)
    return p


class Node:
    """One conect-node data directory and, when running, its process."""

    def __init__(self, root, name, country, role="school", federation=None, init_args=()):
        self.name = name
        self.data = os.path.join(root, name.replace(" ", "_"))
        args = ["init", "--name", name, "--country", country, "--role", role,
                "--peer-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--json", *init_args]
        if federation:
            args += ["--federation", federation]
        out = json.loads(cli(*args, data=self.data).stdout)
        self.node_id = out["node_id"]
        self.federation = out["federation"]
        self.proc = None
        self.log_path = os.path.join(root, self.data + ".log")
        self.ports = None

    @classmethod
    def from_copy(cls, root, source, name):
        """A copy of an existing data directory (a fixture made by an older
        version): its secrets get mode 0600 again (git keeps no modes)."""
        n = cls.__new__(cls)
        n.name = name
        n.data = os.path.join(root, name.replace(" ", "_"))
        shutil.copytree(source, n.data)
        os.chmod(n.data, 0o700)
        for secret in ("identity.key", "noise.key", "api.token", "seal.key"):
            if os.path.exists(os.path.join(n.data, secret)):  # seal.key: since 0.3.0
                os.chmod(os.path.join(n.data, secret), 0o600)
        n.node_id = n.federation = None  # the caller knows them
        n.proc = None
        n.log_path = os.path.join(root, n.data + ".log")
        n.ports = None
        return n

    # ------------------------------------------------------------ membership
    def card(self):
        return cli("card", data=self.data).stdout.strip()

    def trust(self, other):
        cli("member", "add", other.card(), data=self.data)

    def dial(self, other):
        assert other.ports, "the dialled node must be running so its port is known"
        cli("peer", "add", other.peer_url(), "--id", other.node_id, data=self.data)

    def configure(self, **values):
        """Sets integer fields of node.toml (each must be there once, as
        `init` writes them); takes effect at the next start."""
        path = os.path.join(self.data, "node.toml")
        with open(path) as f:
            text = f.read()
        for key, value in values.items():
            text, n = re.subn(rf"^{key} = \d+$", f"{key} = {value}", text, flags=re.M)
            assert n == 1, f"node.toml has no single '{key} = N' line"
        with open(path, "w") as f:
            f.write(text)

    def rss_bytes(self):
        """Resident memory of the running process (VmRSS)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def peer_url(self):
        return f"ws://127.0.0.1:{self.ports['peer']}/sync"

    # --------------------------------------------------------------- process
    def start(self, extra=()):
        ports_file = os.path.join(self.data, "ports.json")
        if os.path.exists(ports_file):
            os.remove(ports_file)
        args = [BINARY, "run", "--data", self.data, "--log-format", "json"]
        if self.ports:  # restart on the same ports so partners can redial
            args += ["--peer-listen", f"127.0.0.1:{self.ports['peer']}",
                     "--api-listen", f"127.0.0.1:{self.ports['api']}"]
        if WEB_ROOT:
            args += ["--web-root", WEB_ROOT]
        args += list(extra)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.ports = wait_until(f"{self.name} to listen", lambda: self._read_ports(ports_file), timeout=30)
        with open(os.path.join(self.data, "api.token")) as f:
            self.token = f.read().strip()
        return self

    def _read_ports(self, path):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.read_log()}")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout}s after signal {sig}")
        code = self.proc.returncode
        self.proc = None
        self.log.close()
        return code

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def log_events(self, name):
        events = []
        for line in self.read_log().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == name:
                events.append(e)
        return events

    # ------------------------------------------------------------------- API
    def api(self, method, path, body=None, token=True, expect=None):
        url = f"http://127.0.0.1:{self.ports['api']}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        parsed = json.loads(payload) if payload and payload[:1] in (b"{", b"[") else payload.decode(errors="replace")
        if expect is not None and status != expect:
            raise AssertionError(f"{method} {path} -> {status}, expected {expect}: {parsed}")
        return status, parsed

    def status(self):
        return self.api("GET", "/api/v1/status", expect=200)[1]

    def digest(self):
        return self.status()["digest"]

    def connected_peers(self):
        return {p["node_id"] for p in self.status()["peers"] if p["connected"]}


class Federation:
    """A temp directory of nodes that trust each other (unless told otherwise)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="conect-e2e-")
        self.nodes = []

    def add(self, name, country, role="school", init_args=()):
        fed = self.nodes[0].federation if self.nodes else None
        n = Node(self.root, name, country, role, fed, init_args)
        self.nodes.append(n)
        return n

    def linked_pair(self, first=("Lapin ammattiopisto", "FI"), second=("Luleå Yrkesgymnasium", "SE")):
        """Two nodes that trust each other, running, the second dialling the
        first; returned once the link is up."""
        a, b = self.add(*first), self.add(*second)
        a.trust(b)
        b.trust(a)
        a.start()
        b.start()
        b.dial(a)
        wait_until("link", lambda: a.node_id in b.connected_peers())
        return a, b

    def trust_all(self):
        for a in self.nodes:
            for b in self.nodes:
                if a is not b:
                    a.trust(b)

    def wait_converged(self, nodes=None, timeout=60):
        nodes = nodes or self.nodes

        def same():
            digests = {n.digest() for n in nodes}
            return len(digests) == 1
        wait_until("digests to converge: " + ", ".join(n.name for n in nodes), same, timeout=timeout)

    def close(self):
        for n in self.nodes:
            try:
                n.stop()
            except AssertionError:
                n.kill9()
        if os.environ.get("CONECT_KEEP_E2E"):
            print("kept", self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------- records
def create_organisation(node, name, country, org_type="vet_school", city=""):
    _, org = node.api("POST", "/api/v1/organisations", {
        "names": [{"lang": "en", "text": name}], "type": org_type, "country": country, "city": city,
    }, expect=201)
    return org


def create_placement(node, host_org_id, trade, country, windows, title="Placement", status="open"):
    body = {
        "host_organisation": host_org_id, "title": [{"lang": "en", "text": title}], "trade": trade,
        "country": country, "city": "Rovaniemi", "status": status,
        "windows": [{"window_id": i + 1, "start": s, "end": e, "capacity": c} for i, (s, e, c) in enumerate(windows)],
        "languages": [{"lang": "en", "level": "B1"}],
    }
    _, placement = node.api("POST", "/api/v1/placements", body, expect=201)
    return placement


def record_count(node, kind):
    return node.status()["counts"].get(kind, 0)


def seed(node, count, kind="mixed"):
    """Authors `count` signed deltas into a stopped node's store (bench/tools/seed_store.cc)."""
    assert node.proc is None, "seed a node while it is stopped"
    p = subprocess.run([SEED, "--data", node.data, "--count", str(count), "--kind", kind],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise CommandFailed([SEED], p.returncode, p.stdout, p.stderr)
    return p.stdout
