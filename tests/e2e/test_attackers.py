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
from attacker import Identity, Peer, handshake_payload  # noqa: E402
from harness import Federation, cli, create_organisation, wait_until  # noqa: E402


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


class Attacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.a = cls.fed.add("Lapin ammattiopisto", "FI")
        cls.b = cls.fed.add("Luleå Yrkesgymnasium", "SE")
        cls.fed.trust_all()
        # An attacker whose card the victim trusts: it may connect, then misbehaves.
        cls.insider = Identity()
        cli("member", "add", cls.insider.card(bytes.fromhex(cls.a.federation)), data=cls.a.data)
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
