"""Multi-process figures: real conect-node processes on loopback, sharing this
machine's cores. Prints one JSON object (the figures) on stdout; bench/run.py
puts them in the table beside the limits measured in the same run.

  catch-up     B (empty) dials A (N seeded deltas): seconds until B holds all
               of A's chain, verified deltas applied per second, bytes on the
               wire per delta vs the signed delta's own size, peak RSS and
               RssAnon of both processes, CPU per delta of the source and of
               the sink's threads by name (conect-writer: the store's apply;
               conect-node and conect-io: network, sync strand, API); then C
               (empty) does the same with a
               dashboard's change stream (GET /api/v1/events) open
  byte copy    the same signed deltas copied by conect-bytecopy (two
               processes, loopback TCP, length-prefixed frames appended to a
               file, fdatasync per 512): run before and after the catch-ups,
               the baseline each catch-up figure is divided by
  live         p50/p99 from an acknowledged write at A (durable commit
               included) to the change event of the next node (one hop) and
               of the last of a line of 5, with relays forwarding before their
               own commit (the default) and, in a second line running at the
               same time, only after it (forward_before_commit = 0); one hop
               on a pair of its own (two commits, as in a federation where
               each node has its own disk) and inside the line of 5 (its
               commit sharing the disk with the relays'): samples
               alternate between the lines, each followed by one fdatasync
               probe (and the two flushes of an LMDB durable commit) in the
               same directory, so that all see the same load; beside them the
               nodes' own commits (conect_store_write_seconds)
  footprint    RssAnon of an idle node holding the N deltas; cold start (exec
               to /healthz answering) with that store
"""
import argparse
import http.client
import json
import os
import random
import re
import select
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from harness import SEED, Federation, create_organisation, wait_until  # noqa: E402
import subprocess  # noqa: E402

BYTECOPY = os.environ.get("CONECT_BYTECOPY", os.path.join(os.path.dirname(SEED), "conect-bytecopy"))


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon"):
                out[k] = int(v.split()[0]) * 1024
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds (user + system) per thread name of a running process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def thread_runqueue(pid):
    """Seconds each thread name spent runnable but waiting for a core
    (/proc/PID/task/TID/schedstat): on two shared cores, time off the CPU
    that is not the thread's own waiting (for the disk, for work)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                waited = int(f.read().split()[1]) / 1e9
        except (FileNotFoundError, IndexError):  # the thread ended meanwhile; no schedstats
            continue
        out[name] = out.get(name, 0.0) + waited
    return out


def disk_written(pid):
    """Bytes the process caused to be written to storage (/proc/PID/io)."""
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("write_bytes:"))


def live_bytes(store):
    """The size of a compacting copy of a stopped node's store (what `backup`
    writes): its live data, without the free pages a file keeps once grown.
    None without mdb_copy (Debian's lmdb-utils)."""
    if not shutil.which("mdb_copy") or not os.path.exists(os.path.join(store, "data.mdb")):
        return None
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["mdb_copy", "-c", store, out], check=True, capture_output=True, timeout=600)
        return os.path.getsize(os.path.join(out, "data.mdb"))


def cpu_us_per_delta(before, after, n):
    return {name: round((after[name] - before.get(name, 0.0)) / n * 1e6, 2)
            for name in sorted(after) if after[name] - before.get(name, 0.0) > 0}


def metric(node, name):
    _, text = node.api("GET", "/metrics", token=False, expect=200)
    total = 0
    for line in text.splitlines():
        m = re.match(re.escape(name) + r'(\{.*\})? (\d+)', line)
        if m:
            total += int(m.group(2))
    return total


def seq_of(node, origin):
    return node.status()["version_vector"].get(origin, {}).get("seq", 0)


class EventWatcher:
    """Follows a node's change stream and timestamps each (origin, seq): a
    small batch's event lists its deltas, a catch-up batch's names runs of
    them ("delta_ranges")."""

    def __init__(self, node):
        self.seen = {}
        self.ranges = {}  # origin -> [(from, to, time)]
        self.cond = threading.Condition()
        req = urllib.request.Request(f"http://127.0.0.1:{node.ports['api']}/api/v1/events")
        req.add_header("Authorization", f"Bearer {node.token}")
        self.stream = urllib.request.urlopen(req, timeout=120)
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        try:
            for raw in self.stream:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                now = time.perf_counter()
                event = json.loads(line[5:])
                with self.cond:
                    for d in event.get("deltas", []):
                        self.seen.setdefault((d["origin"], d["seq"]), now)
                    for r in event.get("delta_ranges", []):
                        self.ranges.setdefault(r["origin"], []).append((r["from"], r["to"], now))
                    self.cond.notify_all()
        except Exception:
            pass

    def wait(self, origin, seq, timeout=30):
        deadline = time.perf_counter() + timeout
        with self.cond:
            while (when := self.when(origin, seq)) is None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise AssertionError(f"no change event for {origin[:8]}:{seq}")
                self.cond.wait(left)
            return when

    def when(self, origin, seq):
        if (origin, seq) in self.seen:
            return self.seen[(origin, seq)]
        return next((t for lo, hi, t in self.ranges.get(origin, []) if lo <= seq <= hi), None)


