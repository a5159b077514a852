#include "router.h"

namespace conect::api {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return parts;
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  Route r{std::move(method), {}, std::move(handler)};
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

bool Router::match(const Route& r, const std::vector<std::string_view>& parts, PathParams* params) {
  if (r.segments.size() != parts.size()) return false;
  params->clear();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (r.segments[i] == "{}") params->emplace_back(parts[i]);
    else if (r.segments[i] != parts[i]) return false;
  }
  return true;
}

HttpResponse Router::dispatch(const HttpRequest& request) const {
  auto parts = split_path(request.path);
  PathParams params;
  std::string allow;
  for (const auto& r : routes_) {
    if (!match(r, parts, &params)) continue;
    if (r.method == request.method || (request.method == "HEAD" && r.method == "GET"))
      return r.handler(request, params);
    if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (allow.empty()) return error_response(404, "not_found", "no resource at " + request.path);
  auto resp = error_response(405, "method_not_allowed",
                             request.method + " is not allowed on " + request.path + "; use " + allow);
  resp.headers.emplace_back("Allow", allow);
  return resp;
}

std::string Router::pattern_of(const HttpRequest& request) const {
  auto parts = split_path(request.path);
  PathParams params;
  for (const auto& r : routes_) {
    if (!match(r, parts, &params)) continue;
    std::string out;
    for (const auto& s : r.segments) out += "/" + s;
    return out.empty() ? "/" : out;
  }
  return {};
}

}  // namespace conect::api
