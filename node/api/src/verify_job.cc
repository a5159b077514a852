#include "verify_job.h"

#include <algorithm>

#include "api.h"
#include "conect/api/server.h"
#include "conect/api/validate.h"

namespace conect::api {

HandlerEnv::HandlerEnv(ApiContext& c, Metrics& m) : ctx(c), metrics(m), verify_jobs(std::make_unique<VerifyJobs>(c)) {}
HandlerEnv::~HandlerEnv() = default;

void Api::stop_jobs() { env_->verify_jobs->stop(); }

Result<nlohmann::json> VerifyJobs::start(audit::Selection selection) {
  std::lock_guard lock(mu_);
  if (stopping_) return Error(Errc::invalid_argument, "the node is stopping");
  if (running_)
    return Error(Errc::already_exists, "a verification of this node's store is already running (job " +
                                           std::to_string(job_.id) + "); wait for it to finish");
  if (thread_.joinable()) thread_.join();  // the last one finished: reap it
  Job next;
  next.id = job_.id + 1;
  next.started_ms = ctx_.now_ms();
  next.selection = selection.everything() ? "everything" : "organisation " + selection.organisation->text();
  job_ = std::move(next);
  any_ = true;
  if (ctx_.progress) ctx_.progress->begin("audit_verify", "deltas", 0, "export");
  running_ = true;
  thread_ = std::thread([this, sel = std::move(selection)] { run(sel); });
  return to_json(job_);
}

std::optional<nlohmann::json> VerifyJobs::latest() const {
  std::lock_guard lock(mu_);
  if (!any_) return std::nullopt;
  return to_json(job_);
}

void VerifyJobs::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool VerifyJobs::report_progress(std::string_view phase, std::uint64_t done, std::uint64_t total) {
  if (ctx_.progress) ctx_.progress->update("audit_verify", done, total, phase);
  std::lock_guard lock(mu_);
  job_.phase = std::string(phase);
  job_.done = std::min(done, total);
  job_.total = total;
  return !stopping_;
}

void VerifyJobs::run(audit::Selection selection) {
  const audit::Progress progress = [this](std::string_view phase, std::uint64_t done, std::uint64_t total) {
    return report_progress(phase, done, total);
  };
  auto bytes = audit::export_bundle(*ctx_.store, selection, *ctx_.key, ctx_.now_ms(), progress);
  if (!bytes.ok()) return finish(bytes.error(), nullptr);
  auto report = audit::verify_bundle(std::string_view(*bytes), progress);
  if (!report.ok()) return finish(report.error(), nullptr);
  finish(std::nullopt, &*report);
}

void VerifyJobs::finish(std::optional<Error> error, const audit::VerifyReport* report) {
  // Printed outside the lock: a large report takes a moment.
  std::string json = report ? audit::verify_report_json(*report) : "";
  std::string text = report ? audit::verify_report_text(*report) : "";
  if (ctx_.progress) ctx_.progress->finish("audit_verify", !error);
  std::lock_guard lock(mu_);
  job_.state = error ? "failed" : "done";
  job_.phase = "done";
  job_.done = job_.total;
  job_.finished_ms = ctx_.now_ms();
  job_.error = std::move(error);
  job_.report_json = std::move(json);
  job_.report_text = std::move(text);
  if (report) job_.verdict = audit::verdict_name(report->verdict);
  running_ = false;
}

nlohmann::json VerifyJobs::to_json(const Job& j) {
  nlohmann::json out = {
      {"id", j.id},
      {"state", j.state},
      {"phase", j.phase},
      {"done", j.done},
      {"total", j.total},
      {"selection", j.selection},
      {"started", format_iso8601_ms(j.started_ms)},
      {"finished", j.finished_ms ? nlohmann::json(format_iso8601_ms(j.finished_ms)) : nlohmann::json()},
      {"verdict", j.verdict.empty() ? nlohmann::json() : nlohmann::json(j.verdict)},
      {"error", j.error ? nlohmann::json{{"error", errc_name(static_cast<Errc>(j.error->code.value()))},
                                         {"detail", j.error->detail}}
                        : nlohmann::json()}};
  out["report"] = j.report_json.empty() ? nlohmann::json() : nlohmann::json::parse(j.report_json);
  out["text"] = j.report_text.empty() ? nlohmann::json() : nlohmann::json(j.report_text);
  return out;
}
}  // namespace conect::api
