// conect's handshake against a known-answer vector produced by an independent
// implementation of docs/handshake.md (tests/noise/interop/, Python): fixed
// identities, static and ephemeral keys give fixed messages 1-3, a fixed
// handshake hash and fixed stream keys. Also a worked example for anyone
// writing a compatible peer.
#include <sodium.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "channel_fixture.h"

namespace conect::net {
namespace {

std::array<std::uint8_t, 32> bytes32(const nlohmann::json& v) {
  auto raw = from_hex(v.get<std::string>());
  EXPECT_TRUE(raw && raw->size() == 32);
  std::array<std::uint8_t, 32> out{};
  if (raw && raw->size() == 32) std::memcpy(out.data(), raw->data(), 32);
  return out;
}

TEST(KnownAnswer, MatchesTheIndependentImplementation) {
  ASSERT_TRUE(crypto_init());
  std::ifstream in(CONECT_HANDSHAKE_KAT);
  ASSERT_TRUE(in.good());
  auto v = nlohmann::json::parse(in);
  auto federation = FederationId::from_hex(v["federation_id"].get<std::string>());
  ASSERT_TRUE(federation);
  EXPECT_EQ(to_hex(handshake_prologue(*federation)), v["prologue"].get<std::string>());

  KeyPair alice_id = KeyPair::from_seed(bytes32(v["initiator_identity_seed"]));
  KeyPair bob_id = KeyPair::from_seed(bytes32(v["responder_identity_seed"]));
  EXPECT_EQ(alice_id.public_key().hex(), v["initiator_node_id"].get<std::string>());
  EXPECT_EQ(bob_id.public_key().hex(), v["responder_node_id"].get<std::string>());
  PeerCredentials alice(alice_id, *NoiseStaticKey::from_private(bytes32(v["initiator_static"])), *federation);
  PeerCredentials bob(bob_id, *NoiseStaticKey::from_private(bytes32(v["responder_static"])), *federation);

  HandshakeOptions io;
  io.role = NoiseRole::initiator;
  io.expected_peer = bob_id.public_key();
  io.is_member = [](const NodeId&) { return true; };
  io.fixed_ephemeral = *DhKeyPair::from_private(bytes32(v["initiator_ephemeral"]));
  HandshakeOptions ro;
  ro.role = NoiseRole::responder;
  ro.is_member = [](const NodeId&) { return true; };
  ro.fixed_ephemeral = *DhKeyPair::from_private(bytes32(v["responder_ephemeral"]));
  auto init = HandshakeDriver::create(alice, std::move(io));
  auto resp = HandshakeDriver::create(bob, std::move(ro));
  ASSERT_TRUE(init.ok() && resp.ok());

  auto run = testing::run_handshake(*init, *resp);
  ASSERT_TRUE(run.ok()) << run.error().message();
  EXPECT_EQ(to_hex(run.wire.m1), v["message1"].get<std::string>());
  EXPECT_EQ(to_hex(run.wire.m2), v["message2"].get<std::string>());
  EXPECT_EQ(to_hex(run.wire.m3), v["message3"].get<std::string>());
  auto ic = init->take_channel();
  auto rc = resp->take_channel();
  ASSERT_TRUE(ic.ok() && rc.ok());
  EXPECT_EQ(ic->handshake_hash().hex(), v["handshake_hash"].get<std::string>());

  // The channels' keys are the vector's: frames open with raw libsodium.
  struct Direction {
    SecureChannel* sender;
    const std::string* header;
    const char* key;
  };
  for (const Direction& d : {Direction{&*ic, &run.wire.initiator_header, "stream_key_initiator_to_responder"},
                             Direction{&*rc, &run.wire.responder_header, "stream_key_responder_to_initiator"}}) {
    auto key = bytes32(v[d.key]);
    crypto_secretstream_xchacha20poly1305_state st;
    ASSERT_EQ(crypto_secretstream_xchacha20poly1305_init_pull(
                  &st, reinterpret_cast<const unsigned char*>(d.header->data()), key.data()),
              0);
    auto frame = d.sender->seal("known answer");
    ASSERT_TRUE(frame.ok());
    std::string m(frame->size() - kStreamFrameOverhead, '\0');
    unsigned char tag = 0xff;
    ASSERT_EQ(crypto_secretstream_xchacha20poly1305_pull(&st, reinterpret_cast<unsigned char*>(m.data()), nullptr,
                                                         &tag, reinterpret_cast<const unsigned char*>(frame->data()),
                                                         frame->size(), nullptr, 0),
              0)
        << d.key;
    EXPECT_EQ(m, "known answer");
    EXPECT_EQ(tag, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  }
}

}  // namespace
}  // namespace conect::net
