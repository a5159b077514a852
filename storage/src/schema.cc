// The registered schema steps: one per bump of kSchemaVersion.
//
// To bump the schema (docs/storage.md, "Schema version and upgrades"):
//   1. raise kSchemaVersion in conect/storage/schema.h;
//   2. add a step {from = old version, summary, function} below that rewrites
//      what changed, inside the transaction it is given (a refold of every
//      record from the log is the usual tool when record states change);
//   3. describe the new layout in docs/storage.md;
//   4. run tests/upgrade: the committed 0.2.0 store must open through every
//      step and answer as before (update the expectations only for what the
//      step meant to change, and say so).
#include "conect/storage/schema.h"

namespace conect::storage {

std::string SchemaPlan::check() const {
  std::uint32_t next = oldest();
  for (const auto& step : steps) {
    if (step.from != next)
      return "schema step from " + std::to_string(step.from) + " found where one from " + std::to_string(next) +
             " was expected";
    if (!step.run) return "schema step from " + std::to_string(step.from) + " has no function";
    ++next;
  }
  if (next != version)
    return "schema steps end at " + std::to_string(next) + ", not at version " + std::to_string(version);
  return {};
}

const SchemaPlan& current_schema() {
  // Schema 1 is the layout of 0.1.0 and 0.2.0: nothing to upgrade from yet.
  static const SchemaPlan plan{kSchemaVersion, {}};
  return plan;
}

}  // namespace conect::storage
