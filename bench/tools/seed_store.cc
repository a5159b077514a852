// conect-seed: fills a stopped node's store with N signed deltas of its own,
// placements and mobilities in the proportions a real network has (about
// one organisation per 20 placements, three mobilities per placement). The
// bench and the end-to-end tests use it to make large stores quickly: deltas
// are built and signed here and stored with Store::apply in large batches
// (one transaction each), not authored one durable commit at a time.
//
//   conect-seed --data DIR --count N [--kind mixed|organisations] [--batch 10000]
//               [--frames FILE]
//
// --frames also writes every signed delta, as stored, to FILE as
// length-prefixed frames (4-byte big-endian length, then the bytes): the
// same records for the byte-copy baseline (conect-bytecopy).
#include <CLI/CLI.hpp>

#include <chrono>
#include <fstream>
#include <iostream>

#include "conect/crdt/delta.h"
#include "conect/crdt/ops.h"
#include "conect/node/node_files.h"

using namespace conect;

namespace {

v1::LocalisedText text(const char* lang, std::string s) {
  v1::LocalisedText t;
  t.set_lang(lang);
  t.set_text(std::move(s));
  return t;
}

const char* kTrades[] = {"carpentry", "masonry",           "electrical installation",
                         "HVAC",      "road construction", "heavy machinery"};
const char* kCities[] = {"Rovaniemi", "Luleå", "Kirkenes", "Murmansk", "Tornio", "Kiruna", "Alta", "Apatity"};
const char* kCountries[] = {"FI", "SE", "NO", "RU", "FI", "SE", "NO", "RU"};

struct Seeder {
  const KeyPair& key;
  FederationId federation;
  Seq seq;
  DeltaId prev;
  Hlc hlc;
  std::vector<RecordKey> organisations, placements;
  std::uint64_t n = 0;

