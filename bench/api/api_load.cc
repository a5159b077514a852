// conect_bench_api: acknowledged creates/s through the HTTP API with 1, 8 and
// 32 keep-alive clients (each create is one durable commit shared by group
// commit), next to Store::author with the same writer counts as the raw
// limit, and list reads/s. Prints a table and JSON on stdout (common/figures.h).
//
// Then filtered placement searches over --placements placements (100,000 by
// default) through the API, next to the same queries asked of the store.
//
// Usage: conect_bench_api [--quick] [--creates N] [--placements N] [--dir DIR]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/figures.h"
#include "common/sample_placements.h"
#include "conect/api/server.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/ops.h"
#include "conect/storage/store.h"
#include "http_client.h"
#include "test_server.h"

using namespace conect;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

bench::Figures figures("api");

void add(std::string name, double value, std::string unit) { figures.add(std::move(name), value, std::move(unit)); }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

const char* kOrg = R"({"names":[{"lang":"fi","text":"Lapin ammattiopisto"}],"type":"vet_school","country":"FI","city":"Rovaniemi"})";

// Runs `total` requests split over `clients` keep-alive connections; returns
// requests/s and the p50/p99 latency in ms.
struct Run {
  double per_s, p50, p99;
};
Run run_clients(std::uint16_t port, int clients, int total, const std::string& token, bool write) {
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      api::test::Client client(port);
      client.set_header("Authorization", "Bearer " + token);
      int n = total / clients + (c < total % clients ? 1 : 0);
      for (int i = 0; i < n; ++i) {
        auto t = Clock::now();
        auto r = write ? client.request("POST", "/api/v1/organisations", kOrg)
                       : client.get("/api/v1/organisations?limit=50");
        if (r.status != (write ? 201 : 200)) ++failures;
        lat[static_cast<std::size_t>(c)].push_back(seconds_since(t) * 1000);
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = seconds_since(start);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  if (failures) std::fprintf(stderr, "  !! %d requests failed\n", failures.load());
  return {total / secs, all[all.size() / 2], all[all.size() * 99 / 100]};
}

double raw_author(storage::Store& store, const KeyPair& key, int writers, int total) {
  v1::Organisation o;
  auto* n = o.add_names();
  n->set_lang("fi");
  n->set_text("x");
  o.set_type(v1::VET_SCHOOL);
  o.set_country("FI");
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      int count = total / writers + (w < total % writers ? 1 : 0);
      for (int i = 0; i < count; ++i) {
        RecordKey placeholder{v1::ORGANISATION, NodeId{}, 0};
        auto ops = ops::create_organisation(placeholder, o);
        for (auto& op : ops)
          if (op.has_write()) op.mutable_write()->mutable_id()->clear_owner();
        auto d = store.author(key, DeltaDraft{std::move(ops), {}}, wall_ms());
        if (!d) std::fprintf(stderr, "  !! %s\n", d.error().message().c_str());
      }
    });
  }
  for (auto& t : threads) t.join();
  return total / seconds_since(start);
}

using bench::kCountries;
using bench::kLangs;
using bench::kTrades;

// bench::sample_placement()s, authored 400 to a delta by the node itself.
void seed_placements(storage::Store& store, const KeyPair& key, std::size_t count) {
  v1::Organisation o;
  o.add_names()->set_text("Arctic Host Oy");
  o.set_type(v1::SME);
  o.set_country("FI");
  o.set_speaker(key.public_key().raw());
  auto org_ops = ops::create_organisation(RecordKey{v1::ORGANISATION, {}, 0}, o);
  for (auto& op : org_ops)
    if (op.has_write()) op.mutable_write()->mutable_id()->clear_owner();
  auto org = store.author(key, DeltaDraft{std::move(org_ops), {}}, wall_ms());
  if (!org) return;
  RecordKey host = RecordKey::mint(v1::ORGANISATION, key.public_key(), org->seq, 0);
  for (std::size_t done = 0; done < count;) {
    DeltaDraft d;
    for (int k = 0; k < 400 && done < count; ++k, ++done) {
      v1::Placement p = bench::sample_placement(done, host);
      // A placeholder id (no owner, serial = index of the creating op) is
      // minted into the record's id when the delta is committed.
      auto ops = ops::create_placement(RecordKey{v1::PLACEMENT, {}, d.ops.size()}, p);
      for (auto& op : ops) {
        if (op.has_write()) op.mutable_write()->mutable_id()->clear_owner();
        d.ops.push_back(std::move(op));
      }
    }
    if (auto r = store.author(key, std::move(d), wall_ms()); !r) {
      std::fprintf(stderr, "  !! seeding: %s\n", r.error().message().c_str());
      return;
    }
  }
}

