// The Noise layer against the published cacophony vectors, and the Noise
// rules the vectors do not exercise (small-order keys, turn order, sizes,
// nonce limits, failure latching).
#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "conect/crdt/identity.h"
#include "conect/net/noise.h"

namespace conect::net {
namespace {

std::string unhex(const std::string& h) {
  auto raw = from_hex(h);
  EXPECT_TRUE(raw.has_value()) << h;
  return raw.value_or("");
}

DhKeyPair key_from_hex(const std::string& h) {
  std::array<std::uint8_t, 32> priv{};
  std::string raw = unhex(h);
  EXPECT_EQ(raw.size(), 32u);
  std::memcpy(priv.data(), raw.data(), std::min<std::size_t>(raw.size(), 32));
  auto k = DhKeyPair::from_private(priv);
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

nlohmann::json load_vectors() {
  std::ifstream in(CONECT_NOISE_VECTORS);
  EXPECT_TRUE(in.good()) << "cannot open " << CONECT_NOISE_VECTORS;
  return nlohmann::json::parse(in);
}

std::vector<nlohmann::json> sha256_vectors() {
  std::vector<nlohmann::json> out;
  const nlohmann::json doc = load_vectors();
  for (const auto& v : doc["vectors"])
    if (v["protocol_name"].get<std::string>() == kNoiseProtocolName) out.push_back(v);
  return out;
}

class Vectors : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
};

TEST_F(Vectors, FileNamesItsSourceAndHoldsTheSha256Vector) {
  auto doc = load_vectors();
  EXPECT_NE(doc["source"].get<std::string>().find("cacophony"), std::string::npos);
  EXPECT_EQ(sha256_vectors().size(), 1u);
}

void run_vector(const nlohmann::json& v) {
  auto init = NoiseXX::create(NoiseRole::initiator, unhex(v["init_prologue"]),
                              key_from_hex(v["init_static"]), key_from_hex(v["init_ephemeral"]));
  auto resp = NoiseXX::create(NoiseRole::responder, unhex(v["resp_prologue"]),
                              key_from_hex(v["resp_static"]), key_from_hex(v["resp_ephemeral"]));
  ASSERT_TRUE(init.ok() && resp.ok());
  const auto& messages = v["messages"];
  ASSERT_GE(messages.size(), 3u);

  for (std::size_t i = 0; i < 3; ++i) {
    NoiseXX& writer = i % 2 == 0 ? *init : *resp;
    NoiseXX& reader = i % 2 == 0 ? *resp : *init;
    ASSERT_TRUE(writer.is_my_turn());
    ASSERT_FALSE(reader.is_my_turn());
    auto ct = writer.write_message(unhex(messages[i]["payload"]));
    ASSERT_TRUE(ct.ok()) << ct.error().message();
    EXPECT_EQ(to_hex(*ct), messages[i]["ciphertext"].get<std::string>()) << "handshake message " << i;
    auto pt = reader.read_message(*ct);
    ASSERT_TRUE(pt.ok()) << pt.error().message();
    EXPECT_EQ(to_hex(*pt), messages[i]["payload"].get<std::string>());
  }
  ASSERT_TRUE(init->is_complete());
  ASSERT_TRUE(resp->is_complete());
  EXPECT_EQ(init->handshake_hash().hex(), v["handshake_hash"].get<std::string>());
  EXPECT_EQ(resp->handshake_hash().hex(), v["handshake_hash"].get<std::string>());
  ASSERT_TRUE(init->remote_static() && resp->remote_static());
  EXPECT_EQ(*init->remote_static(), key_from_hex(v["resp_static"]).public_key());
  EXPECT_EQ(*resp->remote_static(), key_from_hex(v["init_static"]).public_key());

  auto isplit = init->split();
  auto rsplit = resp->split();
  ASSERT_TRUE(isplit.ok() && rsplit.ok());
  // After the handshake the alternation goes on: the responder sends message
  // 3, the initiator 4, and so on.
  for (std::size_t i = 3; i < messages.size(); ++i) {
    bool from_initiator = i % 2 == 0;
    CipherState& send = from_initiator ? isplit->first : rsplit->first;
    CipherState& recv = from_initiator ? rsplit->second : isplit->second;
    auto ct = send.encrypt_with_ad({}, unhex(messages[i]["payload"]));
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(to_hex(*ct), messages[i]["ciphertext"].get<std::string>()) << "transport message " << i;
    auto pt = recv.decrypt_with_ad({}, *ct);
    ASSERT_TRUE(pt.ok());
    EXPECT_EQ(to_hex(*pt), messages[i]["payload"].get<std::string>());
  }
}

TEST_F(Vectors, CacophonyXX25519ChaChaPolySha256) {
  auto vectors = sha256_vectors();
  ASSERT_FALSE(vectors.empty());
  for (const auto& v : vectors) {
    SCOPED_TRACE(v["protocol_name"].get<std::string>());
    run_vector(v);
  }
}

// ---- rules beyond the vectors ----------------------------------------------

struct Pair {
  NoiseXX init;
  NoiseXX resp;
};

Pair fresh_pair(std::string_view iprologue = "p", std::string_view rprologue = "p") {
  auto is = DhKeyPair::generate();
  auto rs = DhKeyPair::generate();
  auto i = NoiseXX::create(NoiseRole::initiator, iprologue, std::move(*is));
  auto r = NoiseXX::create(NoiseRole::responder, rprologue, std::move(*rs));
  return Pair{std::move(*i), std::move(*r)};
}

TEST_F(Vectors, SmallOrderPublicKeysAreRefused) {
  auto local = DhKeyPair::generate();
  ASSERT_TRUE(local.ok());
  // The identity and a point of order 8 (from libsodium's blocklist).
  for (const char* hex : {"0000000000000000000000000000000000000000000000000000000000000000",
                          "0100000000000000000000000000000000000000000000000000000000000000",
                          "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"}) {
    auto pk = X25519PublicKey::from_hex(hex);
    ASSERT_TRUE(pk);
    auto shared = dh(*local, *pk);
    ASSERT_FALSE(shared.ok()) << hex;
    EXPECT_TRUE(shared.error().is(Errc::crypto_error));
  }
}

TEST_F(Vectors, SmallOrderEphemeralInMessage1FailsTheResponder) {
  auto p = fresh_pair();
  std::string msg1(32, '\0');  // an all-zero "ephemeral key"
  ASSERT_TRUE(p.resp.read_message(msg1).ok());
  auto msg2 = p.resp.write_message({});
  ASSERT_FALSE(msg2.ok());
  EXPECT_TRUE(msg2.error().is(Errc::protocol_error)) << msg2.error().message();
  EXPECT_TRUE(p.resp.has_failed());
}

TEST_F(Vectors, MessagesOutOfTurnFailAndTheFailureLatches) {
  auto p = fresh_pair();
  EXPECT_FALSE(p.resp.write_message({}).ok());  // the responder never writes first
  EXPECT_TRUE(p.resp.has_failed());
  auto m1 = p.init.write_message({});
  ASSERT_TRUE(m1.ok());
  EXPECT_FALSE(p.resp.read_message(*m1).ok()) << "a failed handshake must stay failed";
  EXPECT_FALSE(p.init.read_message(*m1).ok());  // the initiator's own message back to it
}

TEST_F(Vectors, SizeLimitsFollowTheSpec) {
  auto p = fresh_pair();
  auto m1 = p.init.write_message(std::string(kNoiseMaxMessage - 32, 'x'));
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->size(), kNoiseMaxMessage);
  auto q = fresh_pair();
  auto too_big = q.init.write_message(std::string(kNoiseMaxMessage - 31, 'x'));
  ASSERT_FALSE(too_big.ok());
  EXPECT_TRUE(too_big.error().is(Errc::limit_exceeded));
  auto r = fresh_pair();
  auto read_big = r.resp.read_message(std::string(kNoiseMaxMessage + 1, 'x'));
  ASSERT_FALSE(read_big.ok());
  EXPECT_TRUE(read_big.error().is(Errc::limit_exceeded));
}

TEST_F(Vectors, TruncatedOrFlippedMessage2Fails) {
  for (int variant = 0; variant < 3; ++variant) {
    auto p = fresh_pair();
    auto m1 = p.init.write_message({});
    ASSERT_TRUE(p.resp.read_message(*m1).ok());
    auto m2 = p.resp.write_message("payload");
    ASSERT_TRUE(m2.ok());
    std::string bad = *m2;
    if (variant == 0) bad.resize(40);           // cut inside the encrypted static key
    if (variant == 1) bad.resize(bad.size() - 1);  // cut the payload's tag
    if (variant == 2) bad[bad.size() / 2] ^= 0x01;
    EXPECT_FALSE(p.init.read_message(bad).ok()) << "variant " << variant;
    EXPECT_TRUE(p.init.has_failed());
  }
}

TEST_F(Vectors, DifferentProloguesFailAtMessage2) {
  auto p = fresh_pair("conect A", "conect B");
  auto m1 = p.init.write_message({});
  ASSERT_TRUE(p.resp.read_message(*m1).ok());  // message 1 is not encrypted
  auto m2 = p.resp.write_message({});
  ASSERT_TRUE(m2.ok());
  auto r = p.init.read_message(*m2);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::crypto_error));
}

