// A recorded 0.2.0 sync session (tests/fixtures/v0.2.0/sync-session.json,
// made by two real 0.2.0 nodes; see the README there) read by today's code:
//   - the handshake replays byte for byte from the recorded keys, on both
//     sides, so the prologue ("conect/noise/v1" || federation) and the
//     handshake payloads have not changed: a 0.2.0 peer still connects;
//   - the stream keys open every recorded frame in both directions, and the
//     plaintexts are the ones the 0.2.0 nodes sealed;
//   - every SyncMessage decodes and passes today's structural checks, under
//     the name it had, and every delta in it still verifies.
#include <gtest/gtest.h>

#include <map>

#include "conect/crdt/delta.h"
#include "conect/net/secure_channel.h"
#include "conect/sync/messages.h"
#include "v020.h"

namespace conect::upgrade {
namespace {

using nlohmann::json;

template <std::size_t N>
std::array<std::uint8_t, N> key_bytes(const json& hex) {
  std::string raw = unhex(hex);
  EXPECT_EQ(raw.size(), N);
  std::array<std::uint8_t, N> out{};
  std::copy_n(raw.begin(), std::min(N, raw.size()), out.begin());
  return out;
}

struct Party {
  std::unique_ptr<net::PeerCredentials> credentials;
  net::DhKeyPair ephemeral;
  NodeId id;
};

Party party(const json& p, const FederationId& federation) {
  // identity.key is libsodium's seed || public key.
  auto secret = key_bytes<64>(p["identity_key"]);
  std::array<std::uint8_t, 32> seed{};
  std::copy_n(secret.begin(), 32, seed.begin());
  KeyPair identity = KeyPair::from_seed(seed);
  EXPECT_EQ(identity.public_key().hex(), p["node_id"].get<std::string>());
  auto noise = net::NoiseStaticKey::from_private(key_bytes<32>(p["noise_static_private"]));
  auto eph = net::DhKeyPair::from_private(key_bytes<32>(p["ephemeral_private"]));
  EXPECT_TRUE(noise.ok() && eph.ok());
  EXPECT_EQ(to_hex(eph->public_key().raw()), p["ephemeral_public"].get<std::string>());
  return Party{std::make_unique<net::PeerCredentials>(identity, std::move(*noise), federation), *eph,
               identity.public_key()};
}

class RecordedSession : public ::testing::Test {
 protected:
  void SetUp() override {
    s_ = load_json("sync-session.json");
    federation_ = *FederationId::from_hex(s_["federation"].get<std::string>());
    for (const auto& f : s_["frames"]) {
      (f["from"] == "initiator" ? from_initiator_ : from_responder_).push_back(f);
    }
  }
  // The frames one side sent, in order.
  const std::vector<json>& sent_by(net::NoiseRole r) const {
    return r == net::NoiseRole::initiator ? from_initiator_ : from_responder_;
  }

  // Plays `role` with its recorded keys against the other side's recorded
  // frames: every frame this side writes must equal the recorded one. Returns
  // the channel, which then opens the other side's transport frames.
  net::SecureChannel replay(net::NoiseRole role) {
    const bool initiator = role == net::NoiseRole::initiator;
    Party me = party(s_[initiator ? "initiator" : "responder"], federation_);
    Party other = party(s_[initiator ? "responder" : "initiator"], federation_);
    net::HandshakeOptions o;
    o.role = role;
    o.is_member = [id = other.id](const NodeId& n) { return n == id; };
    if (initiator) o.expected_peer = other.id;
    o.fixed_ephemeral = me.ephemeral;
    auto driver = net::HandshakeDriver::create(*me.credentials, o);
    EXPECT_TRUE(driver.ok());
    const auto& mine = sent_by(role);
    const auto& theirs = sent_by(initiator ? net::NoiseRole::responder : net::NoiseRole::initiator);
    std::vector<std::string> written;
    auto out = driver->start();
    EXPECT_TRUE(out.ok());
    written.insert(written.end(), out->begin(), out->end());
    // The initiator reads message 2; the responder messages 1 and 3.
    for (std::size_t i = 0; i < theirs.size() && !driver->is_complete(); ++i) {
      if (theirs[i]["kind"] != "handshake") break;
      auto more = driver->receive(unhex(theirs[i]["wire"]));
      EXPECT_TRUE(more.ok()) << more.error().message();
      if (!more.ok()) break;
      written.insert(written.end(), more->begin(), more->end());
    }
    EXPECT_TRUE(driver->is_complete());
    // Handshake messages match byte for byte (the stream header is random).
    std::size_t handshakes = 0;
    for (std::size_t i = 0; i < mine.size() && mine[i]["kind"] == "handshake"; ++i, ++handshakes) {
      EXPECT_LT(i, written.size());
      if (i < written.size()) {
        EXPECT_EQ(to_hex(written[i]), mine[i]["wire"].get<std::string>()) << "message " << i;
      }
    }
    EXPECT_EQ(handshakes, initiator ? 2u : 1u);
    auto channel = driver->take_channel();
    EXPECT_TRUE(channel.ok());
    return std::move(*channel);
  }

