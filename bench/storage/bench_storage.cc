// conect_bench_storage: the storage figures of DESIGN §11, each next to the
// raw limit measured in the same run, printed as a table and as JSON.
//
//   raw LMDB puts/s            250-byte values, 1,000 per durable commit
//   Ed25519 verifications/s    the other raw limit of catch-up
//   verified deltas applied/s  Store::apply, 1,000 deltas per call: new
//                              placements; the catch-up mix of conect-seed;
//                              field writes to stored records
//   acknowledged writes/s      Store::author with 1, 4, 16 writers (p50/p99)
//   placement query p50/p99    over a store of --placements placements
//   RssAnon                    of a fresh process holding --rss-deltas deltas
//   Store::compact             seconds, MiB/s, data.mdb before and after, over
//                              stores of --compact deltas (50,000 and 200,000;
//                              2,000 with --quick) with erased personal data,
//                              beside a raw copy (read+write+fsync) of the
//                              same data.mdb
//
// Usage: conect_bench_storage [--quick] [--apply N] [--author N]
//          [--placements N] [--rss-deltas N] [--compact N[,N...]] [--dir DIR]
//          [--only raw|verify|apply|author|query|rss|compact] [--perf-ctl CTL,ACK]
//          [--workload placements|mixed|updates]   (which apply figures)
//          [--keep-store DIR]  (copies the apply section's store to DIR:
//          the deltas are the same in every run, so two builds' stores can
//          be compared with mdb_dump -a, byte for byte)
//          [--origins N]  (the placements workload's origins, 8 by default:
//          with one, every tree keyed by origin or owner appends; with more,
//          each origin's new keys go inside the tree)
//          [--compact-store DIR]  (only this: a copy of the store in DIR
//          compacted by LMDB's page-for-page copy, by backup and by
//          Store::compact, which rewrite it in key order: ms and MiB)
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/figures.h"
#include "common/sample_personal.h"
#include "common/sample_placements.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"

using namespace conect;
using namespace conect::storage;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

bench::Figures figures("storage");

void add(std::string name, double value, std::string unit, std::string note = "") {
  figures.add(std::move(name), value, std::move(unit), std::move(note));
}

// `perf record --control=fifo:CTL,ACK -D -1` profiles only what lies
// between perf_ctl("enable") and perf_ctl("disable") when --perf-ctl CTL,ACK
// names the same fifos (the delta building before apply is not profiled).
std::string perf_ctl_fifo, perf_ack_fifo;
void perf_ctl(const char* command) {
  if (perf_ctl_fifo.empty()) return;
  if (FILE* f = std::fopen(perf_ctl_fifo.c_str(), "w")) {
    std::fprintf(f, "%s\n", command);
    std::fclose(f);
  }
  if (FILE* f = std::fopen(perf_ack_fifo.c_str(), "r")) {
    char buf[16];
    (void)std::fgets(buf, sizeof buf, f);
    std::fclose(f);
  }
}

// CPU time of the whole process (the store's writer runs on the caller's
// thread): less disturbed than wall time by other work on a shared machine.
double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

struct Scratch {
  fs::path path;
  explicit Scratch(const fs::path& base) {
    std::string t = (base / "conect-bench-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path = t;
  }
  ~Scratch() { fs::remove_all(path); }
};

// A node's store; a new one is initialised with the deltas' federation (as
// every node's is, which lets the log keep its values trimmed:
// docs/storage.md) and `own` as this node's id.
std::unique_ptr<Store> open(const fs::path& dir, bool no_sync = false,
                            const NodeId& own = testkit::test_key(999).public_key()) {
  StoreOptions o;
  o.create = true;
  o.map_size = std::uint64_t{64} << 30;
  o.no_sync = no_sync;
  const bool fresh = !fs::exists(dir / "data.mdb");
  auto s = Store::open(dir, o);
  Status init = s.ok() && fresh ? (*s)->initialise(testkit::test_federation(), own) : Status::Ok();
  if (!s.ok() || !init.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), (s.ok() ? init : Status(s.error())).error().message().c_str());
    std::exit(1);
  }
  return std::move(*s);
}

using bench::kCountries;
using bench::kLangs;
using bench::kTrades;
v1::Placement placement(std::uint64_t i, const RecordKey& host) { return bench::sample_placement(i, host); }

