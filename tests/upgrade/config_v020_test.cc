// node.toml versions: the file 0.2.0 wrote (no config_version) still loads;
// a file from a newer conect is refused with what to do.
#include <gtest/gtest.h>

#include "conect/config/config.h"
#include "v020.h"

namespace conect::config {
namespace {

TEST(Config020, TheFile020WroteLoadsAsVersion1) {
  const auto file = upgrade::fixtures() / "data" / "node.toml";
  ASSERT_EQ(upgrade::read_file(file).find("config_version"), std::string::npos) << "0.2.0 wrote no version";
  auto c = load(file);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->file_version, 1u);
  EXPECT_EQ(c->name, "Lapin ammattiopisto");
  EXPECT_EQ(c->country, "FI");
  EXPECT_EQ(c->federation, upgrade::load_json("sync-session.json")["federation"].get<std::string>());
}

TEST(ConfigVersion, RenderedFilesCarryTheCurrentVersion) {
  NodeConfig c;
  c.name = "x";
  c.role = "school";
  std::string text = render(c);
  EXPECT_NE(text.find("config_version = " + std::to_string(kConfigVersion) + "\n"), std::string::npos);
  auto parsed = parse(text, "node.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->file_version, kConfigVersion);
}

TEST(ConfigVersion, ANewerFileIsRefusedWithWhatToDo) {
  auto parsed =
      parse("config_version = " + std::to_string(kConfigVersion + 1) + "\n[node]\nname = \"x\"\n", "/d/node.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().detail, "/d/node.toml:1: config_version: " + std::to_string(kConfigVersion + 1) +
                                       " is newer than this conect-node reads (" + std::to_string(kConfigVersion) +
                                       "): upgrade conect-node, or use the node.toml written by this version");
}

TEST(ConfigVersion, ANonsenseVersionIsRefused) {
  for (const char* v : {"0", "-1", "\"1\"", "1.5"}) {
    auto parsed = parse(std::string("config_version = ") + v + "\n", "node.toml");
    ASSERT_FALSE(parsed.ok()) << v;
    EXPECT_EQ(parsed.error().detail, "node.toml:1: config_version: expected a positive integer") << v;
  }
}

}  // namespace
}  // namespace conect::config
