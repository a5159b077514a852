#include "api_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <signal.h>

#include <cerrno>
#include <fstream>

namespace conect::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

Result<ApiClient> ApiClient::for_data_dir(const DataDir& dir) {
  auto token = read_small_file(dir.token(), true);
  if (!token.ok()) {
    if (token.error().is(Errc::not_found))
      return Error(Errc::not_found, dir.root.string() +
                                        " is not an initialised data directory (no api.token); "
                                        "run `conect-node init` or pass the right --data");
    return token.error();
  }
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  // The token goes only to the port our own running node wrote down: without
  // DIR/ports.json (the node is not running) or with one left by a process
  // that is gone, whatever listens on the configured port may not be ours.
  const std::string not_running = "the node of " + dir.root.string() + " is not running";
  std::ifstream in(dir.ports());
  if (!in) return Error(Errc::io_error, not_running + " (no ports.json); start it with `conect-node run`");
  int port = 0;
  long pid = 0;
  try {
    nlohmann::json ports = nlohmann::json::parse(in);
    port = ports.at("api").get<int>();
    if (ports.contains("pid")) pid = ports["pid"].get<long>();
  } catch (const std::exception&) {
    return Error(Errc::io_error, dir.ports().string() + " is unreadable; restart the node with `conect-node run`");
  }
  if (port <= 0 || port > 65535) return Error(Errc::io_error, dir.ports().string() + " names no API port");
  if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
    return Error(Errc::io_error, not_running + " (its ports.json was left by process " + std::to_string(pid) +
                                     ", which has ended); start it with `conect-node run`");
  return ApiClient("127.0.0.1", std::to_string(port), *token);
}

Result<ApiReply> ApiClient::request(const std::string& method, const std::string& target,
                                    const nlohmann::json* body) const {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(60));
    stream.connect(resolver.resolve(host_, port_));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::authorization, "Bearer " + token_);
    req.set(http::field::user_agent, "conect-node-cli");
    if (body) {
      req.set(http::field::content_type, "application/json");
      req.body() = body->dump();
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(512u << 20);
    http::read(stream, buffer, parser);
    auto& res = parser.get();
    ApiReply reply;
    reply.status = res.result_int();
    reply.content_type = std::string(res[http::field::content_type]);
    reply.raw = res.body();
    if (reply.content_type.find("json") != std::string::npos && !reply.raw.empty())
      reply.body = nlohmann::json::parse(reply.raw, nullptr, false);
    else
      reply.body = reply.raw;
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    return reply;
  } catch (const boost::system::system_error& e) {
    return Error(Errc::io_error, "cannot reach the node's API at " + base_url() + " (" + e.code().message() +
                                     "); is `conect-node run` running for this --data?");
  } catch (const std::exception& e) {
    return Error(Errc::io_error, "bad answer from the node's API at " + base_url() + " (" + e.what() + ")");
  }
}

}  // namespace conect::cli
