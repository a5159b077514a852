// What a faulty or hostile roster member can try against the engine (issue
// 14, docs/security.md "Faulty or hostile members"), each at the message
// level: padded wrappers, zero-delta batches, false claims, refused
// dependencies, evidence over covered deltas.
#include <gtest/gtest.h>

#include "harness.h"

namespace conect::sync::test {
namespace {

// Appends an unknown length-delimited field (number 15) of `n` bytes to a
// SignedDelta: what a hostile relay can add without touching the signature.
v1::SignedDelta padded(const v1::SignedDelta& d, std::size_t n) {
  std::string bytes = d.SerializeAsString();
  bytes.push_back(static_cast<char>((15 << 3) | 2));
  for (std::size_t v = n;; v >>= 7) {
    if (v < 0x80) {
      bytes.push_back(static_cast<char>(v));
      break;
    }
    bytes.push_back(static_cast<char>((v & 0x7f) | 0x80));
  }
  bytes.append(n, 'p');
  v1::SignedDelta out;
  EXPECT_TRUE(out.ParseFromString(bytes));
  return out;
}

std::size_t bare_size(const v1::SignedDelta& d) {
  v1::SignedDelta b;
  b.set_body(d.body());
  b.set_signature(d.signature());
  return b.ByteSizeLong();
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
  Wire w;
};

// Issue 14 item 2: unknown fields in the wrapper are not signed; a relay
// that adds them must not get them stored in every log or relayed onwards.
TEST_F(HostileTest, PaddedDeltaIsStoredAndRelayedWithoutThePadding) {
  w.add(1);  // the padding relay
  w.add(2);  // the victim
  w.add(3);  // a peer of the victim, live
  w.add(4);  // a peer of the victim that catches up later
  w.start();
  w.connect(0, 1);
  w.connect(1, 2);
  w.run();
  const std::size_t pad = 100'000;
  for (int k = 0; k < 3; ++k) {
    auto d = w.node(0).author.next();
    ASSERT_TRUE(w.node(0).log.apply({d}).ok());
    v1::SyncMessage m;
    *m.mutable_push()->mutable_delta() = padded(d.signed_delta, pad);
    ASSERT_GT(m.push().delta().ByteSizeLong(), pad);
    w.inject(0, 1, m);
  }
  w.sent.clear();
  w.run();
  const NodeId origin = w.node(0).id();
  ASSERT_EQ(w.node(1).log.seq(origin), 3u);
  EXPECT_EQ(w.node(1).engine->stats().padded_wrappers, 3u);
  for (const auto& d : w.node(1).log.chain(origin))
    EXPECT_EQ(d.signed_delta.ByteSizeLong(), bare_size(d.signed_delta)) << "stored with the padding";
  std::size_t relayed = 0;
  for (const auto& s : w.sent) {
    if (s.from != 1 || !s.msg.has_push()) continue;
    ++relayed;
    EXPECT_EQ(s.msg.push().delta().ByteSizeLong(), bare_size(s.msg.push().delta())) << "relayed with the padding";
  }
  EXPECT_EQ(relayed, 3u);
  EXPECT_EQ(w.node(2).log.seq(origin), 3u);
  // Catch-up from the victim: batches carry body + signature only.
  w.sent.clear();
  w.connect(3, 1);
  w.run();
  EXPECT_EQ(w.node(3).log.seq(origin), 3u);
  std::size_t batched = 0;
  for (const auto& s : w.sent) {
    if (!s.msg.has_batch()) continue;
    for (const auto& d : s.msg.batch().deltas()) {
      ++batched;
      EXPECT_EQ(d.ByteSizeLong(), bare_size(d));
    }
    EXPECT_LT(s.msg.ByteSizeLong(), pad);
  }
  EXPECT_GE(batched, 3u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(w.node(i).disconnects.empty()) << i;
}

}  // namespace
}  // namespace conect::sync::test
