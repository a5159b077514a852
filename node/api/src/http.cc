#include "conect/api/http.h"

#include "conect/api/json_mapper.h"
#include "conect/api/validate.h"

namespace conect::api {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  if (!is_valid_utf8(out)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::string_view> HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> HttpRequest::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

Status parse_target(std::string_view target, HttpRequest& out) {
  auto q = target.find('?');
  auto raw_path = target.substr(0, q);
  if (raw_path.empty() || raw_path[0] != '/')
    return Error(Errc::malformed_body, "request target must be an absolute path");
  auto path = percent_decode(raw_path, false);
  if (!path) return Error(Errc::malformed_body, "path: bad percent-encoding or invalid UTF-8");
  out.path = std::move(*path);
  out.query.clear();
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto name = percent_decode(part.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    if (!name || !value)
      return Error(Errc::malformed_body, "query: bad percent-encoding or invalid UTF-8 in \"" +
                                             std::string(part.substr(0, eq)) + "\"");
    out.query.emplace_back(std::move(*name), std::move(*value));
  }
  return {};
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = dump_json(body);
  return r;
}

HttpResponse error_response(int status, std::string_view code, std::string_view detail) {
  return json_response(status, {{"error", code}, {"detail", detail}});
}

int http_status_for(const Error& e) {
  if (e.code.category() != conect_category()) return 500;
  switch (static_cast<Errc>(e.code.value())) {
    case Errc::malformed_body: return 400;
    case Errc::not_authorised: return 403;
    case Errc::not_found: return 404;
    case Errc::fixed_field:
    case Errc::over_capacity:
    case Errc::already_exists: return 409;
    case Errc::limit_exceeded: return 413;
    case Errc::invalid_argument:
    case Errc::unknown_record_type: return 422;
    case Errc::storage_full: return 507;
    default: return 500;
  }
}

HttpResponse error_response(const Error& e) {
  const char* code = e.code.category() == conect_category() ? errc_name(static_cast<Errc>(e.code.value()))
                                                             : "internal";
  return error_response(http_status_for(e), code, e.detail);
}

}  // namespace conect::api
