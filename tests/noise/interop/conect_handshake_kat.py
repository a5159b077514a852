#!/usr/bin/env python3
"""An independent implementation of docs/handshake.md, written from the
document (not from the C++ code), that produces the known-answer vector
tests/noise/vectors/conect-handshake-v1.json. The C++ test
KnownAnswer.MatchesTheIndependentImplementation must reproduce it byte for byte.

Needs only the standard library and python3-cryptography (X25519, Ed25519,
ChaCha20-Poly1305). Run:  python3 conect_handshake_kat.py > ../vectors/conect-handshake-v1.json
It also self-checks against the cacophony SHA256 vector before writing.
"""
import hashlib
import hmac
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PROTOCOL = b"Noise_XX_25519_ChaChaPoly_SHA256"


def x25519_pub(priv: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def dh(priv: bytes, pub: bytes) -> bytes:
    out = X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(pub))
    assert out != bytes(32)
    return out


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def noise_hkdf(ck: bytes, ikm: bytes):
    temp = hmac256(ck, ikm)
    o1 = hmac256(temp, b"\x01")
    o2 = hmac256(temp, o1 + b"\x02")
    return o1, o2


class Symmetric:
    def __init__(self, prologue: bytes):
        self.h = PROTOCOL.ljust(32, b"\0") if len(PROTOCOL) <= 32 else hashlib.sha256(PROTOCOL).digest()
        self.ck = self.h
        self.k = None
        self.n = 0
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes):
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes):
        self.ck, self.k = noise_hkdf(self.ck, ikm)
        self.n = 0

    def _nonce(self):
        return b"\0\0\0\0" + self.n.to_bytes(8, "little")

    def encrypt_and_hash(self, pt: bytes) -> bytes:
        ct = pt if self.k is None else ChaCha20Poly1305(self.k).encrypt(self._nonce(), pt, self.h)
        if self.k is not None:
            self.n += 1
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct: bytes) -> bytes:
        pt = ct if self.k is None else ChaCha20Poly1305(self.k).decrypt(self._nonce(), ct, self.h)
        if self.k is not None:
            self.n += 1
        self.mix_hash(ct)
        return pt

    def split(self):
        return noise_hkdf(self.ck, b"")


def run_xx(prologue, i_s, i_e, r_s, r_e, payloads):
    """Both sides of XX; returns (messages, h, (k1, k2)) after checking that the
    two sides agree."""
    I, R = Symmetric(prologue), Symmetric(prologue)
    msgs = []
    # -> e
    m = x25519_pub(i_e)
    I.mix_hash(m)
    m += I.encrypt_and_hash(payloads[0])
    msgs.append(m)
    re_i = m[:32]
    R.mix_hash(re_i)
    assert R.decrypt_and_hash(m[32:]) == payloads[0]
    # <- e, ee, s, es
    m = x25519_pub(r_e)
    R.mix_hash(m)
    R.mix_key(dh(r_e, re_i))
    m += R.encrypt_and_hash(x25519_pub(r_s))
    R.mix_key(dh(r_s, re_i))
    m += R.encrypt_and_hash(payloads[1])
    msgs.append(m)
    re_r = m[:32]
    I.mix_hash(re_r)
    I.mix_key(dh(i_e, re_r))
    rs_i = I.decrypt_and_hash(m[32:80])
    I.mix_key(dh(i_e, rs_i))
    assert I.decrypt_and_hash(m[80:]) == payloads[1]
    # -> s, se
    m = I.encrypt_and_hash(x25519_pub(i_s))
    I.mix_key(dh(i_s, re_r))
    m += I.encrypt_and_hash(payloads[2])
    msgs.append(m)
    rs_r = R.decrypt_and_hash(m[:48])
    R.mix_key(dh(r_e, rs_r))
    assert R.decrypt_and_hash(m[48:]) == payloads[2]
    assert I.h == R.h and I.split() == R.split()
    return msgs, I.h, I.split()


def self_check_cacophony(path):
    doc = json.load(open(path))
    for v in doc["vectors"]:
        if v["protocol_name"] != PROTOCOL.decode():
            continue
        u = bytes.fromhex
        pays = [u(x["payload"]) for x in v["messages"][:3]]
        msgs, h, _ = run_xx(u(v["init_prologue"]), u(v["init_static"]), u(v["init_ephemeral"]),
                            u(v["resp_static"]), u(v["resp_ephemeral"]), pays)
        assert [m.hex() for m in msgs] == [x["ciphertext"] for x in v["messages"][:3]], "cacophony mismatch"
        assert h.hex() == v["handshake_hash"]
        return
    raise SystemExit("no SHA256 vector found")


def binding(identity: Ed25519PrivateKey, noise_static_pub: bytes, federation: bytes) -> bytes:
    digest = hashlib.blake2b(noise_static_pub + federation, digest_size=32).digest()
    return identity.sign(b"conect/noise-static/v1" + digest)


def payload(node_id: bytes, sig: bytes) -> bytes:
    return b"\x08\x01" + b"\x12\x20" + node_id + b"\x1a\x40" + sig


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    self_check_cacophony(os.path.join(here, "..", "vectors", "noise-xx-25519-chachapoly.json"))

    federation = bytes.fromhex("00112233445566778899aabbccddeeff")
    i_seed, r_seed = bytes([1]) * 32, bytes([2]) * 32          # Ed25519 seeds
    i_s, r_s = bytes([0x11]) * 32, bytes([0x22]) * 32          # Noise static private keys
    i_e, r_e = bytes([0x33]) * 32, bytes([0x44]) * 32          # ephemeral private keys
    i_id, r_id = Ed25519PrivateKey.from_private_bytes(i_seed), Ed25519PrivateKey.from_private_bytes(r_seed)
    raw = lambda k: k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    i_pay = payload(raw(i_id), binding(i_id, x25519_pub(i_s), federation))
    r_pay = payload(raw(r_id), binding(r_id, x25519_pub(r_s), federation))

    prologue = b"conect/noise/v1" + federation
    msgs, h, (k1, k2) = run_xx(prologue, i_s, i_e, r_s, r_e, [b"", r_pay, i_pay])
    info = b"conect/stream/v1"
    prk = hmac256(h, k1 + k2)
    t1 = hmac256(prk, info + b"\x01")
    t2 = hmac256(prk, t1 + info + b"\x02")

    out = {
        "source": "tests/noise/interop/conect_handshake_kat.py: an independent implementation of docs/handshake.md",
        "federation_id": federation.hex(),
        "prologue": prologue.hex(),
        "initiator_identity_seed": i_seed.hex(),
        "responder_identity_seed": r_seed.hex(),
        "initiator_node_id": raw(i_id).hex(),
        "responder_node_id": raw(r_id).hex(),
        "initiator_static": i_s.hex(),
        "responder_static": r_s.hex(),
        "initiator_ephemeral": i_e.hex(),
        "responder_ephemeral": r_e.hex(),
        "initiator_payload": i_pay.hex(),
        "responder_payload": r_pay.hex(),
        "message1": msgs[0].hex(),
        "message2": msgs[1].hex(),
        "message3": msgs[2].hex(),
        "handshake_hash": h.hex(),
        "stream_key_initiator_to_responder": t1.hex(),
        "stream_key_responder_to_initiator": t2.hex(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
