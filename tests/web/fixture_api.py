"""A stand-in for one node's HTTP API, for working on the dashboard without
building conect-node: it serves web/ and the JSON shapes of node/api
(placements with per-window availability, cursor pages, sessions, the
change stream). It is a development aid only; the browser tests run against
real nodes.

    /usr/bin/python3 tests/web/fixture_api.py --port 8088 --placements 5000
    # then open http://127.0.0.1:8088/ and paste the token it prints
"""
import argparse
import datetime
import http.server
import json
import mimetypes
import os
import queue
import random
import secrets
import threading
import urllib.parse

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "web")


def day(s):
    return datetime.date.fromisoformat(s)


class World:
    def __init__(self, n, seed=7):
        rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.token = secrets.token_hex(16)
        self.sessions = set()
        self.subscribers = []
        self.self_id = "a" * 64
        members = [("a" * 64, "Lapin ammattiopisto", "FI"), ("b" * 64, "Norrbottens yrkesskola", "SE"),
                   ("c" * 64, "Finnmark videregående skole", "NO"), ("d" * 64, "Murmansk College", "RU")]
        self.members = [{"node_id": i, "name": n_, "country": c, "role": "school", "self": i == self.self_id}
                        for i, n_, c in members]
        self.orgs = {}
        for idx, (i, n_, c) in enumerate(members):
            oid = f"{i}-{idx + 1}"
            self.orgs[oid] = {"id": oid, "owner": i, "names": [{"lang": "en", "text": n_}], "country": c,
                              "city": "", "rejected": []}
        trades = ["welder", "electrician", "cook", "carpenter", "nurse assistant", "mechanic"]
        langs = {"FI": "fi", "SE": "sv", "NO": "nb", "RU": "ru"}
        cities = {"FI": "Rovaniemi", "SE": "Luleå", "NO": "Alta", "RU": "Murmansk"}
        self.placements = {}
        self.reservations = {}
        base = datetime.date(2026, 1, 5)
        for k in range(n):
            owner, _, country = members[k % 4]
            pid = f"{owner}-{1000 + k}"
            trade = trades[rnd.randrange(len(trades))]
            windows = []
            for w in range(1 + rnd.randrange(3)):
                start = base + datetime.timedelta(days=7 * rnd.randrange(40))
                end = start + datetime.timedelta(days=7 * (2 + rnd.randrange(6)) - 3)
                cap = 1 + rnd.randrange(5)
                windows.append({"window_id": w + 1, "start": start.isoformat(), "end": end.isoformat(),
                                "capacity": cap})
            self.placements[pid] = {
                "id": pid, "type": "placement", "owner": owner,
                "host_organisation": [o for o in self.orgs if o.startswith(owner)][0],
                "title": [{"lang": "en", "text": f"{trade.title()} trainee {k}"},
                          {"lang": langs[country], "text": f"{trade} ({langs[country]}) {k}"}],
                "trade": trade, "trade_code": "", "tasks": "", "city": cities[country], "country": country,
                "windows": windows, "min_days": 14, "max_days": 60,
                "languages": [{"lang": langs[country], "level": "B1"}, {"lang": "en", "level": "B1"}],
                "safety": rnd.sample(["ppe", "safety_induction", "machinery", "hot_work"], 2),
                "minimum_age": 16, "accommodation": "", "mentor_contact": None, "status": "open",
                "updated": None, "rejected": [],
            }

    def availability(self, p):
        out = []
        for w in p["windows"]:
            conf = sum(r["slots"] for r in self.reservations.values()
                       if r["placement"] == p["id"] and r["window_id"] == w["window_id"] and r["decision"] == "confirmed")
            pend = sum(r["slots"] for r in self.reservations.values()
                       if r["placement"] == p["id"] and r["window_id"] == w["window_id"] and r["decision"] == "pending")
            out.append(dict(w, confirmed=conf, pending=pend, available=max(0, w["capacity"] - conf),
                            overbooked=conf > w["capacity"], overbooked_by=max(0, conf - w["capacity"])))
        return dict(p, windows=out)

    def publish(self, records):
        event = json.dumps({"deltas": [], "records": records})
        for q in list(self.subscribers):
            q.put(event)