std::string date_text(int days) {
  std::time_t t = static_cast<std::time_t>(days) * 86'400;
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

// Filtered searches through HTTP (one keep-alive client, first page of 50),
// next to the same filters asked of the store directly: the API's share is
// the difference.
void search_placements(storage::Store& store, std::uint16_t port, const std::string& token, int queries) {
  api::test::Client client(port);
  client.set_header("Authorization", "Bearer " + token);
  std::mt19937_64 rng(7);
  std::vector<double> http, direct;
  std::size_t returned = 0;
  for (int q = 0; q < queries; ++q) {
    storage::PlacementFilter f;
    std::string query;
    switch (q % 5) {
      case 0: f.trade = kTrades[rng() % 8]; query = "trade=" + f.trade; break;
      case 1:
        f.trade = kTrades[rng() % 8];
        f.country = kCountries[rng() % 4];
        query = "trade=" + f.trade + "&country=" + f.country;
        break;
      case 2: f.available = true; f.language = kLangs[rng() % 5]; query = "available=true&language=" + f.language; break;
      case 3:
        f.from = bench::kFirstWindowDay + static_cast<int>(rng() % 300);
        f.to = *f.from + 14;
        query = "from=" + date_text(*f.from) + "&to=" + date_text(*f.to);
        break;
      default: f.country = kCountries[rng() % 4]; f.available = true; query = "available=true&country=" + f.country;
    }
    auto t0 = Clock::now();
    auto r = client.get("/api/v1/placements?limit=50&" + query);
    http.push_back(seconds_since(t0) * 1000);
    if (r.status != 200) std::fprintf(stderr, "  !! search %s: %d\n", query.c_str(), r.status);
    returned += r.json()["items"].size();
    f.limit = 50;
    t0 = Clock::now();
    (void)store.placements(f);
    direct.push_back(seconds_since(t0) * 1000);
  }
  std::sort(http.begin(), http.end());
  std::sort(direct.begin(), direct.end());
  auto at = [](const std::vector<double>& v, double p) { return v[static_cast<std::size_t>(p * (v.size() - 1))]; };
  add("placement search p50 via API", at(http, 0.5), "ms");
  add("placement search p99 via API", at(http, 0.99), "ms");
  add("placement search p50, store alone (limit)", at(direct, 0.5), "ms");
  add("placement search p99, store alone (limit)", at(direct, 0.99), "ms");
  add("  placements returned per search", static_cast<double>(returned) / queries, "rows");
  auto counts = store.counts();
  add("  placements in the store", counts.ok() ? static_cast<double>(counts->at(v1::PLACEMENT)) : 0, "");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int creates = 4000;
  std::size_t search_placements_count = 100'000;
  fs::path dir = fs::temp_directory_path() / ("conect-bench-api-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--creates") && i + 1 < argc) creates = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!std::strcmp(argv[i], "--placements") && i + 1 < argc) search_placements_count = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: conect_bench_api [--quick] [--creates N] [--placements N] [--dir DIR]\n");
      return 2;
    }
  }
  if (quick) {
    creates = 200;
    search_placements_count = 5'000;
  }
  if (!crypto_init()) return 1;
  fs::remove_all(dir);
  storage::StoreOptions so;
  so.create = true;
  so.map_size = std::uint64_t{4} << 30;
  auto store = storage::Store::open(dir, so);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message().c_str());
    return 1;
  }
  auto key = KeyPair::generate();
  FederationId fed;
  fed.bytes.fill(1);
  (void)(*store)->initialise(fed, key.public_key());

  const std::string token = "bench-token";
  api::ApiContext ctx;
  ctx.store = store->get();
  ctx.key = &key;
  ctx.federation = fed;
  ctx.now_ms = wall_ms;
  ctx.token = token;
  ctx.author = [&](DeltaDraft d) { return (*store)->author(key, std::move(d), wall_ms()); };
  api::ApiOptions opts;
  opts.handler_threads = 32;
  std::fprintf(stderr, "conect_bench_api: %d creates per run, durable commits, in %s\n", creates, dir.c_str());
  {
    api::test::TestServer server(std::move(ctx), opts);
    for (int writers : {1, 8, 32})
      add("Store::author commits/s, " + std::to_string(writers) + " writers (raw limit)",
          raw_author(**store, key, writers, creates), "/s");
    for (int clients : {1, 8, 32}) {
      auto r = run_clients(server.port(), clients, creates, token, true);
      add("API creates/s, " + std::to_string(clients) + " keep-alive clients", r.per_s, "/s");
      add("API create latency p50, " + std::to_string(clients) + " clients", r.p50, "ms");
      add("API create latency p99, " + std::to_string(clients) + " clients", r.p99, "ms");
    }
    auto reads = run_clients(server.port(), 8, quick ? 100 : 2000, token, false);
    add("API list reads/s (50 organisations), 8 clients", reads.per_s, "/s");
    auto t0 = Clock::now();
    seed_placements(**store, key, search_placements_count);
    std::fprintf(stderr, "  (seeded %zu placements in %.1f s)\n", search_placements_count, seconds_since(t0));
    search_placements(**store, server.port(), token, quick ? 100 : 1000);
  }
  store->reset();
  fs::remove_all(dir);
  figures.print_table();
  figures.print_json();
  return 0;
}
