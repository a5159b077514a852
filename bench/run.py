"""Runs every benchmark and prints each figure beside the limit of the
primitive under it, measured in the same run on the same machine; writes the
whole result to bench/results/latest.json. Started by scripts/bench.

Each module's bench prints a table on stdout and one JSON object as its last
JSON line; the multi-process figures come from bench/e2e_bench.py.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    # Some benches print a pretty multi-line JSON object at the end.
    start = text.rfind("\n{")
    return json.loads(text[start:]) if start >= 0 else {}


def run(cmd, env=None, timeout=3600):
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    sys.stderr.write(p.stdout)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"{cmd[0]} failed with {p.returncode}")
    return p.stdout, time.time() - t0


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_average": os.getloadavg()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build", "release"))
    ap.add_argument("--quick", action="store_true", help="small N everywhere (a smoke run)")
    ap.add_argument("--full", action="store_true",
                    help="the full-size simulation (1,000 nodes x 100,000 deltas: hours) and the 1,000,000-delta catch-up")
    args = ap.parse_args()
    b = os.path.abspath(args.build)
    q = ["--quick"] if args.quick else []
    results = {"machine": machine(), "modules": {}}

    benches = {
        "crdt": [f"{b}/bench/crdt/conect_bench_crdt"] + q,
        "storage": [f"{b}/bench/storage/conect_bench_storage"] + q,
        # The simulation steps every message of every engine on one core.
        # Since the engine's fetch bookkeeping stopped rescanning its sets
        # (docs/performance.md), 1,000 nodes x 200 deltas takes about a
        # minute of CPU for the four push modes, so the default run is the
        # 1,000-node simulation at 200 deltas; --full the whole size
        # (1,000 x 100,000: hours).
        "sync": [f"{b}/bench/sync/conect_bench_sync"] +
                (["--tiny"] if args.quick else [] if args.full else ["--nodes", "1000", "--deltas", "200"]),
        "api": [f"{b}/bench/api/conect_bench_api"] + q,
        "courier": [f"{b}/bench/courier/conect_bench_courier"] + q,
    }
    for name, cmd in benches.items():
        out, secs = run(cmd, timeout=None if args.full else 3600)
        results["modules"][name] = last_json(out)
        results["modules"][name]["_seconds"] = secs
    out, _ = run([f"{b}/bench/net/conect_net_bench", "--benchmark_format=json"] +
                 (["--benchmark_min_time=0.01"] if args.quick else []))
    results["modules"]["net"] = json.loads(out)

    env = dict(os.environ, CONECT_NODE=f"{b}/node/cli/conect-node", CONECT_SEED=f"{b}/bench/tools/conect-seed")
    sizes = ["5000"] if args.quick else (["100000", "1000000"] if args.full else ["100000"])
    out, _ = run([sys.executable, os.path.join(HERE, "e2e_bench.py"), "--catch-up", *sizes,
                  "--live-samples", "20" if args.quick else "200"], env=env)
    results["e2e"] = json.loads(out.strip().splitlines()[-1])

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "latest.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)
    print(f"\nwritten: {path}")


def figure(r, module, prefix):
    for f in r["modules"].get(module, {}).get("figures", []):
        if f["name"].startswith(prefix):
            return f["value"]
    return None


def print_table(r):
    verify = figure(r, "crdt", "raw Ed25519 verifications")
    puts = figure(r, "storage", "raw LMDB puts/s (250 B, 1000/commit, in order)")
    rows = []
    for module in ("crdt", "storage"):
        for f in r["modules"].get(module, {}).get("figures", []):
            rows.append((f"{module}: {f['name'].strip()}", f"{f['value']:,.1f} {f['unit']}", f.get("note", ""), ""))
    e2e = r["e2e"]
    for c in e2e["catch_up"]:
        limit = f"Ed25519 verify {verify:,.0f}/s" if verify else ""
        ratio = f"{c['deltas_per_second'] / verify:.1f}x verify" if verify else ""
        bc = c.get("byte_copy")
        if bc:
            rows.append((f"byte copy of the same {c['deltas']:,} records (2 processes)",
                         f"{bc['records_per_second']:,.0f} records/s",
                         "loopback TCP, append, fdatasync per 512", "the baseline"))
        rows.append((f"catch-up of {c['deltas']:,} deltas, B from A (2 processes)",
                     f"{c['deltas_per_second']:,.0f} deltas/s",
                     f"byte copy {bc['records_per_second']:,.0f}/s" if bc else "",
                     f"{c['ratio_to_byte_copy']:.2f}x byte copy" if bc else ""))
        if "with_events" in c:
            w = c["with_events"]
            rows.append(("  the same with a dashboard's event stream open", f"{w['deltas_per_second']:,.0f} deltas/s",
                         f"without: {c['deltas_per_second']:,.0f}/s",
                         f"{w['ratio_to_byte_copy']:.2f}x byte copy"))
        rows.append(("", "", limit, ratio))
        if puts:
            rows.append(("", "", f"LMDB puts {puts:,.0f}/s", f"{c['deltas_per_second'] / puts:.2f}x puts"))
        rows.append(("  bytes on the wire per delta", f"{c['wire_bytes_per_delta']:.0f} B",
                     f"signed delta {c['signed_delta_bytes']:.0f} B",
                     f"{c['wire_bytes_per_delta'] / c['signed_delta_bytes']:.2f}x"))
        cpu = c.get("cpu_us_per_delta")
        if cpu:
            sink, source = cpu["sink"], cpu["source"]
            io = sum(v for k, v in sink.items() if k in ("conect-node", "conect-io"))
            # Two cores: the pipeline cannot beat 2 / (the sum) per second,
            # whatever the overlap of its stages.
            total = sum(source.values()) + sum(sink.values())
            rows.append(("  CPU per delta: source / sink network+strand / sink writer",
                         f"{sum(source.values()):.1f} / {io:.1f} / {sink.get('conect-writer', 0):.1f} us",
                         f"all {total:.1f} us: 2 cores bound it at {2e6 / total:,.0f}/s" if total else "", ""))
        if "apply_busy_share" in c:
            rows.append(("  sink's apply transactions: count, share of the wall time",
                         f"{c['apply_batches']:,} ({c['deltas'] / max(c['apply_batches'], 1):,.0f} deltas each), "
                         f"{c['apply_busy_share'] * 100:.0f} %", "", ""))
            runq = c.get("sink_runqueue_us_per_delta", {}).get("conect-writer")
            if cpu and runq is not None:
                # The writer's wall time in apply transactions, per delta,
                # less its CPU and its waits for a core: what its commits'
                # page writes and flushes cost it (roughly: CPU and waits
                # outside transactions are counted in too).
                busy = c["apply_busy_share"] * c["seconds"] / c["deltas"] * 1e6
                writer = cpu["sink"].get("conect-writer", 0)
                rows.append(("  the writer per delta: in transactions / on CPU / waiting for a core / the rest (disk)",
                             f"{busy:.1f} / {writer:.1f} / {runq:.1f} / {max(busy - writer - runq, 0):.1f} us", "", ""))
        after_catch_up = c.get("sink_store_bytes_after_catch_up") or c.get("sink_store_bytes")
        if c.get("sink_disk_written_bytes") and after_catch_up:
            rows.append(("  sink's writes to disk during the catch-up", f"{c['sink_disk_written_bytes'] / 2**20:,.0f} MiB",
                         f"its data.mdb {after_catch_up / 2**20:,.0f} MiB",
                         f"{c['sink_disk_written_bytes'] / after_catch_up:.1f}x"))
        rows.append(("  peak RSS source / sink", f"{c['source']['VmHWM'] / 2**20:.0f} / {c['sink']['VmHWM'] / 2**20:.0f} MiB",
                     "", ""))
        rows.append(("  idle RssAnon holding the store", f"{c['idle_rss_anon'] / 2**20:.1f} MiB", "target 64 MiB", ""))
        signed = c['signed_delta_bytes'] * c['deltas']
        if c.get("sink_store_bytes_after_catch_up"):
            rows.append(("  sink's data.mdb as the catch-up left it", f"{after_catch_up / 2**20:.1f} MiB",
                         f"signed deltas {signed / 2**20:.1f} MiB", f"{after_catch_up / signed:.2f}x"))
        if c.get("sink_store_bytes"):
            compacted = f", compacted by the node in {c['sink_compaction_ms']} ms" if c.get("sink_compaction_ms") else ""
            rows.append((f"  sink's data.mdb, stopped{compacted}", f"{c['sink_store_bytes'] / 2**20:.1f} MiB",
                         f"signed deltas {signed / 2**20:.1f} MiB", f"{c['sink_store_bytes'] / signed:.2f}x"))
            if "sink_own_origin_sorts_after_source" in c:
                rows.append(("  the sink's own deltas sort after the source's in its log",
                             "yes (log pages ~66 % full)" if c["sink_own_origin_sorts_after_source"]
                             else "no (the log appends)", "node ids drawn at random", ""))
        if c.get("sink_store_live_bytes"):
            rows.append(("  its compacting copy (live data, what backup writes)",
                         f"{c['sink_store_live_bytes'] / 2**20:.1f} MiB", "",
                         f"{c['sink_store_live_bytes'] / (c['signed_delta_bytes'] * c['deltas']):.2f}x"))
        rows.append(("  cold start to /healthz", f"{c['cold_start_seconds'] * 1000:.0f} ms", "target 200 ms", ""))
        if "source_idle_linked_cpu_share" in c:
            rows.append(("  the source afterwards, linked and idle: CPU",
                         f"{c['source_idle_linked_cpu_share'] * 100:.1f} % of a core", "", ""))
    sync_cost = e2e["live"].get("fdatasync")
    for k, v in e2e["live"].items():
        if k in ("fdatasync", "durable_commit"):
            rows.append((f"  {k.replace('_', ' ')} (4 KiB), same run, p50 / p99", f"{v['p50_ms']:.2f} / {v['p99_ms']:.2f} ms",
                         "", ""))
            continue
        rows.append((f"live latency {k.replace('_', ' ')} p50 / p99",
                     f"{v['p50_ms']:.1f} / {v['p99_ms']:.1f} ms",
                     f"fdatasync {sync_cost['p50_ms']:.2f} / {sync_cost['p99_ms']:.2f} ms" if sync_cost else "",
                     f"{v['p99_ms'] / sync_cost['p99_ms']:.1f}x fdatasync p99" if sync_cost else ""))
        if "author_commit_ms" in v:
            rows.append(("  the nodes' own commits meanwhile, writer / receiver (mean)",
                         f"{v['author_commit_ms']:.2f} / {v['apply_commit_ms']:.2f} ms", "",
                         f"p50 {v['p50_ms'] / (v['author_commit_ms'] + v['apply_commit_ms']):.2f}x their sum"))
    sync = r["modules"].get("sync", {})
    if "anti_entropy_100_origins" in sync:
        rows.append(("in-sync anti-entropy round, 100 origins", f"{sync['anti_entropy_100_origins']['in_sync_bytes']} B",
                     "target 64 B per origin", ""))
    for mode in ("eager", "eager_pruned", "lazy", "tree"):
        if mode in sync:
            m = sync[mode]
            rows.append((f"simulation {sync['nodes']} nodes, {mode.replace('_', ' ')} push",
                         f"{m['bytes_per_node_per_delta']:.0f} B/node/delta",
                         f"delta {m['delta_bytes']:.0f} B", f"{m['bytes_per_node_per_delta'] / m['delta_bytes']:.1f}x"))
            if "eager" in sync and sync["eager"]["converge_ms"]:
                rows.append((f"  converges in", f"{m['converge_ms']} ms", f"eager push {sync['eager']['converge_ms']} ms",
                             f"{m['converge_ms'] / sync['eager']['converge_ms']:.2f}x"))
    width = max(len(x[0]) for x in rows)
    print("\n" + "figure".ljust(width), "value".ljust(26), "limit".ljust(34), "ratio")
    for name, value, limit, ratio in rows:
        print(name.ljust(width), value.ljust(26), limit.ljust(34), ratio)


if __name__ == "__main__":
    main()
