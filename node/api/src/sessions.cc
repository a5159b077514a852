#include "sessions.h"

#include <sodium.h>

#include <algorithm>

#include "conect/crdt/identity.h"

namespace conect::api {
namespace {

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return to_hex(raw);
}

}  // namespace

Sessions::Sessions(std::string token, std::function<std::uint64_t()> now_ms,
                   std::uint64_t session_ttl_ms, std::size_t max_sessions)
    : token_hash_(blake2b256(token)), now_ms_(std::move(now_ms)), ttl_ms_(session_ttl_ms),
      max_(max_sessions) {}

bool Sessions::check_token(std::string_view presented) const {
  if (presented.empty()) return false;
  Hash256 h = blake2b256(presented);
  return sodium_memcmp(h.data(), token_hash_.data(), h.size()) == 0;
}

void Sessions::expire(Table& t, std::uint64_t now) {
  std::erase_if(t, [now](const auto& kv) { return kv.second <= now; });
}

Sessions::Created Sessions::create_session() {
  Created c{random_hex(32), random_hex(32)};
  std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expiry_ms <= now; });
  if (sessions_.size() >= max_) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.expiry_ms < b.second.expiry_ms;
    });
    sessions_.erase(oldest);
  }
  sessions_[blake2b256(c.id)] = Session{now + ttl_ms_, c.csrf_token};
  return c;
}

Sessions::Session* Sessions::live_session(std::string_view id, std::uint64_t now) {
  if (id.size() != 64) return nullptr;
  auto it = sessions_.find(blake2b256(id));
  return it != sessions_.end() && it->second.expiry_ms > now ? &it->second : nullptr;
}

bool Sessions::check_session(std::string_view id) {
  std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  return live_session(id, now) != nullptr;
}

bool Sessions::check_csrf(std::string_view id, std::string_view token) {
  std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  const Session* s = live_session(id, now);
  if (!s || token.size() != s->csrf_token.size()) return false;
  return sodium_memcmp(token.data(), s->csrf_token.data(), token.size()) == 0;
}

std::optional<std::string> Sessions::csrf_token(std::string_view id) {
  std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  const Session* s = live_session(id, now);
  return s ? std::optional<std::string>(s->csrf_token) : std::nullopt;
}

std::string Sessions::issue_login_code(std::uint64_t ttl_ms) {
  std::string code = random_hex(16);
  std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  expire(codes_, now);
  codes_[blake2b256(code)] = now + ttl_ms;
  return code;
}

bool Sessions::redeem_login_code(std::string_view code) {
  if (code.size() != 32) return false;
  Hash256 h = blake2b256(code);
  std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  auto it = codes_.find(h);
  if (it == codes_.end()) return false;
  bool live = it->second > now;
  codes_.erase(it);
  return live;
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      auto v = part.substr(eq + 1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return v;
    }
  }
  return std::nullopt;
}

}  // namespace conect::api
