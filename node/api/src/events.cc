#include "conect/api/events.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "conect/api/json_mapper.h"
#include "conect/crdt/merge.h"

namespace conect::api {
namespace {

thread_local std::uint64_t key_comparisons = 0;

// Beyond these a batch is a catch-up's: a dashboard refetches everything for
// it anyway (web/js/app.js, TARGETED_MAX), and naming each of thousands of
// deltas and records (about 300 bytes of JSON apiece) cost the API's threads
// and every client more than the catch-up's own network work
// (docs/performance.md, "A catch-up with the dashboard open").
constexpr std::size_t kListedDeltas = 64;
constexpr std::size_t kListedRecords = 64;

// Owners are public keys (uniformly distributed bytes): 8 of them are a
// good hash; serial and type tell apart one owner's records.
struct KeyHash {
  std::size_t operator()(const RecordKey& k) const {
    std::uint64_t h = 0;
    std::memcpy(&h, k.owner.data(), sizeof h);
    return static_cast<std::size_t>(h ^ (k.serial * 0x9E3779B97F4A7C15ull) ^ static_cast<std::uint64_t>(k.type));
  }
};
struct KeyEq {
  bool operator()(const RecordKey& a, const RecordKey& b) const {
    ++key_comparisons;
    return a == b;
  }
};

}  // namespace

std::uint64_t change_event_key_comparisons() { return key_comparisons; }

ChangeSummary summarize_change(std::span<const VerifiedDelta> deltas) {
  ChangeSummary out;
  out.deltas.reserve(deltas.size());
  out.records.reserve(deltas.size());
  for (const auto& d : deltas) {
    out.deltas.push_back({d.origin, d.seq, d.id});
    for (const auto& op : d.body.ops())
      if (auto key = op_target(op)) out.records.push_back(*key);
  }
  return out;
}

std::string change_event_json(const ChangeSummary& change) {
  nlohmann::json out = {{"deltas", nlohmann::json::array()}, {"records", nlohmann::json::array()}};
  if (change.deltas.size() <= kListedDeltas) {
    for (const auto& d : change.deltas)
      out["deltas"].push_back({{"origin", d.origin.hex()}, {"seq", d.seq.value}, {"id", d.id.hex()}});
  } else {
    nlohmann::json ranges = nlohmann::json::array();
    const ChangeSummary::Delta* first = nullptr;
    std::uint64_t last = 0;
    auto close_run = [&] {
      if (first) ranges.push_back({{"origin", first->origin.hex()}, {"from", first->seq.value}, {"to", last}});
    };
    for (const auto& d : change.deltas) {
      if (first && d.origin == first->origin && d.seq.value == last + 1) {
        last = d.seq.value;
        continue;
      }
      close_run();
      first = &d;
      last = d.seq.value;
    }
    close_run();
    out["delta_ranges"] = std::move(ranges);
  }
  // A catch-up batch names hundreds of records: looking each up in a list of
  // those already named was quadratic in the batch.
  std::unordered_set<RecordKey, KeyHash, KeyEq> seen;
  seen.reserve(std::min(change.records.size(), kListedRecords + 1));
  for (const auto& key : change.records) {
    if (!seen.insert(key).second) continue;
    if (seen.size() > kListedRecords) {
      out["records"] = nlohmann::json::array();
      out["records_truncated"] = true;
      break;
    }
    out["records"].push_back({{"id", key.text()}, {"record_type", enum_name_of(key.type)}});
  }
  return dump_json(out);
}

std::string change_event_json(std::span<const VerifiedDelta> deltas) {
  return change_event_json(summarize_change(deltas));
}

std::string record_change_event_json(const RecordKey& key) {
  nlohmann::json out = {
      {"deltas", nlohmann::json::array()},
      {"records", nlohmann::json::array({{{"id", key.text()}, {"record_type", enum_name_of(key.type)}}})}};
  return dump_json(out);
}

}  // namespace conect::api
