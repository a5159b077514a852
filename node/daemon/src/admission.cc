#include "admission.h"

#include <boost/asio/ip/address.hpp>

namespace conect::node {

Admission::Decision Admission::admit(const std::string& address, Clock::time_point now) {
  Decision d;
  if (!within_rate(address, now)) {
    d.verdict = Verdict::throttled;
    return d;
  }
  auto held = per_address_.find(address);
  if (held != per_address_.end() && held->second >= limits_.per_address) {
    d.verdict = Verdict::per_ip;
    return d;
  }
  if (waiting_.size() >= limits_.total && limits_.total > 0) {
    std::uint64_t victim = pick_eviction();
    d.evicted = victim;
    release(victim);
  }
  d.ticket = next_ticket_++;
  waiting_.emplace(d.ticket, address);
  ++per_address_[address];
  return d;
}

void Admission::release(std::uint64_t ticket) {
  auto it = waiting_.find(ticket);
  if (it == waiting_.end()) return;
  auto held = per_address_.find(it->second);
  if (held != per_address_.end() && --held->second == 0) per_address_.erase(held);
  waiting_.erase(it);
}

bool Admission::within_rate(const std::string& address, Clock::time_point now) {
  // Windows that ended long ago go first, oldest first.
  while (!lru_.empty() && now - lru_.front().start > std::chrono::minutes(1)) {
    windows_.erase(lru_.front().address);
    lru_.pop_front();
  }
  auto found = windows_.find(address);
  if (found == windows_.end()) {
    if (windows_.size() >= limits_.max_tracked_addresses && !lru_.empty()) {
      windows_.erase(lru_.front().address);
      lru_.pop_front();
    }
    lru_.push_back(Window{address, now, 0});
    found = windows_.emplace(address, std::prev(lru_.end())).first;
  } else {
    lru_.splice(lru_.end(), lru_, found->second);  // most recently used
  }
  Window& w = *found->second;
  if (now - w.start > std::chrono::minutes(1)) {
    w.start = now;
    w.count = 0;
  }
  return ++w.count <= limits_.per_minute;
}

// The oldest waiting connection of the address that holds the most.
std::uint64_t Admission::pick_eviction() const {
  std::string busiest;
  std::uint32_t most = 0;
  for (const auto& [address, n] : per_address_)
    if (n > most) {
      most = n;
      busiest = address;
    }
  for (const auto& [ticket, address] : waiting_)  // in arrival order
    if (address == busiest) return ticket;
  return waiting_.begin()->first;
}

std::string admission_address(const std::string& ip) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(ip, ec);
  if (ec) return ip;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).to_string();
  if (a.is_v4()) return a.to_string();
  auto bytes = a.to_v6().to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace conect::node