// The creation of the organisation `host` a bench origin's placements name
// (the fold refuses a placement whose host does not exist).
std::vector<v1::Operation> create_host(const RecordKey& host, std::size_t i) {
  v1::Organisation o;
  auto* name = o.add_names();
  name->set_lang("en");
  name->set_text("Host " + std::to_string(i));
  o.set_type(v1::SME);
  o.set_country(kCountries[i % 4]);
  return ops::create_organisation(host, o);
}

// `count` deltas from `authors` origins, round robin; each creates
// `per_delta` placements. An origin's first delta also creates the
// organisation its placements name as their host: a placement whose host does
// not exist is refused by the fold, and the store would hold none.
std::vector<VerifiedDelta> make_deltas(std::size_t count, int authors, int per_delta) {
  std::vector<testkit::Author> as;
  as.reserve(static_cast<std::size_t>(authors));
  for (int a = 0; a < authors; ++a) as.emplace_back(static_cast<std::uint32_t>(500 + a));
  std::vector<VerifiedDelta> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto& a = as[i % as.size()];
    std::vector<v1::Operation> ops;
    RecordKey host = RecordKey::mint(v1::ORGANISATION, a.id(), Seq{1}, 0);
    if (i < as.size()) ops = create_host(host, i);
    for (int k = 0; k < per_delta; ++k) {
      auto made =
          ops::create_placement(a.next_key(v1::PLACEMENT, static_cast<std::uint32_t>(ops.size())),
                                placement(i * static_cast<std::size_t>(per_delta) + static_cast<std::size_t>(k), host));
      for (auto& op : made) ops.push_back(std::move(op));
    }
    out.push_back(a.emit(std::move(ops)));
  }
  return out;
}

void apply_all(Store& s, const std::vector<VerifiedDelta>& deltas, std::size_t batch) {
  for (std::size_t i = 0; i < deltas.size(); i += batch) {
    std::vector<VerifiedDelta> b(deltas.begin() + static_cast<long>(i),
                                 deltas.begin() + static_cast<long>(std::min(deltas.size(), i + batch)));
    auto r = s.apply(std::move(b));
    if (!r.ok() || !r->rejected.empty()) {
      std::fprintf(stderr, "apply: %s\n", r.ok() ? "rejected" : r.error().message().c_str());
      std::exit(1);
    }
  }
}

// ------------------------------------------------------------ figures

void bench_raw_puts(const fs::path& base, std::size_t n, bool sequential) {
  Scratch dir(base);
  lmdb::EnvOptions eo;
  eo.map_size = std::uint64_t{16} << 30;
  eo.flags = MDB_NOTLS;
  auto env = lmdb::Env::open(dir.path, eo);
  lmdb::Dbi db;
  {
    auto t = env->begin_write();
    db = t.open_db("kv", MDB_CREATE);
    t.commit();
  }
  std::string value(250, 'v');
  std::mt19937_64 rng(1);
  auto start = Clock::now();
  for (std::size_t i = 0; i < n; i += 1000) {
    auto t = env->begin_write();
    for (std::size_t k = 0; k < 1000; ++k) {
      std::uint64_t key = sequential ? __builtin_bswap64(i + k) : rng();  // big-endian: in key order
      t.put(db, std::string_view(reinterpret_cast<const char*>(&key), 8), value);
    }
    t.commit();  // durable: fsync
  }
  add(std::string("raw LMDB puts/s (250 B, 1000/commit, ") + (sequential ? "in order)" : "random)"),
      static_cast<double>(n) / seconds_since(start), "puts/s");
}

void bench_verify(std::size_t n) {
  auto deltas = make_deltas(std::min<std::size_t>(n, 2000), 1, 1);
  auto start = Clock::now();
  std::size_t ok = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& d = deltas[i % deltas.size()];
    ok += verify_signature(d.origin, SigningDomain::delta, d.signed_delta.body(), d.signed_delta.signature());
  }
  add("Ed25519 verifications/s", static_cast<double>(ok) / seconds_since(start), "verif/s");
}

// The catch-up mix of conect-seed (one origin): an organisation every 80
// deltas, a placement every 4th, mobilities (create + sending side) the rest.
// With `personal`, each mobility's participant has personal data (a salted
// commitment in the record; the plaintext in `*personal`, for the blobs).
class MixedSeeder {
 public:
  explicit MixedSeeder(std::uint32_t author) : a_(author) {}

