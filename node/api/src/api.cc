#include "api.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <exception>

#include "conect/api/json_mapper.h"
#include "conect/storage/store.h"
#include "records_support.h"

namespace conect::api {
namespace {

bool starts_with_segment(std::string_view path, std::string_view prefix) {
  return path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/');
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The scheme is case-insensitive (RFC 7235): some clients send "bearer".
std::optional<std::string_view> bearer(const HttpRequest& req) {
  auto h = req.header("authorization");
  if (!h) return std::nullopt;
  constexpr std::string_view kScheme = "Bearer ";
  if (h->size() <= kScheme.size() || !iequals(h->substr(0, kScheme.size()), kScheme)) return std::string_view();
  return h->substr(kScheme.size());
}

// The host part of a Host header value ("name:port", "[v6]:port", "name").
std::string_view host_part(std::string_view authority) {
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

bool is_ip_literal(std::string_view host) {
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return false;
  std::string h(host);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool is_write(const HttpRequest& req) { return req.method != "GET" && req.method != "HEAD"; }

bool is_json_type(std::string_view ct) {
  auto semi = ct.find(';');
  auto base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return iequals(base, "application/json");  // media types are case-insensitive
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
      own_progress_(ctx_.progress ? nullptr : std::make_unique<ProgressBoard>(metrics_, ctx_.now_ms)),
      env_((ctx_.progress = ctx_.progress ? ctx_.progress : own_progress_.get(),
            std::make_unique<HandlerEnv>(ctx_, *metrics_))),
      session_ttl_ms_(static_cast<std::uint64_t>(options.session_ttl.count())),
      allowed_hosts_(options.allowed_hosts) {
  add_system_routes();
  if (ctx_.store) add_record_routes(router_, *env_);
}

void Api::add_system_routes() {
  router_.add("GET", "/healthz", [](const HttpRequest&, const PathParams&) {
    return json_response(200, {{"status", "ok"}});
  });
  router_.add("GET", "/metrics", [this](const HttpRequest&, const PathParams&) {
    if (ctx_.store)
      if (auto n = ctx_.store->unknown_operations(); n.ok())
        metrics_
            ->gauge("conect_operations_unknown",
                    "Stored operations of kinds this version does not know (a newer conect's; no effect here)")
            .set(static_cast<std::int64_t>(*n));
    if (ctx_.store) {
      metrics_->gauge("conect_store_map_size_bytes", "LMDB map size now (address space reserved)")
          .set(static_cast<std::int64_t>(ctx_.store->map_size()));
      metrics_->gauge("conect_store_map_limit_bytes", "The most the LMDB map may grow to ([storage] map_size_mib)")
          .set(static_cast<std::int64_t>(ctx_.store->map_limit()));
      metrics_->gauge("conect_store_used_bytes", "Bytes of the LMDB map in use")
          .set(static_cast<std::int64_t>(ctx_.store->used_bytes()));
    }
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_->render();
    return r;
  });
  router_.add("GET", "/api/v1/progress", plain_route([this](const HttpRequest&, const PathParams&) {
                nlohmann::json items = nlohmann::json::array();
                for (const auto& t : ctx_.progress->snapshot()) items.push_back(ProgressBoard::to_json(t));
                return json_response(200, {{"items", items}});
              }));
  router_.add("POST", "/api/v1/session",
              [this](const HttpRequest& req, const PathParams&) { return create_session(req); });
  router_.add("GET", "/api/v1/session",
              [this](const HttpRequest& req, const PathParams&) { return session_token(req); });
  // A one-time login link for the dashboard, as notebook servers print:
  // `conect-node dashboard` and the demo ask for one with the bearer token.
  router_.add("POST", "/api/v1/login-codes", plain_route([this](const HttpRequest&, const PathParams&) {
                return json_response(201, {{"code", sessions_.issue_login_code()}, {"expires_in_s", 600}});
              }));
  router_.add("GET", "/api/v1/events", [](const HttpRequest&, const PathParams&) {
    HttpResponse r;
    r.event_stream = true;
    r.content_type = "text/event-stream";
    return r;
  });
}

Api::Auth Api::authenticated(const HttpRequest& req) {
  if (auto b = bearer(req)) return sessions_.check_token(*b) ? Auth::bearer : Auth::none;
  if (auto c = req.header("cookie")) {
    if (auto id = cookie_value(*c, cookie_name_)) return sessions_.check_session(*id) ? Auth::cookie : Auth::none;
  }
  return Auth::none;
}

std::optional<HttpResponse> Api::foreign_request(const HttpRequest& req) const {
  auto allowed = [this](std::string_view host) {
    return is_ip_literal(host) || iequals(host, "localhost") ||
           std::any_of(allowed_hosts_.begin(), allowed_hosts_.end(), [&](const auto& h) { return iequals(h, host); });
  };
  auto host = req.header("host");
  if (host && !allowed(host_part(*host)))
    return error_response(403, "host_not_allowed",
                          "this node answers only requests addressed to its IP address or localhost, not to \"" +
                              std::string(host->substr(0, 100)) +
                              "\" (a protection against DNS rebinding); open it as http://127.0.0.1:PORT/, or add "
                              "the name to [network] api_hosts in node.toml");
  auto origin = req.header("origin");
  if (!origin) return std::nullopt;
  auto sep = origin->find("://");
  std::string_view authority = sep == std::string_view::npos ? std::string_view() : origin->substr(sep + 3);
  bool same = host ? iequals(authority, *host) : allowed(host_part(authority));
  if (!same)
    return error_response(403, "origin_not_allowed",
                          "requests from pages of another origin (\"" + std::string(origin->substr(0, 100)) +
                              "\") are refused; use the dashboard this node serves, or a script with the bearer token");
  return std::nullopt;
}

std::optional<HttpResponse> Api::csrf_refusal(const HttpRequest& req) {
  auto token = req.header("x-csrf-token");
  const std::string how =
      "a write authenticated by the session cookie must carry the header X-CSRF-Token with the csrf_token that "
      "POST /api/v1/session answered (GET /api/v1/session tells it again); scripts send Authorization: Bearer "
      "instead";
  if (!token) return error_response(403, "csrf_token_missing", how);
  auto id = cookie_value(req.header("cookie").value_or(""), cookie_name_);
  if (!id || !sessions_.check_csrf(*id, *token)) return error_response(403, "csrf_token_invalid", how);
  return std::nullopt;
}

HttpResponse Api::session_token(const HttpRequest& req) {
  auto id = cookie_value(req.header("cookie").value_or(""), cookie_name_);
  auto token = id ? sessions_.csrf_token(*id) : std::nullopt;
  if (bearer(req) || !token)
    return error_response(400, "malformed_request",
                          "GET /api/v1/session tells a cookie session its CSRF token; requests with a bearer "
                          "token need none");
  return json_response(200, {{"csrf_token", *token}, {"expires_in_s", session_ttl_ms_ / 1000}});
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
  auto session = sessions_.create_session();
  auto resp = json_response(
      201, {{"session", "created"}, {"expires_in_s", session_ttl_ms_ / 1000}, {"csrf_token", session.csrf_token}});
  resp.headers.emplace_back(
      "Set-Cookie", cookie_name_ + "=" + session.id +
                        "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" + std::to_string(session_ttl_ms_ / 1000));
  return resp;
}

HttpResponse Api::route(const HttpRequest& req) {
  if (auto refused = foreign_request(req)) return std::move(*refused);
  if (starts_with_segment(req.path, "/api")) {
    bool open = req.path == "/api/v1/session" && req.method == "POST";
    Auth auth = open ? Auth::bearer : authenticated(req);
    if (auth == Auth::none) {
      auto r = error_response(401, "unauthenticated",
                              "send Authorization: Bearer TOKEN (the token is DIR/api.token) or a session "
                              "cookie from POST /api/v1/session");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    if (auth == Auth::cookie && is_write(req))
      if (auto refused = csrf_refusal(req)) return std::move(*refused);
    if (!req.body.empty() && !is_json_type(req.header("content-type").value_or("")))
      return error_response(415, "unsupported_media_type", "request bodies must be Content-Type: application/json");
    if (is_write(req)) {
      // A write checks what the record holds now, then signs: two at once
      // on one record (a PATCH racing a cancel) each checked the state
      // before the other's change and both were signed, one of them a step
      // the rules forbid, answered 200 and dropped by the merge.
      std::lock_guard one_write_at_a_time(env_->write_mu);
      return router_.dispatch(req);
    }
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

// A bounded label: the route's pattern, "static" for dashboard files, or
// "other" (a path nothing serves), never the raw path (ids, probes).
std::string Api::route_label(const HttpRequest& req) const {
  if (auto p = router_.pattern_of(req); !p.empty()) return p;
  if (!starts_with_segment(req.path, "/api") && static_.has_dashboard()) return "static";
  return "other";
}

std::string Api::method_label(const HttpRequest& req) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
    if (req.method == m) return m;
  return "other";
}

HttpResponse Api::handle(const HttpRequest& req) {
  HttpResponse r;
  try {
    r = route(req);
  } catch (const std::exception& e) {
    r = error_response(500, "internal", std::string("unexpected failure: ") + e.what());
  }
  metrics_
      ->counter("conect_api_requests_total", "API requests answered, by route, method and status code",
                {{"route", route_label(req)}, {"method", method_label(req)}, {"code", std::to_string(r.status)}})
      .inc();
  return r;
}

}  // namespace conect::api
