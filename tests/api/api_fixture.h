// A node's API over real HTTP on 127.0.0.1 with a real LMDB store in a temp
// directory and real signatures; plus a second identity ("the other node")
// whose deltas are signed and applied to the same store, as sync would.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "conect/api/json_mapper.h"
#include "conect/api/metrics.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/ops.h"
#include "conect/storage/store.h"
#include "http_client.h"
#include "test_server.h"

namespace conect::api::test {

inline const std::string kToken = "records-test-token";

inline std::array<std::uint8_t, 32> seed(std::uint8_t b) {
  std::array<std::uint8_t, 32> s{};
  s.fill(b);
  return s;
}

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    dir_ = std::filesystem::temp_directory_path() /
           ("conect-api-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    storage::StoreOptions so;
    so.create = true;
    so.map_size = std::uint64_t{1} << 30;
    so.no_sync = true;  // durability is the store's own tests' business
    auto s = storage::Store::open(dir_, so);
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
    federation_.bytes.fill(7);
    ASSERT_TRUE(store_->initialise(federation_, me_.public_key()).ok());

    ApiContext ctx;
    ctx.store = store_.get();
    ctx.key = &me_;
    ctx.federation = federation_;
    ctx.now_ms = [this] { return now_ms(); };
    ctx.token = kToken;
    ctx.metrics = &metrics_;
    ctx.status = [this] {
      NodeStatus ns;
      ns.name = "Lapland VET";
      ns.country = "FI";
      ns.role = "school";
      PeerStatus peer;
      peer.id = other_.public_key();
      peer.address = "ws://127.0.0.1:1/sync";
      peer.connected = true;
      peer.lag_deltas = 3;
      ns.peers.push_back(peer);
      return ns;
    };
    ctx.author = [this](DeltaDraft d) { return store_->author(me_, std::move(d), now_ms()); };
    ApiOptions opts;
    opts.handler_threads = 8;
    server_ = std::make_unique<TestServer>(std::move(ctx), opts);
  }

  void TearDown() override {
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::uint64_t now_ms() const { return 1'790'000'000'000ULL + clock_++; }

  Client client() {
    Client c(server_->port());
    c.set_header("Authorization", "Bearer " + kToken);
    return c;
  }

  // Signs the other node's next delta and applies it as sync would.
  VerifiedDelta other_author(std::vector<v1::Operation> ops, std::vector<v1::DeltaRef> deps = {}) {
    std::lock_guard lock(other_mu_);
    ++other_seq_;
    DeltaDraft draft{std::move(ops), std::move(deps)};
    auto d = build_delta(other_, federation_, Seq{other_seq_}, other_prev_, Hlc::make(now_ms(), 0), draft);
    other_prev_ = d.id;
    auto out = store_->apply({d});
    EXPECT_TRUE(out.ok());
    if (out.ok()) {
      EXPECT_EQ(out->applied.size(), 1u) << (out->rejected.empty() ? "" : out->rejected[0].reason.message());
    }
    return d;
  }
  // Key of a record the other node creates with op `index` of its next delta.
  RecordKey other_next_key(v1::RecordType type, std::uint32_t index = 0) {
    return RecordKey::mint(type, other_.public_key(), Seq{other_seq_ + 1}, index);
  }

  // Everything this node has authored so far (to check "no write").
  std::uint64_t own_head() {
    auto h = store_->head(me_.public_key());
    return h.ok() && h->has_value() ? (*h)->seq.value : 0;
  }

  // Fixtures: an organisation of ours and an open placement there.
  std::string create_org(Client& c, const std::string& country = "FI") {
    auto r = c.post("/api/v1/organisations", {{"names", {{{"lang", "en"}, {"text", "Org " + country}}}},
                                              {"type", "vet_school"},
                                              {"country", country}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }
  nlohmann::json placement_body(const std::string& org, std::uint32_t capacity = 3) {
    return {{"host_organisation", org},
            {"title", {{{"lang", "en"}, {"text", "Welder"}}}},
            {"trade", "welding"},
            {"country", "FI"},
            {"windows", {{{"window_id", 1}, {"start", "2026-03-01"}, {"end", "2026-05-31"}, {"capacity", capacity}}}},
            {"languages", {{{"lang", "fi"}, {"level", "B1"}}}}};
  }
  std::string create_placement(Client& c, const std::string& org, std::uint32_t capacity = 3) {
    auto r = c.post("/api/v1/placements", placement_body(org, capacity));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }

  // The other node's organisation (created through its own delta).
  RecordKey other_org(const std::string& country = "SE") {
    auto key = other_next_key(v1::ORGANISATION);
    v1::Organisation o;
    auto* n = o.add_names();
    n->set_lang("sv");
    n->set_text("Luleå yrkesskola");
    o.set_type(v1::VET_SCHOOL);
    o.set_country(country);
    o.set_speaker(other_.public_key().raw());
    other_author(ops::create_organisation(key, o));
    return key;
  }

  // The other node's open placement (one window of `capacity` at `org`).
  RecordKey other_placement(const RecordKey& org, std::uint32_t capacity = 2) {
    auto key = other_next_key(v1::PLACEMENT);
    v1::Placement p;
    EXPECT_TRUE(message_from_json({{"host_organisation", org.text()},
                                   {"title", {{{"lang", "sv"}, {"text", "Kock"}}}},
                                   {"trade", "cooking"},
                                   {"country", "SE"},
                                   {"status", "open"},
                                   {"windows", {{{"window_id", 1}, {"start", "2026-04-01"}, {"end", "2026-04-30"},
                                                 {"capacity", capacity}}}}},
                                  p)
                    .ok());
    other_author(ops::create_placement(key, p));
    return key;
  }

  // The other node's request for `slots` in window 1 of `placement`.
  RecordKey other_request(const std::string& placement, std::uint32_t slots = 1) {
    auto key = other_next_key(v1::RESERVATION);
    v1::Reservation rq;
    *rq.mutable_placement() = RecordKey::parse(v1::PLACEMENT, placement)->to_proto();
    rq.set_window_id(1);
    rq.set_slots(slots);
    other_author({ops::request_reservation(key, rq)});
    return key;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  FederationId federation_;
  KeyPair me_ = KeyPair::from_seed(seed(1));
  KeyPair other_ = KeyPair::from_seed(seed(2));
  Metrics metrics_;
  std::unique_ptr<TestServer> server_;
  mutable std::atomic<std::uint64_t> clock_{0};
  std::mutex other_mu_;
  std::uint64_t other_seq_ = 0;
  DeltaId other_prev_{};
};

}  // namespace conect::api::test
