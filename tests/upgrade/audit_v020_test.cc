// The audit bundle 0.2.0 exported (tests/fixtures/v0.2.0/audit.bundle, format
// version 1) verifies with today's code exactly as 0.2.0's own `audit verify`
// judged it (expected.json): same verdict, same counts, same institutions.
// Readers must keep accepting format 1 when later formats arrive.
#include <gtest/gtest.h>

#include "conect/audit/audit.h"
#include "v020.h"

namespace conect::audit {
namespace {

TEST(Audit020, TheBundleIsFormat1AndDecodes) {
  std::string bytes = upgrade::read_file(upgrade::fixtures() / "audit.bundle");
  ASSERT_GT(bytes.size(), kHeaderSize);
  EXPECT_EQ(bytes.substr(0, kMagic.size()), kMagic);
  EXPECT_EQ(bytes.substr(kMagic.size(), 4), std::string("\0\0\0\1", 4)) << "the fixture is format version 1";
  auto bundle = decode_bundle(bytes);
  ASSERT_TRUE(bundle.ok()) << bundle.error().message();
}

TEST(Audit020, VerifiesAs020Did) {
  auto report = verify_bundle(upgrade::read_file(upgrade::fixtures() / "audit.bundle"));
  ASSERT_TRUE(report.ok()) << report.error().message();
  auto today = nlohmann::json::parse(verify_report_json(*report));
  const auto expected = upgrade::load_json("expected.json")["audit_verify"];
  const auto& then = expected["report"];
  EXPECT_EQ(expected["exit"], 0);
  EXPECT_STREQ(verdict_name(report->verdict), then["verdict"].get<std::string>().c_str());
  for (const char* field : {"federation", "exported_by", "exported_at_ms", "deltas", "operations", "records",
                            "equivocations", "failures", "warnings", "rejected_operations"})
    EXPECT_EQ(today[field], then[field]) << field;
  ASSERT_EQ(today["institutions"].size(), then["institutions"].size());
  for (std::size_t i = 0; i < then["institutions"].size(); ++i)
    for (const auto& [key, value] : then["institutions"][i].items())
      EXPECT_EQ(today["institutions"][i][key], value) << "institution " << i << " " << key;
}

}  // namespace
}  // namespace conect::audit
