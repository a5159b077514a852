// Runs an HttpServer on 127.0.0.1, port 0, with its io_context on a thread of
// its own, for the duration of a test.
#pragma once

#include <memory>

#include "conect/api/server.h"

namespace conect::api::test {

class TestServer {
 public:
  TestServer(ApiContext context, ApiOptions options);
  ~TestServer();  // stops the server and joins the thread
  HttpServer& server();
  std::uint16_t port() const;
  // The server's one I/O thread runs this context (a test may hold it).
  boost::asio::io_context& io();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace conect::api::test
