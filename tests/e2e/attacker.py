"""An independent conect peer written from docs/handshake.md, not from the
node's code: Noise_XX_25519_ChaChaPoly_SHA256 from PyNaCl and hashlib, the
identity binding, secretstream frames, and member cards. The attack tests use
it to misbehave in ways the node's own code never would.
"""
import asyncio
import hashlib
import hmac
import os
import socket
import struct
import time

import nacl.bindings as sodium
import nacl.signing
import websockets

PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
PROLOGUE_PREFIX = b"conect/noise/v1"
STREAM_LABEL = b"conect/stream/v1"


# --------------------------------------------------------------- protobuf
def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num, value):
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def _field_varint(num, value):
    return _varint(num << 3) + _varint(value)


def _field_fixed32(num, value):
    return _varint(num << 3 | 5) + struct.pack("<I", value)


def read_varint(buf, at):
    """The varint at `at` of `buf`, and where it ends."""
    value, shift = 0, 0
    while True:
        b = buf[at]
        value |= (b & 0x7F) << shift
        at += 1
        if b < 0x80:
            return value, at
        shift += 7


def parse_fields(buf):
    """A protobuf message's fields, {number: [value, ...]}: varints as ints,
    length-delimited fields as bytes (what the tests read)."""
    out, at = {}, 0
    while at < len(buf):
        key, at = read_varint(buf, at)
        if key & 7 == 0:
            value, at = read_varint(buf, at)
        elif key & 7 == 2:
            n, at = read_varint(buf, at)
            value, at = bytes(buf[at:at + n]), at + n
        else:
            raise ValueError(f"wire type {key & 7} of field {key >> 3}")
        out.setdefault(key >> 3, []).append(value)
    return out


# SyncMessage (proto/sync.proto, docs/sync.md): just what the tests send.
def summary_entries(entries, roster_tag=0):
    """A SyncMessage{summary: ENTRIES} naming each origin by its full id:
    entries = [(origin 32 bytes, seq, head id prefix 16 bytes)]."""
    body = _field_bytes(1, b"\0" * 32) + _field_fixed32(2, roster_tag) + _field_varint(3, 3)
    for origin, seq, head in entries:
        body += _field_bytes(4, _field_bytes(2, origin) + _field_varint(3, seq) + _field_bytes(4, head))
    return _field_bytes(1, body)


def sync_request(request_id, origin, first, until=0, max_count=65535, max_bytes=64 << 20):
    """A SyncMessage{request}: "send me origin's deltas first..until (0 = head)"."""
    body = (_field_varint(1, request_id) + _field_bytes(2, origin) + _field_varint(3, first)
            + _field_varint(4, until) + _field_varint(5, max_count) + _field_varint(6, max_bytes))
    return _field_bytes(2, body)


def signing_input(label, message):
    return label + hashlib.blake2b(message, digest_size=32).digest()


class Identity:
    """An Ed25519 member identity plus a Noise static key."""

    def __init__(self):
        self.signing = nacl.signing.SigningKey.generate()
        self.node_id = bytes(self.signing.verify_key)
        self.static_priv = os.urandom(32)
        self.static_pub = sodium.crypto_scalarmult_base(self.static_priv)

    def sign(self, label, message):
        return self.signing.sign(signing_input(label, message)).signature

    def binding(self, federation, static_pub=None):
        return self.sign(b"conect/noise-static/v1", (static_pub or self.static_pub) + federation)

    def card(self, federation, name="Attacker Oy", country="FI", role=2):
        body = (_field_bytes(1, federation) + _field_bytes(2, self.node_id) + _field_bytes(3, name.encode())
                + _field_bytes(4, country.encode()) + _field_varint(5, role)
                + _field_varint(7, int(time.time() * 1000)))
        card = _field_bytes(1, body) + _field_bytes(2, self.sign(b"conect/card/v1", body))
        import base64
        return "conect-card:" + base64.urlsafe_b64encode(card).decode().rstrip("=")


def handshake_payload(node_id, binding, version=1):
    return _field_varint(1, version) + _field_bytes(2, node_id) + _field_bytes(3, binding)


# ------------------------------------------------------------------ Noise
def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def _hkdf2(ck, ikm):
    temp = _hmac(ck, ikm)
    o1 = _hmac(temp, b"\x01")
    o2 = _hmac(temp, o1 + b"\x02")
    return o1, o2


def _nonce(n):
    return b"\x00" * 4 + struct.pack("<Q", n)


