#include "conect/sync/messages.h"

#include <string>

#include "conect/sync/verifier.h"

namespace conect::sync {
namespace {

Status too_many(const char* what, std::size_t n, std::size_t limit) {
  return Error(Errc::limit_exceeded, std::string(what) + " carries " + std::to_string(n) +
                                         " items, the limit is " + std::to_string(limit));
}

Status check_entry(const v1::OriginEntry& e) {
  if (e.index() == 0 && e.origin().size() != NodeId::size())
    return Error(Errc::protocol_error, "origin entry names neither a roster index nor a 32-byte origin");
  if (!e.head().empty() && e.head().size() != kHeadPrefixBytes && e.head().size() != DeltaId::size())
    return Error(Errc::protocol_error, "origin entry head is neither 16 nor 32 bytes");
  return Status::Ok();
}

Status check_summary(const v1::SyncSummary& s, const Limits& l) {
  if (s.vv_hash().size() != Hash256::size())
    return Error(Errc::protocol_error, "summary hash is not 32 bytes");
  if (static_cast<std::size_t>(s.entries_size()) > l.max_summary_entries)
    return too_many("summary", static_cast<std::size_t>(s.entries_size()), l.max_summary_entries);
  for (const auto& e : s.entries())
    if (auto st = check_entry(e); !st.ok()) return st;
  return Status::Ok();
}

Status check_delta(const v1::SignedDelta& d, const Limits& l) {
  if (delta_bytes(d) > l.max_delta_bytes)
    return Error(Errc::limit_exceeded, "a delta of " + std::to_string(delta_bytes(d)) +
                                           " bytes exceeds the limit of " + std::to_string(l.max_delta_bytes));
  return Status::Ok();
}

Status check_batch(const v1::SyncBatch& b, const Limits& l) {
  // first_seq 0 with no deltas: "no such request" (the origin is unknown then).
  if (b.first_seq() == 0 && b.deltas_size() == 0) return Status::Ok();
  if (b.origin().size() != NodeId::size()) return Error(Errc::protocol_error, "batch origin is not 32 bytes");
  if (static_cast<std::size_t>(b.deltas_size()) > l.max_batch_count)
    return too_many("batch", static_cast<std::size_t>(b.deltas_size()), l.max_batch_count);
  std::size_t total = 0;
  for (const auto& d : b.deltas()) {
    if (auto st = check_delta(d, l); !st.ok()) return st;
    total += delta_bytes(d);
  }
  if (b.deltas_size() > 1 && total > l.max_batch_bytes)
    return Error(Errc::limit_exceeded, "batch of " + std::to_string(total) + " bytes exceeds the limit of " +
                                           std::to_string(l.max_batch_bytes));
  return Status::Ok();
}

Status check_request(const v1::SyncRequest& r, const Limits& l) {
  if (r.origin().size() != NodeId::size()) return Error(Errc::protocol_error, "request origin is not 32 bytes");
  if (r.from() == 0) return Error(Errc::protocol_error, "request from seq 0");
  if (r.until() != 0 && r.until() < r.from()) return Error(Errc::protocol_error, "request until < from");
  if (r.max_count() > l.max_credit_count || r.max_bytes() > l.max_credit_bytes)
    return Error(Errc::limit_exceeded, "request asks for more credit than the limit");
  return Status::Ok();
}

}  // namespace

Result<v1::SyncMessage> decode_message(std::string_view bytes, const Limits& limits) {
  if (bytes.size() > limits.max_message_bytes)
    return Error(Errc::limit_exceeded, "message of " + std::to_string(bytes.size()) +
                                           " bytes exceeds the limit of " + std::to_string(limits.max_message_bytes));
  v1::SyncMessage m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Error(Errc::protocol_error, "sync message does not parse");
  if (m.msg_case() == v1::SyncMessage::MSG_NOT_SET)
    return Error(Errc::protocol_error, "sync message carries no known message");
  return m;
}

Status check_message(const v1::SyncMessage& m, const Limits& l) {
  switch (m.msg_case()) {
    case v1::SyncMessage::kSummary: return check_summary(m.summary(), l);
    case v1::SyncMessage::kRequest: return check_request(m.request(), l);
    case v1::SyncMessage::kBatch: return check_batch(m.batch(), l);
    case v1::SyncMessage::kCredit:
      if (m.credit().add_count() > l.max_credit_count || m.credit().add_bytes() > l.max_credit_bytes)
        return Error(Errc::limit_exceeded, "credit grant beyond the limit");
      return Status::Ok();
    case v1::SyncMessage::kPush: return check_delta(m.push().delta(), l);
    case v1::SyncMessage::kHave: {
      const std::size_t announced =
          static_cast<std::size_t>(m.have().entries_size()) + static_cast<std::size_t>(m.have().packed_size()) / 2;
      if (announced > l.max_have_entries) return too_many("have", announced, l.max_have_entries);
      if (m.have().packed_size() % 2 != 0)
        return Error(Errc::protocol_error, "packed announcements are not (position gap, seq) pairs");
      for (int i = 0; i < m.have().packed_size(); i += 2)
        if (m.have().packed(i) == 0)
          return Error(Errc::protocol_error, "packed announcements name a position twice or position 0");
      for (const auto* list : {&m.have().entries(), &m.have().prune(), &m.have().graft()}) {
        if (static_cast<std::size_t>(list->size()) > l.max_have_entries)
          return too_many("have", static_cast<std::size_t>(list->size()), l.max_have_entries);
        for (const auto& e : *list)
          if (auto st = check_entry(e); !st.ok()) return st;
      }
      return Status::Ok();
    }
    case v1::SyncMessage::kEvidence: {
      const auto& ev = m.evidence().evidence();
      if (auto st = check_delta(ev.first(), l); !st.ok()) return st;
      if (auto st = check_delta(ev.second(), l); !st.ok()) return st;
      for (const auto* cover : {&ev.first_cover(), &ev.second_cover()}) {
        if (static_cast<std::size_t>(cover->size()) > l.max_batch_count)
          return too_many("evidence cover", static_cast<std::size_t>(cover->size()), l.max_batch_count);
        for (const auto& d : *cover)
          if (auto st = check_delta(d, l); !st.ok()) return st;
      }
      return Status::Ok();
    }
    case v1::SyncMessage::kPersonalDeliver:
    case v1::SyncMessage::kPersonalAnswer:
    case v1::SyncMessage::kPersonalCarry:
    case v1::SyncMessage::kPersonalCarryAnswer:
      // The daemon routes these to the courier (docs/privacy.md); one that
      // reaches the engine did not parse there.
      return Error(Errc::protocol_error, "personal-data delivery is not a sync engine message");
    case v1::SyncMessage::MSG_NOT_SET: break;
  }
  return Error(Errc::protocol_error, "sync message carries no known message");
}

const char* message_name(const v1::SyncMessage& m) {
  switch (m.msg_case()) {
    case v1::SyncMessage::kSummary: return "summary";
    case v1::SyncMessage::kRequest: return "request";
    case v1::SyncMessage::kBatch: return "batch";
    case v1::SyncMessage::kCredit: return "credit";
    case v1::SyncMessage::kPush: return "push";
    case v1::SyncMessage::kHave: return "have";
    case v1::SyncMessage::kEvidence: return "evidence";
    case v1::SyncMessage::kPersonalDeliver: return "personal_deliver";
    case v1::SyncMessage::kPersonalAnswer: return "personal_answer";
    case v1::SyncMessage::kPersonalCarry: return "personal_carry";
    case v1::SyncMessage::kPersonalCarryAnswer: return "personal_carry_answer";
    case v1::SyncMessage::MSG_NOT_SET: break;
  }
  return "none";
}

}  // namespace conect::sync
