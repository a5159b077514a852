// Schema 3 (storage/src/schema.cc: the query indexes by term as
// MDB_DUPSORT | MDB_DUPFIXED databases) answers exactly as schema 2 did. A
// store written by this build is turned back into schema 2 here (that
// layout is frozen: every index entry the key term || record key (41), an
// empty value; docs/storage.md), then upgraded:
//   - every query answers the same records in the same order, page by page,
//     with the same cursors, and the cursors the store handed out name
//     schema-2 index keys, read with the ids for the node codes that
//     schema 6 writes in record keys (so a client's cursor from before the
//     upgrade to schema 3 resumed where it was; since schema 6 a cursor
//     starts with its layout's version, and one from before is refused);
//   - every sub-database is byte-identical to the store as written (the
//     upgrade rebuilds the indexes in the new layout, whatever the old
//     pages), the store is marked for compaction, and the upgraded store
//     then takes the rest of the history exactly as one that never left
//     schema 3.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <stdexcept>

#include "../storage/history.h"
#include "conect/storage/lmdb.h"
#include "store_steps.h"
#include "v020.h"

namespace conect::upgrade {
namespace {

namespace fs = std::filesystem;
using storage::Store;
using storage::testing::dump_subdatabases;
using storage::testing::TempDir;

// The indexes schema 3 keeps by term, and the cursor byte of each.
constexpr std::pair<const char*, char> kByTerm[] = {
    {"idx_placement_trade", 't'}, {"idx_placement_country", 'c'},   {"idx_placement_period", 'p'},
    {"idx_placement_host", 'h'},  {"idx_mobility_org", 'o'},        {"idx_mobility_period", 'q'},
    {"idx_mobility_status", 's'}, {"idx_reservation_placement", 0},
};

// Rewrites a closed store of this build in schema 2's layout: keys with
// whole ids, each index by term as a plain database of keys term || record
// key (41), one `records` of whole states and one `ops`.
void write_schema_2(const fs::path& dir) {
  auto env = open_to_rewrite(dir);
  lmdb::WriteTxn txn = env.begin_write();
  write_schema_5(txn);
  for (const auto& [name, letter] : kByTerm) {
    lmdb::Dbi db = txn.open_db(name, 0);
    unsigned flags = 0;
    ASSERT_EQ(mdb_dbi_flags(txn.handle(), db.handle, &flags), MDB_SUCCESS);
    ASSERT_EQ(flags, unsigned{MDB_DUPSORT | MDB_DUPFIXED}) << name;
    std::vector<std::string> keys;
    {
      auto c = txn.cursor(db);
      for (bool ok = c.first(); ok; ok = c.next()) keys.push_back(std::string(c.key()) + std::string(c.value()));
    }
    txn.drop(db);
    db = txn.open_db(name, MDB_CREATE);
    // Written in an order of their own: the upgrade must not depend on the
    // old pages.
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) txn.put(db, *it, std::string_view("", 0));
  }
  write_one_records_and_ops(txn);
  write_whole_states(txn);
  mark_schema(txn, 2);
  txn.commit();
}

// Every page of `f`, `limit` at a time: records in order, then the cursor.
template <class Filter, class Query>
void pages(std::ostream& out, const char* name, Filter f, Query query, std::vector<std::string>& cursors) {
  f.limit = 4;
  do {
    auto page = must(query(f), name);
    out << name;
    for (const auto& v : page.items) out << " " << static_cast<int>(v.key.type) << ":" << v.key.text();
    out << "\n  cursor " << page.next_cursor << "\n";
    if (!page.next_cursor.empty()) cursors.push_back(page.next_cursor);
    f.cursor = page.next_cursor;
  } while (!f.cursor.empty());
}

// The answers of every index: each query by one term of each index (every
// term the store holds), in pages.
std::string answers(const Store& store, std::vector<std::string>& cursors) {
  std::ostringstream out;
  auto placements = [&](const storage::PlacementFilter& f) { return store.placements(f); };
  auto mobilities = [&](const storage::MobilityFilter& f) { return store.mobilities(f); };
  std::set<std::string> trades, countries;
  std::set<RecordKey> hosts, orgs;
  std::vector<RecordKey> all_placements;
  std::string cursor;
  do {
    auto page = must(store.list(v1::PLACEMENT, cursor, 50), "list");
    for (const auto& v : page.items) {
      trades.insert(v.state.placement().trade());
      countries.insert(v.state.placement().country());
      if (auto h = RecordKey::from_proto(v1::ORGANISATION, v.state.placement().host_organisation())) hosts.insert(*h);
      all_placements.push_back(v.key);
    }
    cursor = page.next_cursor;
  } while (!cursor.empty());
  do {
    auto page = must(store.list(v1::ORGANISATION, cursor, 50), "list");
    for (const auto& v : page.items) orgs.insert(v.key);
    cursor = page.next_cursor;
  } while (!cursor.empty());

  for (const auto& t : trades) {
    storage::PlacementFilter f;
    f.trade = t;
    if (!t.empty()) pages(out, "trade", f, placements, cursors);
  }
  for (const auto& c : countries) {
    storage::PlacementFilter f;
    f.country = c;
    if (!c.empty()) pages(out, "country", f, placements, cursors);
  }
  for (const auto& h : hosts) {
    storage::PlacementFilter f;
    f.host = h;
    pages(out, "host", f, placements, cursors);
  }
  storage::PlacementFilter from;
  from.from = 19000;
  pages(out, "placement period", from, placements, cursors);
  storage::PlacementFilter available;
  available.available = true;
  pages(out, "available", available, placements, cursors);
  for (const auto& o : orgs) {
    storage::MobilityFilter f;
    f.organisation = o;
    pages(out, "organisation", f, mobilities, cursors);
  }
  for (int status = 1; status <= 6; ++status) {
    storage::MobilityFilter f;
    f.status = static_cast<v1::MobilityStatus>(status);
    pages(out, "status", f, mobilities, cursors);
  }
  storage::MobilityFilter mfrom;
  mfrom.from = 19000;
  pages(out, "mobility period", mfrom, mobilities, cursors);
  for (const auto& p : all_placements) {
    out << "reservations of " << p.text();
    for (const auto& r : must(store.reservations_of(p), "reservations_of")) out << " " << r.key.text();
    out << "\n";
  }
  return std::move(out).str();
}

TEST(IndexesByTerm, AStoreOfSchemaTwoAnswersTheSameThroughTheUpgrade) {
  TempDir t;
  auto h = storage::testing::random_history({.authors = 5, .deltas = 400, .seed = 23});
  const auto [first, rest] = halves(h.deltas);

  std::string answered;
  std::vector<std::string> cursors;
  {
    auto s = storage::testing::open_store(t / "kept", step_test_options());
    apply_in_batches(*s, first);
    answered = answers(*s, cursors);
  }
  ASSERT_GT(cursors.size(), 20u) << "too few multi-page answers to say anything about cursors";
  copy_closed_store(t / "kept", t / "upgraded");
  write_schema_2(t / "upgraded");

  // Every cursor names a key of the schema-2 index of its query (its node
  // codes read as the ids they stand for: schema 6 writes a record key's
  // owner as its code): what a client holding it from before the upgrade
  // holds.
  auto old_dump = dump_subdatabases(t / "upgraded");
  auto kept_dump = dump_subdatabases(t / "kept");
  const auto kept_as_5 = dump_as_schema_5(kept_dump);
  const auto ids = ids_by_code(kept_dump.at("node_codes"));
  std::size_t named = 0;
  for (const auto& c : cursors) {
    // Schema 6's cursors start with their layout's version (6), then the
    // index's letter, then the entry.
    auto raw = from_hex(c);
    ASSERT_TRUE(raw && raw->size() > 2 && (*raw)[0] == 6) << c;
    const char* index = nullptr;
    for (const auto& [name, letter] : kByTerm)
      if (letter == (*raw)[1]) index = name;
    if (!index) continue;  // the records scan
    IdsIn where = IdsIn::term_record;
    for (const auto& [name, ids_in] : kDbsWithIds)
      if (name == std::string_view(index)) where = ids_in;
    EXPECT_EQ(old_dump[index].count(entry_as_schema_5(ids, index, where, raw->substr(2))), 1u) << c;
    ++named;
  }
  EXPECT_GT(named, 10u) << "too few cursors of the indexes by term";
  for (const auto& [name, letter] : kByTerm) {
    EXPECT_EQ(kept_dump[name].count(""), 1u) << name << " is not kept by term";
    auto old_entries = old_dump[name];
    auto new_entries = kept_as_5.at(name);
    new_entries.erase("");
    EXPECT_TRUE(old_entries == new_entries) << name << ": schema 2 held other entries";
  }

  {
    auto upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
    ASSERT_TRUE(upgraded->upgraded().has_value());
    EXPECT_EQ(upgraded->upgraded()->from, 2u);
    EXPECT_EQ(upgraded->upgraded()->steps.front(),
              "query indexes by term (the term once, its record keys as fixed-size items)");
    // The same pages and the same cursors, each page after the first asked
    // with the cursor the store gave before the upgrade.
    std::vector<std::string> again;
    EXPECT_EQ(answers(*upgraded, again), answered) << "the upgrade changed an answer";
    EXPECT_EQ(again, cursors);
    expect_compacted_after_upgrade(*upgraded);
  }
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == kept_dump)
      << "the upgraded store differs from the one written by this build";

