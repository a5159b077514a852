// Beast-free HTTP request/response values. The server (server.cc, the only
// translation unit that includes Beast) converts to and from these, so the
// router, the handlers and their tests compile without Beast.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "conect/crdt/error.h"

namespace conect::api {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/api/v1/placements?trade=welder"
  std::string path;    // percent-decoded path without the query
  HeaderList query;    // percent-decoded name/value pairs in order
  HeaderList headers;  // names lower-cased
  std::string body;

  // First header with this (lower-case) name, if any.
  std::optional<std::string_view> header(std::string_view lower_name) const;
  std::optional<std::string_view> query_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // extra headers (Set-Cookie, Allow, Location, ...)
  // Server-sent events: the server sends the head and keeps the connection
  // as a subscriber of HttpServer::publish() instead of sending `body`.
  bool event_stream = false;
};

// Splits and percent-decodes a request target into path and query. Fails
// (malformed_body) on bad escapes, a decoded NUL or invalid UTF-8, naming
// the part.
Status parse_target(std::string_view target, HttpRequest& out);

HttpResponse json_response(int status, const nlohmann::json& body);
// {"error": code, "detail": detail}
HttpResponse error_response(int status, std::string_view code, std::string_view detail);
// Maps conect's error codes onto statuses (malformed_body 400,
// not_authorised 403, not_found 404, fixed_field/over_capacity/
// already_exists 409, limit_exceeded 413, invalid_argument 422, else 500)
// and uses the code's stable name as "error".
HttpResponse error_response(const Error& error);
int http_status_for(const Error& error);

}  // namespace conect::api
