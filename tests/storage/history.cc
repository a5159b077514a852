#include "history.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "conect/crdt/ops.h"
#include "conect/storage/lmdb.h"

namespace conect::storage::testing {

namespace fs = std::filesystem;

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SubDatabases dump_subdatabases(const std::filesystem::path& dir) {
  lmdb::EnvOptions eo;
  eo.map_size = std::uint64_t{256} << 20;  // LMDB takes the file's own size when larger
  eo.flags = MDB_NOTLS;
  auto env = lmdb::Env::open(dir, eo);
  EXPECT_TRUE(env.ok()) << dir;
  SubDatabases out;
  if (!env.ok()) return out;
  lmdb::ReadTxn txn = env->begin_read();
  MDB_dbi main = 0;
  EXPECT_EQ(mdb_dbi_open(txn.handle(), nullptr, 0, &main), MDB_SUCCESS);
  std::vector<std::string> names;
  {
    auto c = txn.cursor(lmdb::Dbi{main});
    for (bool ok = c.first(); ok; ok = c.next()) names.emplace_back(c.key());
  }
  for (const auto& name : names) {
    MDB_dbi dbi = 0;
    EXPECT_EQ(mdb_dbi_open(txn.handle(), name.c_str(), 0, &dbi), MDB_SUCCESS) << name;
    auto& entries = out[name];
    unsigned flags = 0;
    EXPECT_EQ(mdb_dbi_flags(txn.handle(), dbi, &flags), MDB_SUCCESS) << name;
    const bool dups = (flags & MDB_DUPSORT) != 0;
    if (flags != 0) entries.emplace("", "flags " + std::to_string(flags));
    auto c = txn.cursor(lmdb::Dbi{dbi});
    for (bool ok = c.first(); ok; ok = c.next()) {
      if (dups)
        entries.emplace(std::string(c.key()) + std::string(c.value()), "");
      else
        entries.emplace(c.key(), c.value());
    }
  }
  return out;
}

StoreOptions test_options() {
  StoreOptions o;
  o.create = true;
  o.map_size = std::uint64_t{256} << 20;
  return o;
}

std::unique_ptr<Store> open_store(const fs::path& dir, StoreOptions options) {
  auto s = Store::open(dir, options);
  if (!s.ok()) {
    ADD_FAILURE() << "open " << dir << ": " << s.error().message();
    return nullptr;
  }
  return std::move(*s);
}

namespace {

struct PlacementInfo {
  RecordKey key;
  int owner;
  v1::Placement body;
};
struct ReservationInfo {
  RecordKey key;
  int requester;
  std::size_t placement;
  v1::Reservation request;
};
struct MobilityInfo {
  RecordKey key;
  int owner;
  int status;
};

const char* const kTrades[] = {"welding", "Welding ", "carpentry", "cooking", "electrician", "nursing"};
const char* const kCountries[] = {"FI", "se", "NO", "RU"};
const char* const kLangs[] = {"en", "fi", "sv", "nb", "ru"};

class Generator {
 public:
  Generator(const HistoryOptions& o) : opt_(o), rng_(o.seed) {
    for (int i = 0; i < o.authors; ++i) h_.authors.emplace_back(static_cast<std::uint32_t>(1000 + i));
    h_.by_origin.resize(static_cast<std::size_t>(o.authors));
  }

  History run() {
    for (int a = 0; a < opt_.authors; ++a) create_org(a);
    while (static_cast<int>(h_.deltas.size()) < opt_.deltas) step(pick(opt_.authors));
    return std::move(h_);
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }
  bool chance(int percent) { return pick(100) < percent; }

  void emit(int a, std::vector<v1::Operation> ops, std::vector<v1::DeltaRef> deps = {}) {
    VerifiedDelta d = h_.authors[static_cast<std::size_t>(a)].emit(std::move(ops), std::move(deps));
    h_.by_origin[static_cast<std::size_t>(a)].push_back(d);
    h_.deltas.push_back(std::move(d));
  }
  testkit::Author& author(int a) { return h_.authors[static_cast<std::size_t>(a)]; }

  void create_org(int a) {
    v1::Organisation o;
    auto* n = o.add_names();
    n->set_lang("en");
    n->set_text("School " + std::to_string(a));
    o.set_type(v1::VET_SCHOOL);
    o.set_country(kCountries[a % 4]);
    o.add_trades(kTrades[a % 6]);
    o.set_speaker(author(a).id().raw());
    RecordKey key = author(a).next_key(v1::ORGANISATION, 0);
    orgs_.push_back(key);
    emit(a, ops::create_organisation(key, o));
  }

