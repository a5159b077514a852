// How a VerifyReport is printed: a table for people, JSON for programs.
// Both end with the verdict, so a reader (or `tail -1`) sees it last.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "civil.h"
#include "conect/audit/audit.h"

namespace conect::audit {
namespace {

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Pads to `width` characters (UTF-8 code points, so "Luleå" lines up). A
// cell keeps at least one space before the next column: a longer value
// (a 30-letter Russian school name, "NO CARD") is cut to end in '~' instead
// of running into the next column.
std::string pad(const std::string& s, std::size_t width) {
  const std::size_t chars = code_points(s);
  if (chars < width) return s + std::string(width - chars, ' ');
  std::string out;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool starts_char = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts_char && kept++ == width - 2) break;
    out += s[i];
  }
  return out + "~ ";
}

void print_findings(std::ostringstream& out, const char* title, const std::vector<Finding>& findings) {
  if (findings.empty()) return;
  out << "\n" << title << " (" << findings.size() << "):\n";
  for (const auto& f : findings) out << "  " << pad(f.reason, 26) << " " << f.where << ": " << f.detail << "\n";
}

nlohmann::json findings_json(const std::vector<Finding>& findings) {
  auto arr = nlohmann::json::array();
  for (const auto& f : findings) {
    nlohmann::json j = {{"reason", f.reason}, {"where", f.where}, {"detail", f.detail}};
    if (f.origin) j["origin"] = f.origin->hex();
    if (f.seq) j["seq"] = f.seq;
    arr.push_back(std::move(j));
  }
  return arr;
}

}  // namespace

std::string verify_report_text(const VerifyReport& r) {
  std::ostringstream out;
  out << "audit bundle of federation " << r.federation.hex() << " (format " << r.format_version << ")\n";
  // A bundle whose header is missing says no time: not 1970-01-01.
  out << "exported " << (r.exported_at_ms ? detail::iso8601_ms(r.exported_at_ms) : std::string("at an unknown time"));
  if (r.exported_by) out << " by " << r.exported_by->hex().substr(0, 16);
  // The signature may hold over a header whose digest the content no
  // longer matches: then it is the content that changed, not the header.
  const bool content_changed = std::any_of(r.failures.begin(), r.failures.end(),
                                           [](const Finding& f) { return f.reason == "content_digest_mismatch"; });
  out << (r.header_signed        ? ", signed by the exporter"
          : r.format_version < 2 ? " (format 1: unsigned information)"
          : content_changed      ? " (its signature holds, but the content is not what the exporter signed)"
                                 : " (the exporter's signature does NOT hold)");
  out << "\nselection: " << r.selection.description() << "\n";
  out << "content digest: " << r.content_digest.hex() << "\n";
  out << r.deltas << " deltas, " << r.operations << " operations, " << r.institutions.size() << " institutions, "
      << r.records.size() << " records\n\n";
  out << pad("institution", 30) << pad("node id", 18) << pad("ctry", 5) << pad("role", 9) << pad("chain", 8)
      << pad("deltas", 8) << pad("records", 8) << pad("sent", 6) << pad("recvd", 6) << pad("rejected", 9)
      << pad("conf ok", 8) << "conf changed\n";
  for (const auto& s : r.institutions) {
    std::string chain = !s.on_roster ? "NO CARD" : s.chain_valid ? "ok" : "BROKEN";
    if (s.frozen_at) chain = "FROZEN";
    out << pad(s.name.empty() ? "(not on roster)" : s.name, 30) << pad(s.node_id.hex().substr(0, 16), 18)
        << pad(s.country, 5) << pad(s.role, 9) << pad(chain, 8) << pad(std::to_string(s.deltas), 8)
        << pad(std::to_string(s.records), 8) << pad(std::to_string(s.mobilities_sent), 6)
        << pad(std::to_string(s.mobilities_received), 6) << pad(std::to_string(s.rejected_operations), 9)
        << pad(std::to_string(s.confirmations_valid), 8) << s.confirmations_changed_since << "\n";
  }
  print_findings(out, "FAILURES", r.failures);
  print_findings(out, "WARNINGS", r.warnings);
  if (!r.rejected.empty()) {
    out << "\nREJECTED OPERATIONS (" << r.rejected.size()
        << "; authentic, but the merge rules refused them, so they changed nothing):\n";
    for (const auto& op : r.rejected)
      out << "  " << pad(op.rule, 18) << " delta " << op.seq << " of " << op.origin.hex().substr(0, 16) << " op "
          << op.index << (op.record.empty() ? "" : " on " + op.record) << ": " << op.detail << "\n";
  }
  out << "\nverdict: " << verdict_name(r.verdict);
  if (r.verdict == Verdict::fail)
    out << " (" << r.failures.size() << " failures)";
  else if (r.verdict == Verdict::pass_with_warnings)
    out << " (every signature and chain holds; " << r.warnings.size() << " warnings, " << r.rejected.size()
        << " rejected operations)";
  else
    out << " (every signature, chain and authorship rule holds)";
  out << "\n";
  return out.str();
}

std::string verify_report_json(const VerifyReport& r) {
  nlohmann::json j;
  j["federation"] = r.federation.hex();
  j["format_version"] = r.format_version;
  j["header_signed"] = r.header_signed;
  j["content_digest"] = r.content_digest.hex();
  j["exported_at_ms"] = r.exported_at_ms;
  j["exported_at"] = detail::iso8601_ms(r.exported_at_ms);
  if (r.exported_by) j["exported_by"] = r.exported_by->hex();
  j["selection"] = r.selection.description();
  j["deltas"] = r.deltas;
  j["operations"] = r.operations;
  j["records"] = r.records.size();
  j["equivocations"] = r.equivocations;
  auto inst = nlohmann::json::array();
  for (const auto& s : r.institutions) {
    nlohmann::json i = {{"node_id", s.node_id.hex()},
                        {"name", s.name},
                        {"country", s.country},
                        {"role", s.role},
                        {"on_roster", s.on_roster},
                        {"chain_valid", s.chain_valid},
                        {"deltas", s.deltas},
                        {"records", s.records},
                        {"mobilities_sent", s.mobilities_sent},
                        {"mobilities_received", s.mobilities_received},
                        {"rejected_operations", s.rejected_operations},
                        {"confirmations_valid", s.confirmations_valid},
                        {"confirmations_changed_since", s.confirmations_changed_since}};
    i["frozen_at"] = s.frozen_at ? nlohmann::json(*s.frozen_at) : nlohmann::json(nullptr);
    inst.push_back(std::move(i));
  }
  j["institutions"] = std::move(inst);
  j["failures"] = findings_json(r.failures);
  j["warnings"] = findings_json(r.warnings);
  auto rej = nlohmann::json::array();
  for (const auto& op : r.rejected)
    rej.push_back({{"origin", op.origin.hex()},
                   {"seq", op.seq},
                   {"index", op.index},
                   {"record", op.record},
                   {"rule", op.rule},
                   {"detail", op.detail}});
  j["rejected_operations"] = std::move(rej);
  j["verdict"] = verdict_name(r.verdict);
  return j.dump(2);
}

}  // namespace conect::audit