  std::vector<v1::Operation> next_ops(const std::string& kind) {
    Seq s = seq.next();
    ++n;
    if (kind == "organisations" || organisations.empty() || n % 80 == 1) {
      RecordKey k = RecordKey::mint(v1::ORGANISATION, key.public_key(), s, 0);
      v1::Organisation o;
      *o.add_names() = text("en", "Demo company " + std::to_string(n));
      o.set_type(v1::SME);
      o.set_country(kCountries[n % 8]);
      o.set_city(kCities[n % 8]);
      organisations.push_back(k);
      return ops::create_organisation(k, o);
    }
    if (placements.empty() || n % 4 == 2) {
      RecordKey k = RecordKey::mint(v1::PLACEMENT, key.public_key(), s, 0);
      v1::Placement p;
      *p.mutable_host_organisation() = organisations.back().to_proto();
      *p.add_title() = text("en", std::string("Trainee in ") + kTrades[n % 6]);
      p.set_trade(kTrades[n % 6]);
      p.set_city(kCities[n % 8]);
      p.set_country(kCountries[n % 8]);
      p.set_status(v1::PLACEMENT_OPEN);
      auto* w = p.add_windows();
      w->set_window_id(1);
      w->mutable_start()->set_days(20'800 + static_cast<int>(n % 300));
      w->mutable_end()->set_days(20'814 + static_cast<int>(n % 300));
      w->set_capacity(1 + n % 4);
      placements.push_back(k);
      return ops::create_placement(k, p);
    }
    RecordKey k = RecordKey::mint(v1::MOBILITY, key.public_key(), s, 0);
    v1::MobilityFixed fixed;
    *fixed.mutable_sending_organisation() = organisations.front().to_proto();
    *fixed.mutable_receiving_organisation() = organisations[n % organisations.size()].to_proto();
    fixed.mutable_participant()->set_pseudonym("P-" + std::to_string(n));
    fixed.set_type(v1::LEARNER_OTJ_COMPANY);
    fixed.set_category(v1::IVET_LEARNER);
    v1::MobilitySending sending;
    *sending.mutable_placement() = placements.back().to_proto();
    sending.set_window_id(1);
    sending.set_status(v1::MOBILITY_NOMINATED);
    return ops::create_mobility(k, fixed, &sending);
  }

  VerifiedDelta next(const std::string& kind, std::uint64_t now_ms) {
    DeltaDraft draft;
    draft.ops = next_ops(kind);
    hlc = std::max(Hlc::make(now_ms, 0), Hlc{hlc.value + 1});
    seq = seq.next();
    VerifiedDelta d = build_delta(key, federation, seq, prev, hlc, draft);
    prev = d.id;
    return d;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"conect-seed: fill a stopped node's store with signed deltas"};
  std::string data, kind = "mixed";
  std::uint64_t count = 0;
  std::size_t batch = 10'000;
  app.add_option("--data", data, "Data directory")->required();
  app.add_option("--count", count, "Deltas to author")->required();
  app.add_option("--kind", kind, "mixed or organisations")->check(CLI::IsMember({"mixed", "organisations"}));
  app.add_option("--batch", batch, "Deltas per transaction");
  std::string frames_path;
  app.add_option("--frames", frames_path, "Also write the signed deltas as length-prefixed frames to this file");
  bool upgrade = false;
  app.add_flag("--upgrade", upgrade,
               "Upgrade a store of an older schema first, as `conect-node run` does (prints the steps and their "
               "time; --count 0 to upgrade only)");
  CLI11_PARSE(app, argc, argv);
  if (!crypto_init()) return 1;

  auto node = NodeFiles::load(DataDir{data});
  if (!node.ok()) {
    std::cerr << "conect-seed: " << node.error().message() << "\n";
    return 1;
  }
  auto store = node->open_store(upgrade);
  if (!store.ok()) {
    std::cerr << "conect-seed: " << store.error().message() << "\n";
    return 1;
  }
  if (const auto& up = (*store)->upgraded()) {
    std::cout << "{\"upgraded_from\":" << up->from << ",\"to\":" << up->to << ",\"ms\":" << up->duration_ms
              << ",\"steps\":" << up->steps.size() << "}\n";
  }
  auto head = (*store)->head(node->key.public_key());
  Seeder seeder{node->key, node->federation, {}, {}, {}, {}, {}, 0};
  if (head.ok() && *head) {
    seeder.seq = (*head)->seq;
    seeder.prev = (*head)->id;
    seeder.hlc = (*head)->hlc;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto now_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::uint64_t done = 0, bytes = 0;
  std::ofstream frames;
  if (!frames_path.empty()) {
    frames.open(frames_path, std::ios::binary | std::ios::trunc);
    if (!frames) {
      std::cerr << "conect-seed: cannot write " << frames_path << "\n";
      return 1;
    }
  }
  while (done < count) {
    std::vector<VerifiedDelta> deltas;
    for (std::size_t i = 0; i < batch && done < count; ++i, ++done) {
      deltas.push_back(seeder.next(kind, now_ms));
      bytes += deltas.back().signed_delta.ByteSizeLong();
      if (frames.is_open()) {
        std::string b = deltas.back().signed_delta.SerializeAsString();
        const auto n = static_cast<std::uint32_t>(b.size());
        const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                             static_cast<char>(n)};
        frames.write(len, 4).write(b.data(), static_cast<std::streamsize>(b.size()));
      }
    }
    auto outcome = (*store)->apply(std::move(deltas));
    if (!outcome.ok() || !outcome->rejected.empty()) {
      std::cerr << "conect-seed: "
                << (outcome.ok() ? outcome->rejected.front().reason.message() : outcome.error().message()) << "\n";
      return 1;
    }
  }
  if (frames.is_open() && !frames.flush()) {
    std::cerr << "conect-seed: cannot write " << frames_path << "\n";
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "{\"deltas\":" << count << ",\"bytes\":" << bytes << ",\"seconds\":" << secs
            << ",\"head\":" << seeder.seq.value << "}\n";
  return 0;
}