  v1::Placement random_placement(int a) {
    v1::Placement p;
    *p.mutable_host_organisation() = orgs_[static_cast<std::size_t>(a)].to_proto();
    auto* t = p.add_title();
    t->set_lang("en");
    t->set_text("Placement");
    p.set_trade(kTrades[pick(6)]);
    p.set_country(kCountries[pick(4)]);
    p.set_city("Oulu");
    int windows = 1 + pick(3);
    for (int w = 0; w < windows; ++w) {
      auto* win = p.add_windows();
      win->set_window_id(static_cast<std::uint32_t>(w + 1));
      int start = 19000 + pick(400);
      win->mutable_start()->set_days(chance(10) ? 0 : start);
      win->mutable_end()->set_days(chance(10) ? 0 : start + 10 + pick(50));
      win->set_capacity(static_cast<std::uint32_t>(pick(5)));
    }
    int langs = pick(3);
    for (int l = 0; l < langs; ++l) {
      auto* s = p.add_languages();
      s->set_lang(kLangs[(a + l) % 5]);
      s->set_level(v1::B1);
    }
    p.set_status(chance(80) ? v1::PLACEMENT_OPEN : v1::PLACEMENT_DRAFT);
    return p;
  }

  void create_placement(int a, std::vector<v1::Operation>& ops) {
    RecordKey key = author(a).next_key(v1::PLACEMENT, static_cast<std::uint32_t>(ops.size()));
    v1::Placement p = random_placement(a);
    for (auto& op : ops::create_placement(key, p)) ops.push_back(std::move(op));
    placements_.push_back({key, a, p});
  }

  void edit_placement(int a, std::vector<v1::Operation>& ops, bool as_owner) {
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < placements_.size(); ++i)
      if ((placements_[i].owner == a) == as_owner) mine.push_back(i);
    if (mine.empty()) return;
    PlacementInfo& info = placements_[mine[static_cast<std::size_t>(pick(static_cast<int>(mine.size())))]];
    v1::Placement p = random_placement(info.owner);
    switch (pick(4)) {
      case 0: ops.push_back(ops::write_placement(info.key, p, {3})); break;   // trade
      case 1: ops.push_back(ops::write_placement(info.key, p, {7})); break;   // country
      case 2: ops.push_back(ops::write_placement(info.key, p, {16})); break;  // status
      default: {
        // Same window ids, new capacities and dates.
        p.clear_windows();
        for (const auto& w : info.body.windows()) {
          auto* nw = p.add_windows();
          *nw = w;
          nw->set_capacity(static_cast<std::uint32_t>(pick(5)));
        }
        ops.push_back(ops::write_placement(info.key, p, {8}));
      }
    }
    if (as_owner) info.body = p;
  }

  void request(int a, std::vector<v1::Operation>& ops) {
    if (placements_.empty()) return;
    std::size_t pi = static_cast<std::size_t>(pick(static_cast<int>(placements_.size())));
    const PlacementInfo& p = placements_[pi];
    RecordKey key = author(a).next_key(v1::RESERVATION, static_cast<std::uint32_t>(ops.size()));
    v1::Reservation r;
    *r.mutable_placement() = p.key.to_proto();
    r.set_window_id(static_cast<std::uint32_t>(1 + pick(std::max(1, p.body.windows_size()))));
    r.set_slots(static_cast<std::uint32_t>(1 + pick(2)));
    r.set_note("please");
    ops.push_back(ops::request_reservation(key, r));
    reservations_.push_back({key, a, pi, r});
  }

  void decide(int a, std::vector<v1::Operation>& ops, std::vector<v1::DeltaRef>& deps) {
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < reservations_.size(); ++i)
      if (placements_[reservations_[i].placement].owner == a) mine.push_back(i);
    if (mine.empty()) return;
    const ReservationInfo& r = reservations_[mine[static_cast<std::size_t>(pick(static_cast<int>(mine.size())))]];
    ops.push_back(ops::decide(r.key, r.request, chance(75) ? v1::RESERVATION_CONFIRMED : v1::RESERVATION_REJECTED));
    // Name what the decision relied on: the requester's chain as generated so far.
    const auto& chain = h_.by_origin[static_cast<std::size_t>(r.requester)];
    if (r.requester != a && !chain.empty()) deps.push_back(delta_ref(chain.back()));
  }

