#include "test_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <stdexcept>
#include <thread>

namespace conect::api::test {

struct TestServer::Impl {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<HttpServer> server;
  std::thread thread;
};

TestServer::TestServer(ApiContext context, ApiOptions options) : impl_(std::make_unique<Impl>()) {
  options.host = "127.0.0.1";
  options.port = 0;
  impl_->server = std::make_unique<HttpServer>(impl_->io, std::move(context), std::move(options));
  if (auto st = impl_->server->start(); !st) throw std::runtime_error(st.error().message());
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

TestServer::~TestServer() {
  stop();
  impl_->server.reset();
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

boost::asio::io_context& TestServer::io() { return impl_->io; }

void TestServer::stop() {
  if (impl_->server) impl_->server->stop();
}

HttpServer& TestServer::server() { return *impl_->server; }
std::uint16_t TestServer::port() const { return impl_->server->port(); }

}  // namespace conect::api::test
