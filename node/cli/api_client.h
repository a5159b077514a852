// A small synchronous HTTP client for the data commands: finds the running
// node's API port in DIR/ports.json and sends one JSON request with the token
// from DIR/api.token. Without a ports.json of a live process it sends
// nothing (the port in node.toml may be another program's).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "conect/crdt/error.h"
#include "conect/node/data_dir.h"

namespace conect::cli {

struct ApiReply {
  int status = 0;
  nlohmann::json body;  // parsed JSON, or a string for non-JSON bodies
  std::string content_type;
  std::string raw;
};

// A field of an API object as text for tables and CSV: strings as they are,
// numbers and lists as JSON, missing or null as "".
inline std::string field_text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

class ApiClient {
 public:
  // Errors: not_found (not initialised), io_error (node not running: no
  // ports.json, or one whose process has ended).
  static Result<ApiClient> for_data_dir(const DataDir& dir);
  ApiClient(std::string host, std::string port, std::string token)
      : host_(std::move(host)), port_(std::move(port)), token_(std::move(token)) {}

  // Errors: io_error when the node does not answer (says how to start it).
  Result<ApiReply> request(const std::string& method, const std::string& target,
                           const nlohmann::json* body = nullptr) const;
  Result<ApiReply> get(const std::string& target) const { return request("GET", target); }
  Result<ApiReply> post(const std::string& target, const nlohmann::json& body) const {
    return request("POST", target, &body);
  }
  std::string base_url() const { return "http://" + host_ + ":" + port_; }

 private:
  std::string host_, port_, token_;
};

}  // namespace conect::cli
