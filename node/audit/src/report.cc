// The mobility report (DESIGN §9): counts by country pair, participant
// category, activity and period, from verified records only.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "civil.h"
#include "conect/audit/audit.h"
#include "conect/storage/store.h"

namespace conect::audit {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// The period a mobility counts in: its planned start, else its actual
// arrival (the host's record of it), else "unknown".
std::string period_of(const v1::Mobility& m, Period by) {
  std::int32_t days = m.sending().planned_start().days();
  if (days == 0) days = m.host().actual_arrival().days();
  if (days == 0) return "unknown";
  const auto c = detail::civil_from_days(days);
  char buf[24];
  if (by == Period::year)
    std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(c.year));
  else
    std::snprintf(buf, sizeof buf, "%04lld-%02u", static_cast<long long>(c.year), c.month);
  return buf;
}

std::string country_of(const OrganisationLookup& lookup, const v1::RecordId& id) {
  auto key = RecordKey::from_proto(v1::ORGANISATION, id);
  if (!key) return "??";
  auto org = lookup(*key);
  if (!org || org->country().empty()) return "??";
  return upper(org->country());
}

bool names(const v1::RecordId& id, const RecordKey& org) {
  auto key = RecordKey::from_proto(v1::ORGANISATION, id);
  return key && *key == org;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string category_name(v1::ParticipantCategory c) {
  if (c == v1::PARTICIPANT_CATEGORY_UNSPECIFIED || !v1::ParticipantCategory_IsValid(c)) return "unspecified";
  return lower(v1::ParticipantCategory_Name(c));
}

namespace {

std::string status_name(v1::MobilityStatus s) {
  if (s == v1::MOBILITY_STATUS_UNSPECIFIED || !v1::MobilityStatus_IsValid(s)) return "draft";  // unset reads as draft
  std::string name = lower(v1::MobilityStatus_Name(s));
  return name.rfind("mobility_", 0) == 0 ? name.substr(9) : name;
}

}  // namespace

std::string activity_name(v1::MobilityType t) {
  if (t == v1::MOBILITY_TYPE_UNSPECIFIED || !v1::MobilityType_IsValid(t)) return "unspecified";
  return lower(v1::MobilityType_Name(t));
}

MobilityReport mobility_report(const std::vector<std::pair<RecordKey, v1::RecordState>>& mobilities,
                               const OrganisationLookup& organisation, const ReportOptions& options) {
  MobilityReport r;
  r.by = options.by;
  const std::set<RecordKey> only(options.only.begin(), options.only.end());
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, std::uint64_t> cells;
  for (const auto& [key, state] : mobilities) {
    if (key.type != v1::MOBILITY || !state.created() || !state.has_mobility()) continue;
    if (!only.empty() && !only.contains(key)) continue;
    const auto& m = state.mobility();
    if (options.organisation && !names(m.fixed().sending_organisation(), *options.organisation) &&
        !names(m.fixed().receiving_organisation(), *options.organisation))
      continue;
    if (!options.include_cancelled) {
      if (m.sending().status() == v1::MOBILITY_CANCELLED) {
        r.cancelled_excluded++;
        continue;
      }
      // A host's refusal means the period did not take place there, whatever
      // the sending side has not yet changed.
      if (m.host().host_status() == v1::HOST_REJECTED) {
        r.host_rejected_excluded++;
        continue;
      }
    }
    r.by_status[status_name(m.sending().status())]++;
    cells[{country_of(organisation, m.fixed().sending_organisation()),
           country_of(organisation, m.fixed().receiving_organisation()), category_name(m.fixed().category()),
           activity_name(m.fixed().type()), period_of(m, options.by)}]++;
  }
  for (const auto& [cell, n] : cells) {
    const auto& [from, to, category, activity, period] = cell;
    r.rows.push_back({from, to, category, activity, period, n});
    r.total += n;
    std::string pair = from;
    pair.append("->").append(to);
    r.by_country_pair[pair] += n;
    r.by_category[category] += n;
    r.by_activity[activity] += n;
    r.by_period[period] += n;
  }
  return r;
}

Result<MobilityReport> mobility_report(const VerifyReport& verified, ReportOptions options) {
  if (verified.verdict == Verdict::fail)
    return Error(Errc::not_authorised,
                 "the bundle did not verify (verdict FAIL): the report counts verified records only; run `conect-node "
                 "audit verify` to see what failed");
  // A selection's chain prefixes also carry other records, some only in
  // part: count what was selected.
  const auto& sel = verified.selection;
  if (!sel.everything()) {
    for (const auto& ref : sel.records())
      if (auto k = RecordKey::from_proto(ref.type(), ref.id()); k && k->type == v1::MOBILITY)
        options.only.push_back(*k);
    if (sel.has_organisation())
      options.organisation = RecordKey::from_proto(v1::ORGANISATION, sel.organisation());
    else if (options.only.empty())
      options.only.push_back(RecordKey{});  // records selected, none a mobility: count nothing
  }
  std::vector<std::pair<RecordKey, v1::RecordState>> mobilities;
  for (const auto& [key, state] : verified.records)
    if (key.type == v1::MOBILITY) mobilities.emplace_back(key, state);
  auto lookup = [&](const RecordKey& k) -> std::optional<v1::Organisation> {
    auto it = verified.records.find(k);
    if (it == verified.records.end() || !it->second.has_organisation()) return std::nullopt;
    return it->second.organisation();
  };
  auto r = mobility_report(mobilities, lookup, options);
  r.source = "bundle";
  return r;
}

Result<MobilityReport> mobility_report(const storage::Store& store, const ReportOptions& options) {
  std::vector<std::pair<RecordKey, v1::RecordState>> mobilities;
  std::string cursor;
  for (;;) {
    auto page = store.list(v1::MOBILITY, cursor, 1000);
    if (!page.ok()) return page.error();
    for (auto& v : page->items) mobilities.emplace_back(v.key, std::move(v.state));
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  std::map<RecordKey, std::optional<v1::Organisation>> cache;
  std::optional<Error> failed;
  auto lookup = [&](const RecordKey& k) -> std::optional<v1::Organisation> {
    if (auto it = cache.find(k); it != cache.end()) return it->second;
    auto state = store.record(k);
    std::optional<v1::Organisation> org;
    if (!state.ok())
      failed = state.error();
    else if (state->has_value() && (*state)->created() && (*state)->has_organisation())
      org = (*state)->organisation();
    cache.emplace(k, org);
    return org;
  };
  auto r = mobility_report(mobilities, lookup, options);
  if (failed) return *failed;
  r.source = "store";
  return r;
}

std::string report_csv(const MobilityReport& r) {
  std::ostringstream out;
  out << "sending_country,receiving_country,participant_category,activity,period,count\r\n";
  for (const auto& row : r.rows)
    out << csv_field(row.sending_country) << "," << csv_field(row.receiving_country) << "," << row.category << ","
        << row.activity << "," << csv_field(row.period) << "," << row.count << "\r\n";
  return out.str();
}

std::string report_json(const MobilityReport& r) {
  nlohmann::json j;
  j["source"] = r.source;
  j["period"] = r.by == Period::year ? "year" : "month";
  j["total"] = r.total;
  j["cancelled_excluded"] = r.cancelled_excluded;
  j["host_rejected_excluded"] = r.host_rejected_excluded;
  auto pairs = nlohmann::json::array();
  for (const auto& [pair, n] : r.by_country_pair) {
    auto arrow = pair.find("->");
    pairs.push_back(
        {{"sending_country", pair.substr(0, arrow)}, {"receiving_country", pair.substr(arrow + 2)}, {"count", n}});
  }
  j["by_country_pair"] = std::move(pairs);
  j["by_category"] = r.by_category;
  j["by_activity"] = r.by_activity;
  j["by_period"] = r.by_period;
  j["by_status"] = r.by_status;
  auto rows = nlohmann::json::array();
  for (const auto& row : r.rows)
    rows.push_back({{"sending_country", row.sending_country},
                    {"receiving_country", row.receiving_country},
                    {"participant_category", row.category},
                    {"activity", row.activity},
                    {"period", row.period},
                    {"count", row.count}});
  j["rows"] = std::move(rows);
  return j.dump(2);
}

std::string report_table(const MobilityReport& r) {
  std::ostringstream out;
  auto section = [&](const char* title, const std::map<std::string, std::uint64_t>& m) {
    out << "\n" << title << "\n";
    if (m.empty()) out << "  (none)\n";
    for (const auto& [name, n] : m) {
      std::string label = name;
      label.resize(std::max<std::size_t>(label.size(), 28), ' ');
      out << "  " << label << " " << n << "\n";
    }
  };
  out << "mobilities: " << r.total << " (from verified " << (r.source.empty() ? "records" : r.source + " records")
      << "; not counted: " << r.cancelled_excluded << " cancelled, " << r.host_rejected_excluded
      << " refused by the host)\n";
  section("by country pair (sending -> receiving)", r.by_country_pair);
  section("by participant category", r.by_category);
  section("by activity", r.by_activity);
  section(r.by == Period::year ? "by year" : "by month", r.by_period);
  section("by status (the sending side's: planned ones have not taken place yet)", r.by_status);
  return out.str();
}

}  // namespace conect::audit
