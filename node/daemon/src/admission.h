// Who may start a handshake with us: a fixed window of handshakes per remote
// address, enough for honest redials, not for a handshake flood (each
// handshake costs us three X25519 operations).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace conect::node {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Admission(std::uint32_t max_per_ip_per_minute) : max_per_minute_(max_per_ip_per_minute) {}

  // True when a handshake from `ip` may start now.
  bool admit(const std::string& ip, Clock::time_point now) {
    auto& [window_start, n] = by_ip_[ip];
    if (now - window_start > std::chrono::minutes(1)) {
      window_start = now;
      n = 0;
    }
    if (by_ip_.size() > 10'000) by_ip_.clear();  // bound the table itself
    return ++n <= max_per_minute_;
  }

 private:
  std::uint32_t max_per_minute_;
  std::map<std::string, std::pair<Clock::time_point, std::uint32_t>> by_ip_;
};

}  // namespace conect::node
