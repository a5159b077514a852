// Who may connect to the peer port before proving who it is (DESIGN §2:
// every per-peer table has a limit). A connection is *unauthenticated* from
// TCP accept until its Noise handshake has proved a roster member: it costs a
// socket, buffers and three X25519 operations, and proves nothing. The
// membership work will run its join exchange (an unknown id holding an
// invite) through the same door: it stays unauthenticated until the join
// completes.
//
// Three limits (node.toml [limits], docs/sync.md), all per *address*: an IPv4
// address, or an IPv6 /64 (one host holds a whole /64; an IPv4-mapped IPv6
// address counts as its IPv4 one):
//   max_handshakes_per_ip_per_minute  connections an address may open per minute;
//   max_unauthenticated_per_ip        connections an address may hold unauthenticated;
//   max_unauthenticated_connections   connections held unauthenticated in all.
// A new connection over the first two is refused. One that finds all slots
// taken is admitted by evicting the oldest waiting connection of the address
// that holds the most of them: a flood from few places evicts itself first,
// and an honest handshake (milliseconds) completes long before the flood's
// connections would otherwise time out (handshake_timeout_ms).
//
// The per-minute windows live in a table of at most max_tracked_addresses
// entries; past that, the least recently used window is dropped (never the
// whole table, which would let a flood from many addresses reset everyone's
// count). Pure: the caller passes the time; no sockets, no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace conect::node {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::uint32_t per_minute = 120;  // max_handshakes_per_ip_per_minute
    std::uint32_t per_address = 8;   // max_unauthenticated_per_ip
    std::uint32_t total = 64;        // max_unauthenticated_connections
    std::size_t max_tracked_addresses = 10'000;
  };
  enum class Verdict {
    admitted,
    throttled,  // over the per-minute rate of its address
    per_ip,     // its address already holds its share of unauthenticated slots
  };
  struct Decision {
    Verdict verdict = Verdict::admitted;
    std::uint64_t ticket = 0;              // when admitted: give it back with release()
    std::optional<std::uint64_t> evicted;  // a ticket whose connection must be closed now
  };

  explicit Admission(Limits limits) : limits_(limits) {}

  Decision admit(const std::string& address, Clock::time_point now);
  // The connection of `ticket` authenticated or closed (idempotent).
  void release(std::uint64_t ticket);

  std::size_t unauthenticated() const { return waiting_.size(); }
  std::size_t tracked_addresses() const { return windows_.size(); }

 private:
  bool within_rate(const std::string& address, Clock::time_point now);
  std::uint64_t pick_eviction() const;

  struct Window {
    std::string address;
    Clock::time_point start;
    std::uint32_t count = 0;
  };
  Limits limits_;
  std::list<Window> lru_;  // least recently used first
  std::unordered_map<std::string, std::list<Window>::iterator> windows_;
  std::map<std::uint64_t, std::string> waiting_;  // ticket (in arrival order) -> address
  std::unordered_map<std::string, std::uint32_t> per_address_;
  std::uint64_t next_ticket_ = 1;
};

// The address a connection counts against: the IPv4 address, or the /64 of
// an IPv6 one ("2001:db8:1:2::/64"). `ip` as asio prints it.
std::string admission_address(const std::string& ip);

}  // namespace conect::node