class Handler(http.server.BaseHTTPRequestHandler):
    world = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def authed(self):
        w = self.world
        if self.headers.get("Authorization") == f"Bearer {w.token}":
            return True
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "conect_session" and v in w.sessions:
                return True
        return False

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if not url.path.startswith("/api/"):
            return self.static(url.path)
        if not self.authed():
            return self.send_json(401, {"error": "unauthenticated", "detail": "sign in"})
        w = self.world
        with w.lock:
            if url.path == "/api/v1/events":
                return self.events()
            if url.path == "/api/v1/status":
                return self.send_json(200, {"node_id": w.self_id, "name": "Lapin ammattiopisto", "country": "FI",
                                            "role": "school", "version_vector": {}, "peers": [
                                                {"node_id": "b" * 64, "address": "ws://x", "connected": True, "lag": 0,
                                                 "last_seen": datetime.datetime.utcnow().isoformat() + "Z"},
                                                {"node_id": "c" * 64, "address": "", "connected": False, "lag": 3,
                                                 "last_seen": None}]})
            if url.path == "/api/v1/members":
                return self.send_json(200, {"items": w.members, "next_cursor": None})
            if url.path == "/api/v1/organisations":
                return self.send_json(200, {"items": list(w.orgs.values()), "next_cursor": None})
            if url.path == "/api/v1/placements":
                return self.list_placements(q)
            parts = url.path.strip("/").split("/")
            if len(parts) == 5 and parts[2] == "placements" and parts[4] == "reservations":
                items = [r for r in w.reservations.values() if r["placement"] == parts[3]]
                return self.send_json(200, {"items": items, "next_cursor": None})
            if len(parts) == 4 and parts[2] == "reservations" and parts[3] in w.reservations:
                return self.send_json(200, w.reservations[parts[3]])
            if len(parts) == 4 and parts[2] == "placements" and parts[3] in w.placements:
                return self.send_json(200, w.availability(w.placements[parts[3]]))
        self.send_json(404, {"error": "not_found", "detail": url.path})

    def list_placements(self, q):
        w = self.world
        items = sorted(w.placements.values(), key=lambda p: (min(x["start"] for x in p["windows"]), p["id"]))
        out = []
        for p in items:
            a = w.availability(p)
            if q.get("trade") and p["trade"].lower() != q["trade"].strip().lower():
                continue
            if q.get("country") and p["country"] != q["country"].upper():
                continue
            if q.get("language") and not any(l["lang"] == q["language"] for l in p["languages"]):
                continue
            if q.get("from") and not any(day(x["end"]) >= day(q["from"]) for x in p["windows"]):
                continue
            if q.get("to") and not any(day(x["start"]) <= day(q["to"]) for x in p["windows"]):
                continue
            if q.get("host") and p["host_organisation"] != q["host"]:
                continue
            if q.get("available") == "true" and not any(x["available"] > 0 for x in a["windows"]):
                continue
            out.append(a)
        start = int(q.get("cursor") or 0)
        limit = int(q.get("limit") or 50)
        page = out[start:start + limit]
        nxt = str(start + limit) if start + limit < len(out) else None
        self.send_json(200, {"items": page, "next_cursor": nxt})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        w = self.world
        if url.path == "/api/v1/session":
            if body.get("token") == w.token:
                sid = secrets.token_hex(32)
                w.sessions.add(sid)
                return self.send_json(201, {"session": "created"}, [
                    ("Set-Cookie", f"conect_session={sid}; HttpOnly; SameSite=Strict; Path=/")])
            return self.send_json(401, {"error": "unauthenticated", "detail": "bad token"})
        if not self.authed():
            return self.send_json(401, {"error": "unauthenticated", "detail": "sign in"})
        parts = url.path.strip("/").split("/")
        with w.lock:
            if len(parts) == 5 and parts[2] == "placements" and parts[4] == "reservations":
                rid = f"{w.self_id}-{len(w.reservations) + 90000}"
                w.reservations[rid] = {"id": rid, "placement": parts[3], "window_id": body["window_id"],
                                       "slots": body["slots"], "note": body.get("note", ""), "decision": "pending",
                                       "mobility": None, "rejected": []}
                w.publish([{"id": rid, "record_type": "reservation"}])
                return self.send_json(201, w.reservations[rid])
            if len(parts) == 5 and parts[2] == "reservations" and parts[3] in w.reservations:
                w.reservations[parts[3]]["decision"] = {"confirm": "confirmed", "reject": "rejected",
                                                        "cancel": "cancelled"}[parts[4]]
                w.publish([{"id": parts[3], "record_type": "reservation"}])
                return self.send_json(200, w.reservations[parts[3]])
        self.send_json(404, {"error": "not_found", "detail": url.path})

    def events(self):
        q = queue.Queue()
        self.world.subscribers.append(q)
        self.world.lock.release()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n")
            self.wfile.flush()
            while True:
                try:
                    data = q.get(timeout=15)
                    self.wfile.write(f"event: change\ndata: {data}\n\n".encode())
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            pass
        finally:
            self.world.lock.acquire()
            self.world.subscribers.remove(q)
            self.close_connection = True

    def static(self, path):
        rel = path.lstrip("/") or "index.html"
        full = os.path.realpath(os.path.join(WEB, rel))
        if not full.startswith(os.path.realpath(WEB)) or not os.path.isfile(full):
            return self.send_json(404, {"error": "not_found", "detail": path})
        data = open(full, "rb").read()
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        if full.endswith(".js"):
            ctype = "text/javascript"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)


def serve(port, placements):
    Handler.world = World(placements)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    return srv


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--placements", type=int, default=60)
    a = ap.parse_args()
    s = serve(a.port, a.placements)
    print(f"http://127.0.0.1:{s.server_address[1]}/  token: {Handler.world.token}", flush=True)
    s.serve_forever()
