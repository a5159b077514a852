#include "hostile.h"

#include <google/protobuf/unknown_field_set.h>

#include <algorithm>

#include "conect/sync/verifier.h"

namespace conect::sim {

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::lie:
      return "lie";
    case Fault::silent:
      return "silent";
    case Fault::late:
      return "late";
    case Fault::empty:
      return "empty";
    case Fault::padded:
      return "padded";
    case Fault::forged:
      return "forged";
    case Fault::deaf:
      return "deaf";
  }
  return "?";
}

v1::SignedDelta padded_delta(const v1::SignedDelta& d, std::size_t n) {
  v1::SignedDelta out = d;
  out.GetReflection()->MutableUnknownFields(&out)->AddLengthDelimited(15, std::string(n, 'p'));
  return out;
}

HostileMember::HostileMember(KeyPair key, std::vector<Fault> faults, std::uint64_t seed,
                             std::uint64_t request_timeout_ms)
    : key_(std::move(key)),
      id_(key_.public_key()),
      faults_(std::move(faults)),
      rng_(seed),
      timeout_ms_(request_timeout_ms) {
  for (Fault f : {Fault::silent, Fault::late, Fault::empty})
    if (has(f)) answer_modes_.push_back(f);
}

bool HostileMember::has(Fault f) const { return std::find(faults_.begin(), faults_.end(), f) != faults_.end(); }

std::vector<HostileSend> HostileMember::on_message(int from, const v1::SyncMessage& m, const DeltaSource& source) {
  if (has(Fault::deaf)) {
    ++done_[static_cast<std::size_t>(Fault::deaf)];
    return {};
  }
  if (!m.has_request() || answer_modes_.empty()) return {};
  return answer(from, m.request(), source);
}

std::vector<HostileSend> HostileMember::answer(int from, const v1::SyncRequest& r, const DeltaSource& source) {
  const Fault mode = answer_modes_[next_mode_++ % answer_modes_.size()];
  ++done_[static_cast<std::size_t>(mode)];
  std::vector<HostileSend> out;
  if (mode == Fault::silent) return out;
  if (mode == Fault::empty) {
    // Zero-delta batches beyond the stream, not ending it: refused, and they
    // must neither buffer nor keep the request alive.
    for (std::uint64_t k = 0; k < 2; ++k) {
      HostileSend s{.to = from, .delay_ms = uniform(1, 50)};
      auto* b = s.msg.mutable_batch();
      b->set_request_id(r.request_id());
      b->set_origin(r.origin());
      b->set_first_seq(r.from() + 3 + k);
      out.push_back(std::move(s));
    }
    return out;
  }
  // Late, but true: what the author holds from `from`, within the credit.
  auto origin = NodeId::from_raw(r.origin());
  if (!origin) return out;
  std::uint64_t until = r.until() == 0 ? ~std::uint64_t{0} : r.until();
  const std::size_t max_count =
      static_cast<std::size_t>(std::min<std::uint64_t>({r.max_count(), until - r.from() + 1, 16}));
  const std::size_t max_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(r.max_bytes(), 8 * 1024));
  std::vector<v1::SignedDelta> ds = source(*origin, r.from(), max_count, max_bytes);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < ds.size(); ++i)
    if ((bytes += sync::delta_bytes(ds[i])) > max_bytes) ds.resize(i);
  std::vector<v1::SignedDelta> all_after = source(*origin, r.from() + ds.size(), 1, ~std::size_t{0});
  HostileSend s{.to = from, .delay_ms = uniform(timeout_ms_ / 2, 3 * timeout_ms_)};
  auto* b = s.msg.mutable_batch();
  b->set_request_id(r.request_id());
  b->set_origin(r.origin());
  b->set_first_seq(r.from());
  for (auto& d : ds) *b->add_deltas() = std::move(d);
  if (all_after.empty()) {  // the stream ends here: nothing more held
    b->set_end(true);
    b->set_head(r.from() + static_cast<std::uint64_t>(b->deltas_size()) - 1);
  }
  out.push_back(std::move(s));
  return out;
}

std::vector<HostileSend> HostileMember::tick(const std::vector<int>& linked, const std::vector<NodeId>& origins,
                                             const std::vector<std::uint64_t>& heads, const DeltaSource& source) {
  std::vector<HostileSend> out;
  for (int to : linked) {
    if (has(Fault::lie)) {
      HostileSend s{.to = to, .delay_ms = uniform(1, 30)};
      for (const auto& o : origins) {
        auto* e = s.msg.mutable_have()->add_entries();
        e->set_origin(o.raw());
        e->set_seq(std::uint64_t{1} << 40);
      }
      out.push_back(std::move(s));
      ++done_[static_cast<std::size_t>(Fault::lie)];
    }
    // A real delta of an origin other than the receiver's own.
    std::vector<std::size_t> held;
    for (std::size_t o = 0; o < origins.size(); ++o)
      if (heads[o] > 0 && static_cast<int>(o) != to) held.push_back(o);
    if (held.empty()) continue;
    const std::size_t o = held[uniform(0, held.size() - 1)];
    auto ds = source(origins[o], uniform(1, heads[o]), 1, ~std::size_t{0});
    if (ds.empty()) continue;
    if (has(Fault::padded)) {
      HostileSend s{.to = to, .delay_ms = uniform(1, 30)};
      *s.msg.mutable_push()->mutable_delta() = padded_delta(ds.front(), uniform(1024, 6 * 1024));
      out.push_back(std::move(s));
      ++done_[static_cast<std::size_t>(Fault::padded)];
    }
    if (has(Fault::forged)) {
      HostileSend s{.to = to, .delay_ms = uniform(1, 30)};
      auto* ev = s.msg.mutable_evidence()->mutable_evidence();
      *ev->mutable_first() = ds.front();
      *ev->mutable_second() = ds.front();
      ev->mutable_second()->set_signature(std::string(64, '\0'));
      out.push_back(std::move(s));
      ++done_[static_cast<std::size_t>(Fault::forged)];
    }
  }
  return out;
}

}  // namespace conect::sim