  VerifiedDelta next(std::vector<std::pair<RecordKey, bench::SamplePersonal>>* personal = nullptr) {
    ++n_;
    RecordKey k;
    std::vector<v1::Operation> ops;
    if (orgs_.empty() || n_ % 80 == 1) {
      k = a_.next_key(v1::ORGANISATION);
      v1::Organisation o;
      auto* name = o.add_names();
      name->set_lang("en");
      name->set_text("Demo company " + std::to_string(n_));
      o.set_type(v1::SME);
      o.set_country(kCountries[n_ % 4]);
      orgs_.push_back(k);
      ops = ops::create_organisation(k, o);
    } else if (placements_.empty() || n_ % 4 == 2) {
      k = a_.next_key(v1::PLACEMENT);
      placements_.push_back(k);
      ops = ops::create_placement(k, placement(n_, orgs_.back()));
    } else {
      k = a_.next_key(v1::MOBILITY);
      v1::MobilityFixed fixed;
      *fixed.mutable_sending_organisation() = orgs_.front().to_proto();
      *fixed.mutable_receiving_organisation() = orgs_[n_ % orgs_.size()].to_proto();
      fixed.mutable_participant()->set_pseudonym("P-" + std::to_string(n_));
      if (personal) {
        personal->emplace_back(k, bench::sample_personal(n_));
        fixed.mutable_participant()->mutable_personal()->set_commitment(personal->back().second.commitment.raw());
      }
      fixed.set_type(v1::LEARNER_OTJ_COMPANY);
      fixed.set_category(v1::IVET_LEARNER);
      v1::MobilitySending sending;
      *sending.mutable_placement() = placements_.back().to_proto();
      sending.set_window_id(1);
      sending.set_status(v1::MOBILITY_NOMINATED);
      ops = ops::create_mobility(k, fixed, &sending);
    }
    return a_.emit(std::move(ops));
  }
  // The owner erases a record's personal data (an Erase operation).
  VerifiedDelta erase(const RecordKey& k, const Hash256& commitment) { return a_.emit({ops::erase(k, commitment)}); }

 private:
  testkit::Author a_;
  std::vector<RecordKey> orgs_, placements_;
  std::size_t n_ = 0;
};

std::vector<VerifiedDelta> make_mixed(std::size_t count) {
  MixedSeeder seeder(900);
  std::vector<VerifiedDelta> out;
  out.reserve(count);
  for (std::size_t n = 0; n < count; ++n) out.push_back(seeder.next());
  return out;
}

// `count` deltas from 8 origins that each change one field of a placement
// created earlier (by `setup`): every record is refolded from stored operations.
std::vector<VerifiedDelta> make_updates(std::size_t count, std::vector<VerifiedDelta>& setup) {
  std::vector<testkit::Author> as;
  as.reserve(8);
  for (int a = 0; a < 8; ++a) as.emplace_back(static_cast<std::uint32_t>(800 + a));
  std::vector<std::vector<RecordKey>> mine(as.size());
  std::size_t records = std::max<std::size_t>(8, count / 4);
  for (std::size_t i = 0; i < records; ++i) {
    auto& a = as[i % as.size()];
    RecordKey host = RecordKey::mint(v1::ORGANISATION, a.id(), Seq{1}, 0);
    RecordKey k = a.next_key(v1::PLACEMENT);
    mine[i % as.size()].push_back(k);
    setup.push_back(a.emit(ops::create_placement(k, placement(i, host))));
  }
  std::vector<VerifiedDelta> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t who = i % as.size();
    const auto& keys = mine[who];
    RecordKey k = keys[(i / as.size()) % keys.size()];
    v1::Placement p;
    p.set_city("City " + std::to_string(i));
    p.set_status(i % 2 ? v1::PLACEMENT_OPEN : v1::PLACEMENT_CLOSED);
    out.push_back(as[who].emit(
        {ops::write_placement(k, p, {v1::Placement::kCityFieldNumber, v1::Placement::kStatusFieldNumber})}));
  }
  return out;
}

// Batches are copied out before the clock starts: the node moves each batch
// into apply(), so copying is no part of what is measured.
std::vector<std::vector<VerifiedDelta>> batches_of(const std::vector<VerifiedDelta>& deltas, std::size_t batch) {
  std::vector<std::vector<VerifiedDelta>> out;
  for (std::size_t i = 0; i < deltas.size(); i += batch)
    out.emplace_back(deltas.begin() + static_cast<long>(i),
                     deltas.begin() + static_cast<long>(std::min(deltas.size(), i + batch)));
  return out;
}

