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

// A record key as the store writes it (schema 6): type (1) || the owner's
// node code (6, node_codes.h) || serial (8). Schemas 1 to 5 wrote the
// owner's whole id (RecordKey::encode, 41 bytes).
inline constexpr std::size_t kNodeCode = 6;
inline constexpr std::size_t kRecordKeySize = 1 + kNodeCode + 8;
inline constexpr std::size_t kRecordKeySizeV5 = 41;

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
// A protobuf varint (values: lengths and numbers inside stored messages).
inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
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

inline std::string record_key(v1::RecordType type, std::string_view owner_code, std::uint64_t serial) {
  std::string k(1, static_cast<char>(type));
  k.reserve(kRecordKeySize);
  k += owner_code;
  put_u64(k, serial);
  return k;
}

// log (schema 6): the origin's node code (6) || seq (8); schemas 1 to 5
// wrote the origin's whole id (position_key).
inline constexpr std::size_t kLogKeySize = kNodeCode + 8;
inline std::string log_key(std::string_view origin_code, Seq seq) {
  std::string k(origin_code);
  put_u64(k, seq.value);
  return k;
}
// origin (32) || seq (8): a delta's position where ids are few enough to
// keep whole (`membership`, `evidence`), and the log key of schemas 1 to 5.
inline constexpr std::size_t kPositionKeySize = 40;
inline std::string position_key(const NodeId& origin, Seq seq) {
  std::string k = origin.raw();
  put_u64(k, seq.value);
  return k;
}

// log values (schema 6): each delta's SignedDelta as received, except that
// a body starting with federation, origin and seq (DeltaBody fields 1 to 3,
// in that order, as every conect writes them) equal to the store's
// federation and the entry's key is kept without them, under field 15
// instead of field 1, so the two forms never mix up. Written in front
// again, they give back the signed bytes exactly: every signature, id, wire
// frame and audit bundle keeps its bytes. Schemas 1 to 5 kept every value
// whole.
inline constexpr char kTrimmedBodyTag = 0x7a;  // field 15, length-delimited
// The value to store for `signed_delta` of (origin, seq): trimmed when it
// can be, else the bytes as they are.
std::string log_value(std::string_view signed_delta, const std::optional<FederationId>& federation,
                      const NodeId& origin, Seq seq);
// The SignedDelta bytes of a stored value; none when it is trimmed and the
// store has no federation to put back (a contradiction: corrupt()).
std::optional<std::string> signed_delta_of(std::string_view stored, const std::optional<FederationId>& federation,
                                           const NodeId& origin, Seq seq);

// heads value: seq (8) || id (32) || hlc (8) || frozen_at (8).
std::string encode_head(const HeadInfo& h);
std::optional<HeadInfo> decode_head(std::string_view v);

// ops (schema 2): one key per stored operation of a record, its position
// only (the value is empty; the operation itself is in its signed delta in
// `log`):
//   record key (15) || origin's node code (6) || seq (8) || index (4)
// (schemas 2 to 5: the 41-byte record key and the origin's whole id, 85
// bytes). The record key comes first, so a prefix scan finds a record's
// operations. Key order inside a record is not the fold's order (the fold
// sorts).
inline constexpr std::size_t kOpKeySize = kRecordKeySize + kNodeCode + 12;
inline constexpr std::size_t kOpKeySizeV5 = kRecordKeySizeV5 + 44;
inline std::string op_key(std::string_view record_key, std::string_view origin_code, Seq seq, std::uint32_t index) {
  std::string k;
  k.reserve(kOpKeySize);
  k += record_key;
  k += origin_code;
  put_u64(k, seq.value);
  put_u32(k, index);
  return k;
}
// The position in an `ops` key, with the origin still as its code.
struct OpKeyPosition {
  std::string_view origin_code;
  Seq seq;
  std::uint32_t index = 0;
};
inline std::optional<OpKeyPosition> decode_op_key(std::string_view key) {
  if (key.size() != kOpKeySize) return std::nullopt;
  return OpKeyPosition{key.substr(kRecordKeySize, kNodeCode), Seq{get_u64(key, kRecordKeySize + kNodeCode)},
                       get_u32(key, kRecordKeySize + kNodeCode + 8)};
}

// ops in schema 1 (read only by the upgrade to schema 2): record key (41)
// || hlc (8) || origin (32) || seq (8) || index (4); value delta id (32) ||
// serialised Operation.
inline constexpr std::size_t kOpKeySizeV1 = kRecordKeySizeV5 + 52;

// The record key at the end of an index entry (term || record key).
inline std::optional<std::string_view> trailing_record(std::string_view index_key) {
  if (index_key.size() < kRecordKeySize) return std::nullopt;
  return index_key.substr(index_key.size() - kRecordKeySize);
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

// Hex cursors: the layout's version (6: keys with node codes; cursors of
// schemas 2 to 5 had none) || one byte naming the index || the last index
// key returned.
inline constexpr char kCursorLayout = 6;
std::string make_cursor(char index, std::string_view last_key);
// Why a cursor is not one of `index`'s: not a cursor at all, one from
// before schema 6 (the index's letter first: it names a key of the old
// layout), or one of another query.
enum class CursorFault { not_a_cursor, old_layout, other_query };
std::optional<std::string> parse_cursor(char index, std::string_view cursor, CursorFault& fault);

}  // namespace conect::storage::codec
