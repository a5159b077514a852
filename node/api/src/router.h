// Maps (method, path pattern) to handlers. Patterns are literal segments
// and `{}` placeholders ("/api/v1/placements/{}/close"); the placeholders'
// values are passed to the handler in order. A path that matches no pattern
// is 404; a path that matches only with another method is 405 with Allow.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "conect/api/http.h"

namespace conect::api {

using PathParams = std::vector<std::string>;
using Handler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

class Router {
 public:
  void add(std::string method, std::string_view pattern, Handler handler);
  HttpResponse dispatch(const HttpRequest& request) const;
  // The pattern the request's path matches ("/api/v1/placements/{}"), for
  // metrics labels that must not grow with ids; "" when none does.
  std::string pattern_of(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool match(const Route& r, const std::vector<std::string_view>& parts, PathParams* params);
  std::vector<Route> routes_;
};

std::vector<std::string_view> split_path(std::string_view path);

}  // namespace conect::api
