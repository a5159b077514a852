#include "api.h"

#include <exception>

#include "conect/api/json_mapper.h"

namespace conect::api {
namespace {

bool starts_with_segment(std::string_view path, std::string_view prefix) {
  return path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/');
}

std::optional<std::string_view> bearer(const HttpRequest& req) {
  auto h = req.header("authorization");
  if (!h) return std::nullopt;
  constexpr std::string_view kScheme = "Bearer ";
  if (h->size() <= kScheme.size() || h->substr(0, kScheme.size()) != kScheme) return std::string_view();
  return h->substr(kScheme.size());
}

bool is_json_type(std::string_view ct) {
  auto semi = ct.find(';');
  auto base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return base == "application/json";
}

// GET / on a node started without dashboard files (an install without
// share/conect/web, a build folder outside the sources).
const char* const kNoDashboard =
    "this node found no dashboard files (index.html): start it with --web-root DIR, where DIR is the web/ "
    "folder of the sources or share/conect/web of an installation; the API under /api/v1/ works without them";

}  // namespace

Api::Api(ApiContext context, const ApiOptions& options)
    : ctx_(std::move(context)),
      own_metrics_(ctx_.metrics ? nullptr : std::make_unique<Metrics>()),
      metrics_(ctx_.metrics ? ctx_.metrics : own_metrics_.get()),
      sessions_(ctx_.token, ctx_.now_ms, static_cast<std::uint64_t>(options.session_ttl.count())),
      static_(options.web_root),
      env_(std::make_unique<HandlerEnv>(ctx_, *metrics_)),
      session_ttl_ms_(static_cast<std::uint64_t>(options.session_ttl.count())) {
  add_system_routes();
  if (ctx_.store) add_record_routes(router_, *env_);
}

void Api::add_system_routes() {
  router_.add("GET", "/healthz", [](const HttpRequest&, const PathParams&) {
    return json_response(200, {{"status", "ok"}});
  });
  router_.add("GET", "/metrics", [this](const HttpRequest&, const PathParams&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_->render();
    return r;
  });
  router_.add("POST", "/api/v1/session",
              [this](const HttpRequest& req, const PathParams&) { return create_session(req); });
  // A one-time login link for the dashboard, as notebook servers print:
  // `conect-node dashboard` and the demo ask for one with the bearer token.
  router_.add("POST", "/api/v1/login-codes", [this](const HttpRequest&, const PathParams&) {
    return json_response(201, {{"code", sessions_.issue_login_code()}, {"expires_in_s", 600}});
  });
  router_.add("GET", "/api/v1/events", [](const HttpRequest&, const PathParams&) {
    HttpResponse r;
    r.event_stream = true;
    r.content_type = "text/event-stream";
    return r;
  });
}

bool Api::authenticated(const HttpRequest& req) {
  if (auto b = bearer(req)) return sessions_.check_token(*b);
  if (auto c = req.header("cookie")) {
    if (auto id = cookie_value(*c, cookie_name_)) return sessions_.check_session(*id);
  }
  return false;
}

HttpResponse Api::create_session(const HttpRequest& req) {
  bool ok = false;
  if (auto b = bearer(req)) {
    ok = sessions_.check_token(*b);
  } else if (!req.body.empty()) {
    auto body = parse_json_object(req.body);
    if (!body) return error_response(body.error());
    for (const auto& [k, v] : body->items()) {
      if (k != "token" && k != "login") return error_response(400, "malformed_body", k + ": unknown field");
      if (!v.is_string()) return error_response(400, "malformed_body", k + ": expected a string");
    }
    if (body->contains("token")) ok = sessions_.check_token((*body)["token"].get<std::string>());
    else if (body->contains("login")) ok = sessions_.redeem_login_code((*body)["login"].get<std::string>());
  }
  if (!ok)
    return error_response(401, "unauthenticated",
                          "give the API token (Authorization: Bearer TOKEN or {\"token\": ...}) or a fresh "
                          "one-time login code ({\"login\": ...})");
  std::string id = sessions_.create_session();
  auto resp = json_response(201, {{"session", "created"}, {"expires_in_s", session_ttl_ms_ / 1000}});
  resp.headers.emplace_back("Set-Cookie", cookie_name_ + "=" + id +
                                              "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                                              std::to_string(session_ttl_ms_ / 1000));
  return resp;
}

HttpResponse Api::route(const HttpRequest& req) {
  if (starts_with_segment(req.path, "/api")) {
    bool open = req.path == "/api/v1/session" && req.method == "POST";
    if (!open && !authenticated(req)) {
      auto r = error_response(401, "unauthenticated",
                              "send Authorization: Bearer TOKEN (the token is DIR/api.token) or a session "
                              "cookie from POST /api/v1/session");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    if (!req.body.empty() && !is_json_type(req.header("content-type").value_or("")))
      return error_response(415, "unsupported_media_type", "request bodies must be Content-Type: application/json");
    return router_.dispatch(req);
  }
  if (req.path == "/healthz" || req.path == "/metrics") return router_.dispatch(req);
  if (req.method == "GET" || req.method == "HEAD") {
    if (auto file = static_.serve(req.path)) return std::move(*file);
    if ((req.path == "/" || req.path == "/index.html") && !static_.has_dashboard())
      return error_response(404, "no_dashboard", kNoDashboard);
  }
  return error_response(404, "not_found", "no resource at " + req.path);
}

HttpResponse Api::handle(const HttpRequest& req) {
  HttpResponse r;
  try {
    r = route(req);
  } catch (const std::exception& e) {
    r = error_response(500, "internal", std::string("unexpected failure: ") + e.what());
  }
  metrics_->counter("conect_api_requests_total", "API requests answered, by status code",
                    {{"code", std::to_string(r.status)}}).inc();
  return r;
}

}  // namespace conect::api