class NoiseInitiator:
    """The initiator side of XX; raises on any failure."""

    def __init__(self, prologue, static_priv, static_pub):
        self.h = PROTOCOL_NAME  # exactly HASHLEN bytes: used as is
        self.ck = self.h
        self.k = None
        self.n = 0
        self.s_priv, self.s_pub = static_priv, static_pub
        self.e_priv = os.urandom(32)
        self.e_pub = sodium.crypto_scalarmult_base(self.e_priv)
        self._mix_hash(prologue)

    def _mix_hash(self, data):
        self.h = hashlib.sha256(self.h + data).digest()

    def _mix_key(self, ikm):
        self.ck, self.k = _hkdf2(self.ck, ikm)
        self.n = 0

    def _encrypt_and_hash(self, plaintext):
        if self.k is None:
            ct = plaintext
        else:
            ct = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, self.h, _nonce(self.n), self.k)
            self.n += 1
        self._mix_hash(ct)
        return ct

    def _decrypt_and_hash(self, ct):
        pt = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(ct, self.h, _nonce(self.n), self.k)
        self.n += 1
        self._mix_hash(ct)
        return pt

    def message1(self):
        self._mix_hash(self.e_pub)
        return self.e_pub + self._encrypt_and_hash(b"")

    def read_message2(self, msg):
        self.re = msg[:32]
        self._mix_hash(self.re)
        self._mix_key(sodium.crypto_scalarmult(self.e_priv, self.re))
        self.rs = self._decrypt_and_hash(msg[32:80])
        self._mix_key(sodium.crypto_scalarmult(self.e_priv, self.rs))
        return self._decrypt_and_hash(msg[80:])

    def message3(self, payload):
        out = self._encrypt_and_hash(self.s_pub)
        self._mix_key(sodium.crypto_scalarmult(self.s_priv, self.re))
        return out + self._encrypt_and_hash(payload)

    def stream_keys(self):
        k1, k2 = _hkdf2(self.ck, b"")
        prk = _hmac(self.h, k1 + k2)  # RFC 5869 extract with salt = h
        t1 = _hmac(prk, STREAM_LABEL + b"\x01")
        t2 = _hmac(prk, t1 + STREAM_LABEL + b"\x02")
        return t1, t2  # initiator->responder, responder->initiator


class Peer:
    """A WebSocket connection to a node's /sync, with helpers to misbehave."""

    def __init__(self, port, federation, identity=None):
        self.url = f"ws://127.0.0.1:{port}/sync"
        self.federation = federation
        self.identity = identity or Identity()
        self.ws = None

    async def connect(self, source_ip=None, stop_reading=False):
        """Opens the WebSocket. source_ip binds the local end to another
        loopback address (127.0.0.2, ...: another "remote address" for the
        node). stop_reading makes a peer that reads nothing after the
        handshake: a tiny receive buffer, and the client library's own
        reading stops once one message is queued."""
        sock = socket.socket()
        if stop_reading:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if source_ip:
            sock.bind((source_ip, 0))
        host, port = self.url[len("ws://"):].split("/")[0].rsplit(":", 1)
        sock.connect((host, int(port)))
        options = dict(max_queue=1, read_limit=4096, ping_interval=None) if stop_reading else {}
        self.ws = await websockets.connect(self.url, sock=sock, max_size=None, open_timeout=10, **options)
        return self

    async def handshake(self, claimed_id=None, binding=None, prologue=None):
        """Runs XX as initiator; returns the responder's payload bytes."""
        fed_prologue = prologue if prologue is not None else PROLOGUE_PREFIX + self.federation
        ident = self.identity
        self.noise = NoiseInitiator(fed_prologue, ident.static_priv, ident.static_pub)
        self.sent = [self.noise.message1()]
        await self.ws.send(self.sent[0])
        msg2 = await asyncio.wait_for(self.ws.recv(), 10)
        responder_payload = self.noise.read_message2(msg2)
        payload = handshake_payload(claimed_id or ident.node_id, binding or ident.binding(self.federation))
        self.sent.append(self.noise.message3(payload))
        await self.ws.send(self.sent[1])
        i2r, r2i = self.noise.stream_keys()
        self.push_state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self.push_state, i2r)
        self.pull_key = r2i
        await self.ws.send(header)
        return responder_payload

    def seal(self, plaintext):
        return sodium.crypto_secretstream_xchacha20poly1305_push(
            self.push_state, plaintext, None, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)

    async def closed_within(self, seconds=10):
        """True when the node closes the connection within the deadline."""
        try:
            async def drain():
                while True:
                    await self.ws.recv()
            await asyncio.wait_for(drain(), seconds)
        except websockets.ConnectionClosed:
            return True
        except asyncio.TimeoutError:
            return False
        return False
