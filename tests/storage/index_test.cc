// Every index-backed query returns exactly what a full scan of the records
// with the same filter returns, page by page.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <map>

#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::open_store;
using testing::TempDir;

// Written independently of the store's matcher, from the filter's contract.
std::string norm(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

bool overlaps(std::int32_t start, std::int32_t end, const std::optional<std::int32_t>& from,
              const std::optional<std::int32_t>& to) {
  if (from && end != 0 && end < *from) return false;
  if (to && start != 0 && start > *to) return false;
  return true;
}

bool placement_wanted(const PlacementFilter& f, const v1::RecordState& s, const std::vector<WindowAvailability>& a) {
  const auto& p = s.placement();
  if (!f.trade.empty() && norm(p.trade()) != norm(f.trade)) return false;
  if (!f.country.empty() && norm(p.country()) != norm(f.country)) return false;
  if (f.from || f.to) {
    bool any = false;
    for (const auto& w : p.windows()) any = any || overlaps(w.start().days(), w.end().days(), f.from, f.to);
    if (!any) return false;
  }
  if (!f.language.empty()) {
    bool any = false;
    for (const auto& l : p.languages()) any = any || norm(l.lang()) == norm(f.language);
    if (!any) return false;
  }
  if (f.available) {
    bool free = false;
    for (const auto& w : a) free = free || w.available > 0;
    if (!free || p.status() != v1::PLACEMENT_OPEN) return false;
  }
  if (f.host && RecordKey::from_proto(v1::ORGANISATION, p.host_organisation()) != f.host) return false;
  return true;
}

template <class T>
std::vector<RecordKey> keys(const std::vector<T>& items) {
  std::vector<RecordKey> out;
  for (const auto& i : items) out.push_back(i.key);
  std::sort(out.begin(), out.end());
  return out;
}

template <class Filter, class Query>
std::vector<RecordKey> all_pages(Filter f, Query query, std::size_t page_size, std::size_t& pages) {
  std::vector<RecordKey> out;
  f.limit = page_size;
  pages = 0;
  for (;;) {
    auto page = query(f);
    EXPECT_TRUE(page.ok()) << page.error().message();
    if (!page.ok()) break;
    ++pages;
    EXPECT_LE(page->items.size(), page_size);
    for (const auto& i : page->items) out.push_back(i.key);
    if (page->next_cursor.empty()) break;
    f.cursor = page->next_cursor;
  }
  std::size_t n = out.size();
  std::sort(out.begin(), out.end());
  EXPECT_EQ(std::unique(out.begin(), out.end()), out.end()) << "a record came twice across pages";
  EXPECT_EQ(out.size(), n);
  return out;
}

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_ / "store");
    ASSERT_TRUE(store_);
    history_ = testing::random_history({.authors = 5, .deltas = 400, .seed = 21});
    std::mt19937_64 rng(5);
    testing::deliver_randomly(*store_, history_, rng);
  }
  std::vector<RecordView> scan(v1::RecordType type) {
    std::vector<RecordView> out;
    std::string cursor;
    do {
      auto page = store_->list(type, cursor, 7);
      EXPECT_TRUE(page.ok());
      for (auto& v : page->items) out.push_back(std::move(v));
      cursor = page->next_cursor;
    } while (!cursor.empty());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  testing::History history_;
};

