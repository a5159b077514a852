// The mobility report equals a brute-force count of what was written, from
// the store and from a verified bundle alike.
#include <map>
#include <random>
#include <tuple>

#include "fixture.h"

namespace conect::audit::testing {
namespace {

using Cell = std::tuple<std::string, std::string, std::string, std::string, std::string>;

class ReportTest : public AuditTest {};

TEST_F(ReportTest, CountsEqualABruteForceCount) {
  std::mt19937_64 rng(20261128);
  struct Member {
    testkit::Author* author;
    RecordKey org;
    std::string country;
  };
  testkit::Author d{4};
  ASSERT_TRUE(store_
                  ->put_member(d.id(), make_member_card(d.key(), testkit::test_federation(), "Murmansk College", "RU",
                                                        v1::SCHOOL))
                  .ok());
  RecordKey org_d = add_organisation(d, "RU", "Murmansk College");
  std::vector<Member> members = {{&a_, org_a_, "FI"}, {&b_, org_b_, "SE"}, {&c_, org_c_, "NO"}, {&d, org_d, "RU"}};

  std::map<Cell, std::uint64_t> expected_year, expected_month;
  std::uint64_t expected_total = 0, expected_cancelled = 0, expected_rejected = 0;
  for (int i = 0; i < 60; ++i) {
    const Member& from = members[rng() % members.size()];
    const Member& to = members[rng() % members.size()];
    auto category = static_cast<v1::ParticipantCategory>(1 + rng() % 8);
    auto type = static_cast<v1::MobilityType>(1 + rng() % 8);
    const int year = 2025 + static_cast<int>(rng() % 3);
    const unsigned month = 1 + static_cast<unsigned>(rng() % 12);
    const bool dated = rng() % 10 != 0;
    RecordKey m = add_mobility(
        *from.author, {from.org, to.org, category, type, dated ? days(year, month, 28) : 0, "P-" + std::to_string(i)});
    if (rng() % 6 == 0) {
      set_status(*from.author, m, v1::MOBILITY_CANCELLED);
      ++expected_cancelled;
      continue;
    }
    if (rng() % 7 == 0) {  // the host refuses it: it does not take place
      v1::MobilityHost refused;
      refused.set_host_status(v1::HOST_REJECTED);
      emit(*to.author, {ops::write_mobility_host(m, to.org, refused, {1})});
      ++expected_rejected;
      continue;
    }
    const std::string cat = v1::ParticipantCategory_Name(category), act = v1::MobilityType_Name(type);
    auto low = [](std::string s) {
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return s;
    };
    char ym[16];
    std::snprintf(ym, sizeof ym, "%04d-%02u", year, month);
    expected_year[{from.country, to.country, low(cat), low(act), dated ? std::to_string(year) : "unknown"}]++;
    expected_month[{from.country, to.country, low(cat), low(act), dated ? std::string(ym) : "unknown"}]++;
    ++expected_total;
  }
  // A non-owner's attempt to move someone's mobility is rejected and changes
  // no count.
  auto any = store_->list(v1::MOBILITY, "", 1);
  ASSERT_TRUE(any.ok() && !any->items.empty());
  const RecordKey victim = any->items[0].key;
  testkit::Author& intruder = victim.owner == a_.id() ? b_ : a_;
  set_status(intruder, victim, v1::MOBILITY_CANCELLED);

  auto cells = [](const MobilityReport& r) {
    std::map<Cell, std::uint64_t> out;
    for (const auto& row : r.rows)
      out[{row.sending_country, row.receiving_country, row.category, row.activity, row.period}] += row.count;
    return out;
  };
  ReportOptions by_year;
  auto from_store = mobility_report(*store_, by_year);
  ASSERT_TRUE(from_store.ok());
  EXPECT_EQ(from_store->total, expected_total);
  EXPECT_EQ(from_store->cancelled_excluded, expected_cancelled);
  EXPECT_EQ(from_store->host_rejected_excluded, expected_rejected);
  ASSERT_GT(expected_rejected, 0u);
  EXPECT_EQ(cells(*from_store), expected_year);
  // Every counted mobility was nominated (the fixture's status), none more.
  EXPECT_EQ(from_store->by_status, (std::map<std::string, std::uint64_t>{{"nominated", expected_total}}));

  VerifyReport verified = verify(export_all());
  ASSERT_EQ(verified.verdict, Verdict::pass_with_warnings) << describe(verified);  // the intruder's write
  auto from_bundle = mobility_report(verified, by_year);
  ASSERT_TRUE(from_bundle.ok());
  EXPECT_EQ(cells(*from_bundle), expected_year);
  EXPECT_EQ(from_bundle->source, "bundle");

  ReportOptions by_month;
  by_month.by = Period::month;
  auto monthly = mobility_report(verified, by_month);
  ASSERT_TRUE(monthly.ok());
  EXPECT_EQ(cells(*monthly), expected_month);

  // Marginals add up to the total.
  for (const auto* marginal :
       {&from_bundle->by_country_pair, &from_bundle->by_category, &from_bundle->by_activity, &from_bundle->by_period}) {
    std::uint64_t sum = 0;
    for (const auto& [name, n] : *marginal) sum += n;
    EXPECT_EQ(sum, expected_total);
  }
  std::uint64_t fi_se = 0;
  for (const auto& [cell, n] : expected_year)
    if (std::get<0>(cell) == "FI" && std::get<1>(cell) == "SE") fi_se += n;
  EXPECT_EQ(from_bundle->by_country_pair["FI->SE"], fi_se);

  ReportOptions with_cancelled;
  with_cancelled.include_cancelled = true;
  EXPECT_EQ(mobility_report(*store_, with_cancelled)->total, expected_total + expected_cancelled + expected_rejected);
}

TEST_F(ReportTest, OutputsCarryTheSameCounts) {
  add_mobility(a_, {org_a_, org_b_, v1::IVET_LEARNER, v1::LEARNER_OTJ_COMPANY, days(2026, 3, 10), "P-1"});
  add_mobility(a_, {org_a_, org_b_, v1::IVET_LEARNER, v1::LEARNER_OTJ_COMPANY, days(2026, 5, 10), "P-2"});
  add_mobility(b_, {org_b_, org_c_, v1::TEACHER, v1::JOB_SHADOWING, days(2027, 1, 1), "P-3"});
  auto r = mobility_report(*store_, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(report_csv(*r),
            "sending_country,receiving_country,participant_category,activity,period,count\r\n"
            "FI,SE,ivet_learner,learner_otj_company,2026,2\r\n"
            "SE,NO,teacher,job_shadowing,2027,1\r\n");
  const std::string json = report_json(*r);
  EXPECT_NE(json.find("\"total\": 3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ivet_learner\": 2"), std::string::npos) << json;
  const std::string table = report_table(*r);
  EXPECT_NE(table.find("FI->SE"), std::string::npos) << table;
  EXPECT_NE(table.find("mobilities: 3"), std::string::npos) << table;
}

TEST_F(ReportTest, AFailedBundleGivesNoReport) {
  add_mobility(a_, {org_a_, org_b_, v1::IVET_LEARNER, v1::LEARNER_OTJ_COMPANY, days(2026, 3, 10), "P-1"});
  v1::AuditBundle b = decode(export_all());
  chain_of(b, a_.id())->mutable_deltas()->DeleteSubrange(0, 1);
  VerifyReport r = verify(b);
  ASSERT_EQ(r.verdict, Verdict::fail);
  auto report = mobility_report(r, {});
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(report.error().is(Errc::not_authorised));
}

}  // namespace
}  // namespace conect::audit::testing
