// Audit (DESIGN §9): export a self-contained bundle of signed deltas, verify
// one offline, and count mobilities from verified records. docs/audit.md
// describes the bundle byte by byte for auditors with another toolchain.
//
//   export_bundle(store, selection, key) -> bytes   (reads the store only)
//   verify_bundle(bytes)            -> VerifyReport  (no store, no network)
//   mobility_report(...)            -> MobilityReport
//
// Format 2 (written here) carries a header signed by the exporting node:
// who exported which selection when, and the content digest, a hash of the
// sorted delta and evidence ids that is equal for every converged node's
// export of the same selection. Format 1 bundles (0.2.0) still verify; they
// have no signed header, and their digest is computed all the same.
//
// Verdict rules (docs/audit.md, "Verdict"):
//   FAIL   a member card, delta signature, chain link, federation id,
//          roster membership, dependency, equivocation proof or confirmation
//          in the final state does not hold. Each failure names its reason
//          (a stable Errc name) and where it is.
//   PASS with warnings   everything above holds, but some authentic
//          operations were rejected by the merge rules of DESIGN §3 (they had
//          no effect on any record), an origin equivocated, or a confirmation
//          predates a later change of the agreed fields. DESIGN §3 says such
//          operations are facts to record and show, not corruption: the
//          records are still exactly what every honest node computes.
//   PASS   nothing to report.
//
// Decoding errors (not a bundle, unknown version, truncated, protobuf that
// does not parse) are returned as an Error (malformed_body / schema_mismatch),
// never thrown. Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit.pb.h"
#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/types.h"
#include "records.pb.h"
#include "state.pb.h"

namespace conect::storage {
class Store;
}

