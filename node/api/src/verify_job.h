// The node's own verification of its store as a background job
// (POST/GET /api/v1/audit/verification, docs/api.md): export a bundle as
// `conect-node audit export` does, verify it as `conect-node audit verify`
// does, and keep the progress and the result for the dashboard to poll.
//
// One job at a time per node (a second start while one runs is refused);
// the last finished job is kept until the next starts. The job runs on a
// thread of its own, so it never holds up the handler pool; stop() cancels
// it at its next progress report and joins it (the server calls it before
// the store goes away). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "conect/audit/audit.h"
#include "conect/crdt/error.h"

namespace conect::api {

struct ApiContext;

class VerifyJobs {
 public:
  explicit VerifyJobs(ApiContext& ctx) : ctx_(ctx) {}
  ~VerifyJobs() { stop(); }
  VerifyJobs(const VerifyJobs&) = delete;
  VerifyJobs& operator=(const VerifyJobs&) = delete;

  // Starts a job over `selection` and returns its JSON. Errors:
  // already_exists while one runs (HTTP 409), invalid_argument once stopped.
  Result<nlohmann::json> start(audit::Selection selection);
  // The current or last job's JSON, or nullopt when none ran yet.
  std::optional<nlohmann::json> latest() const;
  void stop();

 private:
  struct Job {
    std::uint64_t id = 0;
    std::string state = "running";  // running | done | failed
    std::string phase = "export";   // export | check | fold | done
    std::uint64_t done = 0, total = 0;
    std::uint64_t started_ms = 0, finished_ms = 0;
    std::string selection;
    std::optional<Error> error;
    std::string report_json, report_text, verdict;
  };
  void run(audit::Selection selection);
  bool report_progress(std::string_view phase, std::uint64_t done, std::uint64_t total);
  void finish(std::optional<Error> error, const audit::VerifyReport* report);
  static nlohmann::json to_json(const Job& job);

  ApiContext& ctx_;
  mutable std::mutex mu_;
  Job job_;           // guarded by mu_
  bool any_ = false;  // a job was started
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace conect::api
