// The change-event payload: a small batch names every delta and every
// touched record once, in first-touched order, with a look-up that dedups
// them linear in the operations (counted through the seam, not timed); a
// catch-up's batch (thousands of deltas) names runs of deltas and says its
// records are too many to list.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "conect/api/events.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

v1::Organisation org(std::uint64_t n) {
  v1::Organisation o;
  auto* name = o.add_names();
  name->set_lang("en");
  name->set_text("Company " + std::to_string(n));
  o.set_country("FI");
  return o;
}

// Each delta creates one organisation and renames the one created two
// deltas before (by either author): every record touched twice, by
// operations of different deltas and origins.
struct Renames {
  std::vector<VerifiedDelta> deltas;
  std::vector<RecordKey> created;
  std::size_t ops_total = 0;
};
Renames renames(std::uint64_t count) {
  testkit::Author a(1), b(2);
  Renames out;
  for (std::uint64_t i = 0; i < count; ++i) {
    testkit::Author& who = i % 2 ? b : a;
    RecordKey k = who.next_key(v1::ORGANISATION);
    auto ops = ops::create_organisation(k, org(i));
    if (i >= 2) ops.push_back(ops::write_organisation(out.created[i - 2], org(i + count), {1}));
    out.ops_total += ops.size();
    out.created.push_back(k);
    out.deltas.push_back(who.emit(std::move(ops)));
  }
  return out;
}

TEST(ChangeEvents, SixtyFourDeltasNameEachDeltaAndEachRecordOnceWithLinearLookups) {
  ASSERT_TRUE(crypto_init());
  constexpr std::uint64_t kDeltas = 64;
  const Renames r = renames(kDeltas);

  const std::uint64_t before = change_event_key_comparisons();
  auto event = json::parse(change_event_json(r.deltas));
  const std::uint64_t comparisons = change_event_key_comparisons() - before;

  ASSERT_EQ(event["deltas"].size(), kDeltas);
  for (std::uint64_t i = 0; i < kDeltas; ++i) {
    EXPECT_EQ(event["deltas"][i]["origin"], r.deltas[i].origin.hex());
    EXPECT_EQ(event["deltas"][i]["seq"], r.deltas[i].seq.value);
    EXPECT_EQ(event["deltas"][i]["id"], r.deltas[i].id.hex());
  }
  EXPECT_FALSE(event.contains("delta_ranges"));
  EXPECT_FALSE(event.contains("records_truncated"));
  ASSERT_EQ(event["records"].size(), kDeltas);
  for (std::uint64_t i = 0; i < kDeltas; ++i)
    EXPECT_EQ(event["records"][i], json({{"id", r.created[i].text()}, {"record_type", "organisation"}})) << i;
  // A list scanned per operation compares ~ops * records / 2 (~4,000
  // here); a hash set about once per repeated key, plus rare collisions.
  EXPECT_LE(comparisons, 2 * r.ops_total) << "the record look-up is no longer linear in the batch";
}

// A catch-up hands the stream batches of thousands of deltas: each delta
// and each record named cost the API's threads and the dashboard ~300
// bytes of JSON, for a dashboard that refetches everything past 50 records
// anyway. So the deltas come as runs of one origin's consecutive seqs (a gap
// starts a new run) and the records as "too many".
TEST(ChangeEvents, ACatchUpBatchNamesRunsOfDeltasAndNoRecords) {
  ASSERT_TRUE(crypto_init());
  const Renames r = renames(4'000);  // a and b in turn: runs of one delta
  testkit::Author c(3);
  std::vector<VerifiedDelta> batch;
  for (std::uint32_t i = 0; i < 1'000; ++i)
    batch.push_back(c.emit(ops::create_organisation(c.next_key(v1::ORGANISATION), org(i))));
  batch.erase(batch.begin() + 499);  // seq 500 missing
  batch.insert(batch.end(), r.deltas.begin(), r.deltas.begin() + 3);

  auto event = json::parse(change_event_json(batch));
  EXPECT_EQ(event["deltas"], json::array());
  EXPECT_EQ(event["delta_ranges"], json::parse(R"([
    {"origin": ")" + c.id().hex() + R"(", "from": 1, "to": 499},
    {"origin": ")" + c.id().hex() + R"(", "from": 501, "to": 1000},
    {"origin": ")" + r.deltas[0].origin.hex() + R"(", "from": 1, "to": 1},
    {"origin": ")" + r.deltas[1].origin.hex() + R"(", "from": 1, "to": 1},
    {"origin": ")" + r.deltas[2].origin.hex() + R"(", "from": 2, "to": 2}])"));
  EXPECT_EQ(event["records"], json::array());
  EXPECT_EQ(event["records_truncated"], true);

  // 65 deltas touching 65 records: both limits crossed by one.
  auto just_over = json::parse(change_event_json(std::span(r.deltas).first(65)));
  EXPECT_EQ(just_over["deltas"], json::array());
  EXPECT_EQ(just_over["delta_ranges"].size(), 65u);
  EXPECT_EQ(just_over["records_truncated"], true);
}

TEST(ChangeEvents, EmptyBatch) {
  auto event = json::parse(change_event_json(std::span<const VerifiedDelta>{}));
  EXPECT_EQ(event, json({{"deltas", json::array()}, {"records", json::array()}}));
}

// Personal data delivered to this node changes a record's view without a
// delta: the event names that record alone.
TEST(ChangeEvents, ARecordWhoseViewChangedWithoutADelta) {
  ASSERT_TRUE(crypto_init());
  testkit::Author a(1);
  RecordKey m = a.next_key(v1::MOBILITY);
  auto event = json::parse(record_change_event_json(m));
  EXPECT_EQ(event["deltas"], json::array());
  ASSERT_EQ(event["records"].size(), 1u);
  EXPECT_EQ(event["records"][0]["id"], m.text());
  EXPECT_EQ(event["records"][0]["record_type"], "mobility");
}

}  // namespace
}  // namespace conect::api::test