void time_apply(Store& store, const std::vector<VerifiedDelta>& deltas, const std::string& name,
                const std::string& what) {
  std::size_t bytes = 0;
  for (const auto& d : deltas) bytes += d.signed_delta.ByteSizeLong();
  auto batches = batches_of(deltas, 1000);
  perf_ctl("enable");
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  for (auto& b : batches) {
    auto r = store.apply(std::move(b));
    if (!r.ok() || !r->rejected.empty()) {
      std::fprintf(stderr, "apply: %s\n",
                   r.ok() ? r->rejected.front().reason.message().c_str() : r.error().message().c_str());
      std::exit(1);
    }
  }
  double secs = seconds_since(start);
  double cpu = cpu_seconds() - cpu_start;
  perf_ctl("disable");
  auto n = static_cast<double>(std::max<std::size_t>(1, deltas.size()));
  char cpu_note[64];
  std::snprintf(cpu_note, sizeof cpu_note, ", %.1f us CPU/delta", cpu * 1e6 / n);
  add(name, n / secs, "deltas/s",
      std::to_string(bytes / std::max<std::size_t>(1, deltas.size())) + " B/delta, " + what + ", durable" + cpu_note);
}

fs::path keep_store;        // --keep-store
int placement_origins = 8;  // --origins

void bench_apply(const fs::path& base, std::size_t n, const std::string& workload) {
  Scratch dir(base);
  auto store = open(dir.path / "store");
  struct Keep {
    std::unique_ptr<Store>& store;
    fs::path from;
    ~Keep() {
      if (keep_store.empty()) return;
      store.reset();
      fs::remove_all(keep_store);
      fs::copy(from, keep_store, fs::copy_options::recursive);
    }
  } keep{store, dir.path / "store"};
  if (workload.empty() || workload == "placements")
    time_apply(*store, make_deltas(n, placement_origins, 1), "verified deltas applied/s (1000/apply)",
               "1 new placement each, " + std::to_string(placement_origins) + " origins");
  if (workload.empty() || workload == "mixed")
    time_apply(*store, make_mixed(n), "  applied/s, catch-up mix (1000/apply)",
               "new placements 1/4, mobilities 3/4, 1 origin");
  if (workload.empty() || workload == "updates") {
    std::vector<VerifiedDelta> setup;
    auto updates = make_updates(n, setup);
    apply_all(*store, setup, 1000);
    time_apply(*store, updates, "  applied/s, updates of stored records", "1 field write each, 8 origins");
  }
}

void bench_author(const fs::path& base, std::size_t n, int writers) {
  Scratch dir(base);
  KeyPair key = testkit::test_key(1);
  auto store = open(dir.path / "store", false, key.public_key());
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(writers));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(writers));
  std::size_t each = std::max<std::size_t>(1, n / static_cast<std::size_t>(writers));
  auto start = Clock::now();
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      RecordKey host{v1::ORGANISATION, key.public_key(), 1};
      for (std::size_t i = 0; i < each; ++i) {
        DeltaDraft d;
        d.ops = ops::create_placement(RecordKey{v1::PLACEMENT, {}, 0}, placement(i, host));
        auto t0 = Clock::now();
        auto r = store->author(key, d, 1'700'000'000'000 + i);
        lat[static_cast<std::size_t>(w)].push_back(seconds_since(t0) * 1e3);
        if (!r.ok()) {
          std::fprintf(stderr, "author: %s\n", r.error().message().c_str());
          std::exit(1);
        }
      }
    });
  for (auto& t : threads) t.join();
  double secs = seconds_since(start);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::string w = std::to_string(writers);
  add("acknowledged writes/s, " + w + " writer(s)", static_cast<double>(all.size()) / secs, "writes/s");
  add("  author latency p50, " + w + " writer(s)", percentile(all, 0.5), "ms");
  add("  author latency p99, " + w + " writer(s)", percentile(all, 0.99), "ms");
}

