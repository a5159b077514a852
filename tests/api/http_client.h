// A small synchronous HTTP/1.1 client for the API tests: real sockets on
// 127.0.0.1, keep-alive, and a receive timeout so a broken server fails a
// test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace conect::api::test {

struct Reply {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  bool keep_alive = false;

  std::string header(const std::string& lower_name) const;
  nlohmann::json json() const;  // throws on a non-JSON body
};

class Client {
 public:
  explicit Client(std::uint16_t port);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Default headers added to every request (e.g. Authorization).
  void set_header(std::string name, std::string value);
  void clear_headers();

  Reply request(const std::string& method, const std::string& target, const std::string& body = {},
                const std::vector<std::pair<std::string, std::string>>& headers = {});
  Reply get(const std::string& target) { return request("GET", target); }
  Reply post(const std::string& target, const nlohmann::json& body);
  Reply patch(const std::string& target, const nlohmann::json& body);

  // True when the server closed the connection (a read returns EOF).
  bool closed_by_peer();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends raw bytes on a fresh connection and returns everything the server
// sends until it closes the connection (or the receive timeout).
std::string raw_exchange(std::uint16_t port, const std::string& bytes);

// A streaming reader of raw bytes (server-sent events).
class RawStream {
 public:
  RawStream(std::uint16_t port, const std::string& request);
  ~RawStream();
  // Reads until `needle` has appeared in everything received so far, or
  // the receive timeout; returns everything received.
  std::string read_until(const std::string& needle);
  // The same, ending at `limit` however long the socket stays silent.
  std::string read_until_for(const std::string& needle, std::chrono::milliseconds limit);
  // Reads until EOF (or timeout); true when the server closed the stream.
  bool wait_closed();
  void pause_reading_and_shrink_buffer();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace conect::api::test