TEST_F(Vectors, SplitOnlyAfterCompletion) {
  auto p = fresh_pair();
  EXPECT_FALSE(p.init.split().ok());
  EXPECT_FALSE(p.init.split_keys().ok());
}

TEST_F(Vectors, NonceLimitAndFailedDecryptionKeepsTheNonce) {
  SymmetricKey k{};
  k[0] = 7;
  CipherState a(k), b(k);
  auto c0 = a.encrypt_with_ad("ad", "hello");
  ASSERT_TRUE(c0.ok());
  std::string bad = *c0;
  bad[0] ^= 0x80;
  EXPECT_FALSE(b.decrypt_with_ad("ad", bad).ok());
  EXPECT_FALSE(b.decrypt_with_ad("other ad", *c0).ok());
  EXPECT_EQ(b.nonce(), 0u);
  ASSERT_TRUE(b.decrypt_with_ad("ad", *c0).ok());
  EXPECT_EQ(b.nonce(), 1u);
  EXPECT_FALSE(b.decrypt_with_ad("ad", *c0).ok()) << "a replay must not decrypt";

  a.set_nonce(std::numeric_limits<std::uint64_t>::max() - 1);
  EXPECT_TRUE(a.encrypt_with_ad({}, "last").ok());
  auto over = a.encrypt_with_ad({}, "one too many");
  ASSERT_FALSE(over.ok());
  EXPECT_TRUE(over.error().is(Errc::limit_exceeded));
}

