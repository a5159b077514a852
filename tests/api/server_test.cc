// The socket layer, authentication, routing and static files, over real
// HTTP on 127.0.0.1 (no store: the record resources have their own tests).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "conect/api/events.h"
#include "conect/api/metrics.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"
#include "http_client.h"
#include "test_server.h"

namespace conect::api::test {
namespace {

namespace fs = std::filesystem;
const std::string kToken = "s3cret-token-0123456789abcdef";

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    web_ = fs::temp_directory_path() / ("conect-api-web-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(web_);
    fs::create_directories(web_ / "root" / "js");
    write(web_ / "root" / "index.html", "<!doctype html><title>conect</title>");
    write(web_ / "root" / "js" / "app.js", "console.log('hi');");
    write(web_ / "root" / "style.css", "body{}");
    write(web_ / "root" / "notes.bin", "binary");
    write(web_ / "root" / ".hidden.js", "hidden");
    write(web_ / "secret.js", "TOP SECRET");
    fs::create_symlink(web_ / "secret.js", web_ / "root" / "link.js");
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(web_);
  }

  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

  void start(ApiOptions options = {}) {
    ApiContext ctx;
    ctx.token = kToken;
    ctx.now_ms = wall_ms;
    ctx.metrics = &metrics_;
    if (options.web_root.empty()) options.web_root = web_ / "root";
    server_ = std::make_unique<TestServer>(std::move(ctx), std::move(options));
  }
  Client client() { return Client(server_->port()); }
  Client authed() {
    Client c(server_->port());
    c.set_header("Authorization", "Bearer " + kToken);
    return c;
  }

  // Waits for `pred` with a deadline instead of sleeping a fixed time.
  template <class Pred>
  static bool eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

