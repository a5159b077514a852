// GET /api/v1/audit/export, the verification job (/api/v1/audit/verification)
// and GET /api/v1/report/mobilities: the audit bundle, its verification and
// the mobility report of DESIGN §9 over HTTP, built by the same library as
// `conect-node audit export|verify` and `conect-node report`.
#include "conect/audit/audit.h"
#include "handlers.h"
#include "records_support.h"
#include "verify_job.h"

namespace conect::api {
namespace {

// `records=ID,ID,...` and `organisation=ID`: what a selection holds.
Result<audit::Selection> selection_of(HandlerEnv& env, const HttpRequest& req) {
  audit::Selection sel;
  if (auto list = req.query_param("records")) {
    std::string_view rest = *list;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto id = rest.substr(0, comma);
      auto key = audit::find_record(*env.ctx.store, id);
      if (!key) return Error(key.error().code, "records: " + key.error().detail);
      sel.records.push_back(*key);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  if (auto o = req.query_param("organisation")) {
    auto key = RecordKey::parse(v1::ORGANISATION, *o);
    if (!key) return Error(Errc::invalid_argument, "organisation: not an organisation id");
    sel.organisation = *key;
  }
  return sel;
}

HttpResponse audit_export(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {"records", "organisation"}); !st) return error_response(st.error());
  auto sel = selection_of(env, req);
  if (!sel) return error_response(sel.error());
  ProgressBoard& progress = *env.ctx.progress;
  progress.begin("audit_export", "deltas", 0, "export");
  auto bytes = audit::export_bundle(*env.ctx.store, *sel, *env.ctx.key, env.ctx.now_ms(),
                                    [&progress](std::string_view phase, std::uint64_t done, std::uint64_t total) {
                                      progress.update("audit_export", done, total, phase);
                                      return true;
                                    });
  progress.finish("audit_export", bytes.ok());
  if (!bytes) return error_response(bytes.error());
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"conect-audit.bundle\"");
  r.body = std::move(*bytes);
  return r;
}

// Starts the verification job: everything, or {"organisation": ID}.
HttpResponse start_verification(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {}); !st) return error_response(st.error());
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  audit::Selection sel;
  for (const auto& [k, v] : body->items()) {
    if (k != "organisation") return error_response(400, "malformed_body", k + ": unknown field");
    if (!v.is_string()) return error_response(400, "malformed_body", "organisation: expected a string");
    auto key = RecordKey::parse(v1::ORGANISATION, v.get<std::string>());
    if (!key) return error_response(Error(Errc::invalid_argument, "organisation: not an organisation id"));
    if (!load_record(env, *key))
      return error_response(Error(Errc::not_found, "organisation: no organisation " + key->text() + " on this node"));
    sel.organisation = *key;
  }
  auto job = env.verify_jobs->start(std::move(sel));
  if (!job) return error_response(job.error());
  auto r = json_response(202, *job);
  r.headers.emplace_back("Location", "/api/v1/audit/verification");
  return r;
}

HttpResponse get_verification(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {}); !st) return error_response(st.error());
  auto job = env.verify_jobs->latest();
  if (!job)
    return error_response(404, "not_found", "no verification has run since the node started; start one with POST");
  return json_response(200, *job);
}

HttpResponse mobility_report(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {"by", "format", "include_cancelled", "organisation"}); !st)
    return error_response(st.error());
  audit::ReportOptions opt;
  std::string by(req.query_param("by").value_or("year"));
  if (by != "year" && by != "month") return error_response(Error(Errc::invalid_argument, "by: expected year or month"));
  opt.by = by == "year" ? audit::Period::year : audit::Period::month;
  std::string format(req.query_param("format").value_or("json"));
  if (format != "json" && format != "csv")
    return error_response(Error(Errc::invalid_argument, "format: expected json or csv"));
  if (auto c = req.query_param("include_cancelled")) {
    if (*c != "true" && *c != "false")
      return error_response(Error(Errc::invalid_argument, "include_cancelled: expected true or false"));
    opt.include_cancelled = *c == "true";
  }
  if (auto o = req.query_param("organisation")) {
    auto key = RecordKey::parse(v1::ORGANISATION, *o);
    if (!key) return error_response(Error(Errc::invalid_argument, "organisation: not an organisation id"));
    opt.organisation = *key;
  }
  auto report = audit::mobility_report(*env.ctx.store, opt);
  if (!report) return error_response(report.error());
  HttpResponse r;
  r.status = 200;
  if (format == "csv") {
    r.content_type = "text/csv; charset=utf-8";
    r.body = audit::report_csv(*report);
  } else {
    r.content_type = "application/json";
    r.body = audit::report_json(*report);
  }
  return r;
}

}  // namespace

void add_audit_routes(Router& r, HandlerEnv& env) {
  HandlerEnv* e = &env;
  r.add("GET", "/api/v1/audit/export", [e](const HttpRequest& q, const PathParams&) { return audit_export(*e, q); });
  r.add("POST", "/api/v1/audit/verification",
        [e](const HttpRequest& q, const PathParams&) { return start_verification(*e, q); });
  r.add("GET", "/api/v1/audit/verification",
        [e](const HttpRequest& q, const PathParams&) { return get_verification(*e, q); });
  r.add("GET", "/api/v1/report/mobilities",
        [e](const HttpRequest& q, const PathParams&) { return mobility_report(*e, q); });
}

}  // namespace conect::api