TEST_F(Vectors, RekeyChangesTheKeyOnBothSides) {
  SymmetricKey k{};
  CipherState a(k), b(k);
  auto before = a.encrypt_with_ad({}, "x");
  ASSERT_TRUE(a.rekey().ok());
  ASSERT_TRUE(b.rekey().ok());
  auto after = a.encrypt_with_ad({}, "x");
  ASSERT_TRUE(before.ok() && after.ok());
  b.set_nonce(1);
  EXPECT_TRUE(b.decrypt_with_ad({}, *after).ok());
  b.set_nonce(0);
  EXPECT_FALSE(b.decrypt_with_ad({}, *before).ok());
}

TEST_F(Vectors, LongProtocolNamesAreHashed) {
  std::string name(40, 'n');
  auto s = SymmetricState::initialize(name);
  ASSERT_TRUE(s.ok());
  Hash256 expected;
  crypto_hash_sha256(expected.data(), reinterpret_cast<const unsigned char*>(name.data()), name.size());
  EXPECT_EQ(s->handshake_hash().hex(), expected.hex());
  auto short_name = SymmetricState::initialize("abc");
  ASSERT_TRUE(short_name.ok());
  EXPECT_EQ(short_name->handshake_hash().hex(),
            "6162630000000000000000000000000000000000000000000000000000000000");
}

}  // namespace
}  // namespace conect::net
