// docs/handshake.md, executed: a peer written from the document with raw
// libsodium calls (Noise itself comes from NoiseXX, which the cacophony
// vectors pin down) must interoperate with HandshakeDriver/SecureChannel in
// both roles. If the code drifts from the document, these tests fail.
#include <sodium.h>

#include <cstring>

#include "channel_fixture.h"

namespace conect::net {
namespace {

class Conformance : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
};

const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// The payload exactly as the document spells its protobuf encoding.
std::string doc_payload(const KeyPair& identity, const X25519PublicKey& noise_static, const FederationId& fed) {
  // Signature input: "conect/noise-static/v1" || BLAKE2b-256(static || federation).
  std::string bound = noise_static.raw() + fed.raw();
  unsigned char digest[32];
  EXPECT_EQ(crypto_generichash(digest, 32, u8(bound), bound.size(), nullptr, 0), 0);
  std::string signed_bytes = "conect/noise-static/v1";
  signed_bytes.append(reinterpret_cast<const char*>(digest), 32);
  Signature sig = identity.sign(SigningDomain::noise_static, bound);
  EXPECT_EQ(crypto_sign_verify_detached(sig.data(), u8(signed_bytes), signed_bytes.size(),
                                        identity.public_key().data()),
            0)
      << "the document's signature input must be what KeyPair signs";
  std::string p;
  p += "\x08\x01";  // field 1 (version), varint 1
  p += "\x12\x20";  // field 2 (node_id), 32 bytes
  p += identity.public_key().raw();
  p += "\x1a\x40";  // field 3 (static_binding), 64 bytes
  p += sig.raw();
  return p;
}

// Checks a peer's payload as the document says, by hand.
void check_doc_payload(const std::string& payload, const NodeId& expected, const X25519PublicKey& rs,
                       const FederationId& fed) {
  ASSERT_EQ(payload.size(), 2 + 2 + 32 + 2 + 64u) << "canonical encoding of the three fields";
  EXPECT_EQ(payload.substr(0, 4), std::string("\x08\x01\x12\x20", 4));
  EXPECT_EQ(payload.substr(4, 32), expected.raw());
  EXPECT_EQ(payload.substr(36, 2), std::string("\x1a\x40", 2));
  std::string bound = rs.raw() + fed.raw();
  unsigned char digest[32];
  crypto_generichash(digest, 32, u8(bound), bound.size(), nullptr, 0);
  std::string signed_bytes = "conect/noise-static/v1";
  signed_bytes.append(reinterpret_cast<const char*>(digest), 32);
  EXPECT_EQ(crypto_sign_verify_detached(u8(payload.substr(38, 64)), u8(signed_bytes), signed_bytes.size(),
                                        expected.data()),
            0);
}

// HKDF-SHA256 per RFC 5869 with raw HMAC calls, as the document states it.
std::array<unsigned char, 64> doc_stream_okm(const SplitKeys& k, const HandshakeHash& h) {
  std::string ikm(reinterpret_cast<const char*>(k.initiator_to_responder.data()), 32);
  ikm.append(reinterpret_cast<const char*>(k.responder_to_initiator.data()), 32);
  unsigned char prk[32], t1[32], t2[32];
  crypto_auth_hmacsha256(prk, u8(ikm), ikm.size(), h.data());
  std::string in1 = std::string("conect/stream/v1") + '\x01';
  crypto_auth_hmacsha256(t1, u8(in1), in1.size(), prk);
  std::string in2 = std::string(reinterpret_cast<const char*>(t1), 32) + "conect/stream/v1" + '\x02';
  crypto_auth_hmacsha256(t2, u8(in2), in2.size(), prk);
  std::array<unsigned char, 64> okm{};
  std::memcpy(okm.data(), t1, 32);
  std::memcpy(okm.data() + 32, t2, 32);
  return okm;
}

// The hand-written peer's secretstream pair.
struct DocStreams {
  crypto_secretstream_xchacha20poly1305_state push{}, pull{};
  std::string header;
  unsigned char pull_key[32];
  DocStreams(const unsigned char* push_key, const unsigned char* pull_key_in) {
    header.resize(crypto_secretstream_xchacha20poly1305_HEADERBYTES);
    EXPECT_EQ(crypto_secretstream_xchacha20poly1305_init_push(&push, reinterpret_cast<unsigned char*>(header.data()),
                                                              push_key),
              0);
    std::memcpy(pull_key, pull_key_in, 32);
  }
  std::string seal(std::string_view m, unsigned char tag) {
    std::string c(m.size() + crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
    crypto_secretstream_xchacha20poly1305_push(&push, reinterpret_cast<unsigned char*>(c.data()), nullptr, u8(m),
                                               m.size(), nullptr, 0, tag);
    return c;
  }
  void accept_header(const std::string& h) {
    ASSERT_EQ(h.size(), 24u);
    ASSERT_EQ(crypto_secretstream_xchacha20poly1305_init_pull(&pull, u8(h), pull_key), 0);
  }
  std::pair<std::string, unsigned char> open(const std::string& c) {
    std::string m(c.size() - crypto_secretstream_xchacha20poly1305_ABYTES, '\0');
    unsigned char tag = 0xff;
    EXPECT_EQ(crypto_secretstream_xchacha20poly1305_pull(&pull, reinterpret_cast<unsigned char*>(m.data()), nullptr,
                                                         &tag, u8(c), c.size(), nullptr, 0),
              0);
    return {m, tag};
  }
};

std::string doc_prologue(const FederationId& fed) { return std::string("conect/noise/v1") + fed.raw(); }

// The hand-written responder against the real initiator.
struct DocResponderRun {
  testing::Pair p;
  SecureChannel alice_channel;
  std::unique_ptr<DocStreams> bob;