  auto answers_alone = [](const Store& s) {
    std::vector<std::string> unused;
    return answers(s, unused);
  };
  expect_rest_taken_alike(t / "kept", t / "upgraded", rest, answers_alone, [](const Store&) {});
}

// The committed 0.2.0 store (schema 1) goes through both steps: its index
// entries come out as the same entries, kept by term, and queries page
// through them one record at a time with the cursors.
TEST(IndexesByTerm, TheZeroTwoZeroStoreKeepsEveryIndexEntry) {
  TempDir t;
  auto dir = copy_store(t.path());
  auto before = dump_subdatabases(dir);
  std::size_t entries = 0;
  for (const auto& [name, letter] : kByTerm) {
    EXPECT_EQ(before[name].count(""), 0u) << name << " is kept by term before the upgrade";
    entries += before[name].size();
  }
  ASSERT_GT(entries, 10u);
  const auto expected = load_json("expected.json");
  std::set<std::string> carpentry, expected_carpentry, with_windows, expected_with_windows;
  for (const auto& p : expected["placements_carpentry"]["items"]) expected_carpentry.insert(p["id"].get<std::string>());
  for (const auto& p : expected["placements"]["items"])
    if (!p["windows"].empty()) expected_with_windows.insert(p["id"].get<std::string>());
  {
    auto s = Store::open(dir, upgrade_options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_TRUE((*s)->upgraded().has_value());
    EXPECT_EQ((*s)->upgraded()->steps.at(1),
              "query indexes by term (the term once, its record keys as fixed-size items)");
    auto one_by_one = [&](storage::PlacementFilter f, std::set<std::string>& out) {
      f.limit = 1;
      do {
        auto page = (*s)->placements(f);
        ASSERT_TRUE(page.ok()) << page.error().message();
        for (const auto& v : page->items) EXPECT_TRUE(out.insert(v.key.text()).second) << v.key.text();
        f.cursor = page->next_cursor;
      } while (!f.cursor.empty());
    };
    storage::PlacementFilter by_trade;
    by_trade.trade = "carpentry";
    one_by_one(by_trade, carpentry);
    storage::PlacementFilter by_period;
    by_period.from = -1'000'000;
    one_by_one(by_period, with_windows);
  }
  EXPECT_EQ(carpentry, expected_carpentry);
  EXPECT_EQ(with_windows, expected_with_windows);
  ASSERT_GE(with_windows.size(), 2u) << "one page only: the cursors are not exercised";
  auto after = dump_as_schema_5(dump_subdatabases(dir));  // the step from 5 writes node codes in the keys
  for (const auto& [name, letter] : kByTerm) {
    EXPECT_EQ(after[name].count(""), 1u) << name << " is not kept by term after the upgrade";
    after[name].erase("");
    EXPECT_TRUE(after[name] == before[name]) << name;
  }
}

}  // namespace
}  // namespace conect::upgrade