namespace conect::audit {

// "conect-audit" || u32be version || u64be length || AuditBundle.
inline constexpr std::string_view kMagic = "conect-audit";
inline constexpr std::uint32_t kFormatVersion = 2;        // what export writes
inline constexpr std::uint32_t kOldestFormatVersion = 1;  // readers accept 1..2
inline constexpr std::size_t kHeaderSize = 12 + 4 + 8;
// protobuf parses at most 2 GiB in one message.
inline constexpr std::uint64_t kMaxBundleBytes = (std::uint64_t{1} << 31) - 1;

// Framing only: the bytes of a bundle file from a message (framed with the
// message's own format_version), and back.
std::string encode_bundle(const v1::AuditBundle& bundle);
// Errors: malformed_body (no magic, truncated, trailing bytes, does not
// parse), schema_mismatch (a format version other than 1 or 2).
Result<v1::AuditBundle> decode_bundle(std::string_view bytes);

// The content digest (docs/audit.md, "Content digest"): BLAKE2b-256 over a
// label, the federation, the sorted ids of every delta in the chains and the
// sorted ids of the equivocation proofs. It reads bytes only (a delta need
// not decode to have an id), so it is defined for any bundle.
Hash256 content_digest(const v1::AuditBundle& bundle);

// Work done so far in one phase ("export", "check", "fold"), called now and
// then; returning false stops the work, which then fails with limit_exceeded
// "cancelled". Used by the node's background verification job.
using Progress = std::function<bool(std::string_view phase, std::uint64_t done, std::uint64_t total)>;

// ------------------------------------------------------------------ export

// What to export. Empty (no records, no organisation) means everything.
// A selection exports, for every origin that wrote to a selected record, its
// chain from seq 1 up to the last delta the record needs, and the same for
// the deltas those name as dependencies: whole prefixes keep every chain
// checkable (gap-free from 1, each link verified) without trusting the
// exporter. A selected mobility brings its sending and receiving
// organisations (the report needs their countries); an organisation brings
// itself and every mobility it sends or receives, with their organisations.
struct Selection {
  std::vector<RecordKey> records;
  std::optional<RecordKey> organisation;
  bool everything() const { return records.empty() && !organisation; }
};

// The bundle is format 2, its header signed by `exporter` (the node's
// identity: exported_by is its member id).
// Errors: not_found (a selected record is not in the store), invalid_argument
// (store not initialised), limit_exceeded (over kMaxBundleBytes, or
// cancelled by `progress`), storage errors.
Result<std::string> export_bundle(const storage::Store& store, const Selection& selection, const KeyPair& exporter,
                                  std::uint64_t now_ms, const Progress& progress = {});

// Parses "<64 hex>-<serial>" as a record of any type held by `store`
// (not_found if none, malformed_body if it is no record id).
Result<RecordKey> find_record(const storage::Store& store, std::string_view text);

// ------------------------------------------------------------------ verify

enum class Verdict { pass, pass_with_warnings, fail };
const char* verdict_name(Verdict v);  // "PASS", "PASS_WITH_WARNINGS", "FAIL"

struct Finding {
  // A stable name: an Errc name (bad_signature, broken_chain, ...) or
  // "content_digest_mismatch" for failures; for warnings also
  // "inner_signature_invalid", "equivocation", "changed_since_confirmed",
  // "confirmation_names_unknown_delta", "exporter_not_on_roster".
  std::string reason;
  std::string where;  // "member 1a2b..", "delta 3 of 1a2b..", "mobility <id>"
  std::string detail;
  std::optional<NodeId> origin;
  std::uint64_t seq = 0;
};

// An authentic operation that the merge rules refused (no effect on state).
struct RejectedOperation {
  NodeId origin;
  std::uint64_t seq = 0;
  std::uint32_t index = 0;
  std::string record;  // "<type> <id>", or empty when it names no record
  std::string rule;    // stable Errc name, e.g. "not_authorised"
  std::string detail;
};

struct InstitutionSummary {
  NodeId node_id;
  std::string name, country, role;  // from the card; empty when no valid card
  bool on_roster = false;           // a valid, self-signed card of this federation
  bool chain_valid = false;         // every signature and link of its chain holds
  std::uint64_t deltas = 0;         // in the bundle
  std::uint64_t records = 0;        // created records it owns
  std::uint64_t mobilities_sent = 0;
  std::uint64_t mobilities_received = 0;
  std::uint64_t rejected_operations = 0;
  std::uint64_t confirmations_valid = 0;          // by this member, current
  std::uint64_t confirmations_changed_since = 0;  // by this member, agreed fields changed later
  std::optional<std::uint64_t> frozen_at;         // equivocated: last seq that counts
};

struct VerifyReport {
  Verdict verdict = Verdict::fail;
  FederationId federation;
  std::uint32_t format_version = 0;
  // Format 2: the header decoded, its signature by exported_by holds and its
  // digest is the content's. Format 1 has no signed header (always false).
  bool header_signed = false;
  Hash256 content_digest;  // recomputed from the content, whatever the header says
  std::uint64_t exported_at_ms = 0;
  std::optional<NodeId> exported_by;
  v1::AuditSelection selection;
  std::uint64_t deltas = 0;
  std::uint64_t operations = 0;
  std::uint64_t equivocations = 0;
  std::vector<InstitutionSummary> institutions;  // by node id
  std::vector<Finding> failures;                 // any -> FAIL
  std::vector<Finding> warnings;                 // any -> PASS_WITH_WARNINGS
  std::vector<RejectedOperation> rejected;       // any -> PASS_WITH_WARNINGS
  // Verified records (folded from authentic deltas only) for the report.
  std::map<RecordKey, v1::RecordState> records;
};

// Errors only for bytes that are no readable bundle (see decode_bundle); a
// bundle that decodes always yields a report, whose verdict says the rest.
// `progress`, when given, hears of the "check" and "fold" phases and may
// cancel (limit_exceeded "cancelled").
Result<VerifyReport> verify_bundle(std::string_view bytes, const Progress& progress = {});
VerifyReport verify_bundle(const v1::AuditBundle& bundle);
Result<VerifyReport> verify_bundle(const v1::AuditBundle& bundle, const Progress& progress);

std::string verify_report_text(const VerifyReport& r);
std::string verify_report_json(const VerifyReport& r);

// ------------------------------------------------------------------ report

enum class Period { year, month };

struct ReportOptions {
  Period by = Period::year;
  // Count the mobilities that did not take place too: cancelled by the
  // sending side, or refused by the host.
  bool include_cancelled = false;
  // Only these mobilities (empty: all); only those sending or receiving this
  // organisation.
  std::vector<RecordKey> only;
  std::optional<RecordKey> organisation;
};

// One cell of the full breakdown.
struct ReportRow {
  std::string sending_country, receiving_country;  // "??" when unknown
  std::string category;                            // e.g. "ivet_learner"
  std::string activity;                            // e.g. "learner_otj_company"
  std::string period;                              // "2026" or "2026-03"; "unknown"
  std::uint64_t count = 0;
  auto operator<=>(const ReportRow&) const = default;
};

struct MobilityReport {
  std::string source;  // "store" or "bundle"
  Period by = Period::year;
  std::uint64_t total = 0;
  std::uint64_t cancelled_excluded = 0;
  std::uint64_t host_rejected_excluded = 0;  // refused by the host, not cancelled
  std::vector<ReportRow> rows;  // sorted, count > 0
  // Marginals, name -> count.
  std::map<std::string, std::uint64_t> by_country_pair;  // "FI->SE"
  std::map<std::string, std::uint64_t> by_category;
  std::map<std::string, std::uint64_t> by_activity;
  std::map<std::string, std::uint64_t> by_period;
  // By the sending side's status (draft, nominated, live, completed,
  // recognised; cancelled only when counted): a total alone mixes plans with
  // periods that took place.
  std::map<std::string, std::uint64_t> by_status;
};

// The report over mobility states; `organisation` looks up an organisation's
// state (nullopt when not held). Only created mobilities count.
using OrganisationLookup = std::function<std::optional<v1::Organisation>(const RecordKey&)>;
MobilityReport mobility_report(const std::vector<std::pair<RecordKey, v1::RecordState>>& mobilities,
                               const OrganisationLookup& organisation, const ReportOptions& options);
// From a verified bundle (refuses, with not_authorised, a FAIL verdict: the
// report counts verified records only). A selection bundle counts only what
// was selected.
Result<MobilityReport> mobility_report(const VerifyReport& verified, ReportOptions options);
// From a store: it holds only deltas the node verified on arrival.
Result<MobilityReport> mobility_report(const storage::Store& store, const ReportOptions& options);

std::string report_table(const MobilityReport& r);
std::string report_csv(const MobilityReport& r);
std::string report_json(const MobilityReport& r);

// Lowercase enum names as DESIGN §3 spells them.
std::string category_name(v1::ParticipantCategory c);
std::string activity_name(v1::MobilityType t);

}  // namespace conect::audit