  Metrics metrics_;
  fs::path web_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ServerTest, HealthzAndMetricsAreOpen) {
  start();
  metrics_.counter("conect_deltas_rejected_total", "Deltas refused", {{"reason", "bad_signature"}}).inc(3);
  auto c = client();
  auto h = c.get("/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.json()["status"], "ok");
  auto m = c.get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m.body.find("conect_deltas_rejected_total{reason=\"bad_signature\"} 3\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("conect_api_requests_total{route=\"/healthz\",method=\"GET\",code=\"200\"} 1\n"),
            std::string::npos)
      << m.body;
}

TEST_F(ServerTest, ApiNeedsTheToken) {
  start();
  auto c = client();
  auto none = c.get("/api/v1/report/mobilities");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json()["error"], "unauthenticated");
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  auto wrong = c.request("GET", "/api/v1/report/mobilities", "", {{"Authorization", "Bearer " + kToken + "x"}});
  EXPECT_EQ(wrong.status, 401);
  auto prefix = c.request("GET", "/api/v1/report/mobilities", "", {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(prefix.status, 401);
  auto basic = c.request("GET", "/api/v1/report/mobilities", "", {{"Authorization", "Basic " + kToken}});
  EXPECT_EQ(basic.status, 401);
  // The scheme is case-insensitive (RFC 7235); the token is not.
  for (const char* scheme : {"bearer ", "BEARER "})
    EXPECT_EQ(c.request("GET", "/api/v1/progress", "", {{"Authorization", scheme + kToken}}).status, 200) << scheme;
  // Unknown paths under /api are 401 too: nothing is revealed before auth.
  EXPECT_EQ(c.get("/api/v1/no-such-thing").status, 401);

  auto ok = authed().request("POST", "/api/v1/login-codes");
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(authed().get("/api/v1/no-such-thing").status, 404);
}

TEST_F(ServerTest, SessionCookieStandsInForTheToken) {
  start();
  auto c = client();
  auto bad = c.post("/api/v1/session", {{"token", "nope"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.header("set-cookie"), "");
  auto unknown = c.post("/api/v1/session", {{"password", kToken}});
  EXPECT_EQ(unknown.status, 400);

  auto good = c.post("/api/v1/session", {{"token", kToken}});
  ASSERT_EQ(good.status, 201) << good.body;
  std::string cookie = good.header("set-cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(cookie.find("Path=/"), std::string::npos);
  // Named per port, so nodes sharing a host keep separate sessions.
  ASSERT_EQ(cookie.rfind("conect_session_" + std::to_string(server_->port()) + "=", 0), 0u) << cookie;
  std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_NE(pair.find(kToken), 0u);  // the cookie is not the token

  std::string csrf = good.json()["csrf_token"];
  EXPECT_EQ(csrf.size(), 64u);
  auto with_cookie =
      c.request("POST", "/api/v1/login-codes", "", {{"Cookie", "theme=dark; " + pair}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(with_cookie.status, 201);
  auto forged = c.request("POST", "/api/v1/login-codes", "",
                          {{"Cookie", "conect_session_" + std::to_string(server_->port()) + "=" + std::string(64, 'a')}});
  EXPECT_EQ(forged.status, 401);

  // The header form works too.
  auto via_header = c.request("POST", "/api/v1/session", "", {{"Authorization", "Bearer " + kToken}});
  EXPECT_EQ(via_header.status, 201);
  EXPECT_NE(via_header.header("set-cookie"), cookie);
}

// Another site (another port of this host is the same site, so the
// SameSite=Strict cookie rides along) can make the browser send the
// cookie, but cannot read the CSRF token: writes need it, reads do not.
TEST_F(ServerTest, CookieWritesNeedTheSessionsCsrfToken) {
  start();
  auto c = client();
  auto session = c.post("/api/v1/session", {{"token", kToken}});
  ASSERT_EQ(session.status, 201);
  std::string cookie = session.header("set-cookie");
  cookie = cookie.substr(0, cookie.find(';'));
  std::string csrf = session.json()["csrf_token"];
  auto other = c.post("/api/v1/session", {{"token", kToken}}).json()["csrf_token"].get<std::string>();

  auto missing = c.request("POST", "/api/v1/login-codes", "", {{"Cookie", cookie}});
  EXPECT_EQ(missing.status, 403);
  EXPECT_EQ(missing.json()["error"], "csrf_token_missing");
  auto wrong = c.request("POST", "/api/v1/login-codes", "", {{"Cookie", cookie}, {"X-CSRF-Token", other}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.json()["error"], "csrf_token_invalid");
  EXPECT_EQ(c.request("POST", "/api/v1/login-codes", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).status, 201);
  // Reads need none; a page that lost the token (a new tab) asks for it.
  EXPECT_EQ(c.request("GET", "/api/v1/no-such-thing", "", {{"Cookie", cookie}}).status, 404);  // past auth
  auto again = c.request("GET", "/api/v1/session", "", {{"Cookie", cookie}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["csrf_token"], csrf);
  // Scripts with the bearer token need no CSRF token (and have no session).
  EXPECT_EQ(authed().request("POST", "/api/v1/login-codes").status, 201);
  EXPECT_EQ(authed().get("/api/v1/session").status, 400);
}

// DNS rebinding: a page at http://rebind.example:PORT/ whose name now points
// at 127.0.0.1 is same-origin with the node as far as the browser knows; it
// must reach nothing, not even the open /metrics or the session exchange.
TEST_F(ServerTest, HostAndOriginMustNameThisNode) {
  ApiOptions o;
  o.allowed_hosts = {"conect.example.org"};
  start(o);
  const std::string port = std::to_string(server_->port());
  const std::string crlf = "\r\n";
  auto raw = [&](const std::string& head) {
    return raw_exchange(server_->port(), head + "Connection: close" + crlf + crlf);
  };
  for (const char* target : {"GET /metrics", "GET /healthz", "GET /", "POST /api/v1/session"}) {
    std::string reply = raw(std::string(target) + " HTTP/1.1" + crlf + "Host: rebind.example:" + port + crlf);
    EXPECT_EQ(reply.rfind("HTTP/1.1 403", 0), 0u) << target << ": " << reply;
    EXPECT_NE(reply.find("host_not_allowed"), std::string::npos) << reply;
    EXPECT_EQ(reply.find("Set-Cookie"), std::string::npos);
  }
  for (std::string host : {"127.0.0.1:" + port, "localhost:" + port, std::string("LOCALHOST"), "[::1]:" + port,
                           "conect.example.org:" + port})
    EXPECT_EQ(raw("GET /healthz HTTP/1.1" + crlf + "Host: " + host + crlf).rfind("HTTP/1.1 200", 0), 0u) << host;
  // A page of another origin (another port of this host included).
  auto post = [&](const std::string& origin) {
    return raw("POST /api/v1/login-codes HTTP/1.1" + crlf + "Host: 127.0.0.1:" + port + crlf + "Origin: " + origin +
               crlf + "Authorization: Bearer " + kToken + crlf);
  };
  EXPECT_NE(post("http://127.0.0.1:8000").find("origin_not_allowed"), std::string::npos);
  EXPECT_NE(post("null").find("origin_not_allowed"), std::string::npos);
  EXPECT_EQ(post("http://127.0.0.1:" + port).rfind("HTTP/1.1 201", 0), 0u);
}

TEST_F(ServerTest, LoginCodesWorkOnce) {
  start();
  std::string code = server_->server().issue_login_code();
  auto c = client();
  EXPECT_EQ(c.post("/api/v1/session", {{"login", code}}).status, 201);
  EXPECT_EQ(c.post("/api/v1/session", {{"login", code}}).status, 401);
  EXPECT_EQ(c.post("/api/v1/session", {{"login", std::string(32, '0')}}).status, 401);
}

TEST_F(ServerTest, OversizedBodiesAre413AndCloseTheConnection) {
  ApiOptions o;
  o.max_body_bytes = 1024;
  start(o);
  auto c = authed();
  auto big = c.request("POST", "/api/v1/report/mobilities", "{\"x\":\"" + std::string(4096, 'a') + "\"}");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.json()["error"], "body_too_large");
  EXPECT_FALSE(big.keep_alive);
  // A declared length over the limit is refused before the body is sent.
  std::string reply =
      raw_exchange(server_->port(),
                   "POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: 999999999\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  // Just under the limit is read (and refused for what it says: a login
  // code takes no body).
  auto small = c.request("POST", "/api/v1/login-codes", "{\"x\":\"" + std::string(900, 'a') + "\"}");
  EXPECT_EQ(small.status, 400);
  EXPECT_EQ(small.json()["detail"], "x: unknown field (this request takes no body)");
  EXPECT_EQ(c.request("POST", "/api/v1/login-codes", "{}").status, 201);
}

TEST_F(ServerTest, BodiesMustBeJson) {
  start();
  auto r = authed().request("POST", "/api/v1/session", "token=x", {{"Content-Type", "text/plain"}});
  // The session endpoint is open, so the media type check applies there too.
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.json()["error"], "unsupported_media_type");
}

TEST_F(ServerTest, MethodNotAllowedNamesTheAllowedOnes) {
  start();
  auto r = client().request("DELETE", "/healthz");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET");
  EXPECT_EQ(r.json()["error"], "method_not_allowed");
}

TEST_F(ServerTest, ServesTheDashboardWithContentTypes) {
  start();
  auto c = client();
  auto index = c.get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.body, "<!doctype html><title>conect</title>");
  auto js = c.get("/js/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(c.get("/style.css").header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(c.get("/index.html").status, 200);
  auto head = c.request("HEAD", "/style.css");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "6");
}

TEST_F(ServerTest, NoDirectoryTraversal) {
  start();
  for (const char* path : {"/../secret.js", "/js/../../secret.js", "/%2e%2e/secret.js", "/js/%2E%2E/%2e%2e/secret.js",
                           "/link.js", "/.hidden.js", "/notes.bin", "/js", "/..%5csecret.js", "/%00.js"}) {
    std::string reply = raw_exchange(
        server_->port(), std::string("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(reply.find("TOP SECRET"), std::string::npos) << path;
    EXPECT_TRUE(reply.rfind("HTTP/1.1 404", 0) == 0 || reply.rfind("HTTP/1.1 400", 0) == 0) << path << "\n" << reply;
  }
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  auto c = client();
  for (int i = 0; i < 20; ++i) {
    auto r = c.get("/healthz");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.keep_alive);
  }
  EXPECT_NE(metrics_.render().find("conect_api_requests_total{route=\"/healthz\",method=\"GET\",code=\"200\"} 20\n"),
            std::string::npos);
}

TEST_F(ServerTest, MalformedRequestsGet400) {
  start();
  std::string reply = raw_exchange(server_->port(), "THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("malformed_request"), std::string::npos);
  std::string bad_query = raw_exchange(server_->port(), "GET /healthz?a=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(bad_query.rfind("HTTP/1.1 400", 0), 0u) << bad_query;
}

TEST_F(ServerTest, HugeHeadersAre431) {
  ApiOptions o;
  o.max_header_bytes = 2048;
  start(o);
  std::string reply = raw_exchange(
      server_->port(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(8192, 'b') + "\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
}

TEST_F(ServerTest, SilentConnectionsAreClosedAfterTheReadTimeout) {
  ApiOptions o;
  o.read_timeout = std::chrono::milliseconds(200);
  start(o);
  RawStream s(server_->port(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");  // never finishes the headers
  EXPECT_TRUE(s.wait_closed());
}

TEST_F(ServerTest, ExpectContinueIsAnswered) {
  start();
  std::string body = "{\"token\":\"" + kToken + "\"}";
  RawStream s(server_->port(),
              "POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              "Expect: 100-continue\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n");
  auto got = s.read_until("\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue", 0), 0u) << got;
}

TEST_F(ServerTest, EventStreamDeliversPublishedChanges) {
  start();
  RawStream s(server_->port(),
              "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken + "\r\n\r\n");
  auto head = s.read_until("retry: 2000\n\n");
  ASSERT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
  ASSERT_TRUE(eventually([&] { return metrics_.gauge("conect_api_event_clients", "").value() == 1; }));
  server_->server().publish(R"({"type":"placement","id":"abc"})");
  server_->server().publish("{\n\"two\": \"lines\"\n}");
  auto got = s.read_until("data: }\n\n");
  EXPECT_NE(got.find("id: 1\nevent: change\ndata: {\"type\":\"placement\",\"id\":\"abc\"}\n\n"), std::string::npos) << got;
  EXPECT_NE(got.find("id: 2\nevent: change\ndata: {\ndata: \"two\": \"lines\"\ndata: }\n\n"), std::string::npos) << got;
}

// The store's writer calls publish_change after each commit and bounds a
// catch-up: the event must not be built there. change_event_json counts the
// record keys it compares per thread, and each commit here touches a record
// twice, so building it on this thread would move this thread's count.
TEST_F(ServerTest, CommitsReachTheEventStreamInOrderBuiltOffTheCommittingThread) {
  start();
  testkit::Author a(1), b(2);
  v1::Organisation org;
  org.add_names()->set_text("Company");
  org.set_country("FI");
  auto commit = [&] {
    RecordKey k = a.next_key(v1::ORGANISATION);
    std::vector<VerifiedDelta> deltas;
    deltas.push_back(a.emit(ops::create_organisation(k, org)));
    deltas.push_back(b.emit({ops::write_organisation(k, org, {1})}));
    return deltas;
  };
  const std::uint64_t comparisons_before = change_event_key_comparisons();
  server_->server().publish_change(commit());  // no client yet: nothing to send

  RawStream s(server_->port(),
              "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken + "\r\n\r\n");
  s.read_until("retry: 2000\n\n");
  ASSERT_TRUE(eventually([&] { return metrics_.gauge("conect_api_event_clients", "").value() == 1; }));
  std::vector<std::vector<VerifiedDelta>> commits;
  for (int i = 0; i < 3; ++i) {
    commits.push_back(commit());
    server_->server().publish_change(commits.back());
  }
  EXPECT_EQ(change_event_key_comparisons(), comparisons_before) << "an event was built on the committing thread";

  std::string expected;
  for (std::size_t i = 0; i < commits.size(); ++i)
    expected += "id: " + std::to_string(i + 1) + "\nevent: change\ndata: " + change_event_json(commits[i]) + "\n\n";
  auto got = s.read_until(expected);
  EXPECT_NE(got.find(expected), std::string::npos) << got;
}

// A change event is on the live path (after the receiver's commit): published
// from an I/O thread, it is written to an idle client before publish
// returns, not when another thread is woken for it. The server here has one
// I/O thread, and this test holds it until the event has arrived.
TEST_F(ServerTest, AnEventPublishedOnAnIoThreadIsWrittenBeforePublishReturns) {
  start();
  RawStream s(server_->port(),
              "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken + "\r\n\r\n");
  s.read_until("retry: 2000\n\n");
  ASSERT_TRUE(eventually([&] { return metrics_.gauge("conect_api_event_clients", "").value() == 1; }));
  // The stream's head write leaves handlers on the connection's strand (its
  // completion, then its timer's cancellation, each queued by the one
  // before): two round trips through the I/O thread run them, so that the
  // strand is idle, as between two live writes.
  for (int i = 0; i < 2; ++i) {
    std::promise<void> hop;
    boost::asio::post(server_->io(), [&] { hop.set_value(); });
    hop.get_future().wait();
  }
  std::promise<std::string> got;
  boost::asio::post(server_->io(), [&] {
    server_->server().publish(R"({"type":"placement","id":"live"})");
    got.set_value(s.read_until_for("\"live\"}\n\n", std::chrono::seconds(10)));
  });
  EXPECT_NE(got.get_future().get().find("data: {\"type\":\"placement\",\"id\":\"live\"}\n\n"), std::string::npos)
      << "the event waited for a thread to be woken";
}

TEST_F(ServerTest, EventStreamNeedsAuthAndAcceptsTheCookie) {
  start();
  std::string reply =
      raw_exchange(server_->port(), "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 401", 0), 0u);
  auto session = client().post("/api/v1/session", {{"token", kToken}});
  std::string cookie = session.header("set-cookie");
  cookie = cookie.substr(0, cookie.find(';'));
  RawStream s(server_->port(), "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + cookie + "\r\n\r\n");
  EXPECT_NE(s.read_until("retry: 2000\n\n").find("200 OK"), std::string::npos);
}

TEST_F(ServerTest, SlowEventClientsAreDropped) {
  ApiOptions o;
  o.event_queue_limit = 4;
  start(o);
  RawStream slow(server_->port(),
                 "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kToken + "\r\n\r\n");
  slow.read_until("retry: 2000\n\n");
  auto& dropped = metrics_.counter("conect_api_event_clients_dropped_total", "");
  ASSERT_TRUE(eventually([&] { return metrics_.gauge("conect_api_event_clients", "").value() == 1; }));
  std::string big = "{\"pad\":\"" + std::string(256 * 1024, 'x') + "\"}";
  // The client never reads: once the socket buffers fill, the queue grows
  // past its limit and the server drops the client.
  ASSERT_TRUE(eventually([&] {
    server_->server().publish(big);
    return dropped.value() == 1;
  }));
  EXPECT_TRUE(eventually([&] { return metrics_.gauge("conect_api_event_clients", "").value() == 0; }));
  // Other clients are unaffected.
  EXPECT_EQ(client().get("/healthz").status, 200);
}

TEST_F(ServerTest, StopClosesIdleConnectionsAndRefusesNewOnes) {
  start();
  auto c = client();
  ASSERT_EQ(c.get("/healthz").status, 200);
  server_->stop();
  EXPECT_TRUE(c.closed_by_peer());
  bool refused = false;
  try {
    Client again(server_->port());
    refused = again.closed_by_peer();
  } catch (const std::exception&) {
    refused = true;
  }
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace conect::api::test
