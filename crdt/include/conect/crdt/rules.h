// The version of the merge rules (merge.h, authority.h). Raise it whenever a
// rule changes what some set of operations folds to: a store folded under
// another version refolds every record once when it is opened, so an
// upgraded node holds what a new one folds.
//   1: conect 0.2.0
//   2: roles and references (authority.h); operations of unknown kinds
//   3: the replicated roster (membership.h): admissions, cuts, roles
#pragma once

#include <cstdint>

namespace conect {

inline constexpr std::uint32_t kFoldRulesVersion = 3;

}  // namespace conect