TEST_F(IndexTest, PlacementQueriesEqualAFullScan) {
  auto placements = scan(v1::PLACEMENT);
  ASSERT_GT(placements.size(), 40u);
  std::vector<std::vector<WindowAvailability>> avail;
  for (const auto& p : placements) avail.push_back(*store_->availability(p.key));
  std::vector<RecordKey> orgs = keys(scan(v1::ORGANISATION));

  std::mt19937_64 rng(99);
  const char* trades[] = {"", "", "welding", " WELDING", "cooking", "nursing", "plumbing"};
  const char* countries[] = {"", "", "fi", "SE", "no", "ru", "dk"};
  const char* langs[] = {"", "", "", "fi", "en", "sv"};
  std::size_t non_empty = 0, multi_page = 0;
  for (int round = 0; round < 150; ++round) {
    PlacementFilter f;
    f.trade = trades[rng() % 7];
    f.country = countries[rng() % 7];
    f.language = langs[rng() % 6];
    f.available = rng() % 3 == 0;
    if (rng() % 3 == 0) f.from = static_cast<std::int32_t>(19000 + rng() % 450);
    if (rng() % 3 == 0) f.to = static_cast<std::int32_t>(19000 + rng() % 450);
    if (rng() % 5 == 0) f.host = orgs[rng() % orgs.size()];
    std::vector<RecordKey> want;
    for (std::size_t i = 0; i < placements.size(); ++i)
      if (placement_wanted(f, placements[i].state, avail[i])) want.push_back(placements[i].key);
    std::sort(want.begin(), want.end());
    std::size_t pages = 0;
    auto got = all_pages(f, [&](const PlacementFilter& q) { return store_->placements(q); }, 1 + rng() % 9, pages);
    EXPECT_EQ(got, want) << "round " << round << " trade=" << f.trade << " country=" << f.country
                         << " lang=" << f.language << " available=" << f.available;
    non_empty += !want.empty();
    multi_page += pages > 1;
  }
  EXPECT_GT(non_empty, 30u);
  EXPECT_GT(multi_page, 10u);
}

TEST_F(IndexTest, PlacementViewsCarryAvailability) {
  PlacementFilter f;
  f.available = true;
  f.limit = 1000;
  auto page = store_->placements(f);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->items.empty());
  for (const auto& v : page->items) {
    auto a = store_->availability(v.key);
    ASSERT_EQ(v.availability.size(), a->size());
    bool free = false;
    for (const auto& w : v.availability) free = free || w.available > 0;
    EXPECT_TRUE(free);
  }
}

TEST_F(IndexTest, MobilityQueriesEqualAFullScan) {
  auto mobilities = scan(v1::MOBILITY);
  ASSERT_GT(mobilities.size(), 20u);
  auto orgs = scan(v1::ORGANISATION);
  std::map<RecordKey, std::string> country;
  for (const auto& o : orgs) country[o.key] = o.state.organisation().country();
  auto country_of = [&](const v1::RecordId& id) {
    auto k = RecordKey::from_proto(v1::ORGANISATION, id);
    return k && country.count(*k) ? country[*k] : std::string();
  };
  std::mt19937_64 rng(7);
  const char* countries[] = {"", "", "FI", "se", "ru"};
  std::size_t non_empty = 0;
  for (int round = 0; round < 120; ++round) {
    MobilityFilter f;
    if (rng() % 3 == 0) f.organisation = orgs[rng() % orgs.size()].key;
    f.country = countries[rng() % 5];
    if (rng() % 3 == 0) f.type = static_cast<v1::MobilityType>(1 + rng() % 8);
    if (rng() % 3 == 0) f.status = static_cast<v1::MobilityStatus>(1 + rng() % 6);
    if (rng() % 3 == 0) f.from = static_cast<std::int32_t>(19000 + rng() % 450);
    if (rng() % 3 == 0) f.to = static_cast<std::int32_t>(19000 + rng() % 450);
    std::vector<RecordKey> want;
    for (const auto& m : mobilities) {
      const auto& mob = m.state.mobility();
      auto send = RecordKey::from_proto(v1::ORGANISATION, mob.fixed().sending_organisation());
      auto recv = RecordKey::from_proto(v1::ORGANISATION, mob.fixed().receiving_organisation());
      if (f.organisation && send != f.organisation && recv != f.organisation) continue;
      if (!f.country.empty() && norm(country_of(mob.fixed().sending_organisation())) != norm(f.country) &&
          norm(country_of(mob.fixed().receiving_organisation())) != norm(f.country))
        continue;
      if (f.type && mob.fixed().type() != f.type) continue;
      if (f.status && mob.sending().status() != f.status) continue;
      if (!overlaps(mob.sending().planned_start().days(), mob.sending().planned_end().days(), f.from, f.to)) continue;
      want.push_back(m.key);
    }
    std::sort(want.begin(), want.end());
    std::size_t pages = 0;
    auto got = all_pages(f, [&](const MobilityFilter& q) { return store_->mobilities(q); }, 1 + rng() % 6, pages);
    EXPECT_EQ(got, want) << "round " << round;
    non_empty += !want.empty();
  }
  EXPECT_GT(non_empty, 20u);
}