void bench_queries(const fs::path& base, std::size_t placements, std::size_t queries) {
  Scratch dir(base);
  auto store = open(dir.path / "store", true);
  const int per_delta = 10;
  apply_all(*store, make_deltas(placements / per_delta, 20, per_delta), 500);
  auto counted = store->counts();
  std::uint64_t have = counted.ok() ? counted->at(v1::PLACEMENT) : 0;
  std::mt19937_64 rng(3);
  std::vector<double> lat;
  std::vector<std::vector<double>> by_kind(5);
  const char* kinds[] = {"trade", "trade+country", "available+language", "period", "country+available"};
  std::size_t returned = 0;
  for (std::size_t q = 0; q < queries; ++q) {
    PlacementFilter f;
    switch (q % 5) {
      case 0:
        f.trade = kTrades[rng() % 8];
        break;
      case 1:
        f.trade = kTrades[rng() % 8];
        f.country = kCountries[rng() % 4];
        break;
      case 2:
        f.available = true;
        f.language = kLangs[rng() % 5];
        break;
      case 3:
        f.from = bench::kFirstWindowDay + static_cast<int>(rng() % 300);
        f.to = *f.from + 14;
        break;
      default:
        f.country = kCountries[rng() % 4];
        f.available = true;
        break;
    }
    f.limit = 50;
    auto t0 = Clock::now();
    auto page = store->placements(f);
    lat.push_back(seconds_since(t0) * 1e3);
    by_kind[q % 5].push_back(lat.back());
    if (page.ok()) returned += page->items.size();
  }
  std::string note = std::to_string(have) + " placements, limit 50, mixed filters";
  add("placement query p50", percentile(lat, 0.5), "ms", note);
  add("placement query p99", percentile(lat, 0.99), "ms", note);
  for (int k = 0; k < 5; ++k)
    add(std::string("  p99 by ") + kinds[k], percentile(by_kind[static_cast<std::size_t>(k)], 0.99), "ms");
  add("  placements returned per query", static_cast<double>(returned) / static_cast<double>(queries), "rows");
}

std::uint64_t status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::strtoull(line.c_str() + std::strlen(field), nullptr, 10);
  return 0;
}

// Runs in a fresh process: open, read like a serving node, report memory.
int rss_child(const fs::path& dir) {
  StoreOptions o;
  auto s = Store::open(dir, o);
  if (!s.ok()) return 1;
  (void)(*s)->digest();
  (void)(*s)->version_vector();
  for (int i = 0; i < 200; ++i) {
    PlacementFilter f;
    f.trade = kTrades[i % 8];
    f.available = i % 2;
    (void)(*s)->placements(f);
  }
  std::printf("%llu %llu\n", static_cast<unsigned long long>(status_kb("RssAnon:")),
              static_cast<unsigned long long>(status_kb("RssFile:")));
  return 0;
}

