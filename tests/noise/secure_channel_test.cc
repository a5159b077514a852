// conect's handshake between honest parties, and the secretstream frames
// after it: what gets through, and that every kind of damage is fatal.
#include <sodium.h>

#include <filesystem>

#include "channel_fixture.h"

namespace conect::net {
namespace {

using testing::connect;
using testing::Pair;

class Channel : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
};

TEST_F(Channel, HandshakeAuthenticatesBothMembers) {
  Pair p;
  auto init = testing::dialler(p.alice, p.bob.id());
  auto resp = testing::acceptor(p.bob);
  auto run = testing::run_handshake(init, resp);
  ASSERT_TRUE(run.ok()) << run.error().message();
  EXPECT_EQ(run.wire.m1.size(), 32u) << "message 1 is the bare ephemeral key";
  ASSERT_TRUE(init.is_complete() && resp.is_complete());
  EXPECT_EQ(init.peer(), p.bob.id());
  EXPECT_EQ(resp.peer(), p.alice.id());
  EXPECT_EQ(run.wire.initiator_header.size(), kStreamHeaderBytes);
  EXPECT_EQ(run.wire.responder_header.size(), kStreamHeaderBytes);
  auto ic = init.take_channel();
  auto rc = resp.take_channel();
  ASSERT_TRUE(ic.ok() && rc.ok());
  EXPECT_EQ(ic->handshake_hash(), rc->handshake_hash());
  EXPECT_EQ(ic->peer(), p.bob.id());
  EXPECT_EQ(rc->peer(), p.alice.id());
  EXPECT_FALSE(init.take_channel().ok()) << "the channel is handed out once";
}

TEST_F(Channel, MessagesFlowBothWaysInOrder) {
  Pair p;
  auto link = connect(p.alice, p.bob);
  for (int i = 0; i < 50; ++i) {
    std::string a2b = "alice->bob " + std::to_string(i);
    std::string b2a(static_cast<std::size_t>(i) * 37, static_cast<char>(i));  // includes empty
    auto f1 = link.initiator.seal(a2b);
    auto f2 = link.responder.seal(b2a);
    ASSERT_TRUE(f1.ok() && f2.ok());
    EXPECT_EQ(f1->size(), a2b.size() + kStreamFrameOverhead);
    EXPECT_EQ(f1->find("alice->bob"), std::string::npos) << "plaintext must not show on the wire";
    auto o1 = link.responder.open(*f1);
    auto o2 = link.initiator.open(*f2);
    ASSERT_TRUE(o1.ok() && o2.ok());
    EXPECT_EQ(o1->kind, FrameKind::message);
    EXPECT_EQ(o1->plaintext, a2b);
    EXPECT_EQ(o2->plaintext, b2a);
  }
  EXPECT_EQ(link.initiator.frames_sent(), 50u);
  EXPECT_EQ(link.responder.frames_received(), 50u);
}

TEST_F(Channel, InitiatorMaySendRightAfterMessage3) {
  // The initiator has authenticated the responder when it sends message 3,
  // so its data may follow its header before the responder's header arrives.
  Pair p;
  auto init = testing::dialler(p.alice, p.bob.id());
  auto resp = testing::acceptor(p.bob);
  auto m1 = init.start();
  auto m2 = resp.receive(m1->at(0));
  auto m3 = init.receive(m2->at(0));
  ASSERT_TRUE(m3.ok());
  auto ic = init.take_channel();
  ASSERT_TRUE(ic.ok());
  auto early = ic->seal("early");
  ASSERT_TRUE(early.ok());
  auto header = resp.receive(m3->at(0));
  ASSERT_TRUE(header.ok());
  auto rc = resp.take_channel();
  ASSERT_TRUE(rc.ok());
  ASSERT_TRUE(rc->open(m3->at(1)).ok());
  auto got = rc->open(*early);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->plaintext, "early");
}

TEST_F(Channel, EachSessionHasItsOwnKeys) {
  Pair p;
  auto l1 = connect(p.alice, p.bob);
  auto l2 = connect(p.alice, p.bob);
  EXPECT_NE(l1.initiator.handshake_hash(), l2.initiator.handshake_hash());
  auto f = l1.initiator.seal("session one");
  ASSERT_TRUE(f.ok());
  auto r = l2.responder.open(*f);
  ASSERT_FALSE(r.ok()) << "a frame from another session must not open";
  EXPECT_TRUE(r.error().is(Errc::protocol_error));
}

TEST_F(Channel, EverySingleBitFlipIsFatal) {
  Pair p;
  std::string message = "hello";
  for (std::size_t bit = 0; bit < (message.size() + kStreamFrameOverhead) * 8; ++bit) {
    auto link = connect(p.alice, p.bob);
    auto f = link.initiator.seal(message);
    ASSERT_TRUE(f.ok());
    std::string bad = *f;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    auto r = link.responder.open(bad);
    ASSERT_FALSE(r.ok()) << "bit " << bit;
    EXPECT_TRUE(r.error().is(Errc::protocol_error)) << r.error().message();
    EXPECT_TRUE(link.responder.has_failed());
    // The genuine frame no longer helps: the channel refuses everything.
    EXPECT_FALSE(link.responder.open(*f).ok()) << "bit " << bit;
    EXPECT_FALSE(link.responder.seal("reply").ok());
    EXPECT_FALSE(link.responder.close().ok());
  }
}