TEST_F(IndexTest, ListPagesAreStableAndCountsAgree) {
  auto counts = store_->counts();
  ASSERT_TRUE(counts.ok());
  for (auto type : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY}) {
    auto all = scan(type);
    EXPECT_EQ(all.size(), counts->at(type)) << type;
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.key < b.key; }));
  }
}

// The courier's sweep reads only its own records: the owner's prefix scan
// must hold exactly what a full scan filtered by owner holds, across pages.
TEST_F(IndexTest, ListOwnedHoldsExactlyTheOwnersRecords) {
  for (auto type : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY}) {
    auto all = scan(type);
    std::map<NodeId, std::vector<RecordKey>> by_owner;
    for (const auto& v : all) by_owner[v.key.owner].push_back(v.key);
    ASSERT_GE(by_owner.size(), 2u) << type;
    std::size_t seen = 0;
    for (const auto& [owner, expected] : by_owner) {
      std::vector<RecordKey> got;
      std::string cursor;
      do {
        auto page = store_->list_owned(type, owner, cursor, 3);
        ASSERT_TRUE(page.ok());
        for (const auto& v : page->items) got.push_back(v.key);
        cursor = page->next_cursor;
      } while (!cursor.empty());
      EXPECT_EQ(got, expected) << type;
      seen += got.size();
    }
    EXPECT_EQ(seen, all.size()) << type;
  }
}

TEST_F(IndexTest, ACursorOfAnotherQueryIsRefused) {
  PlacementFilter f;
  f.country = "fi";
  f.limit = 1;
  auto page = store_->placements(f);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->next_cursor.empty());
  PlacementFilter g;
  g.trade = "welding";
  g.cursor = page->next_cursor;
  auto bad = store_->placements(g);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().is(Errc::invalid_argument));
  g.cursor = "zz";
  EXPECT_FALSE(store_->placements(g).ok());
}