void bench_rss(const fs::path& base, std::size_t deltas) {
  Scratch dir(base);
  std::uint64_t signed_bytes = 0;
  {
    auto store = open(dir.path / "store", true);
    for (std::size_t done = 0; done < deltas;) {
      // Built in slices so the builder's memory stays bounded too.
      std::size_t n = std::min<std::size_t>(50'000, deltas - done);
      static std::vector<testkit::Author> authors;
      if (authors.empty())
        for (int a = 0; a < 16; ++a) authors.emplace_back(static_cast<std::uint32_t>(700 + a));
      std::vector<VerifiedDelta> slice;
      for (std::size_t i = 0; i < n; ++i) {
        auto& a = authors[(done + i) % authors.size()];
        RecordKey host = RecordKey::mint(v1::ORGANISATION, a.id(), Seq{1}, 0);
        // An author's first delta creates the host its placements name.
        std::vector<v1::Operation> ops;
        if (a.seq().value == 0) ops = create_host(host, done + i);
        for (auto& op : ops::create_placement(a.next_key(v1::PLACEMENT, static_cast<std::uint32_t>(ops.size())),
                                              placement(done + i, host)))
          ops.push_back(std::move(op));
        slice.push_back(a.emit(std::move(ops)));
        signed_bytes += slice.back().signed_delta.ByteSizeLong();
      }
      apply_all(*store, slice, 5000);
      done += n;
    }
  }
  std::string cmd = fs::read_symlink("/proc/self/exe").string() + " --rss-child " + (dir.path / "store").string();
  FILE* p = ::popen(cmd.c_str(), "r");
  unsigned long long anon = 0, file = 0;
  if (!p || std::fscanf(p, "%llu %llu", &anon, &file) != 2) std::fprintf(stderr, "rss child failed\n");
  if (p) ::pclose(p);
  auto size = fs::file_size(dir.path / "store" / "data.mdb");
  std::string note = std::to_string(deltas) + " deltas, data.mdb " + std::to_string(size >> 20) + " MiB, RssFile " +
                     std::to_string(file / 1024) + " MiB";
  add("RssAnon holding the store", static_cast<double>(anon) / 1024.0, "MiB", note);
  const double per_signed = static_cast<double>(signed_bytes) / static_cast<double>(deltas);
  char ratio[96];
  std::snprintf(ratio, sizeof ratio, "%.2fx the signed deltas (%.0f B each)",
                static_cast<double>(size) / static_cast<double>(signed_bytes), per_signed);
  add("  store bytes per delta", static_cast<double>(size) / static_cast<double>(deltas), "B", ratio);
  // The live data (issue 17's measure): what the node's compactor and
  // `backup` write, the store copied in key order.
  auto store = open(dir.path / "store", true);
  auto compacted = store->compact();
  if (!compacted.ok()) {
    std::fprintf(stderr, "compact: %s\n", compacted.error().message().c_str());
    return;
  }
  const auto after = fs::file_size(dir.path / "store" / "data.mdb");
  std::snprintf(ratio, sizeof ratio, "%.2fx the signed deltas", static_cast<double>(after) / static_cast<double>(signed_bytes));
  add("  store bytes per delta, compacted", static_cast<double>(after) / static_cast<double>(deltas), "B", ratio);
}

// ------------------------------------------------------------ compaction

// The plainest way to rewrite the same bytes: read `from` sequentially in
// 1 MiB blocks (what mdb_env_copy2 writes at a time), write them to `to`,
// fsync. Returns seconds.
double raw_file_copy(const fs::path& from, const fs::path& to) {
  auto start = Clock::now();
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in < 0 || out < 0) {
    std::fprintf(stderr, "raw copy %s: %s\n", from.c_str(), std::strerror(errno));
    std::exit(1);
  }
  std::vector<char> buf(std::size_t{1} << 20);
  for (ssize_t n; (n = ::read(in, buf.data(), buf.size())) > 0;)
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0) {
        std::fprintf(stderr, "raw copy %s: %s\n", to.c_str(), std::strerror(errno));
        std::exit(1);
      }
      done += w;
    }
  ::fsync(out);
  ::close(out);
  ::close(in);
  return seconds_since(start);
}