  void cancel(int a, std::vector<v1::Operation>& ops) {
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < reservations_.size(); ++i)
      if (reservations_[i].requester == a) mine.push_back(i);
    if (mine.empty()) return;
    ops.push_back(ops::cancel(reservations_[mine[static_cast<std::size_t>(pick(static_cast<int>(mine.size())))]].key));
  }

  void create_mobility(int a, std::vector<v1::Operation>& ops) {
    RecordKey key = author(a).next_key(v1::MOBILITY, static_cast<std::uint32_t>(ops.size()));
    v1::MobilityFixed fixed;
    *fixed.mutable_sending_organisation() = orgs_[static_cast<std::size_t>(a)].to_proto();
    *fixed.mutable_receiving_organisation() = orgs_[static_cast<std::size_t>(pick(opt_.authors))].to_proto();
    fixed.mutable_participant()->set_pseudonym("p-" + std::to_string(mobilities_.size()));
    if (opt_.include_erase) {
      Hash256 c = blake2b256("salt" + std::to_string(mobilities_.size()));
      fixed.mutable_participant()->mutable_personal()->set_commitment(c.raw());
    }
    fixed.set_type(static_cast<v1::MobilityType>(1 + pick(8)));
    fixed.set_category(v1::IVET_LEARNER);
    v1::MobilitySending s;
    int start = 19000 + pick(400);
    s.mutable_planned_start()->set_days(start);
    s.mutable_planned_end()->set_days(start + 14 + pick(60));
    s.set_status(v1::MOBILITY_DRAFT);
    s.set_qualification_title("Welder");
    for (auto& op : ops::create_mobility(key, fixed, &s)) ops.push_back(std::move(op));
    mobilities_.push_back({key, a, 1});
  }

  void advance_mobility(int a, std::vector<v1::Operation>& ops) {
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < mobilities_.size(); ++i)
      if (mobilities_[i].owner == a) mine.push_back(i);
    if (mine.empty()) return;
    MobilityInfo& m = mobilities_[mine[static_cast<std::size_t>(pick(static_cast<int>(mine.size())))]];
    if (chance(20) && opt_.include_erase) {
      ops.push_back(ops::erase(m.key, blake2b256("salt" + std::to_string(&m - mobilities_.data()))));
      return;
    }
    m.status = std::min(6, m.status + 1 + pick(2));
    v1::MobilitySending s;
    s.set_status(static_cast<v1::MobilityStatus>(m.status));
    ops.push_back(ops::write_mobility_sending(m.key, s, {8}));
  }

  void step(int a) {
    std::vector<v1::Operation> ops;
    std::vector<v1::DeltaRef> deps;
    int actions = 1 + pick(3);
    for (int i = 0; i < actions; ++i) {
      switch (pick(20)) {
        case 0: case 1: case 2: case 3: create_placement(a, ops); break;
        case 4: case 5: case 6: edit_placement(a, ops, true); break;
        case 7: edit_placement(a, ops, false); break;  // not the owner: rejected by the merge
        case 8: case 9: case 10: request(a, ops); break;
        case 11: case 12: case 13: decide(a, ops, deps); break;
        case 14: cancel(a, ops); break;
        case 15: case 16: create_mobility(a, ops); break;
        default: advance_mobility(a, ops); break;
      }
    }
    if (ops.empty()) create_placement(a, ops);
    emit(a, std::move(ops), std::move(deps));
  }

  HistoryOptions opt_;
  std::mt19937_64 rng_;
  History h_;
  std::vector<RecordKey> orgs_;
  std::vector<PlacementInfo> placements_;
  std::vector<ReservationInfo> reservations_;
  std::vector<MobilityInfo> mobilities_;
};

}  // namespace

History random_history(const HistoryOptions& options) { return Generator(options).run(); }

std::size_t deliver_randomly(Store& store, const History& h, std::mt19937_64& rng) {
  const std::size_t n = h.by_origin.size();
  std::size_t calls = 0;
  auto pending = [&] {
    for (std::size_t o = 0; o < n; ++o) {
      auto head = store.head(h.authors[o].id());
      std::uint64_t have = head.ok() && *head ? (*head)->seq.value : 0;
      if (have < h.by_origin[o].size()) return true;
    }
    return false;
  };
  while (pending()) {
    if (++calls > 100'000) {
      ADD_FAILURE() << "delivery does not converge";
      return calls;
    }
    std::vector<VerifiedDelta> batch;
    for (std::size_t o = 0; o < n; ++o) {
      if (rng() % 2) continue;
      auto head = store.head(h.authors[o].id());
      std::uint64_t have = head.ok() && *head ? (*head)->seq.value : 0;
      const auto& chain = h.by_origin[o];
      // Sometimes start before the head (duplicates) or after it (a gap).
      std::int64_t start = static_cast<std::int64_t>(have) - static_cast<std::int64_t>(rng() % 3);
      if (rng() % 8 == 0) start += 2;
      start = std::clamp<std::int64_t>(start, 0, static_cast<std::int64_t>(chain.size()));
      std::size_t count = 1 + rng() % 8;
      for (std::size_t i = static_cast<std::size_t>(start); i < chain.size() && count > 0; ++i, --count)
        batch.push_back(chain[i]);
    }
    auto out = store.apply(std::move(batch));
    if (!out.ok()) {
      ADD_FAILURE() << "apply: " << out.error().message();
      return calls;
    }
    if (!out->equivocations.empty()) ADD_FAILURE() << "unexpected equivocation";
  }
  return calls;
}

