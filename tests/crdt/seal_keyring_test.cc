// Seal-key rotation (DESIGN §5, docs/privacy.md "Seal keys"): the keyring
// that keeps retired seal secrets so envelopes sealed to them still open,
// wipes them after kRetiredSealKeyKeepMs, and lives in a private file; and
// which seal key a member's log states when Rotate and SealKeyAnnounce mix.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "conect/crdt/envelope.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/seal.h"
#include "conect/crdt/testkit/author.h"
#include "conect/crdt/testkit/temp_dir.h"

namespace conect {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kDay = 24ULL * 60 * 60 * 1000;

SealKey keyring_test_key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  return SealKey::from_seed(seed);
}

TEST(SealKeyring, AnEnvelopeSealedToTheRetiredKeyStillOpens) {
  ASSERT_TRUE(crypto_init());
  SealKey old_key = keyring_test_key(1), new_key = keyring_test_key(2);
  SealKeyring ring(old_key);
  const std::string to_old = seal_to(old_key.public_key(), "content key sealed before the rotation");
  ring.rotate(new_key, 1'000);
  EXPECT_EQ(ring.current().public_key(), new_key.public_key());
  ASSERT_EQ(ring.retired().size(), 1u);
  EXPECT_EQ(ring.retired()[0].retired_ms, 1'000u);
  EXPECT_EQ(ring.open(to_old), "content key sealed before the rotation");
  EXPECT_EQ(ring.open(seal_to(new_key.public_key(), "after")), "after");
  EXPECT_FALSE(ring.open(seal_to(keyring_test_key(3).public_key(), "someone else's")));

  // Through a whole envelope, as the courier opens it.
  testkit::Author owner(7);
  NodeId me = testkit::test_key(8).public_key();
  const std::string plaintext = std::string(16, 's') + "{\"name\":\"Aino\"}";
  const Hash256 c = blake2b256(plaintext);
  auto bytes = seal_envelope(plaintext, c, owner.id(), std::vector<SealTarget>{{me, old_key.public_key()}});
  ASSERT_TRUE(bytes.ok());
  auto env = std::get<Envelope>(parse_envelope(*bytes));
  auto opened = open_envelope(env, me, ring, c, owner.id());
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_EQ(std::get<std::string>(opened), plaintext);
  // The current key alone (what a node without the keyring holds) refuses it.
  auto with_current = open_envelope(env, me, ring.current(), c, owner.id());
  ASSERT_TRUE(std::holds_alternative<EnvelopeError>(with_current));
  EXPECT_EQ(std::get<EnvelopeError>(with_current).fault, EnvelopeFault::wrong_seal_key);
}

TEST(SealKeyring, ARetiredKeyIsWipedOnceItsTimeIsUp) {
  ASSERT_TRUE(crypto_init());
  SealKey first = keyring_test_key(1), second = keyring_test_key(2), third = keyring_test_key(3);
  SealKeyring ring(first);
  ring.rotate(second, 10 * kDay);
  ring.rotate(third, 20 * kDay);
  const std::string to_first = seal_to(first.public_key(), "k1");
  const std::string to_second = seal_to(second.public_key(), "k2");
  // Just before the first key's time is up: both kept.
  EXPECT_EQ(ring.discard_expired(10 * kDay + kRetiredSealKeyKeepMs - 1), 0u);
  EXPECT_TRUE(ring.open(to_first));
  // At 30 days after its rotation: the first goes, the second stays.
  EXPECT_EQ(ring.discard_expired(10 * kDay + kRetiredSealKeyKeepMs), 1u);
  EXPECT_FALSE(ring.open(to_first));
  EXPECT_EQ(ring.open(to_second), "k2");
  ASSERT_EQ(ring.retired().size(), 1u);
  EXPECT_EQ(ring.retired()[0].key.public_key(), second.public_key());
  // The current key is never discarded.
  EXPECT_EQ(ring.discard_expired(1000 * kDay), 1u);
  EXPECT_EQ(ring.open(seal_to(third.public_key(), "k3")), "k3");
}

TEST(SealKeyring, RotatingTwiceToTheSameKeyOrBeyondTheBoundKeepsItSmall) {
  ASSERT_TRUE(crypto_init());
  SealKeyring ring(keyring_test_key(1));
  ring.rotate(keyring_test_key(1), 5);  // the same key: nothing retired
  EXPECT_TRUE(ring.retired().empty());
  for (std::uint8_t n = 2; n < 2 + kMaxRetiredSealKeys + 3; ++n) ring.rotate(keyring_test_key(n), n);
  auto retired = ring.retired();
  ASSERT_EQ(retired.size(), kMaxRetiredSealKeys);
  // Newest first; the oldest went.
  EXPECT_EQ(retired.front().key.public_key(), keyring_test_key(2 + kMaxRetiredSealKeys + 1).public_key());
  EXPECT_GT(retired.front().retired_ms, retired.back().retired_ms);
}

TEST(SealKeyring, TheFileIsPrivateRoundTripsAndABadOneIsNamed) {
  ASSERT_TRUE(crypto_init());
  testkit::TempDir d;
  const fs::path path = d.path() / "seal.keyring";
  // No file: no retired keys (a node that never rotated).
  auto none = SealKeyring::load_retired(path);
  ASSERT_TRUE(none.ok()) << none.error().message();
  EXPECT_TRUE(none->empty());

  SealKeyring ring(keyring_test_key(1));
  ring.rotate(keyring_test_key(2), 1'234);
  ring.rotate(keyring_test_key(3), 5'678);
  ASSERT_TRUE(ring.save_retired(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(fs::file_size(path), 4u + 2 * 40u);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  auto back = SealKeyring::load_retired(path);
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].key.public_key(), keyring_test_key(2).public_key());
  EXPECT_EQ((*back)[0].retired_ms, 5'678u);
  EXPECT_EQ((*back)[1].key.public_key(), keyring_test_key(1).public_key());
  EXPECT_EQ((*back)[1].retired_ms, 1'234u);
  // Replaced in place: a discarded key is gone from the file too.
  ring.discard_expired(1'234 + kRetiredSealKeyKeepMs);
  ASSERT_TRUE(ring.save_retired(path).ok());
  EXPECT_EQ(fs::file_size(path), 4u + 40u);
  back = SealKeyring::load_retired(path);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].key.public_key(), keyring_test_key(2).public_key());

  // Readable by others: refused, with the fix.
  ::chmod(path.c_str(), 0644);
  auto open_file = SealKeyring::load_retired(path);
  ASSERT_FALSE(open_file.ok());
  EXPECT_TRUE(open_file.error().is(Errc::insecure_permissions));
  EXPECT_NE(open_file.error().message().find("chmod 600 " + path.string()), std::string::npos);
  ::chmod(path.c_str(), 0600);

  // Not a keyring: wrong magic, a torn entry, too long. Each names the file.
  auto write = [&](const std::string& bytes) {
    fs::remove(path);
    std::ofstream(path, std::ios::binary) << bytes;
    ::chmod(path.c_str(), 0600);
  };
  for (const std::string& bad : {std::string("XXXX") + std::string(40, 'a'), std::string("cnK1") + std::string(39, 'a'),
                                 std::string("cnK1") + std::string(40 * (kMaxRetiredSealKeys + 1), 'a')}) {
    write(bad);
    auto r = SealKeyring::load_retired(path);
    ASSERT_FALSE(r.ok()) << bad.size();
    EXPECT_TRUE(r.error().is(Errc::malformed_body)) << r.error().message();
    EXPECT_NE(r.error().message().find(path.string()), std::string::npos) << r.error().message();
  }
}

// The seal key a member's log states, with Rotate and SealKeyAnnounce in
// either order: the later in log order counts (seal.h seal_key_stated; the
// store applies it delta by delta in chain order).
TEST(SealKeyStated, TheLaterStatementInTheMembersLogWins) {
  ASSERT_TRUE(crypto_init());
  testkit::Author a(1);
  const FederationId fed = testkit::test_federation();
  const SealPublicKey k1 = keyring_test_key(1).public_key(), k2 = keyring_test_key(2).public_key(),
                      k3 = keyring_test_key(3).public_key();
  auto announce = [&](const SealPublicKey& k) { return seal_key_announcement(a.key(), fed, k); };
  auto rotate = [&](const SealPublicKey& k, std::uint8_t n) {
    return membership_ops::rotate(a.id(), testkit::test_key(100 + n), k.raw());
  };
  auto stated = [&](std::vector<v1::Operation> ops) {
    return seal_key_stated(a.emit(std::move(ops)).body, a.id(), fed);
  };
  auto latest_of = [&](const std::vector<std::vector<v1::Operation>>& log) {
    std::optional<SealPublicKey> last;
    for (const auto& ops : log)
      if (auto k = stated(ops)) last = k;
    return last;
  };
  // Announce, then Rotate: the Rotate's key.
  EXPECT_EQ(latest_of({{announce(k1)}, {rotate(k2, 1)}}), k2);
  // Rotate, then announce: the announcement's key.
  EXPECT_EQ(latest_of({{rotate(k2, 2)}, {announce(k3)}}), k3);
  // In one delta: operation order.
  EXPECT_EQ(stated({rotate(k1, 3), announce(k2)}), k2);
  EXPECT_EQ(stated({announce(k2), rotate(k1, 4)}), k1);
  // A Rotate without a seal key, or with a malformed or zero one, states none.
  EXPECT_FALSE(stated({membership_ops::rotate(a.id(), testkit::test_key(120))}));
  EXPECT_FALSE(stated({membership_ops::rotate(a.id(), testkit::test_key(121), std::string(31, 'k'))}));
  EXPECT_FALSE(stated({membership_ops::rotate(a.id(), testkit::test_key(122), std::string(32, '\0'))}));
  // An announcement another member signed states nothing for this origin.
  testkit::Author b(2);
  EXPECT_FALSE(stated({seal_key_announcement(b.key(), fed, k3)}));
}

}  // namespace
}  // namespace conect
