// Format 2's signed header (docs/audit.md, "The signed header"): written by
// export, read and checked by verify. Internal to conect_audit.
#pragma once

#include <functional>

#include "conect/audit/audit.h"

namespace conect::audit::detail {

// Makes `bundle` (its content complete) a format-2 bundle: a header naming
// `exporter`, `now_ms`, `selection` and the content digest, signed by
// `exporter` under "conect/audit-header/v1".
void sign_header(v1::AuditBundle& bundle, v1::AuditSelection selection, const KeyPair& exporter, std::uint64_t now_ms);

// Fills the report's format version, digest and export metadata (from the
// header in format 2, from fields 6-8 in format 1) and checks the header:
// failures and warnings go into `r`. `on_roster` says whether a member id
// has a valid card in the bundle.
void check_header(const v1::AuditBundle& bundle, const std::function<bool(const NodeId&)>& on_roster, VerifyReport& r);

}  // namespace conect::audit::detail