  static DocResponderRun make() {
    testing::Pair p;
    auto alice = testing::dialler(p.alice, p.bob.id());
    auto bob_noise = NoiseXX::create(NoiseRole::responder, doc_prologue(p.federation),
                                     p.bob.credentials.noise_static().keypair());
    auto m1 = alice.start();
    auto empty = bob_noise->read_message(m1->at(0));
    EXPECT_TRUE(empty.ok() && empty->empty());
    auto m2 = bob_noise->write_message(
        doc_payload(p.bob.identity, p.bob.credentials.noise_static().public_key(), p.federation));
    auto out = alice.receive(*m2);
    EXPECT_TRUE(out.ok()) << out.error().message();
    auto alice_payload = bob_noise->read_message(out->at(0));
    EXPECT_TRUE(alice_payload.ok());
    check_doc_payload(*alice_payload, p.alice.id(), *bob_noise->remote_static(), p.federation);
    EXPECT_EQ(*bob_noise->remote_static(), p.alice.credentials.noise_static().public_key());
    auto okm = doc_stream_okm(*bob_noise->split_keys(), bob_noise->handshake_hash());
    auto bob = std::make_unique<DocStreams>(okm.data() + 32, okm.data());  // Bob pushes responder->initiator
    bob->accept_header(out->at(1));
    auto channel = alice.take_channel();
    EXPECT_TRUE(channel.ok());
    EXPECT_EQ(channel->handshake_hash(), bob_noise->handshake_hash());
    auto h = channel->open(bob->header);
    EXPECT_TRUE(h.ok() && h->kind == FrameKind::stream_header);
    return DocResponderRun{std::move(p), std::move(*channel), std::move(bob)};
  }
};

TEST_F(Conformance, DocumentedResponderInteroperatesWithTheInitiator) {
  auto run = DocResponderRun::make();
  auto f = run.alice_channel.seal("from alice");
  ASSERT_TRUE(f.ok());
  auto [m, tag] = run.bob->open(*f);
  EXPECT_EQ(m, "from alice");
  EXPECT_EQ(tag, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  auto back = run.alice_channel.open(run.bob->seal("from bob", crypto_secretstream_xchacha20poly1305_TAG_MESSAGE));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->plaintext, "from bob");
  auto fin = run.alice_channel.close();
  ASSERT_TRUE(fin.ok());
  auto [empty, final_tag] = run.bob->open(*fin);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(final_tag, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
}

TEST_F(Conformance, ForgedTagsAreRefused) {
  // Frames that authenticate but that a conforming peer never sends.
  struct Case {
    unsigned char tag;
    std::string body;
  };
  for (const Case& c : {Case{crypto_secretstream_xchacha20poly1305_TAG_PUSH, "x"},
                        Case{crypto_secretstream_xchacha20poly1305_TAG_REKEY, "x"},
                        Case{crypto_secretstream_xchacha20poly1305_TAG_FINAL, "data"}}) {
    auto run = DocResponderRun::make();
    auto r = run.alice_channel.open(run.bob->seal(c.body, c.tag));
    ASSERT_FALSE(r.ok()) << "tag " << int(c.tag);
    EXPECT_TRUE(r.error().is(Errc::protocol_error));
    EXPECT_TRUE(run.alice_channel.has_failed());
  }
  auto ok = DocResponderRun::make();
  auto fin = ok.alice_channel.open(ok.bob->seal("", crypto_secretstream_xchacha20poly1305_TAG_FINAL));
  ASSERT_TRUE(fin.ok());
  EXPECT_EQ(fin->kind, FrameKind::final);
}

TEST_F(Conformance, DocumentedInitiatorInteroperatesWithTheResponder) {
  testing::Pair p;
  auto bob = testing::acceptor(p.bob);
  auto alice_noise = NoiseXX::create(NoiseRole::initiator, doc_prologue(p.federation),
                                     p.alice.credentials.noise_static().keypair());
  auto m1 = alice_noise->write_message({});
  ASSERT_EQ(m1->size(), 32u);
  auto m2 = bob.receive(*m1);
  ASSERT_TRUE(m2.ok());
  auto bob_payload = alice_noise->read_message(m2->at(0));
  ASSERT_TRUE(bob_payload.ok());
  check_doc_payload(*bob_payload, p.bob.id(), *alice_noise->remote_static(), p.federation);
  auto m3 = alice_noise->write_message(
      doc_payload(p.alice.identity, p.alice.credentials.noise_static().public_key(), p.federation));
  auto okm = doc_stream_okm(*alice_noise->split_keys(), alice_noise->handshake_hash());
  DocStreams alice(okm.data(), okm.data() + 32);  // Alice pushes initiator->responder
  auto header = bob.receive(*m3);
  ASSERT_TRUE(header.ok()) << header.error().message();
  ASSERT_EQ(header->size(), 1u);
  alice.accept_header(header->at(0));
  auto channel = bob.take_channel();
  ASSERT_TRUE(channel.ok());
  ASSERT_TRUE(channel->open(alice.header).ok());
  auto got = channel->open(alice.seal("hello bob", crypto_secretstream_xchacha20poly1305_TAG_MESSAGE));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->plaintext, "hello bob");
  auto reply = channel->seal("hello alice");
  auto [m, tag] = alice.open(*reply);
  EXPECT_EQ(m, "hello alice");
  EXPECT_EQ(tag, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

}  // namespace
}  // namespace conect::net