Replica replica_of(const History& h) {
  Replica r;
  for (const auto& d : h.deltas) {
    Status s = r.apply(d);
    if (!s.ok()) ADD_FAILURE() << "replica refused: " << s.error().message();
  }
  return r;
}

void expect_same_state(const Store& store, const Replica& replica) {
  auto digest = store.digest();
  auto recomputed = store.digest_recomputed();
  ASSERT_TRUE(digest.ok()) << digest.error().message();
  ASSERT_TRUE(recomputed.ok()) << recomputed.error().message();
  EXPECT_EQ(digest->hex(), replica.digest().hex());
  EXPECT_EQ(recomputed->hex(), replica.digest().hex());

  std::map<v1::RecordType, std::uint64_t> created;
  for (const auto& [key, rec] : replica.records()) {
    auto s = store.record(key);
    ASSERT_TRUE(s.ok() && s->has_value()) << key.text();
    EXPECT_EQ(serialize_state(**s), rec.bytes) << key.text();
    if (rec.state.created()) ++created[key.type];
    if (key.type == v1::PLACEMENT) {
      auto a = store.availability(key);
      ASSERT_TRUE(a.ok());
      auto want = replica.availability(key);
      ASSERT_EQ(a->size(), want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ((*a)[i].window_id, want[i].window_id);
        EXPECT_EQ((*a)[i].confirmed, want[i].confirmed);
        EXPECT_EQ((*a)[i].pending, want[i].pending);
        EXPECT_EQ((*a)[i].available, want[i].available);
        EXPECT_EQ((*a)[i].overbooked_by, want[i].overbooked_by);
      }
      auto res = store.reservations_of(key);
      ASSERT_TRUE(res.ok());
      std::vector<RecordKey> got;
      for (const auto& v : *res) got.push_back(v.key);
      EXPECT_EQ(got, replica.reservations_of(key)) << key.text();
    }
  }
  auto counts = store.counts();
  ASSERT_TRUE(counts.ok());
  for (auto t : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY, v1::CONTACT})
    EXPECT_EQ((*counts)[t], created[t]) << "type " << t;

  auto vv = store.version_vector();
  ASSERT_TRUE(vv.ok());
  for (const auto& origin : replica.origins()) {
    auto it = vv->find(origin);
    Seq want = replica.head(origin);
    if (want.value == 0) continue;
    ASSERT_NE(it, vv->end());
    if (!replica.frozen_at(origin)) {
      EXPECT_EQ(it->second.seq, want);
      EXPECT_EQ(it->second.id, *replica.head_id(origin));
    }
  }
}

void set_schema(const fs::path& dir, std::uint32_t version) {
  lmdb::EnvOptions eo;
  eo.map_size = std::uint64_t{256} << 20;
  auto env = lmdb::Env::open(dir, eo);
  ASSERT_TRUE(env.ok());
  lmdb::WriteTxn t = env->begin_write();
  std::string v;
  for (int shift = 24; shift >= 0; shift -= 8) v.push_back(static_cast<char>((version >> shift) & 0xff));
  t.put(t.open_db("meta", 0), "schema", v);
  t.commit();
}

std::vector<VerifiedDelta> interleaved_placements(std::size_t count, std::uint32_t origins) {
  std::vector<testkit::Author> authors;
  for (std::uint32_t a = 0; a < origins; ++a) authors.emplace_back(600 + a);
  std::vector<VerifiedDelta> out;
  for (std::size_t i = 0; i < count; ++i) {
    testkit::Author& a = authors[i % origins];
    const RecordKey host = RecordKey::mint(v1::ORGANISATION, a.id(), Seq{1}, 0);
    std::vector<v1::Operation> ops;
    if (i < origins) {
      v1::Organisation o;
      o.add_names()->set_text("Host " + std::to_string(i));
      o.set_country("FI");
      ops = ops::create_organisation(host, o);
    }
    v1::Placement p;
    p.set_trade(i % 3 == 0 ? "welding" : "carpentry");
    p.set_country(i % 2 == 0 ? "FI" : "PT");
    p.set_city("City " + std::to_string(i % 97));
    *p.mutable_host_organisation() = host.to_proto();
    for (auto& op : ops::create_placement(a.next_key(v1::PLACEMENT, static_cast<std::uint32_t>(ops.size())), p))
      ops.push_back(std::move(op));
    out.push_back(a.emit(std::move(ops)));
  }
  return out;
}

}  // namespace conect::storage::testing
