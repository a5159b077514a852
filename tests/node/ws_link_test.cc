// WsLink's send() on the live path (ws_link.h): a frame sent from an I/O
// thread while the link's strand is idle goes out before send() returns,
// not when another thread is woken for it; frames sent from any thread
// arrive in order.
#include "conect/node/ws_link.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace conect::node {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// What the accepting side received, in order.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> frames;

  void add(std::string f) {
    std::lock_guard lock(mu);
    frames.push_back(std::move(f));
    cv.notify_all();
  }
  // False when fewer than n frames came within the deadline.
  bool wait_for(std::size_t n, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return frames.size() >= n; });
  }
};

// A dialled link on an io_context run by ONE thread, to a link accepted on
// an io_context of its own: while the dialler's thread is busy, nothing
// else can run the dialled link's strand.
class LinkPair {
 public:
  LinkPair() : acceptor_(server_io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor_.async_accept(asio::make_strand(server_io_), [this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      WsLink::Handler h;
      h.on_frame = [this](std::string f) { inbox.add(std::move(f)); };
      accepted_ = accept_ws(std::move(s), "/sync", WsLimits{}, std::move(h));
    });
    server_thread_ = std::thread([this] { server_io_.run(); });
    client_thread_ = std::thread([this] { client_io_.run(); });
    auto url = parse_ws_url("ws://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/sync");
    WsLink::Handler h;
    h.on_open = [this] { opened_.set_value(); };
    link = dial_ws(client_io_, *url, WsLimits{}, std::move(h));
  }
  ~LinkPair() {
    server_work_.reset();
    client_work_.reset();
    server_io_.stop();
    client_io_.stop();
    server_thread_.join();
    client_thread_.join();
  }
  // Open, and the dialled link's strand idle: handlers the handshake left
  // on it (a timer's cancellation queued by the handler before it) are run
  // by two round trips through the dialler's only I/O thread.
  bool wait_open() {
    if (opened_.get_future().wait_for(10s) != std::future_status::ready) return false;
    for (int i = 0; i < 2; ++i) {
      std::promise<void> hop;
      asio::post(client_io_, [&] { hop.set_value(); });
      hop.get_future().wait();
    }
    return true;
  }

  asio::io_context client_io_;
  std::shared_ptr<WsLink> link;
  Inbox inbox;

 private:
  asio::io_context server_io_;
  asio::executor_work_guard<asio::io_context::executor_type> server_work_ = asio::make_work_guard(server_io_);
  asio::executor_work_guard<asio::io_context::executor_type> client_work_ = asio::make_work_guard(client_io_);
  tcp::acceptor acceptor_;
  std::shared_ptr<WsLink> accepted_;
  std::promise<void> opened_;
  std::thread server_thread_;
  std::thread client_thread_;
};

TEST(WsLink, AFrameSentFromAnIoThreadGoesOutBeforeSendReturns) {
  LinkPair p;
  ASSERT_TRUE(p.wait_open());
  std::promise<bool> arrived;
  asio::post(p.client_io_, [&] {
    p.link->send("pushed right after its commit");
    // This handler holds the dialler's only I/O thread: had send() left the
    // frame for another thread to write, it could not go out until this
    // returns, and the wait would end at its deadline.
    arrived.set_value(p.inbox.wait_for(1));
  });
  EXPECT_TRUE(arrived.get_future().get()) << "the frame waited for a thread to be woken";
  std::lock_guard lock(p.inbox.mu);
  EXPECT_EQ(p.inbox.frames, std::vector<std::string>{"pushed right after its commit"});
}

TEST(WsLink, FramesFromAnyThreadArriveInOrder) {
  LinkPair p;
  ASSERT_TRUE(p.wait_open());
  constexpr int kEach = 300;
  // From the I/O thread (written inline while the strand is idle, queued
  // while a write is in flight) and from this thread (always queued) at once.
  asio::post(p.client_io_, [&] {
    for (int i = 0; i < kEach; ++i) p.link->send("io " + std::to_string(i));
  });
  for (int i = 0; i < kEach; ++i) p.link->send("main " + std::to_string(i));
  ASSERT_TRUE(p.inbox.wait_for(2 * kEach));
  std::lock_guard lock(p.inbox.mu);
  int next_io = 0, next_main = 0;
  for (const auto& f : p.inbox.frames) {
    if (f.rfind("io ", 0) == 0)
      EXPECT_EQ(f, "io " + std::to_string(next_io++));
    else
      EXPECT_EQ(f, "main " + std::to_string(next_main++));
  }
  EXPECT_EQ(next_io, kEach);
  EXPECT_EQ(next_main, kEach);
}

}  // namespace
}  // namespace conect::node
