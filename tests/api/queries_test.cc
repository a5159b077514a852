// List endpoints: filters against a brute-force filter over a random data
// set, and cursor walks while other clients insert.
#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "api_fixture.h"
#include "conect/api/validate.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

struct Generated {
  std::string id;
  v1::Placement p;
};

std::string fold(std::string s) {
  auto b = s.find_first_not_of(' ');
  auto e = s.find_last_not_of(' ');
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class QueriesTest : public ApiFixture {
 protected:
  // Authors `count` random placements straight into the store (100 per
  // delta), hosted by `hosts`; returns them with their minted ids.
  std::vector<Generated> generate(std::mt19937& rng, std::size_t count, const std::vector<RecordKey>& hosts) {
    static const char* kTrades[] = {"welding", "Welding", " cooking ", "logistics", "carpentry", "nursing", "IT support", "plumbing"};
    static const char* kCountries[] = {"FI", "SE", "NO", "RU", "DE", "EE"};
    static const char* kLangs[] = {"fi", "sv", "nb", "ru", "en", "de"};
    std::vector<Generated> out;
    while (out.size() < count) {
      DeltaDraft draft;
      std::vector<std::pair<std::uint32_t, v1::Placement>> batch;
      for (int i = 0; i < 100 && out.size() + batch.size() < count; ++i) {
        v1::Placement p;
        *p.mutable_host_organisation() = hosts[rng() % hosts.size()].to_proto();
        auto* t = p.add_title();
        t->set_lang("en");
        t->set_text("P");
        p.set_trade(kTrades[rng() % 8]);
        p.set_country(kCountries[rng() % 6]);
        int r = static_cast<int>(rng() % 10);
        p.set_status(r < 8 ? v1::PLACEMENT_OPEN : r == 8 ? v1::PLACEMENT_CLOSED : v1::PLACEMENT_DRAFT);
        int windows = 1 + static_cast<int>(rng() % 3);
        for (int w = 0; w < windows; ++w) {
          auto* win = p.add_windows();
          win->set_window_id(static_cast<std::uint32_t>(w + 1));
          int start = 20454 + static_cast<int>(rng() % 365);
          win->mutable_start()->set_days(start);
          win->mutable_end()->set_days(start + 7 + static_cast<int>(rng() % 113));
          win->set_capacity(rng() % 5);
        }
        std::set<std::string> langs;
        for (int l = static_cast<int>(rng() % 3); l > 0; --l) langs.insert(kLangs[rng() % 6]);
        for (const auto& l : langs) {
          auto* s = p.add_languages();
          s->set_lang(l);
          s->set_level(v1::B1);
        }
        RecordKey placeholder{v1::PLACEMENT, NodeId{}, static_cast<std::uint64_t>(draft.ops.size())};
        auto ops = ops::create_placement(placeholder, p);
        batch.emplace_back(static_cast<std::uint32_t>(draft.ops.size()), p);
        for (auto& op : ops) {
          // A RecordId without owner is minted by the writer (seq << 16 | index).
          if (op.has_write()) op.mutable_write()->mutable_id()->clear_owner();
          if (op.has_set()) op.mutable_set()->mutable_id()->clear_owner();
          draft.ops.push_back(std::move(op));
        }
      }
      auto d = store_->author(me_, std::move(draft), now_ms());
      EXPECT_TRUE(d.ok()) << d.error().message();
      for (auto& [index, p] : batch)
        out.push_back({RecordKey::mint(v1::PLACEMENT, me_.public_key(), d->seq, index).text(), std::move(p)});
    }
    return out;
  }

  // Walks every page of `query` with `limit`; fails on a duplicate.
  std::vector<std::string> walk(Client& c, const std::string& query, std::size_t limit) {
    std::vector<std::string> ids;
    std::set<std::string> seen;
    std::string cursor;
    for (int pages = 0; pages < 10000; ++pages) {
      std::string target = "/api/v1/placements?limit=" + std::to_string(limit) + query +
                           (cursor.empty() ? "" : "&cursor=" + cursor);
      auto r = c.get(target);
      EXPECT_EQ(r.status, 200) << target << " " << r.body;
      if (r.status != 200) break;
      json body = r.json();
      EXPECT_LE(body["items"].size(), limit);
      for (const auto& item : body["items"]) {
        std::string id = item["id"];
        EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id << " in " << query;
        ids.push_back(id);
      }
      if (body["next_cursor"].is_null()) break;
      cursor = body["next_cursor"];
    }
    return ids;
  }
};

struct Query {
  std::string trade, country, language, host;
  std::optional<std::int32_t> from, to;
  bool available = false;

  std::string text() const {
    std::string q;
    if (!trade.empty()) {
      std::string t = trade;
      for (auto pos = t.find(' '); pos != std::string::npos; pos = t.find(' ')) t.replace(pos, 1, "%20");
      q += "&trade=" + t;
    }
    if (!country.empty()) q += "&country=" + country;
    if (!language.empty()) q += "&language=" + language;
    if (!host.empty()) q += "&host=" + host;
    if (from) q += "&from=" + format_date(*from);
    if (to) q += "&to=" + format_date(*to);
    if (available) q += "&available=true";
    return q;
  }
  bool matches(const Generated& g) const {
    const auto& p = g.p;
    if (!trade.empty() && fold(p.trade()) != fold(trade)) return false;
    if (!country.empty() && fold(p.country()) != fold(country)) return false;
    if (!host.empty() && RecordKey::from_proto(v1::ORGANISATION, p.host_organisation())->text() != host) return false;
    if (!language.empty() && std::none_of(p.languages().begin(), p.languages().end(),
                                          [&](const auto& l) { return l.lang() == language; }))
      return false;
    if ((from || to) && std::none_of(p.windows().begin(), p.windows().end(), [&](const auto& w) {
          return (!from || w.end().days() >= *from) && (!to || w.start().days() <= *to);
        }))
      return false;
    if (available && (p.status() != v1::PLACEMENT_OPEN ||
                      std::none_of(p.windows().begin(), p.windows().end(), [](const auto& w) { return w.capacity() > 0; })))
      return false;
    return true;
  }
};

TEST_F(QueriesTest, FiltersEqualABruteForceFilter) {
  auto c = client();
  std::vector<RecordKey> hosts;
  for (const char* country : {"FI", "SE", "NO"})
    hosts.push_back(*RecordKey::parse(v1::ORGANISATION, create_org(c, country)));
  std::mt19937 rng(20261128);
  auto data = generate(rng, 5000, hosts);
  ASSERT_EQ(data.size(), 5000u);

  std::vector<Query> queries;
  queries.push_back({});
  auto single = [&](std::string Query::*field, std::string value) {
    Query q;
    q.*field = std::move(value);
    queries.push_back(q);
  };
  single(&Query::trade, "welding");
  single(&Query::country, "se");
  single(&Query::language, "ru");
  single(&Query::host, hosts[1].text());
  Query avail;
  avail.available = true;
  queries.push_back(avail);
  static const char* kTrades[] = {"welding", "COOKING", "logistics", "nursing", "it support", "nothing"};
  static const char* kCountries[] = {"FI", "SE", "NO", "RU", "DE", "EE", "IS"};
  static const char* kLangs[] = {"fi", "sv", "nb", "ru", "en", "de"};
  for (int i = 0; i < 24; ++i) {
    Query q;
    if (rng() % 3 == 0) q.trade = kTrades[rng() % 6];
    if (rng() % 3 == 0) q.country = kCountries[rng() % 7];
    if (rng() % 3 == 0) q.language = kLangs[rng() % 6];
    if (rng() % 4 == 0) q.host = hosts[rng() % 3].text();
    if (rng() % 2 == 0) q.from = 20454 + static_cast<int>(rng() % 400);
    if (rng() % 2 == 0) q.to = (q.from ? *q.from : 20454) + static_cast<int>(rng() % 60);
    q.available = rng() % 3 == 0;
    queries.push_back(q);
  }
  std::size_t limits[] = {500, 61, 500};
  std::size_t nonempty = 0;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto& q = queries[i];
    std::set<std::string> expected;
    for (const auto& g : data)
      if (q.matches(g)) expected.insert(g.id);
    auto got = walk(c, q.text(), limits[i % 3]);
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected) << q.text();
    EXPECT_EQ(got.size(), expected.size()) << q.text();
    nonempty += !expected.empty();
  }
  EXPECT_GT(nonempty, queries.size() / 2);  // the data set exercises the filters
}

