// Who may use /api/v1/: the bearer token from the data directory, or a
// session cookie obtained for it (DESIGN §8: browsers cannot set headers on
// event streams), or a one-time login code printed by the daemon.
//
// Each session has a CSRF token of its own, handed to the page that created
// the session (never in a cookie): a write authenticated by the cookie must
// repeat it in X-CSRF-Token, which a page of another origin cannot read
// (a page on another port of this host is same-site, so SameSite=Strict
// alone does not keep it from riding on the cookie).
//
// Secrets are never compared with memcmp: the token check hashes both sides
// to equal length and compares with sodium_memcmp, and sessions and login
// codes are kept (and looked up) by their BLAKE2b hash, so neither the
// comparison time nor the table reveals a prefix of a live secret.
//
// Thread-safety: all members are safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "conect/crdt/types.h"

namespace conect::api {

class Sessions {
 public:
  Sessions(std::string token, std::function<std::uint64_t()> now_ms, std::uint64_t session_ttl_ms,
           std::size_t max_sessions = 1024);

  bool check_token(std::string_view presented) const;

  struct Created {
    std::string id;          // the cookie's value (64 hex)
    std::string csrf_token;  // 64 hex, for X-CSRF-Token
  };
  // A new random session and its CSRF token; the oldest session is evicted
  // when the table is full.
  Created create_session();
  bool check_session(std::string_view id);
  // True when `token` is the CSRF token of live session `id`.
  bool check_csrf(std::string_view id, std::string_view token);
  // The CSRF token of live session `id` (for a page that lost it, e.g. a
  // second tab), or nullopt.
  std::optional<std::string> csrf_token(std::string_view id);

  // A single-use code valid for `ttl_ms`, for the URL the daemon prints.
  std::string issue_login_code(std::uint64_t ttl_ms = 10 * 60 * 1000);
  // True once per issued, unexpired code.
  bool redeem_login_code(std::string_view code);

 private:
  using Table = std::map<Hash256, std::uint64_t>;  // hash(secret) -> expiry ms
  struct Session {
    std::uint64_t expiry_ms = 0;
    std::string csrf_token;
  };
  void expire(Table& t, std::uint64_t now);
  // The live session with id `id` (64 hex), under mu_.
  Session* live_session(std::string_view id, std::uint64_t now);

  Hash256 token_hash_;
  std::function<std::uint64_t()> now_ms_;
  std::uint64_t ttl_ms_;
  std::size_t max_;
  std::mutex mu_;
  std::map<Hash256, Session> sessions_;  // by hash(id)
  Table codes_;
};

// The value of cookie `name` in a Cookie header, if present.
std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name);

}  // namespace conect::api