// A store as an audience node holds it after some erasures: the catch-up mix
// of `deltas` deltas, every mobility's participant with personal data held in
// clear (a blob, 100-200 B), then every 10th of those erased by its owner (an
// Erase delta, applied: the blob becomes a tombstone and its plaintext stays
// in data.mdb's free pages). Store::compact against a raw copy of the same
// data.mdb, taken just before and just after it (their mean is the limit).
void bench_compact(const fs::path& base, std::size_t deltas) {
  Scratch dir(base);
  const fs::path data = dir.path / "store" / "data.mdb";
  auto store = open(dir.path / "store");
  MixedSeeder seeder(901);
  std::vector<std::pair<RecordKey, bench::SamplePersonal>> held;
  std::size_t blobs = 0;
  for (std::size_t done = 0; done < deltas;) {
    // In slices: the builder's memory stays bounded at 200,000 deltas.
    std::vector<VerifiedDelta> slice;
    for (; slice.size() < 10'000 && done < deltas; ++done) slice.push_back(seeder.next(&held));
    apply_all(*store, slice, 1000);
    std::vector<std::pair<Hash256, std::string>> batch;
    for (std::size_t i = blobs; i < held.size(); ++i)
      batch.emplace_back(held[i].second.commitment, held[i].second.bytes);
    blobs = held.size();
    if (Status st = store->put_blobs(batch); !st.ok()) {
      std::fprintf(stderr, "put_blobs: %s\n", st.error().message().c_str());
      std::exit(1);
    }
  }
  std::vector<VerifiedDelta> erasures;
  std::size_t erased_bytes = 0;
  for (std::size_t i = 0; i < held.size(); i += 10) {
    erasures.push_back(seeder.erase(held[i].first, held[i].second.commitment));
    erased_bytes += held[i].second.bytes.size();
  }
  apply_all(*store, erasures, 1000);
  if (!*store->compaction_due() || store->blob(held[0].second.commitment)->has_value()) {
    std::fprintf(stderr, "compact: the erasures did not reach the store\n");
    std::exit(1);
  }

  const fs::path copy = dir.path / "raw-copy.mdb", copy2 = dir.path / "raw-copy-2.mdb";
  const double copy_before = raw_file_copy(data, copy);
  auto start = Clock::now();
  auto done = store->compact();
  const double secs = seconds_since(start);
  if (!done.ok() || !done->compacted) {
    std::fprintf(stderr, "compact: %s\n", done.ok() ? done->busy.c_str() : done.error().message().c_str());
    std::exit(1);
  }
  // The same bytes again (the first copy holds data.mdb as it was).
  const double copy_after = raw_file_copy(copy, copy2);
  if (*store->compaction_due() || store->blob(held[0].second.commitment)->has_value() ||
      !store->blob(held[1].second.commitment)->has_value()) {
    std::fprintf(stderr, "compact: the store is not as it was after compacting\n");
    std::exit(1);
  }

  const double mib = 1024.0 * 1024.0, before = static_cast<double>(done->bytes_before) / mib,
               after = static_cast<double>(done->bytes_after) / mib;
  const double copy_rate = before / ((copy_before + copy_after) / 2), rate = before / secs;
  const std::string n = std::to_string(deltas / 1000) + "k deltas";
  char note[160];
  std::snprintf(note, sizeof note, "%zu blobs held, %zu erased (%.1f MiB); %.0f B per delta", held.size(),
                erasures.size(), static_cast<double>(erased_bytes) / mib,
                static_cast<double>(done->bytes_before) / static_cast<double>(deltas + erasures.size()));
  add("data.mdb before compaction, " + n, before, "MiB", note);
  std::snprintf(note, sizeof note, "%.1f%% of before", 100 * after / before);
  add("  after compaction", after, "MiB", note);
  add("  Store::compact, " + n, secs * 1e3, "ms", "copy in key order, fsync, rename, reopen");
  std::snprintf(note, sizeof note, "of data.mdb before; %.2fx the raw copy", rate / copy_rate);
  add("  compaction rate", rate, "MiB/s", note);
  std::snprintf(note, sizeof note, "read+write+fsync, 1 MiB blocks: %.0f / %.0f MiB/s before / after",
                before / copy_before, before / copy_after);
  add("  raw copy of the same data.mdb", copy_rate, "MiB/s", note);
}

// An existing store (conect-seed's, a kept bench store), copied first so
// that it is left as it was: the page-for-page copy LMDB compacts with
// (mdb_env_copyfd2 with MDB_CP_COMPACT, what backup and compact wrote until
// 2026-12-03) beside backup(dir, true) and Store::compact, which rewrite it
// in key order, in the same minute.
void bench_compact_store(const fs::path& base, const fs::path& from) {
  Scratch dir(base);
  const fs::path store_dir = dir.path / "store";
  fs::create_directories(store_dir);
  raw_file_copy(from / "data.mdb", store_dir / "data.mdb");
  const double mib = 1024.0 * 1024.0;
  auto mib_of = [&](const fs::path& p) { return static_cast<double>(fs::file_size(p)) / mib; };
  const double before = mib_of(store_dir / "data.mdb");
  char held[80];
  std::snprintf(held, sizeof held, "data.mdb %.1f MiB", before);
  const std::string note = held;

  double old_secs = 0;
  {
    lmdb::EnvOptions eo;
    eo.flags = MDB_NOTLS | MDB_RDONLY;
    auto env = lmdb::Env::open(store_dir, eo);
    if (!env.ok()) {
      std::fprintf(stderr, "compact-store: %s\n", env.error().message().c_str());
      std::exit(1);
    }
    const fs::path old_copy = dir.path / "page-copy.mdb";
    auto start = Clock::now();
    int fd = ::open(old_copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || mdb_env_copyfd2(env->get(), fd, MDB_CP_COMPACT) != MDB_SUCCESS || ::fsync(fd) != 0) {
      std::fprintf(stderr, "compact-store: the MDB_CP_COMPACT copy failed\n");
      std::exit(1);
    }
    ::close(fd);
    old_secs = seconds_since(start);
    add("MDB_CP_COMPACT copy (before 2026-12-03)", old_secs * 1e3, "ms", note);
    add("  its data.mdb", mib_of(old_copy), "MiB", "keeps each page's fill");
  }
  auto store = open(store_dir);
  auto start = Clock::now();
  if (Status st = store->backup(dir.path / "backup", true); !st.ok()) {
    std::fprintf(stderr, "compact-store: backup: %s\n", st.error().message().c_str());
    std::exit(1);
  }
  const double backup_secs = seconds_since(start);
  char ratio[80];
  std::snprintf(ratio, sizeof ratio, "%.2fx the MDB_CP_COMPACT copy's time", backup_secs / old_secs);
  add("backup in key order", backup_secs * 1e3, "ms", ratio);
  add("  its data.mdb", mib_of(dir.path / "backup" / "data.mdb"), "MiB", "rewritten in key order");
  start = Clock::now();
  auto done = store->compact();
  const double compact_secs = seconds_since(start);
  if (!done.ok() || !done->compacted) {
    std::fprintf(stderr, "compact-store: %s\n", done.ok() ? done->busy.c_str() : done.error().message().c_str());
    std::exit(1);
  }
  std::snprintf(ratio, sizeof ratio, "%.2fx the MDB_CP_COMPACT copy's time; copy, fsync, rename, reopen",
                compact_secs / old_secs);
  add("Store::compact", compact_secs * 1e3, "ms", ratio);
  add("  data.mdb after", mib_of(store_dir / "data.mdb"), "MiB", note + " before");
}

}  // namespace

