// The API behind the socket layer: authentication, routing and the
// handlers, as a plain function from HttpRequest to HttpResponse. It knows
// nothing of Beast; server.cc owns the sockets and calls handle() on the
// handler pool.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "conect/api/http.h"
#include "conect/api/metrics.h"
#include "conect/api/progress.h"
#include "conect/api/server.h"
#include "router.h"
#include "sessions.h"
#include "static_files.h"

namespace conect::api {

class VerifyJobs;

// What every handler may use.
struct HandlerEnv {
  HandlerEnv(ApiContext& c, Metrics& m);
  ~HandlerEnv();  // stops the verification job
  ApiContext& ctx;
  Metrics& metrics;
  // The background verification of the store (GET/POST
  // /api/v1/audit/verification); behind a pointer so that only its own
  // files include the audit library's headers.
  std::unique_ptr<VerifyJobs> verify_jobs;
  // The API's writes are made one at a time (Api::route): each checks the
  // records it changes, then authors, and no other write may come between
  // (two reservation decisions would each count the same free slots).
  std::mutex write_mu;
};

void add_record_routes(Router& router, HandlerEnv& env);

inline constexpr std::string_view kSessionCookie = "conect_session";

class Api {
 public:
  Api(ApiContext context, const ApiOptions& options);
  // Never throws: an exception escaping a handler becomes a 500.
  HttpResponse handle(const HttpRequest& request);
  Sessions& sessions() { return sessions_; }
  // The session cookie is named per port ("conect_session_7780"): browsers
  // keep cookies per host, not per port, so two nodes on one machine (the
  // demo) would otherwise sign each other's dashboards out.
  void set_port(std::uint16_t port) { cookie_name_ = std::string(kSessionCookie) + "_" + std::to_string(port); }
  const std::string& cookie_name() const { return cookie_name_; }
  Metrics& metrics() { return *metrics_; }
  // Cancels and joins background work that reads the store (the server
  // calls it when it stops, before the store goes away).
  void stop_jobs();

 private:
  enum class Auth { none, bearer, cookie };
  Auth authenticated(const HttpRequest& request);
  // A refusal when the Host or Origin header names something other than
  // this node (DNS rebinding, a page of another origin); nullopt when fine.
  std::optional<HttpResponse> foreign_request(const HttpRequest& request) const;
  // A refusal when a cookie-authenticated write lacks its CSRF token.
  std::optional<HttpResponse> csrf_refusal(const HttpRequest& request);
  HttpResponse route(const HttpRequest& request);
  HttpResponse create_session(const HttpRequest& request);
  HttpResponse session_token(const HttpRequest& request);
  HttpResponse status(const HttpRequest& request);
  void add_system_routes();
  std::string route_label(const HttpRequest& request) const;
  static std::string method_label(const HttpRequest& request);

  ApiContext ctx_;
  std::unique_ptr<Metrics> own_metrics_;
  Metrics* metrics_;
  Sessions sessions_;
  StaticFiles static_;
  Router router_;
  std::unique_ptr<ProgressBoard> own_progress_;  // when the daemon gave none
  std::unique_ptr<HandlerEnv> env_;
  std::uint64_t session_ttl_ms_;
  std::vector<std::string> allowed_hosts_;
  std::string cookie_name_{kSessionCookie};
};

}  // namespace conect::api
