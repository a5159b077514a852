// Wire form of the sync protocol (proto/sync.proto) and its size limits.
//
// Every message is bounded before it is acted upon: the byte size of the
// frame (decode_message), then the structure (check_message: entry counts,
// id lengths, delta sizes, credit asked for). A peer that breaks a limit is
// disconnected with limit_exceeded or protocol_error (docs/sync.md lists them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sync.pb.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/types.h"

namespace conect::sync {

struct Limits {
  // A whole encoded SyncMessage.
  std::size_t max_message_bytes = 2u << 20;
  // One SignedDelta (body + signature).
  std::size_t max_delta_bytes = kMaxDeltaBytes;
  // Deltas in one SyncBatch, and their body + signature bytes (a responder
  // never exceeds them; one delta alone may be up to max_delta_bytes).
  std::size_t max_batch_count = 1024;
  std::size_t max_batch_bytes = 1u << 20;
  // Entries in one SyncSummary / SyncHave.
  std::size_t max_summary_entries = 65536;
  std::size_t max_have_entries = 4096;
  // Credit one SyncRequest or SyncCredit may ask for.
  std::size_t max_credit_count = 65536;
  std::size_t max_credit_bytes = 64u << 20;
};

// Prefix of a head id carried by short summary entries.
inline constexpr std::size_t kHeadPrefixBytes = 16;

// Frame -> message. Errors: limit_exceeded (too large), protocol_error (does
// not parse, or carries no message).
Result<v1::SyncMessage> decode_message(std::string_view bytes, const Limits& limits);
// Structural limits of a decoded message. Errors: limit_exceeded, protocol_error.
Status check_message(const v1::SyncMessage& message, const Limits& limits);

// Short stable name of the message kind ("summary", "batch", ...).
const char* message_name(const v1::SyncMessage& message);

}  // namespace conect::sync