int main(int argc, char** argv) {
  crypto_init();
  std::size_t n_raw = 200'000, n_verify = 20'000, n_apply = 50'000, n_author = 2'000, n_placements = 100'000,
              n_queries = 2'000, n_rss = 100'000;
  std::vector<std::size_t> n_compact = {50'000, 200'000};
  fs::path base = fs::temp_directory_path(), compact_store;
  std::string only, workload;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--rss-child") return rss_child(next());
    if (a == "--quick") {
      n_raw = 5'000, n_verify = 500, n_apply = 1'000, n_author = 64, n_placements = 2'000, n_queries = 100,
      n_rss = 2'000;
      n_compact = {2'000};
    } else if (a == "--apply") {
      n_apply = std::stoull(next());
    } else if (a == "--author") {
      n_author = std::stoull(next());
    } else if (a == "--placements") {
      n_placements = std::stoull(next());
    } else if (a == "--rss-deltas") {
      n_rss = std::stoull(next());
    } else if (a == "--compact") {
      n_compact.clear();
      std::string v = next();
      for (std::size_t at = 0; at < v.size();) {
        auto comma = v.find(',', at);
        n_compact.push_back(std::stoull(v.substr(at, comma - at)));
        at = comma == std::string::npos ? v.size() : comma + 1;
      }
    } else if (a == "--dir") {
      base = next();
    } else if (a == "--perf-ctl") {
      std::string v = next();
      auto comma = v.find(',');
      perf_ctl_fifo = v.substr(0, comma);
      perf_ack_fifo = comma == std::string::npos ? "" : v.substr(comma + 1);
    } else if (a == "--workload") {
      workload = next();
    } else if (a == "--keep-store") {
      keep_store = next();
    } else if (a == "--compact-store") {
      compact_store = next();
    } else if (a == "--origins") {
      placement_origins = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--only") {
      only = next();
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--quick] [--apply N] [--author N] [--placements N] [--rss-deltas N] [--compact N[,N...]] "
          "[--dir DIR] [--only SECTION] [--workload placements|mixed|updates] [--perf-ctl CTL,ACK] "
          "[--keep-store DIR] [--origins N] [--compact-store DIR]\n",
          argv[0]);
      return 2;
    }
  }
  std::fprintf(stderr, "conect storage bench (scratch in %s)\n", base.c_str());
  if (!compact_store.empty()) {
    bench_compact_store(base, compact_store);
    figures.print_table();
    return 0;
  }
  auto want = [&](const char* section) { return only.empty() || only == section; };
  if (want("raw")) {
    bench_raw_puts(base, n_raw, false);
    bench_raw_puts(base, n_raw, true);
  }
  if (want("verify")) bench_verify(n_verify);
  if (want("apply")) bench_apply(base, n_apply, workload);
  if (want("author"))
    for (int w : {1, 4, 16}) bench_author(base, n_author, w);
  if (want("query")) bench_queries(base, n_placements, n_queries);
  if (want("rss")) bench_rss(base, n_rss);
  if (want("compact"))
    for (std::size_t n : n_compact) bench_compact(base, n);
  figures.print_table();
  figures.print_json();
  return 0;
}
