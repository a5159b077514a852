"""Hostile peers against a real node: each is refused with its reason logged
and counted, and the node keeps serving its honest peer with no data changed.
The attackers speak raw WebSocket from Python (attacker.py), not through the
node's code."""
import asyncio
import os
import re
import socket
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(__file__))
from attacker import Identity, Peer, handshake_payload, sync_request  # noqa: E402
from harness import Federation, cli, create_organisation, seed, wait_until  # noqa: E402


def refused(node, stage=None, reason=None):
    """Sum of conect_peer_refused_total series matching stage/reason."""
    _, text = node.api("GET", "/metrics", token=False, expect=200)
    total = 0
    for line in text.splitlines():
        m = re.match(r'conect_peer_refused_total\{(.*)\} (\d+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if stage and labels.get("stage") != stage:
            continue
        if reason and labels.get("reason") != reason:
            continue
        total += int(m.group(2))
    return total


def run(coro):
    return asyncio.run(coro)


def trusted_insider(node):
    """An identity whose card `node` trusts: it may connect, then misbehave."""
    insider = Identity()
    cli("member", "add", insider.card(bytes.fromhex(node.federation)), data=node.data)
    return insider


class Attacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.a = cls.fed.add("Lapin ammattiopisto", "FI")
        cls.b = cls.fed.add("Luleå Yrkesgymnasium", "SE")
        cls.fed.trust_all()
        cls.insider = trusted_insider(cls.a)
        cls.a.start()
        cls.b.start()
        cls.b.dial(cls.a)
        wait_until("honest link", lambda: cls.a.node_id in cls.b.connected_peers())
        create_organisation(cls.a, "Before the attacks", "FI")
        cls.fed.wait_converged()
        cls.fedid = bytes.fromhex(cls.a.federation)

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def tearDown(self):
        # After every attack: the honest link still works and data is intact.
        before = self.a.digest()
        self.assertEqual(before, self.b.digest())
        wait_until("honest link still up", lambda: self.a.node_id in self.b.connected_peers())

    def port(self):
        return self.a.ports["peer"]

    def test_not_a_websocket(self):
        s = socket.create_connection(("127.0.0.1", self.port()))
        s.sendall(b"GET /sync HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = s.recv(4096).decode(errors="replace")
        s.close()
        self.assertIn("404", reply.split("\r\n")[0])

    def test_garbage_instead_of_handshake(self):
        before = refused(self.a, "handshake")

        async def attack():
            p = await Peer(self.port(), self.fedid).connect()
            await p.ws.send(os.urandom(7))  # shorter than an ephemeral key
            return await p.closed_within()
        self.assertTrue(run(attack()))
        wait_until("refusal counted", lambda: refused(self.a, "handshake") > before)

    def test_text_frame(self):
        async def attack():
            p = await Peer(self.port(), self.fedid).connect()
            await p.ws.send("hello")
            return await p.closed_within()
        self.assertTrue(run(attack()))

    def test_stranger_not_on_roster(self):
        before = refused(self.a, "handshake", "unknown_origin")

        async def attack():
            p = await Peer(self.port(), self.fedid).connect()
            await p.handshake()
            return await p.closed_within()
        self.assertTrue(run(attack()))
        wait_until("unknown_origin counted", lambda: refused(self.a, "handshake", "unknown_origin") > before)
        self.assertTrue(any("unknown_origin" in e.get("reason", "") for e in self.a.log_events("handshake_refused")))

    def test_stolen_node_id_without_its_key(self):
        before = refused(self.a, "handshake", "bad_signature")
        thief = Identity()

        async def attack():
            p = await Peer(self.port(), self.fedid, thief).connect()
            # Claims b's id (on a's roster) but can only sign with its own key.
            await p.handshake(claimed_id=bytes.fromhex(self.b.node_id))
            return await p.closed_within()
        self.assertTrue(run(attack()))
        wait_until("bad_signature counted", lambda: refused(self.a, "handshake", "bad_signature") > before)

    def test_another_federation(self):
        before = refused(self.a, "handshake")

        async def attack():
            p = await Peer(self.port(), os.urandom(16), self.insider).connect()
            try:
                await p.handshake()  # message 2 cannot decrypt under another prologue
            except Exception:
                pass
            # Whatever we send as message 3, the node cannot decrypt it either.
            await p.ws.send(os.urandom(96))
            return await p.closed_within()
        self.assertTrue(run(attack()))
        wait_until("refusal counted", lambda: refused(self.a, "handshake") > before)

    def test_replayed_handshake(self):
        async def capture():
            p = await Peer(self.port(), self.fedid, self.insider).connect()
            await p.handshake()
            await p.ws.close()
            return p.sent

        msg1, msg3 = run(capture())
        before = refused(self.a, "handshake")

        async def replay():
            p = await Peer(self.port(), self.fedid, self.insider).connect()
            await p.ws.send(msg1)
            await asyncio.wait_for(p.ws.recv(), 10)  # a fresh message 2
            await p.ws.send(msg3)  # keyed to the old session: must not decrypt
            return await p.closed_within()
        self.assertTrue(run(replay()))
        wait_until("replay refused", lambda: refused(self.a, "handshake") > before)

    def test_tampered_frame_after_handshake(self):
        before = refused(self.a, "frame")

        async def attack():
            p = await Peer(self.port(), self.fedid, self.insider).connect()
            await p.handshake()
            frame = bytearray(p.seal(b"\x0a\x00"))
            frame[-1] ^= 0x01
            await p.ws.send(bytes(frame))
            return await p.closed_within()
        self.assertTrue(run(attack()))
        wait_until("tampered frame counted", lambda: refused(self.a, "frame") > before)

    def test_truncated_frame_after_handshake(self):
        before = refused(self.a, "frame")

        async def attack():
            p = await Peer(self.port(), self.fedid, self.insider).connect()
            await p.handshake()
            await p.ws.send(p.seal(b"\x0a\x00")[:10])
            return await p.closed_within()
        self.assertTrue(run(attack()))
        wait_until("truncated frame counted", lambda: refused(self.a, "frame") > before)

    def test_oversized_frame(self):
        async def attack():
            p = await Peer(self.port(), self.fedid, self.insider).connect()
            await p.handshake()
            try:
                await p.ws.send(os.urandom(5 * 1024 * 1024))  # over the 4 MiB default
            except websockets.ConnectionClosed as e:
                return e.rcvd is not None and e.rcvd.code == 1009  # "message too big", from the node
            return await p.closed_within()
        self.assertTrue(run(attack()))

    def test_garbage_sync_message_inside_a_valid_channel(self):
        async def attack():
            p = await Peer(self.port(), self.fedid, self.insider).connect()
            await p.handshake()
            await p.ws.send(p.seal(os.urandom(64)))  # authenticates, but is no SyncMessage
            return await p.closed_within()
        self.assertTrue(run(attack()))

    def test_honest_data_still_flows_after_attacks(self):
        create_organisation(self.a, "Written during the attacks", "FI")
        self.fed.wait_converged()


class Floods(unittest.TestCase):
    """Peers that try to make the node hold memory without bound: one that
    asks for everything many times and never reads, connections that never
    finish a handshake. Small limits in node.toml keep the test quick; the
    defaults work the same way, only larger (docs/sync.md)."""
    PER_IP = 2
    UNAUTHENTICATED = 8

    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.v = cls.fed.add("Victim", "FI")
        cls.h = cls.fed.add("Honest partner", "SE")
        cls.fed.trust_all()
        cls.insider = trusted_insider(cls.v)
        cls.fedid = bytes.fromhex(cls.v.federation)
        seed(cls.v, 6000)  # about 2 MB of deltas: every full request is answered with that much
        # 12 MiB: above the 8 MiB of credit an honest conect peer grants at most.
        cls.v.configure(send_queue_max_bytes=12 << 20, max_unauthenticated_connections=cls.UNAUTHENTICATED,
                        max_unauthenticated_per_ip=cls.PER_IP)
        cls.v.start()
        cls.h.start()
        cls.h.dial(cls.v)
        wait_until("honest link", lambda: cls.v.node_id in cls.h.connected_peers())
        cls.fed.wait_converged()

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def tearDown(self):
        wait_until("honest link still up", lambda: self.v.node_id in self.h.connected_peers())
        create_organisation(self.v, "Written after a flood", "FI")
        self.fed.wait_converged()

    def port(self):
        return self.v.ports["peer"]

    def test_a_peer_that_asks_for_everything_and_never_reads_is_cut_off(self):
        before = refused(self.v, "send", "send_queue_full")
        rss_before = self.v.rss_bytes()

        async def attack():
            p = await Peer(self.port(), self.fedid, self.insider).connect(stop_reading=True)
            await p.handshake()
            origin = bytes.fromhex(self.v.node_id)
            try:
                for i in range(64):  # each asks for the whole chain, with 64 MiB of credit
                    await p.ws.send(p.seal(sync_request(i + 1, origin, 1)))
            except websockets.ConnectionClosed:
                pass
            wait_until("the link cut for a full send queue",
                       lambda: refused(self.v, "send", "send_queue_full") > before, timeout=20)
            p.ws.transport.abort()  # no closing handshake with a peer that is gone
        run(attack())
        self.assertTrue(any("send queue full" in e.get("reason", "") for e in self.v.log_events("peer_disconnected")))
        self.assertLess(self.v.rss_bytes() - rss_before, 64 << 20, "memory stayed bounded")

    def silent_connections(self, source_ip, n):
        """TCP connections that never start a WebSocket, let alone a handshake."""
        return [socket.create_connection(("127.0.0.1", self.port()), source_address=(source_ip, 0)) for _ in range(n)]

    @staticmethod
    def closed_by_node(s):
        s.settimeout(0.05)
        try:
            return s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True

    def test_unauthenticated_connections_are_capped_per_address(self):
        before = refused(self.v, "accept", "unauthenticated_per_ip")
        socks = self.silent_connections("127.0.0.2", self.PER_IP + 1)
        try:
            wait_until("the connection over the per-address cap refused",
                       lambda: refused(self.v, "accept", "unauthenticated_per_ip") > before)
            self.assertEqual(sum(self.closed_by_node(s) for s in socks), 1, "only the one over the cap is closed")
        finally:
            for s in socks:
                s.close()

    def test_a_flood_of_unauthenticated_connections_does_not_lock_peers_out(self):
        before = refused(self.v, "accept", "evicted")
        flood = []
        try:
            for i in range(self.UNAUTHENTICATED // self.PER_IP + 2):  # more than the node takes in all
                flood += self.silent_connections(f"127.0.1.{i + 1}", self.PER_IP)
            evicted = len(flood) - self.UNAUTHENTICATED
            wait_until("the oldest waiting connections evicted",
                       lambda: refused(self.v, "accept", "evicted") >= before + evicted)
            self.assertEqual(sum(self.closed_by_node(s) for s in flood), evicted)

            async def honest():  # a member dialling in now still gets through
                p = await Peer(self.port(), self.fedid, self.insider).connect()
                await p.handshake()
                ok = not await p.closed_within(0.5)
                await p.ws.close()
                return ok
            self.assertTrue(run(honest()), "a handshake completes while the flood holds its slots")
        finally:
            for s in flood:
                s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