class EventStream:
    """A node's change stream read on the calling thread, for the live
    samples: each event is stamped when recv() returns it. EventWatcher's
    reader thread has to win the interpreter lock back from the thread that
    is still finishing the write's response, and that wait was timed as the
    node's (against a server that answers at once, urllib with a reader
    thread measured p50 / p99 0.82-0.85 / 4.8-5.0 ms of client alone at load
    0.5; a kept-alive writer 0.3 ms at p50: docs/performance.md, 2026-12-04)."""

    def __init__(self, node):
        self.sock = socket.create_connection(("127.0.0.1", node.ports["api"]), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {node.token}\r\n\r\n".encode())
        self.buf, self.seen = b"", {}
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise AssertionError(f"event stream refused: {head[:80]!r}")

    def _recv(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise AssertionError("event stream closed")
        return data

    def fileno(self):
        return self.sock.fileno()

    def read(self):
        self.buf += self._recv()
        now = time.perf_counter()
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                for d in json.loads(line[5:]).get("deltas", []):
                    self.seen.setdefault((d["origin"], d["seq"]), now)

    def close(self):
        self.sock.close()


def wait_events(wanted, timeout=30):
    """The arrival times of [(stream, (origin, seq))], reading whichever
    stream has data as soon as it has it."""
    deadline = time.perf_counter() + timeout
    while True:
        pending = [s for s, key in wanted if key not in s.seen]
        if not pending:
            return [s.seen[key] for s, key in wanted]
        left = deadline - time.perf_counter()
        if left <= 0:
            raise AssertionError(f"no change event for {[k for _, k in wanted]}")
        ready, _, _ = select.select(pending, [], [], left)
        for s in ready:
            s.read()


class KeptAliveWriter:
    """POST /api/v1/organisations over one kept-alive connection, as a
    dashboard's browser does; urllib opens a connection per request (≈ 0.5
    ms more of client time per write at p50)."""

    def __init__(self, node):
        self.node = node
        self.conn = http.client.HTTPConnection("127.0.0.1", node.ports["api"], timeout=30)

    def create_organisation(self, name, country):
        body = json.dumps({"names": [{"lang": "en", "text": name}], "type": "vet_school",
                           "country": country, "city": ""})
        self.conn.request("POST", "/api/v1/organisations", body,
                          {"Content-Type": "application/json", "Authorization": f"Bearer {self.node.token}"})
        r = self.conn.getresponse()
        payload = r.read()
        if r.status != 201:
            raise AssertionError(f"POST /api/v1/organisations -> {r.status}: {payload[:200]!r}")
        return json.loads(payload)

    def close(self):
        self.conn.close()


class UrllibWriter:
    """The harness's client (a connection per request), kept for comparing
    with figures measured before 2026-12-04 (--live-client urllib)."""

    def __init__(self, node):
        self.node = node

    def create_organisation(self, name, country):
        return create_organisation(self.node, name, country)

    def close(self):
        pass


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def live_latency(writer, watcher, samples):
    lat = []
    seq = seq_of(writer, writer.node_id)
    for i in range(samples):
        t0 = time.perf_counter()
        create_organisation(writer, f"Live {i}", "FI")
        seq += 1
        lat.append((watcher.wait(writer.node_id, seq) - t0) * 1000)
    return {"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "samples": samples}


def seed_with_frames(node, count, frames):
    """conect-seed into a stopped node, also writing the signed deltas as frames."""
    p = subprocess.run([SEED, "--data", node.data, "--count", str(count), "--frames", frames],
                       capture_output=True, text=True, timeout=3600, check=True)
    return json.loads(p.stdout)


def byte_copy(frames, out):
    p = subprocess.run([BYTECOPY, "--frames", frames, "--out", out, "--chunk", "512"],
                       capture_output=True, text=True, timeout=3600, check=True)
    os.unlink(out)
    return json.loads(p.stdout)


def one_catch_up(a, b, n, events):
    """B (started, empty) dials A; seconds until B holds A's n deltas."""
    watcher = EventWatcher(b) if events else None
    t0 = time.perf_counter()
    b.dial(a)
    wait_until("catch-up", lambda: seq_of(b, a.node_id) >= n, timeout=3600, interval=0.02)
    secs = time.perf_counter() - t0
    if watcher:
        watcher.wait(a.node_id, n, timeout=120)  # every delta announced
    return secs


def catch_up(n):
    fed = Federation()
    try:
        a = fed.add("Source", "FI")
        b = fed.add("Sink", "SE")
        c = fed.add("Sink with a dashboard", "NO")
        fed.trust_all()
        frames = os.path.join(fed.root, "frames.bin")
        seeded = seed_with_frames(a, n, frames)
        copies = [byte_copy(frames, os.path.join(fed.root, "copy.bin"))]
        a.start()
        b.start()
        cpu_before = (thread_cpu(a.proc.pid), thread_cpu(b.proc.pid))
        runq_before = thread_runqueue(b.proc.pid)
        applies_before = commit_ms(b, "apply")
        written_before = disk_written(b.proc.pid)
        secs = one_catch_up(a, b, n, events=False)
        written = disk_written(b.proc.pid) - written_before
        cpu_after = (thread_cpu(a.proc.pid), thread_cpu(b.proc.pid))
        runq_after = thread_runqueue(b.proc.pid)
        applies = [x - y for x, y in zip(commit_ms(b, "apply"), applies_before)]
        wire = metric(b, "conect_peer_bytes_received_total") + metric(b, "conect_peer_bytes_sent_total")
        out = {
            "deltas": n,
            "seconds": secs,
            "deltas_per_second": n / secs,
            "wire_bytes_per_delta": wire / n,
            "signed_delta_bytes": seeded["bytes"] / n,
            "source": proc_status(a.proc.pid),
            "sink": proc_status(b.proc.pid),
            "cpu_us_per_delta": {
                "source": cpu_us_per_delta(*(c[0] for c in (cpu_before, cpu_after)), n),
                "sink": cpu_us_per_delta(*(c[1] for c in (cpu_before, cpu_after)), n),
            },
            # Per delta, how long the sink's threads waited for a core: the
            # writer's time in apply transactions is its CPU, this, and the
            # rest (mostly its commits' page writes and flushes).
            "sink_runqueue_us_per_delta": cpu_us_per_delta(runq_before, runq_after, n),
            # The sink's apply transactions (call to durable commit): how
            # many, and the share of the catch-up's wall time they took.
            "apply_batches": int(applies[1]),
            "apply_busy_share": applies[0] / secs,
            # What the sink wrote to its disk (dirty pages of every commit,
            # so a page touched by many commits counts each time).
            "sink_disk_written_bytes": written,
            # The log is keyed origin || seq: when the sink's own deltas sort
            # after the source's, every delta caught up is put in front of
            # them, inside the tree, where LMDB splits pages in half instead
            # of appending (the log's pages ~66 % full instead of ~96 %).
            "sink_own_origin_sorts_after_source": b.node_id > a.node_id,
        }
        # The source linked to a sink that holds everything: what its timers
        # cost with nothing to send (summaries, the courier's sweep of its own
        # records), in CPU seconds per second.
        idle_cpu, t = sum(thread_cpu(a.proc.pid).values()), time.perf_counter()
        time.sleep(5.0)
        out["source_idle_linked_cpu_share"] = \
            (sum(thread_cpu(a.proc.pid).values()) - idle_cpu) / (time.perf_counter() - t)
        # Footprint: B idle with the whole store, then a cold start.
        time.sleep(1.0)  # let allocator caches settle before sampling idle memory
        out["idle_rss_anon"] = proc_status(b.proc.pid)["RssAnon"]
        # The store as the catch-up left it, then once the compactor has
        # rewritten it in key order (it runs when a store grew by half and
        # its writes stopped: node/daemon compactor.h).
        out["sink_store_bytes_after_catch_up"] = os.path.getsize(os.path.join(b.data, "store", "data.mdb"))
        if n >= 100_000:
            wait_until("the sink's compaction", lambda: metric(b, "conect_store_compactions_total") >= 1,
                       timeout=120.0, interval=0.2)
            out["sink_compaction_ms"] = metric(b, "conect_store_compaction_last_ms")
        b.stop()
        t1 = time.perf_counter()
        b.start()
        wait_until("healthz", lambda: b.api("GET", "/healthz", token=False)[0] == 200, interval=0.005)
        out["cold_start_seconds"] = time.perf_counter() - t1
        b.stop()
        out["sink_store_bytes"] = os.path.getsize(os.path.join(b.data, "store", "data.mdb")) \
            if os.path.exists(os.path.join(b.data, "store", "data.mdb")) else None
        out["sink_store_live_bytes"] = live_bytes(os.path.join(b.data, "store"))
        # The same catch-up while a dashboard follows C's change stream.
        c.start()
        sink_before = thread_cpu(c.proc.pid)
        with_events = one_catch_up(a, c, n, events=True)
        out["with_events"] = {"seconds": with_events, "deltas_per_second": n / with_events,
                              "sink_cpu_us_per_delta": cpu_us_per_delta(sink_before, thread_cpu(c.proc.pid), n)}
        copies.append(byte_copy(frames, os.path.join(fed.root, "copy.bin")))
        out["byte_copy"] = {
            "runs": copies,
            "records_per_second": statistics.mean(x["records_per_second"] for x in copies),
        }
        out["ratio_to_byte_copy"] = out["deltas_per_second"] / out["byte_copy"]["records_per_second"]
        out["with_events"]["ratio_to_byte_copy"] = \
            out["with_events"]["deltas_per_second"] / out["byte_copy"]["records_per_second"]
        return out
    finally:
        fed.close()


def fdatasync_cost(directory, samples):
    """Per sample, in ms: one fdatasync after a 4 KiB page overwritten in a
    preallocated file (what a commit's page write costs), and the two flushes
    of an LMDB durable commit (that, then 64 bytes of its meta page written
    through an O_DSYNC descriptor). A random pause of 0-8 ms before each puts
    it at a random phase of the device's flush cycle, as a live write is
    (back to back, each would wait a whole cycle)."""
    path = os.path.join(directory, "fdatasync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, bytes(1 << 20))
    os.fsync(fd)
    meta = os.open(path, os.O_WRONLY | os.O_DSYNC)
    block = os.urandom(4096)
    syncs, commits = [], []
    try:
        for i in range(samples):
            time.sleep(random.uniform(0, 0.008))
            os.pwrite(fd, block, 4096 * (1 + i % 255))
            t0 = time.perf_counter()
            os.fdatasync(fd)
            t1 = time.perf_counter()
            os.pwrite(meta, block[:64], 0)
            t2 = time.perf_counter()
            syncs.append((t1 - t0) * 1000)
            commits.append((t2 - t0) * 1000)
    finally:
        os.close(meta)
        os.close(fd)
        os.unlink(path)
    return syncs, commits


def commit_ms(node, kind):
    """Mean of the node's own write transactions of `kind` (author, apply),
    call to durable commit, from conect_store_write_seconds."""
    _, text = node.api("GET", "/metrics", token=False, expect=200)
    got = {}
    for part in ("sum", "count"):
        m = re.search(rf'^conect_store_write_seconds_{part}\{{kind="{kind}"\}} (\S+)$', text, re.M)
        got[part] = float(m.group(1)) if m else 0.0
    return (got["sum"], got["count"])


def live(samples, line_length, forward_modes=(1, 0), client="kept"):
    """Lines of nodes, all running at once, sampled one after another: a pair
    (one hop: the writer's and the receiver's commits, with the disk to
    themselves, as every node of a federation has its own) and a line of
    `line_length` per forward_before_commit mode. Each sample writes once at
    the head of every line in turn (the order alternating) and times that
    write's change event at the line's second node and at its last, then
    times one fdatasync probe: every figure sees the same load on this shared
    machine. In a line whose relays forward before their commit, its second
    node's commit shares this one disk with the others' (reported as
    one_hop_in_line_of_N). `client`: kept (one kept-alive connection per
    writer, the change streams read on this thread) or urllib (the harness's
    connection per request and a reader thread per stream, as before
    2026-12-04)."""
    shapes = [("pair", 2, 1)] if 1 in forward_modes else []
    shapes += [(f"line{mode}", line_length, mode) for mode in forward_modes]
    feds, lines, watchers, writers, seqs, commits0 = {}, {}, {}, {}, {}, {}
    try:
        for name, length, mode in shapes:
            fed = feds[name] = Federation()
            nodes = lines[name] = [fed.add(f"Node {i}", "FI") for i in range(length)]
            fed.trust_all()
            for n in nodes:
                n.configure(forward_before_commit=mode)
                n.start()
            for left, right in zip(nodes, nodes[1:]):
                left.dial(right)
        for name, nodes in lines.items():
            for left, right in zip(nodes, nodes[1:]):
                wait_until("line links", lambda: right.node_id in left.connected_peers())
            feds[name].wait_converged()
            # One summary round on every link, so that each node knows what
            # its neighbours hold and pushes them new deltas (steady state;
            # right after a catch-up by requests it only announces them).
            rounds = [metric(n, "conect_sync_summaries_in_sync_total") for n in nodes]
            for i, n in enumerate(nodes):
                links = 1 if i in (0, len(nodes) - 1) else 2
                wait_until("a summary round on each link",
                           lambda: metric(n, "conect_sync_summaries_in_sync_total") >= rounds[i] + links)
            if client == "kept":
                watchers[name] = (EventStream(nodes[1]), EventStream(nodes[-1]))
                writers[name] = KeptAliveWriter(nodes[0])
            else:
                watchers[name] = (EventWatcher(nodes[1]), EventWatcher(nodes[-1]))
                writers[name] = UrllibWriter(nodes[0])
            seqs[name] = seq_of(nodes[0], nodes[0].node_id)
            commits0[name] = (commit_ms(nodes[0], "author"), commit_ms(nodes[1], "apply"))
        hops = {name: [] for name in lines}
        ends = {name: [] for name in lines}
        syncs, commits = [], []
        root = feds[shapes[0][0]].root
        for i in range(samples):
            for name in (list(lines) if i % 2 == 0 else list(reversed(lines))):
                origin = lines[name][0].node_id
                t0 = time.perf_counter()
                writers[name].create_organisation(f"Live {i}", "FI")
                seqs[name] += 1
                key = (origin, seqs[name])
                if client == "kept":
                    hop, end = wait_events([(watchers[name][0], key), (watchers[name][1], key)])
                else:
                    hop, end = (w.wait(*key) for w in watchers[name])
                hops[name].append((hop - t0) * 1000)
                ends[name].append((end - t0) * 1000)
            s, c = fdatasync_cost(root, 1)
            syncs += s
            commits += c

        def figures(xs):
            return {"p50_ms": percentile(xs, 50), "p99_ms": percentile(xs, 99), "samples": samples}

        out = {}
        for name, length, mode in shapes:
            nodes = lines[name]
            a1, b1 = commit_ms(nodes[0], "author"), commit_ms(nodes[1], "apply")
            (a0, b0) = commits0[name]
            # the nodes' own durable commits meanwhile: the writer's (author)
            # and the second node's (apply), mean ms
            hop = dict(figures(hops[name]),
                       author_commit_ms=1000 * (a1[0] - a0[0]) / max(1, a1[1] - a0[1]),
                       apply_commit_ms=1000 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1]))
            if name == "pair":
                out["one_hop"] = hop
                continue
            suffix = "" if mode else "_forward_after_commit"
            if mode:
                out[f"one_hop_in_line_of_{length}"] = hop
            out[f"line_of_{length}" + suffix] = figures(ends[name])
        out["fdatasync"] = {"p50_ms": percentile(syncs, 50), "p99_ms": percentile(syncs, 99), "samples": len(syncs)}
        out["durable_commit"] = {"p50_ms": percentile(commits, 50), "p99_ms": percentile(commits, 99),
                                 "samples": len(commits)}
        return out
    finally:
        for w in writers.values():
            w.close()
        for pair in watchers.values():
            for w in pair:
                if isinstance(w, EventStream):
                    w.close()
        for fed in feds.values():
            fed.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catch-up", type=int, nargs="*", default=[100_000])
    ap.add_argument("--live-samples", type=int, default=200)
    ap.add_argument("--forward-modes", default="1,0",
                    help="forward_before_commit values to measure live latency with (1: before, 0: after)")
    ap.add_argument("--live-client", choices=("kept", "urllib"), default="kept",
                    help="kept: one kept-alive connection per writer, change streams read on the sampling "
                         "thread; urllib: a connection per write and a reader thread per stream (before 2026-12-04)")
    args = ap.parse_args()
    modes = [int(m) for m in args.forward_modes.split(",") if m]
    out = {"catch_up": [catch_up(n) for n in args.catch_up],
           "live": live(args.live_samples, 5, modes, args.live_client), "live_client": args.live_client}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
