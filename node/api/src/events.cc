#include "conect/api/events.h"

#include <cstring>
#include <unordered_set>

#include "conect/api/json_mapper.h"
#include "conect/crdt/merge.h"

namespace conect::api {
namespace {

thread_local std::uint64_t key_comparisons = 0;

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
  // A catch-up batch names hundreds of records: looking each up in a list of
  // those already named was quadratic in the batch.
  nlohmann::json delta_list = nlohmann::json::array();
  nlohmann::json record_list = nlohmann::json::array();
  std::unordered_set<RecordKey, KeyHash, KeyEq> seen;
  seen.reserve(change.records.size());
  for (const auto& d : change.deltas)
    delta_list.push_back({{"origin", d.origin.hex()}, {"seq", d.seq.value}, {"id", d.id.hex()}});
  for (const auto& key : change.records) {
    if (!seen.insert(key).second) continue;
    record_list.push_back({{"id", key.text()}, {"record_type", enum_name_of(key.type)}});
  }
  nlohmann::json out = {{"deltas", std::move(delta_list)}, {"records", std::move(record_list)}};
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
