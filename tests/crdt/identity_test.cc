// Identity: key files, their permissions, corruption, signing domains.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "conect/crdt/identity.h"
#include "conect/crdt/testkit/temp_dir.h"

namespace conect {
namespace {

namespace fs = std::filesystem;

using testkit::TempDir;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const fs::path& p, const std::string& bytes, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

TEST(Identity, SaveWritesMode0600AndLoadRoundTrips) {
  ASSERT_TRUE(crypto_init());
  TempDir dir;
  fs::path file = dir.path() / "identity.key";
  KeyPair k = KeyPair::generate();
  ASSERT_TRUE(k.save(file).ok());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_all(file).size(), 64u);
  auto loaded = KeyPair::load(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->public_key(), k.public_key());
  Signature sig = loaded->sign(SigningDomain::delta, "hello");
  EXPECT_TRUE(verify_signature(k.public_key(), SigningDomain::delta, "hello", sig.raw()));
}

TEST(Identity, SaveRefusesToOverwrite) {
  TempDir dir;
  fs::path file = dir.path() / "identity.key";
  ASSERT_TRUE(KeyPair::generate().save(file).ok());
  std::string before = read_all(file);
  Status s = KeyPair::generate().save(file);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::already_exists));
  EXPECT_EQ(read_all(file), before);
}

TEST(Identity, LoadRefusesGroupOrWorldReadableFiles) {
  TempDir dir;
  fs::path file = dir.path() / "identity.key";
  ASSERT_TRUE(KeyPair::generate().save(file).ok());
  for (mode_t mode : {0640, 0604, 0644, 0660, 0601, 0610}) {
    ASSERT_EQ(::chmod(file.c_str(), mode), 0);
    auto r = KeyPair::load(file);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_TRUE(r.error().is(Errc::insecure_permissions)) << r.error().message();
    EXPECT_NE(r.error().detail.find("chmod 600"), std::string::npos);
  }
  ASSERT_EQ(::chmod(file.c_str(), 0400), 0);
  EXPECT_TRUE(KeyPair::load(file).ok());
}

TEST(Identity, LoadRejectsCorruptOrMissingKeys) {
  TempDir dir;
  fs::path file = dir.path() / "identity.key";
  ASSERT_TRUE(KeyPair::generate().save(file).ok());
  std::string good = read_all(file);
  for (std::size_t i : {32u, 40u, 63u}) {  // the public half must match the seed
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    write_all(file, bad, 0600);
    auto r = KeyPair::load(file);
    ASSERT_FALSE(r.ok()) << "flipped byte " << i;
    EXPECT_TRUE(r.error().is(Errc::malformed_body)) << r.error().message();
  }
  write_all(file, good.substr(0, 63), 0600);
  EXPECT_TRUE(KeyPair::load(file).error().is(Errc::malformed_body));
  write_all(file, good + "x", 0600);
  EXPECT_TRUE(KeyPair::load(file).error().is(Errc::malformed_body));
  write_all(file, "", 0600);
  EXPECT_TRUE(KeyPair::load(file).error().is(Errc::malformed_body));
  EXPECT_TRUE(KeyPair::load(dir.path() / "missing.key").error().is(Errc::not_found));
}

TEST(Identity, ASignatureVerifiesOnlyInItsOwnDomain) {
  KeyPair k = KeyPair::generate();
  const SigningDomain all[] = {SigningDomain::delta,        SigningDomain::member_card, SigningDomain::noise_static,
                               SigningDomain::confirmation, SigningDomain::rotation,    SigningDomain::audit_header};
  for (SigningDomain signed_in : all) {
    Signature sig = k.sign(signed_in, "the same message");
    for (SigningDomain checked_in : all)
      EXPECT_EQ(verify_signature(k.public_key(), checked_in, "the same message", sig.raw()), signed_in == checked_in)
          << domain_label(signed_in) << " checked as " << domain_label(checked_in);
  }
  std::set<std::string_view> labels;
  for (SigningDomain d : all) labels.insert(domain_label(d));
  EXPECT_EQ(labels.size(), std::size(all));
}

TEST(Identity, SignaturesBindKeyAndMessage) {
  KeyPair k = KeyPair::generate();
  KeyPair other = KeyPair::generate();
  EXPECT_NE(k.public_key(), other.public_key());
  Signature sig = k.sign(SigningDomain::delta, "m");
  EXPECT_FALSE(verify_signature(other.public_key(), SigningDomain::delta, "m", sig.raw()));
  EXPECT_FALSE(verify_signature(k.public_key(), SigningDomain::delta, "n", sig.raw()));
  EXPECT_FALSE(verify_signature(k.public_key(), SigningDomain::delta, "m", sig.raw().substr(1)));
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 7;
  EXPECT_EQ(KeyPair::from_seed(seed).public_key(), KeyPair::from_seed(seed).public_key());
  // Ed25519 is deterministic: equal keys sign equal messages equally.
  EXPECT_EQ(KeyPair::from_seed(seed).sign(SigningDomain::delta, "m"),
            KeyPair::from_seed(seed).sign(SigningDomain::delta, "m"));
}

TEST(Identity, Blake2b256KnownAnswer) {
  EXPECT_EQ(blake2b256("").hex(), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

}  // namespace
}  // namespace conect