  // Opens every transport frame the other side sent and checks it.
  void open_all(net::SecureChannel& channel, const std::vector<json>& frames, std::map<std::string, int>& seen) {
    for (const auto& f : frames) {
      if (f["kind"] == "handshake") continue;
      auto opened = channel.open(unhex(f["wire"]));
      ASSERT_TRUE(opened.ok()) << opened.error().message();
      if (f["kind"] == "stream_header") {
        EXPECT_EQ(opened->kind, net::FrameKind::stream_header);
      } else if (f["kind"] == "final") {
        EXPECT_EQ(opened->kind, net::FrameKind::final);
      } else {
        ASSERT_EQ(opened->kind, net::FrameKind::message);
        EXPECT_EQ(to_hex(opened->plaintext), f["plaintext"].get<std::string>());
        check_message(opened->plaintext, f["message"].get<std::string>());
        ++seen[f["message"].get<std::string>()];
      }
    }
  }

  void check_message(const std::string& bytes, const std::string& name) {
    sync::Limits limits;
    auto m = sync::decode_message(bytes, limits);
    ASSERT_TRUE(m.ok()) << name << ": " << m.error().message();
    EXPECT_TRUE(sync::check_message(*m, limits).ok()) << name;
    EXPECT_EQ(sync::message_name(*m), name);
    std::vector<v1::SignedDelta> deltas;
    if (m->has_batch()) deltas.assign(m->batch().deltas().begin(), m->batch().deltas().end());
    if (m->has_push()) deltas.push_back(m->push().delta());
    for (auto& d : deltas) {
      auto v = verify_single(federation_, std::move(d));
      EXPECT_TRUE(v.ok()) << name << ": " << v.error().message();
      ++deltas_verified_;
    }
  }

  json s_;
  FederationId federation_;
  std::vector<json> from_initiator_, from_responder_;
  std::size_t deltas_verified_ = 0;
};

TEST_F(RecordedSession, PrologueIsStillThe020One) {
  EXPECT_EQ(to_hex(net::handshake_prologue(federation_)), s_["prologue"].get<std::string>());
}

TEST_F(RecordedSession, ResponderReplaysAndOpensTheInitiatorsFrames) {
  net::SecureChannel channel = replay(net::NoiseRole::responder);
  std::map<std::string, int> seen;
  open_all(channel, from_initiator_, seen);
  EXPECT_GT(seen["summary"], 0);
  EXPECT_GT(seen["request"] + seen["batch"], 0);
}

TEST_F(RecordedSession, InitiatorReplaysAndOpensTheRespondersFrames) {
  net::SecureChannel channel = replay(net::NoiseRole::initiator);
  std::map<std::string, int> seen;
  open_all(channel, from_responder_, seen);
  EXPECT_GT(seen["summary"], 0);
  EXPECT_GT(seen["batch"], 0);
}

TEST_F(RecordedSession, CoversACatchUpAndLivePushesBothWays) {
  std::map<std::string, std::map<std::string, int>> by_phase;  // phase -> message -> count
  std::map<std::string, int> pushes_from;
  for (const auto& f : s_["frames"]) {
    if (f["kind"] != "message") continue;
    ++by_phase[f["phase"].get<std::string>()][f["message"].get<std::string>()];
    if (f["message"] == "push" || f["message"] == "have") ++pushes_from[f["from"].get<std::string>()];
  }
  EXPECT_GT(by_phase["catch-up"]["batch"], 0);
  EXPECT_GT(by_phase["catch-up"]["request"], 0);
  EXPECT_GT(pushes_from["initiator"], 0);
  EXPECT_GT(pushes_from["responder"], 0);
}

}  // namespace
}  // namespace conect::upgrade
