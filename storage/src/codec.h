// Key and value encodings of the store's sub-databases (docs/storage.md).
// Integers are big-endian so that LMDB's bytewise key order is numeric order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conect/crdt/merge.h"
#include "conect/crdt/types.h"
#include "conect/storage/store.h"

namespace conect::storage::codec {

inline constexpr std::size_t kRecordKeySize = 41;  // type (1) || owner (32) || serial (8)

inline void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
inline void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
inline std::uint64_t get_u64(std::string_view s, std::size_t at = 0) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
inline std::uint32_t get_u32(std::string_view s, std::size_t at = 0) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
// Signed days as an order-preserving unsigned key part.
inline void put_days(std::string& out, std::int32_t days) {
  put_u32(out, static_cast<std::uint32_t>(days) ^ 0x80000000u);
}
inline std::string u64_bytes(std::uint64_t v) {
  std::string s;
  put_u64(s, v);
  return s;
}

// log: origin (32) || seq (8).
inline std::string log_key(const NodeId& origin, Seq seq) {
  std::string k = origin.raw();
  put_u64(k, seq.value);
  return k;
}

// heads value: seq (8) || id (32) || hlc (8) || frozen_at (8).
std::string encode_head(const HeadInfo& h);
std::optional<HeadInfo> decode_head(std::string_view v);

// ops (schema 2): one key per stored operation of a record, its position
// only (the value is empty; the operation itself is in its signed delta in
// `log`):
//   record key (41) || origin (32) || seq (8) || index (4)
// The record key comes first, so a prefix scan finds a record's operations.
// Key order inside a record is not the fold's order (the fold sorts).
inline constexpr std::size_t kOpKeySize = kRecordKeySize + 44;
inline std::string op_key(std::string_view record_key, const NodeId& origin, Seq seq, std::uint32_t index) {
  std::string k;
  k.reserve(kOpKeySize);
  k += record_key;
  k += origin.raw();
  put_u64(k, seq.value);
  put_u32(k, index);
  return k;
}
// The position in an `ops` key.
struct OpKeyPosition {
  NodeId origin;
  Seq seq;
  std::uint32_t index = 0;
};
inline std::optional<OpKeyPosition> decode_op_key(std::string_view key) {
  if (key.size() != kOpKeySize) return std::nullopt;
  return OpKeyPosition{*NodeId::from_raw(key.substr(kRecordKeySize, 32)), Seq{get_u64(key, kRecordKeySize + 32)},
                       get_u32(key, kRecordKeySize + 40)};
}

// ops in schema 1 (read only by the upgrade to schema 2): record key (41)
// || hlc (8) || origin (32) || seq (8) || index (4); value delta id (32) ||
// serialised Operation.
inline constexpr std::size_t kOpKeySizeV1 = kRecordKeySize + 52;

// The record key at the end of an index key.
inline std::optional<RecordKey> trailing_record(std::string_view index_key) {
  if (index_key.size() < kRecordKeySize) return std::nullopt;
  return RecordKey::decode(index_key.substr(index_key.size() - kRecordKeySize));
}

// evidence: kind (1) || origin (32) || seq (8) || suffix.
enum class EvidenceKind : char { equivocation = 'e', rejected_delta = 'r', rejected_operation = 'o' };
inline std::string evidence_key(EvidenceKind kind, const NodeId& origin, Seq seq, std::string_view suffix) {
  std::string k(1, static_cast<char>(kind));
  k += origin.raw();
  put_u64(k, seq.value);
  k += suffix;
  return k;
}

// Lower-cased, trimmed text used as an index term (trade, country, language).
std::string fold_term(std::string_view s);

// Hex cursors: one byte naming the index || the last index key returned.
std::string make_cursor(char index, std::string_view last_key);
std::optional<std::string> parse_cursor(char index, std::string_view cursor);

}  // namespace conect::storage::codec