TEST_F(Channel, FlippedStreamHeaderFailsTheFirstMessage) {
  Pair p;
  auto init = testing::dialler(p.alice, p.bob.id());
  auto resp = testing::acceptor(p.bob);
  auto run = testing::run_handshake(init, resp);
  ASSERT_TRUE(run.ok());
  auto ic = init.take_channel();
  auto rc = resp.take_channel();
  std::string header = run.wire.initiator_header;
  header[5] ^= 0x10;
  ASSERT_TRUE(rc->open(header).ok());  // a header is not authenticated by itself...
  auto f = ic->seal("data");
  auto r = rc->open(*f);
  EXPECT_FALSE(r.ok()) << "...but nothing opens under an altered one";
}

TEST_F(Channel, TruncatedFramesAreFatal) {
  Pair p;
  for (std::size_t keep : {std::size_t{0}, std::size_t{1}, std::size_t{16}, std::size_t{17}, std::size_t{21}}) {
    auto link = connect(p.alice, p.bob);
    auto f = link.initiator.seal("truncate me");
    ASSERT_TRUE(f.ok());
    auto r = link.responder.open(std::string_view(*f).substr(0, keep));
    ASSERT_FALSE(r.ok()) << "kept " << keep;
    EXPECT_TRUE(r.error().is(Errc::protocol_error));
    EXPECT_FALSE(link.responder.open(*f).ok());
  }
}

TEST_F(Channel, ReorderedFramesAreFatal) {
  Pair p;
  auto link = connect(p.alice, p.bob);
  auto f1 = link.initiator.seal("one");
  auto f2 = link.initiator.seal("two");
  auto r = link.responder.open(*f2);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(link.responder.open(*f1).ok()) << "the channel stays failed";
}

TEST_F(Channel, ReplayedFramesAreFatal) {
  Pair p;
  auto link = connect(p.alice, p.bob);
  auto f1 = link.initiator.seal("once");
  ASSERT_TRUE(link.responder.open(*f1).ok());
  auto again = link.responder.open(*f1);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().is(Errc::protocol_error));
  auto f2 = link.initiator.seal("next");
  EXPECT_FALSE(link.responder.open(*f2).ok());
}

TEST_F(Channel, ASecondHeaderIsFatal) {
  Pair p;
  auto link = connect(p.alice, p.bob);
  auto r = link.responder.open(link.wire.initiator_header);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(link.responder.has_failed());
}

TEST_F(Channel, FirstFrameMustBeAHeader) {
  Pair p;
  auto init = testing::dialler(p.alice, p.bob.id());
  auto resp = testing::acceptor(p.bob);
  ASSERT_TRUE(testing::run_handshake(init, resp).ok());
  auto ic = init.take_channel();
  auto rc = resp.take_channel();
  auto f = ic->seal("no header first");
  auto r = rc->open(*f);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::protocol_error));
}

TEST_F(Channel, OversizedFramesAreRefusedBeforeDecrypting) {
  Pair p;
  constexpr std::size_t kLimit = 1000;
  // A sender with a larger limit produces a genuine, authentic frame that is
  // over the receiver's limit: only the size check can refuse it.
  auto big = testing::dialler(p.alice, p.bob.id(), 4 * kLimit);
  auto small = testing::acceptor(p.bob, kLimit);
  auto run = testing::run_handshake(big, small);
  ASSERT_TRUE(run.ok());
  auto ic = big.take_channel();
  auto rc = small.take_channel();
  ASSERT_TRUE(rc->open(run.wire.initiator_header).ok());
  auto at_limit = ic->seal(std::string(kLimit - kStreamFrameOverhead, 'a'));
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->size(), kLimit);
  EXPECT_TRUE(rc->open(*at_limit).ok()) << "exactly the limit is allowed";
  auto over = ic->seal(std::string(kLimit - kStreamFrameOverhead + 1, 'b'));
  ASSERT_TRUE(over.ok());
  auto r = rc->open(*over);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::limit_exceeded)) << r.error().message();
  EXPECT_TRUE(rc->has_failed()) << "the sender's stream has moved on; nothing after it can open";
  EXPECT_FALSE(rc->open(std::string(100, 'x')).ok());
}

TEST_F(Channel, SealingOverTheLimitIsRefusedButNotFatal) {
  Pair p;
  auto link = connect(p.alice, p.bob, 256);
  auto over = link.initiator.seal(std::string(256 - kStreamFrameOverhead + 1, 'x'));
  ASSERT_FALSE(over.ok());
  EXPECT_TRUE(over.error().is(Errc::limit_exceeded));
  auto fine = link.initiator.seal("smaller");
  ASSERT_TRUE(fine.ok());
  auto got = link.responder.open(*fine);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->plaintext, "smaller");
}

