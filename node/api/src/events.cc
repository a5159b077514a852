#include "conect/api/events.h"

#include <algorithm>
#include <vector>

#include "conect/api/json_mapper.h"
#include "conect/crdt/merge.h"

namespace conect::api {

std::string change_event_json(std::span<const VerifiedDelta> deltas) {
  nlohmann::json out = {{"deltas", nlohmann::json::array()}, {"records", nlohmann::json::array()}};
  std::vector<RecordKey> seen;
  for (const auto& d : deltas) {
    out["deltas"].push_back({{"origin", d.origin.hex()}, {"seq", d.seq.value}, {"id", d.id.hex()}});
    for (const auto& op : d.body.ops()) {
      auto key = op_target(op);
      if (!key || std::find(seen.begin(), seen.end(), *key) != seen.end()) continue;
      seen.push_back(*key);
      out["records"].push_back({{"id", key->text()}, {"record_type", enum_name_of(key->type)}});
    }
  }
  return dump_json(out);
}

}  // namespace conect::api
