// Seal keys (DESIGN §5): the key file, and the signed announcement that
// carries the public half in the node's own log.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "conect/crdt/seal.h"
#include "conect/crdt/testkit/temp_dir.h"

namespace conect {
namespace {

namespace fs = std::filesystem;

using testkit::TempDir;

FederationId federation(std::uint8_t b) {
  FederationId f;
  f.bytes.fill(b);
  return f;
}

TEST(SealKey, FileIsPrivateAndRoundTrips) {
  ASSERT_TRUE(crypto_init());
  TempDir d;
  bool created = false;
  auto k = SealKey::load_or_create(d.path() / "seal.key", &created);
  ASSERT_TRUE(k.ok()) << k.error().message();
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat((d.path() / "seal.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(fs::file_size(d.path() / "seal.key"), 32u);
  auto again = SealKey::load_or_create(d.path() / "seal.key", &created);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(created);  // an existing key is never replaced
  EXPECT_EQ(again->public_key(), k->public_key());
  EXPECT_TRUE(SealKey::generate().save(d.path() / "seal.key").error().is(Errc::already_exists));
}

TEST(SealKey, RefusesAFileOthersCanRead) {
  ASSERT_TRUE(crypto_init());
  TempDir d;
  ASSERT_TRUE(SealKey::generate().save(d.path() / "seal.key").ok());
  ::chmod((d.path() / "seal.key").c_str(), 0644);
  EXPECT_TRUE(SealKey::load(d.path() / "seal.key").error().is(Errc::insecure_permissions));
}

TEST(SealKey, RefusesAFileOfTheWrongSize) {
  ASSERT_TRUE(crypto_init());
  TempDir d;
  {
    std::ofstream out(d.path() / "seal.key", std::ios::binary);
    out << std::string(31, 'x');
  }
  ::chmod((d.path() / "seal.key").c_str(), 0600);
  EXPECT_TRUE(SealKey::load(d.path() / "seal.key").error().is(Errc::malformed_body));
}

TEST(SealKey, SealedBytesOpenOnlyWithTheRightKey) {
  ASSERT_TRUE(crypto_init());
  SealKey a = SealKey::generate(), b = SealKey::generate();
  std::string sealed = seal_to(a.public_key(), "content key");
  EXPECT_EQ(a.open(sealed), std::optional<std::string>("content key"));
  EXPECT_FALSE(b.open(sealed));
  sealed[40] ^= 1;
  EXPECT_FALSE(a.open(sealed));
}

TEST(SealKeyAnnouncement, VerifiesForItsOriginAndFederationOnly) {
  ASSERT_TRUE(crypto_init());
  KeyPair me = KeyPair::generate(), other = KeyPair::generate();
  SealKey seal = SealKey::generate();
  v1::Operation op = seal_key_announcement(me, federation(1), seal.public_key());
  ASSERT_TRUE(op.has_seal_key());
  auto ok = verify_seal_key_announcement(op.seal_key(), federation(1), me.public_key());
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(*ok, seal.public_key());
  // Replayed by another member, or into another federation: refused.
  EXPECT_TRUE(
      verify_seal_key_announcement(op.seal_key(), federation(1), other.public_key()).error().is(Errc::bad_signature));
  EXPECT_TRUE(
      verify_seal_key_announcement(op.seal_key(), federation(2), me.public_key()).error().is(Errc::bad_signature));
  // A swapped key under the old signature: refused.
  v1::SealKeyAnnounce swapped = op.seal_key();
  swapped.set_seal_key(SealKey::generate().public_key().raw());
  EXPECT_TRUE(verify_seal_key_announcement(swapped, federation(1), me.public_key()).error().is(Errc::bad_signature));
  swapped.set_seal_key("short");
  EXPECT_TRUE(verify_seal_key_announcement(swapped, federation(1), me.public_key()).error().is(Errc::malformed_body));
}

TEST(SealKeyAnnouncement, ItsSignatureIsValidInNoOtherDomain) {
  ASSERT_TRUE(crypto_init());
  KeyPair me = KeyPair::generate();
  SealKey seal = SealKey::generate();
  v1::Operation op = seal_key_announcement(me, federation(1), seal.public_key());
  std::string msg = seal_key_signing_message(federation(1), me.public_key(), seal.public_key());
  for (auto d : {SigningDomain::delta, SigningDomain::member_card, SigningDomain::noise_static,
                 SigningDomain::confirmation, SigningDomain::rotation, SigningDomain::audit_header})
    EXPECT_FALSE(verify_signature(me.public_key(), d, msg, op.seal_key().signature()));
  EXPECT_EQ(domain_label(SigningDomain::seal_key), "conect/seal-key/v1");
}

}  // namespace
}  // namespace conect