TEST_F(Channel, CleanCloseSendsFinal) {
  Pair p;
  auto link = connect(p.alice, p.bob);
  auto f = link.initiator.seal("last words");
  auto fin = link.initiator.close();
  ASSERT_TRUE(f.ok() && fin.ok());
  EXPECT_EQ(fin->size(), kStreamFrameOverhead);
  EXPECT_TRUE(link.initiator.sent_final());
  EXPECT_FALSE(link.initiator.seal("more").ok()) << "nothing after close";
  EXPECT_FALSE(link.initiator.close().ok());
  ASSERT_TRUE(link.responder.open(*f).ok());
  auto closed = link.responder.open(*fin);
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(closed->kind, FrameKind::final);
  EXPECT_TRUE(link.responder.received_final());
  // The other direction stays open until its side closes too.
  auto reply = link.responder.seal("goodbye");
  ASSERT_TRUE(reply.ok());
  auto got = link.initiator.open(*reply);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->plaintext, "goodbye");
  auto fin2 = link.responder.close();
  ASSERT_TRUE(fin2.ok());
  auto closed2 = link.initiator.open(*fin2);
  ASSERT_TRUE(closed2.ok());
  EXPECT_EQ(closed2->kind, FrameKind::final);
}

TEST_F(Channel, AFrameAfterFinalIsFatal) {
  Pair p;
  auto link = connect(p.alice, p.bob);
  auto fin = link.initiator.close();
  ASSERT_TRUE(link.responder.open(*fin).ok());
  auto r = link.responder.open(*fin);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("after its final frame"), std::string::npos) << r.error().message();
  EXPECT_TRUE(link.responder.has_failed());
}

TEST_F(Channel, NoiseStaticKeyFileRoundTripsWithMode0600) {
  auto dir = std::filesystem::temp_directory_path() / ("conect-noise-key-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = dir / "noise.key";
  auto key = NoiseStaticKey::generate();
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(key->save(path).ok());
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto again = key->save(path);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().is(Errc::already_exists));
  auto loaded = NoiseStaticKey::load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->public_key(), key->public_key());
  EXPECT_EQ(loaded->keypair().private_key(), key->keypair().private_key());

  std::filesystem::permissions(path, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  auto insecure = NoiseStaticKey::load(path);
  ASSERT_FALSE(insecure.ok());
  EXPECT_TRUE(insecure.error().is(Errc::insecure_permissions));

  auto missing = NoiseStaticKey::load(dir / "absent.key");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().is(Errc::not_found));

  auto short_path = dir / "short.key";
  {
    std::FILE* f = std::fopen(short_path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("too short", f);
    std::fclose(f);
  }
  std::filesystem::permissions(short_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  auto malformed = NoiseStaticKey::load(short_path);
  ASSERT_FALSE(malformed.ok());
  EXPECT_TRUE(malformed.error().is(Errc::malformed_body));
  std::filesystem::remove_all(dir);
}

TEST_F(Channel, HkdfMatchesRfc5869) {
  // RFC 5869 test case 1 (its 13-byte salt zero-padded to 32 bytes, which
  // HMAC does anyway) and test case 3 (no salt = 32 zero bytes).
  std::array<std::uint8_t, 32> salt{};
  for (std::uint8_t i = 0; i < 13; ++i) salt[i] = i;
  std::string ikm(22, '\x0b');
  auto info = from_hex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = hkdf_sha256(salt, ikm, *info, 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(to_hex(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  auto okm3 = hkdf_sha256({}, ikm, {}, 42);
  ASSERT_TRUE(okm3.ok());
  EXPECT_EQ(to_hex(*okm3),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  EXPECT_FALSE(hkdf_sha256({}, ikm, {}, 0).ok());
  EXPECT_FALSE(hkdf_sha256({}, ikm, {}, 255 * 32 + 1).ok());
}

TEST_F(Channel, StreamKeysAreTheDocumentedHkdf) {
  SplitKeys split;
  for (std::uint8_t i = 0; i < 32; ++i) {
    split.initiator_to_responder[i] = i;
    split.responder_to_initiator[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  HandshakeHash h;
  h.bytes.fill(0x55);
  auto keys = derive_stream_keys(split, h);
  ASSERT_TRUE(keys.ok());
  std::string ikm(reinterpret_cast<const char*>(split.initiator_to_responder.data()), 32);
  ikm.append(reinterpret_cast<const char*>(split.responder_to_initiator.data()), 32);
  auto okm = hkdf_sha256(h.bytes, ikm, "conect/stream/v1", 64);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(to_hex(std::string_view(reinterpret_cast<const char*>(keys->initiator_to_responder.data()), 32)),
            to_hex(okm->substr(0, 32)));
  EXPECT_EQ(to_hex(std::string_view(reinterpret_cast<const char*>(keys->responder_to_initiator.data()), 32)),
            to_hex(okm->substr(32, 32)));
  EXPECT_NE(keys->initiator_to_responder, keys->responder_to_initiator);
}

}  // namespace
}  // namespace conect::net
