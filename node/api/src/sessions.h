// Who may use /api/v1/: the bearer token from the data directory, or a
// session cookie obtained for it (DESIGN §8: browsers cannot set headers on
// event streams), or a one-time login code printed by the daemon.
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
#include <string>
#include <string_view>

#include "conect/crdt/types.h"

namespace conect::api {

class Sessions {
 public:
  Sessions(std::string token, std::function<std::uint64_t()> now_ms, std::uint64_t session_ttl_ms,
           std::size_t max_sessions = 1024);

  bool check_token(std::string_view presented) const;

  // A new random session id (64 hex); the oldest session is evicted when
  // the table is full.
  std::string create_session();
  bool check_session(std::string_view id);

  // A single-use code valid for `ttl_ms`, for the URL the daemon prints.
  std::string issue_login_code(std::uint64_t ttl_ms = 10 * 60 * 1000);
  // True once per issued, unexpired code.
  bool redeem_login_code(std::string_view code);

 private:
  using Table = std::map<Hash256, std::uint64_t>;  // hash(secret) -> expiry ms
  void expire(Table& t, std::uint64_t now);

  Hash256 token_hash_;
  std::function<std::uint64_t()> now_ms_;
  std::uint64_t ttl_ms_;
  std::size_t max_;
  std::mutex mu_;
  Table sessions_;
  Table codes_;
};

// The value of cookie `name` in a Cookie header, if present.
std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name);

}  // namespace conect::api
