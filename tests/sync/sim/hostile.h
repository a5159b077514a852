// A hostile roster member for the simulator (issue 14, docs/sync.md "The
// simulator"). It is on every honest node's roster and connected to each, but
// runs no engine: it speaks the wire protocol only to do harm, within what a
// member can do without forging a signature.
//
// It holds every delta authored so far (a member could have fetched them all;
// the simulator lets it read the authors' stores), and from that:
//   lie       announces 2^40 of every honest origin, renewed each interval;
//   silent    leaves requests unanswered;
//   late      answers a request truthfully, but after up to 3 request
//             timeouts (the batch is then stale, or lands just in time);
//   empty     answers with zero-delta batches that do not end the stream;
//   padded    relays real deltas with kilobytes of unknown fields in the
//             wrapper (not covered by the signature);
//   forged    forwards "evidence": a real delta beside a copy whose inner
//             signature is zeroed (nothing proves it);
//   deaf      never reads what it is sent (and so answers nothing).
// Each fault is counted when carried out, so a run can assert that every
// fault it was given actually happened.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "conect/crdt/identity.h"
#include "conect/sync/engine.h"

namespace conect::sim {

enum class Fault { lie, silent, late, empty, padded, forged, deaf };
inline constexpr std::size_t kFaultKinds = 7;
const char* fault_name(Fault f);

// What the hostile member can read: the deltas of `origin` from `from` on
// (at most max_count, max_bytes), as its author stored them.
using DeltaSource = std::function<std::vector<v1::SignedDelta>(const NodeId& origin, std::uint64_t from,
                                                               std::size_t max_count, std::size_t max_bytes)>;

struct HostileSend {
  int to = -1;  // honest node index
  std::uint64_t delay_ms = 0;
  v1::SyncMessage msg{};
};

class HostileMember {
 public:
  HostileMember(KeyPair key, std::vector<Fault> faults, std::uint64_t seed, std::uint64_t request_timeout_ms);

  const NodeId& id() const { return id_; }
  bool has(Fault f) const;
  const std::vector<Fault>& faults() const { return faults_; }
  // How many times each fault was carried out.
  const std::array<std::uint64_t, kFaultKinds>& done() const { return done_; }

  // A message from honest node `from`; what to send back (with delays).
  std::vector<HostileSend> on_message(int from, const v1::SyncMessage& m, const DeltaSource& source);
  // Once per summary interval, to each honest node it is linked with:
  // `origins` are the honest origins (index = node index).
  std::vector<HostileSend> tick(const std::vector<int>& linked, const std::vector<NodeId>& origins,
                                const std::vector<std::uint64_t>& heads, const DeltaSource& source);

 private:
  std::vector<HostileSend> answer(int from, const v1::SyncRequest& r, const DeltaSource& source);
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }

  KeyPair key_;
  NodeId id_;
  std::vector<Fault> faults_;
  std::vector<Fault> answer_modes_;  // silent / late / empty, taken in turn
  std::size_t next_mode_ = 0;
  std::mt19937_64 rng_;
  std::uint64_t timeout_ms_;
  std::array<std::uint64_t, kFaultKinds> done_{};
};

// A SignedDelta with an unknown length-delimited field (number 15) of `n`
// bytes appended: what a relay can add without touching the signature.
v1::SignedDelta padded_delta(const v1::SignedDelta& d, std::size_t n);

}  // namespace conect::sim
