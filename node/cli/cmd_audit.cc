// audit export, audit verify BUNDLE, report (DESIGN §9). export and report
// read the store in the data directory directly (LMDB readers never block the
// running node's writer, and the node need not run); verify needs no data
// directory and no network at all. docs/audit.md describes the bundle.
#include <CLI/App.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "conect/audit/audit.h"
#include "conect/config/config.h"
#include "conect/node/data_dir.h"
#include "conect/node/wall_clock.h"
#include "conect/storage/store.h"
#include "progress_text.h"

namespace conect::cli {
namespace {

struct ExportOptions {
  std::string out;
  std::vector<std::string> records;
  std::string organisation;
};

struct VerifyOptions {
  std::string bundle;
  bool strict = false;
};

struct ReportCliOptions {
  std::string bundle;
  std::string format = "table";
  std::string by = "year";
  bool include_cancelled = false;
};

// Opens the store without loading keys or the token: report only reads, and
// an auditor's copy of a store may come without its secrets (export loads the
// identity key on its own, to sign the bundle's header).
Result<std::unique_ptr<storage::Store>> open_store(const Global& g) {
  DataDir dir = DataDir::resolve(g.data);
  if (!std::filesystem::exists(dir.store()))
    return Error(Errc::not_found,
                 "no store in " + dir.root.string() + " (pass --data DIR of an initialised node, or set CONECT_DATA)");
  storage::StoreOptions o;
  o.create = false;
  // The node's own map size, so that opening next to a running node never
  // changes the map it works with.
  if (std::filesystem::exists(dir.config())) {
    auto config = config::load(dir.config());
    if (!config.ok()) return config.error();
    o.map_size = config->map_size_mib << 20;
  }
  return storage::Store::open(dir.store(), o);
}

Result<std::string> read_bundle(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Error(Errc::io_error, "cannot read " + path + ": " + ec.message());
  if (size > audit::kMaxBundleBytes + audit::kHeaderSize)
    return Error(Errc::limit_exceeded, path + " is larger than any audit bundle can be (2 GiB)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::io_error, "cannot open " + path);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) return Error(Errc::io_error, "cannot read " + path);
  return bytes;
}

std::string default_bundle_name() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "conect-audit-%Y%m%dT%H%M%SZ.bundle", &tm);
  return buf;
}

int audit_export(const Global& g, const ExportOptions& o) {
  auto store = open_store(g);
  if (!store.ok()) return refuse(g, store.error());
  // The bundle's header is signed by this node (docs/audit.md, "The signed
  // header"), so exporting needs its identity key.
  auto signer = KeyPair::load(DataDir::resolve(g.data).identity());
  if (!signer.ok())
    return refuse(g, Error(signer.error().code,
                           "audit export signs the bundle with this node's identity key: " + signer.error().detail));
  audit::Selection sel;
  for (const auto& id : o.records) {
    auto key = audit::find_record(**store, id);
    if (!key.ok()) return refuse(g, key.error(), key.error().is(Errc::malformed_body) ? kUsage : kRefused);
    sel.records.push_back(*key);
  }
  if (!o.organisation.empty()) {
    auto key = RecordKey::parse(v1::ORGANISATION, o.organisation);
    if (!key)
      return refuse(g,
                    Error(Errc::malformed_body, "--organisation \"" + o.organisation +
                                                    "\" is not an organisation id (\"<64 hex>-<serial>\")"),
                    kUsage);
    sel.organisation = *key;
  }
  StderrProgress progress("audit_export", "deltas");
  auto bytes = audit::export_bundle(**store, sel, *signer, wall_ms(), std::ref(progress));
  progress.finish(bytes.ok());
  if (!bytes.ok()) return refuse(g, bytes.error());
  auto bundle = audit::decode_bundle(*bytes);  // for the summary line only
  if (!bundle.ok()) return refuse(g, bundle.error());
  std::size_t deltas = 0;
  for (const auto& c : bundle->chains()) deltas += static_cast<std::size_t>(c.deltas_size());

  const std::string out = o.out.empty() ? default_bundle_name() : o.out;
  if (out == "-") {
    std::cout.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    return std::cout ? kOk : kRefused;
  }
  if (Status st = write_file_atomic(out, *bytes, 0644, false); !st.ok()) return refuse(g, st.error());
  const std::string digest = audit::content_digest(*bundle).hex();
  v1::AuditHeader header;
  header.ParseFromString(bundle->header());
  if (g.json) {
    std::cout << nlohmann::json{{"bundle", out},
                                {"bytes", bytes->size()},
                                {"content_digest", digest},
                                {"deltas", deltas},
                                {"origins", bundle->chains_size()},
                                {"members", bundle->roster_size()},
                                {"equivocations", bundle->equivocations_size()},
                                {"selection", header.selection().description()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "audit bundle written to " << out << ": " << deltas << " signed deltas of " << bundle->chains_size()
              << " origins, " << bundle->roster_size() << " member cards, " << bundle->equivocations_size()
              << " equivocation proofs (" << bytes->size() << " bytes)\n"
              << "content digest: " << digest << "\n"
              << "check it anywhere with: conect-node audit verify " << out << "\n";
  }
  return kOk;
}

int audit_verify(const Global& g, const VerifyOptions& o) {
  auto bytes = read_bundle(o.bundle);
  if (!bytes.ok()) return refuse(g, bytes.error(), kUsage);
  StderrProgress progress("audit_verify", "deltas");
  auto report = audit::verify_bundle(std::string_view(*bytes), std::ref(progress));
  progress.finish(report.ok());
  if (!report.ok()) {
    // Not a bundle this build can read: no verdict on its content is possible.
    if (!g.json) std::cerr << "conect-node: " << o.bundle << ": " << report.error().detail << "\nverdict: FAIL\n";
    if (g.json)
      std::cout << nlohmann::json{{"error", errc_name(static_cast<Errc>(report.error().code.value()))},
                                  {"detail", report.error().detail},
                                  {"verdict", "FAIL"}}
                       .dump()
                << "\n";
    return kUsage;
  }
  std::cout << (g.json ? audit::verify_report_json(*report) + "\n" : audit::verify_report_text(*report));
  if (report->verdict == audit::Verdict::fail) return kRefused;
  if (report->verdict == audit::Verdict::pass_with_warnings && o.strict) return kRefused;
  return kOk;
}

int report(const Global& g, const ReportCliOptions& o) {
  audit::ReportOptions ro;
  ro.by = o.by == "month" ? audit::Period::month : audit::Period::year;
  ro.include_cancelled = o.include_cancelled;
  Result<audit::MobilityReport> r = Error(Errc::invalid_argument, "");
  if (!o.bundle.empty()) {
    auto bytes = read_bundle(o.bundle);
    if (!bytes.ok()) return refuse(g, bytes.error(), kUsage);
    auto verified = audit::verify_bundle(std::string_view(*bytes));
    if (!verified.ok()) return refuse(g, verified.error(), kUsage);
    r = audit::mobility_report(*verified, ro);
  } else {
    auto store = open_store(g);
    if (!store.ok()) return refuse(g, store.error());
    r = audit::mobility_report(**store, ro);
  }
  if (!r.ok()) return refuse(g, r.error());
  const std::string format = g.json ? "json" : o.format;
  if (format == "json")
    std::cout << audit::report_json(*r) << "\n";
  else if (format == "csv")
    std::cout << audit::report_csv(*r);
  else
    std::cout << audit::report_table(*r);
  return kOk;
}

}  // namespace

void add_audit_commands(CLI::App& app, Global& g, int& code) {
  auto* audit_cmd = app.add_subcommand("audit", "Audit bundles: export signed history, verify one offline");
  audit_cmd->require_subcommand(1);

  static ExportOptions ex;
  auto* exp = audit_cmd->add_subcommand("export", "Write a self-contained, verifiable audit bundle from the store");
  exp->add_option("--out", ex.out, "Bundle file (default: conect-audit-<UTC time>.bundle; - for stdout)");
  exp->add_option("--record", ex.records, "Only the signed history behind these record ids (repeatable)");
  exp->add_option("--organisation", ex.organisation, "Only this organisation and every mobility it sends or receives");
  exp->callback([&] { code = audit_export(g, ex); });

  static VerifyOptions ver;
  auto* v = audit_cmd->add_subcommand("verify", "Check every signature, chain and rule of BUNDLE (no node needed)");
  v->add_option("bundle", ver.bundle, "The bundle file")->required();
  v->add_flag("--strict", ver.strict, "Exit 1 on warnings too (rejected operations, equivocations)");
  v->callback([&] { code = audit_verify(g, ver); });

  static ReportCliOptions rep;
  auto* r = app.add_subcommand("report", "Mobility counts by country pair, category, activity and period");
  r->add_option("--bundle", rep.bundle, "Count a verified audit bundle instead of the local store");
  r->add_option("--format", rep.format, "table, csv or json")->check(CLI::IsMember({"table", "csv", "json"}));
  r->add_option("--by", rep.by, "Period: year or month")->check(CLI::IsMember({"year", "month"}));
  r->add_flag("--include-cancelled", rep.include_cancelled,
              "Count the mobilities that did not take place too (cancelled, or refused by the host)");
  r->callback([&] { code = report(g, rep); });
}

}  // namespace conect::cli
