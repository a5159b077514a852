#include "conect/config/config.h"

#include <gtest/gtest.h>

namespace conect::config {
namespace {

NodeConfig sample() {
  NodeConfig c;
  c.name = "Lapin ammattiopisto \"Rovaniemi\"";
  c.country = "FI";
  c.role = "school";
  c.federation = "00112233445566778899aabbccddeeff";
  c.peer_listen = {"0.0.0.0", 7701};
  c.api_listen = {"127.0.0.1", 0};
  c.advertise = {"ws://127.0.0.1:7701/sync"};
  c.api_hosts = {"conect.lapinamk.fi"};
  c.max_frame_bytes = 1 << 20;
  c.log_format = "json";
  return c;
}

TEST(Config, RenderedFileParsesBackToTheSameValues) {
  NodeConfig c = sample();
  auto parsed = parse(render(c), "node.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->name, c.name);
  EXPECT_EQ(parsed->country, "FI");
  EXPECT_EQ(parsed->federation, c.federation);
  EXPECT_EQ(parsed->peer_listen.text(), "0.0.0.0:7701");
  EXPECT_EQ(parsed->api_listen.port, 0);
  EXPECT_EQ(parsed->advertise, c.advertise);
  EXPECT_EQ(parsed->api_hosts, c.api_hosts);
  EXPECT_EQ(parsed->max_frame_bytes, 1u << 20);
  EXPECT_EQ(parsed->log_format, "json");
}

TEST(Config, EmptyFileGivesDefaults) {
  auto parsed = parse("", "node.toml");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->peer_listen.text(), "0.0.0.0:7700");
  EXPECT_EQ(parsed->api_listen.text(), "127.0.0.1:7780");
}

TEST(Config, TypoInFieldNamesFileLineAndField) {
  auto parsed = parse("[node]\nname = \"x\"\n\n[network]\npeer_lisen = \"0.0.0.0:7700\"\n", "/d/node.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.error().is(Errc::invalid_argument));
  EXPECT_EQ(parsed.error().detail, "/d/node.toml:5: network.peer_lisen: unknown field");
}

TEST(Config, UnknownSectionIsRefused) {
  auto parsed = parse("[nodes]\nname = \"x\"\n", "node.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().detail.find("node.toml:1: nodes: unknown section"), std::string::npos);
}

TEST(Config, WrongTypeAndRangeAreRefused) {
  auto wrong_type = parse("[limits]\nmax_frame_bytes = \"big\"\n", "f");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().detail, "f:2: limits.max_frame_bytes: expected an integer");
  auto out_of_range = parse("[limits]\nmax_frame_bytes = 10\n", "f");
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.error().detail.find("must be between"), std::string::npos);
  auto bad_role = parse("[node]\nrole = \"janitor\"\n", "f");
  ASSERT_FALSE(bad_role.ok());
  EXPECT_NE(bad_role.error().detail.find("'janitor' is not one of school, company, auditor"), std::string::npos);
}

TEST(Config, RetentionIsOffByDefaultAndTakesWholeDays) {
  auto defaults = parse("", "node.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->retain_mobility_personal_data_days, 0u);  // off
  // init writes the field, documented, with the default; it parses back.
  NodeConfig c = sample();
  EXPECT_NE(render(c).find("[privacy]\n"), std::string::npos);
  EXPECT_NE(render(c).find("retain_mobility_personal_data_days = 0\n"), std::string::npos);
  c.retain_mobility_personal_data_days = 365;
  auto parsed = parse(render(c), "node.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->retain_mobility_personal_data_days, 365u);
  EXPECT_EQ(parse("[privacy]\nretain_mobility_personal_data_days = 36500\n", "f")->retain_mobility_personal_data_days,
            36500u);
}

TEST(Config, BadRetentionValuesAreRefusedInPlainWords) {
  for (const char* value : {"\"30d\"", "-1", "36501", "1.5", "true"}) {
    SCOPED_TRACE(value);
    auto parsed = parse(std::string("[privacy]\nretain_mobility_personal_data_days = ") + value + "\n", "/d/node.toml");
    ASSERT_FALSE(parsed.ok());
    EXPECT_TRUE(parsed.error().is(Errc::invalid_argument));
    const std::string& d = parsed.error().detail;
    EXPECT_EQ(d.rfind("/d/node.toml:2: privacy.retain_mobility_personal_data_days: ", 0), 0u) << d;
    EXPECT_NE(d.find("expected a whole number of days from 1 to 36500"), std::string::npos) << d;
    EXPECT_NE(d.find("or 0 to keep it"), std::string::npos) << d;
  }
  auto typo = parse("[privacy]\nretain_personal_data_days = 30\n", "f");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().detail, "f:2: privacy.retain_personal_data_days: unknown field");
}

TEST(Config, SyncPushModeIsPrunedByDefaultAndTakesFourValues) {
  auto defaults = parse("", "node.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->sync_push, "pruned");
  // init writes the field, documented, with the default; each value parses back.
  NodeConfig c = sample();
  EXPECT_NE(render(c).find("\npush = \"pruned\"\n"), std::string::npos);
  for (const char* mode : {"eager", "pruned", "lazy", "tree"}) {
    SCOPED_TRACE(mode);
    c.sync_push = mode;
    auto parsed = parse(render(c), "node.toml");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->sync_push, mode);
    EXPECT_EQ(parse(std::string("[sync]\npush = \"") + mode + "\"\n", "f")->sync_push, mode);
  }
}

TEST(Config, UnknownSyncPushModeNamesFileKeyAndAllowedValues) {
  for (const char* value : {"\"Tree\"", "\"plumtree\"", "\"\"", "1", "true"}) {
    SCOPED_TRACE(value);
    auto parsed = parse(std::string("[sync]\nsummary_interval_ms = 5000\npush = ") + value + "\n", "/d/node.toml");
    ASSERT_FALSE(parsed.ok());
    EXPECT_TRUE(parsed.error().is(Errc::invalid_argument));
    const std::string& d = parsed.error().detail;
    EXPECT_EQ(d.rfind("/d/node.toml:3: sync.push: ", 0), 0u) << d;
    EXPECT_NE(d.find("one of eager, pruned, lazy, tree"), std::string::npos) << d;
  }
  EXPECT_EQ(parse("[sync]\npush = \"plumtree\"\n", "/d/node.toml").error().detail,
            "/d/node.toml:2: sync.push: 'plumtree' is not one of eager, pruned, lazy, tree");
  EXPECT_EQ(parse("[sync]\npush = 1\n", "f").error().detail,
            "f:2: sync.push: expected a string, one of eager, pruned, lazy, tree");
}

TEST(Config, SendQueueBoundsMustHoldTheLargestFrame) {
  auto parsed = parse("[limits]\nmax_frame_bytes = 4194304\nsend_queue_max_bytes = 1048576\n", "f");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().detail.find("send_queue_max_bytes must be at least limits.max_frame_bytes"),
            std::string::npos);
  auto frames = parse("[limits]\nsend_queue_limit = 100\nsend_queue_max_frames = 50\n", "f");
  ASSERT_FALSE(frames.ok());
  auto defaults = parse("", "f");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_unauthenticated_connections, 64u);
  EXPECT_EQ(defaults->max_unauthenticated_per_ip, 8u);
}

TEST(Config, SyntaxErrorNamesLine) {
  auto parsed = parse("[node]\nname = \n", "f");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().detail.rfind("f:2: syntax:", 0), 0u) << parsed.error().detail;
}

TEST(Config, StaticPeers) {
  std::string id(64, 'a');
  auto parsed = parse("[[peers]]\nurl = \"ws://127.0.0.1:7701/sync\"\nid = \"" + id + "\"\n", "f");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->peers.size(), 1u);
  EXPECT_EQ(parsed->peers[0].node_id, id);
  auto missing_id = parse("[[peers]]\nurl = \"ws://127.0.0.1:7701/sync\"\n", "f");
  EXPECT_FALSE(missing_id.ok());
}

TEST(Endpoint, ParsesHostPortAndRefusesNonsense) {
  auto v4 = parse_endpoint("127.0.0.1:0");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 0);
  auto v6 = parse_endpoint("[::1]:7700");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->text(), "[::1]:7700");
  EXPECT_FALSE(parse_endpoint("localhost").ok());
  EXPECT_FALSE(parse_endpoint("host:99999").ok());
  EXPECT_FALSE(parse_endpoint("host:7x").ok());
  EXPECT_FALSE(parse_endpoint(":7700").ok());
}

}  // namespace
}  // namespace conect::config