TEST_F(QueriesTest, CursorWalksAreStableUnderConcurrentInserts) {
  auto c = client();
  auto host = *RecordKey::parse(v1::ORGANISATION, create_org(c));
  std::mt19937 rng(7);
  auto before = generate(rng, 400, {host});
  std::atomic<bool> done{false};
  std::atomic<int> inserted{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      Client wc = client();
      auto body = placement_body(host.text());
      while (!done) {
        body["trade"] = w == 0 ? "welding" : "Welding";
        auto r = wc.post("/api/v1/placements", body);
        ASSERT_EQ(r.status, 201) << r.body;
        ++inserted;
      }
    });
  }
  // Let the writers get going before and during every walk.
  auto wait_for = [&](int n) {
    while (inserted < n) std::this_thread::yield();
  };
  wait_for(5);
  for (const std::string query : {"", "&trade=welding", "&country=FI", "&from=2026-01-01"}) {
    int start = inserted;
    auto ids = walk(c, query, 13);
    EXPECT_GT(inserted.load(), start) << "no insert happened during the walk of " << query;
    std::set<std::string> got(ids.begin(), ids.end());
    for (const auto& g : before) {
      Query q;
      if (query == "&trade=welding") q.trade = "welding";
      if (query == "&country=FI") q.country = "FI";
      if (query == "&from=2026-01-01") q.from = 20454;
      if (q.matches(g)) {
        EXPECT_TRUE(got.count(g.id)) << "missed " << g.id << " in " << query;
      }
    }
    wait_for(inserted + 1);
  }
  done = true;
  for (auto& t : writers) t.join();
}

}  // namespace
}  // namespace conect::api::test
