// The change-event payload of a large batch (a catch-up hands the hook
// hundreds of deltas): every delta and every touched record once, in
// first-touched order, and the look-up that dedups them linear in the
// operations (counted through the seam, not timed).
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

TEST(ChangeEvents, LargeBatchNamesEveryRecordOnceWithLinearLookups) {
  ASSERT_TRUE(crypto_init());
  testkit::Author a(1), b(2);
  // Each delta creates one organisation and renames the one created two
  // deltas before (by either author): every record touched twice, by
  // operations of different deltas and origins.
  constexpr std::uint64_t kDeltas = 4'000;
  std::vector<VerifiedDelta> deltas;
  std::vector<RecordKey> created;
  std::size_t ops_total = 0;
  for (std::uint64_t i = 0; i < kDeltas; ++i) {
    testkit::Author& who = i % 2 ? b : a;
    RecordKey k = who.next_key(v1::ORGANISATION);
    auto ops = ops::create_organisation(k, org(i));
    if (i >= 2) ops.push_back(ops::write_organisation(created[i - 2], org(i + kDeltas), {1}));
    ops_total += ops.size();
    created.push_back(k);
    deltas.push_back(who.emit(std::move(ops)));
  }

  const std::uint64_t before = change_event_key_comparisons();
  auto event = json::parse(change_event_json(deltas));
  const std::uint64_t comparisons = change_event_key_comparisons() - before;

  ASSERT_EQ(event["deltas"].size(), kDeltas);
  for (std::uint64_t i = 0; i < kDeltas; ++i) {
    EXPECT_EQ(event["deltas"][i]["origin"], deltas[i].origin.hex());
    EXPECT_EQ(event["deltas"][i]["seq"], deltas[i].seq.value);
    EXPECT_EQ(event["deltas"][i]["id"], deltas[i].id.hex());
  }
  ASSERT_EQ(event["records"].size(), kDeltas);
  for (std::uint64_t i = 0; i < kDeltas; ++i)
    EXPECT_EQ(event["records"][i], json({{"id", created[i].text()}, {"record_type", "organisation"}})) << i;
  // A list scanned per operation compares ~ops * records / 2 (~16 million
  // here); a hash set about once per repeated key, plus rare collisions.
  EXPECT_LE(comparisons, 2 * ops_total) << "the record look-up is no longer linear in the batch";
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