// Pages come in index order (term, then record key) across terms, and a
// cursor resumes right after the entry it names, whether or not that entry
// is still there (schema 3 keeps an index's record keys as items under
// their term: a cursor naming a vanished item, or one past a term's last,
// must land on the next entry, in the same term or the next). The period
// index, whose terms are days, has many terms.
TEST_F(IndexTest, PagesFollowTheIndexOrderAndCursorsResumeBetweenEntries) {
  constexpr std::int32_t kFrom = 19000;
  std::vector<std::pair<std::string, RecordKey>> want;  // (index entry bytes, record) in index order
  for (const auto& p : scan(v1::PLACEMENT)) {
    if (p.state.placement().windows().empty()) continue;
    std::int32_t last = INT32_MIN;
    for (const auto& w : p.state.placement().windows())
      last = std::max(last, w.end().days() == 0 ? INT32_MAX : w.end().days());
    if (last < kFrom) continue;
    auto biased = static_cast<std::uint32_t>(last) ^ 0x80000000u;  // the day as an order-preserving key
    std::string entry;
    for (int shift = 24; shift >= 0; shift -= 8) entry.push_back(static_cast<char>((biased >> shift) & 0xff));
    // The record key as the store writes it (schema 6): the owner as its
    // node code, which is its first 6 bytes for every id of this history
    // (none starts with 0xff or shares them: storage/src/node_codes.h).
    ASSERT_NE(p.key.owner.raw()[0], '\xff');
    want.emplace_back(entry + p.key.encode().substr(0, 7) + p.key.encode().substr(33), p.key);
  }
  std::sort(want.begin(), want.end());
  ASSERT_GT(want.size(), 20u);
  ASSERT_NE(want.front().first.substr(0, 4), want.back().first.substr(0, 4)) << "one term only";

  PlacementFilter f;
  f.from = kFrom;
  f.limit = 3;
  std::vector<RecordKey> got;
  std::vector<std::string> cursors;
  for (;;) {
    auto page = store_->placements(f);
    ASSERT_TRUE(page.ok()) << page.error().message();
    for (const auto& v : page->items) got.push_back(v.key);
    if (page->next_cursor.empty()) break;
    cursors.push_back(page->next_cursor);
    f.cursor = page->next_cursor;
  }
  std::vector<RecordKey> in_order;
  for (const auto& [entry, key] : want) in_order.push_back(key);
  EXPECT_EQ(got, in_order);

  // Resuming at any place X: the next entries after X, in order.
  auto after = [&](const std::string& x) {
    std::vector<RecordKey> out;
    for (const auto& [entry, key] : want)
      if (entry > x && out.size() < 5) out.push_back(key);
    return out;
  };
  ASSERT_FALSE(cursors.empty());
  std::size_t checked = 0;
  for (const auto& c : cursors) {
    auto raw = from_hex(c);
    ASSERT_TRUE(raw && raw->size() == 2 + 4 + 15 && (*raw)[0] == 6 && (*raw)[1] == 'p') << c;
    const std::string entry = raw->substr(2), term = entry.substr(0, 4);
    std::string bumped = entry;  // a record key just after the named one: no such item
    bumped.back() = static_cast<char>(static_cast<unsigned char>(bumped.back()) + 1);
    for (const std::string& x : {entry, bumped, term + std::string(15, '\xff'), term + std::string(15, '\0')}) {
      PlacementFilter g;
      g.from = kFrom;
      g.limit = 5;
      g.cursor = to_hex(std::string{6, 'p'} + x);
      auto page = store_->placements(g);
      ASSERT_TRUE(page.ok()) << page.error().message();
      std::vector<RecordKey> now;
      for (const auto& v : page->items) now.push_back(v.key);
      EXPECT_EQ(now, after(x)) << "cursor " << to_hex(x);
      ++checked;
    }
  }
  EXPECT_GT(checked, 20u);
}

// A cursor that is not one of this query's is refused with its reason:
// not a cursor, one from before schema 6 (the index's letter first: it
// names a key of the old layout), or one of another query.
TEST_F(IndexTest, ACursorThatIsNotThisQuerysIsRefusedWithItsReason) {
  PlacementFilter first;
  first.limit = 2;
  auto page = store_->placements(first);
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_FALSE(page->next_cursor.empty());
  auto reason = [&](const std::string& cursor) {
    PlacementFilter f;
    f.cursor = cursor;
    auto r = store_->placements(f);
    return r.ok() ? std::string("accepted") : r.error().message();
  };
  EXPECT_EQ(reason(page->next_cursor), "accepted");
  EXPECT_NE(reason("zz").find("not one this node handed out"), std::string::npos) << reason("zz");
  // Schema 5's form of the same place: the index's letter, then the last
  // record's key with its owner's whole id.
  const std::string raw = *from_hex(page->next_cursor);
  const std::string old_form = to_hex(raw.substr(1, 1) + page->items.back().key.encode());
  EXPECT_NE(reason(old_form).find("handed out before 0.4.0"), std::string::npos) << reason(old_form);
  EXPECT_NE(reason(to_hex(std::string{6, 'Z'})).find("not one this node handed out"), std::string::npos)
      << "a cursor too short to end with a record key";
  MobilityFilter m;
  m.limit = 1;
  auto mobilities = store_->mobilities(m);
  ASSERT_TRUE(mobilities.ok() && !mobilities->next_cursor.empty());
  EXPECT_NE(reason(mobilities->next_cursor).find("another query"), std::string::npos)
      << reason(mobilities->next_cursor);
}

}  // namespace
}  // namespace conect::storage
