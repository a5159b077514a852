#include "codec.h"

#include <cctype>

namespace conect::storage::codec {

std::string encode_head(const HeadInfo& h) {
  std::string v;
  v.reserve(56);
  put_u64(v, h.seq.value);
  v += h.id.raw();
  put_u64(v, h.hlc.value);
  put_u64(v, h.frozen_at.value);
  return v;
}

std::optional<HeadInfo> decode_head(std::string_view v) {
  if (v.size() != 56) return std::nullopt;
  HeadInfo h;
  h.seq = Seq{get_u64(v, 0)};
  h.id = *DeltaId::from_raw(v.substr(8, 32));
  h.hlc = Hlc{get_u64(v, 40)};
  h.frozen_at = Seq{get_u64(v, 48)};
  return h;
}

namespace {

// A varint at `at` (moved past it); none if it runs off the end.
std::optional<std::uint64_t> read_varint(std::string_view s, std::size_t& at) {
  std::uint64_t v = 0;
  for (int shift = 0; at < s.size() && shift < 64; shift += 7) {
    auto c = static_cast<unsigned char>(s[at++]);
    v |= static_cast<std::uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  return std::nullopt;
}

// DeltaBody's fields 1 to 3 as a conect writes them.
std::string body_head(const FederationId& federation, const NodeId& origin, Seq seq) {
  std::string h;
  h.reserve(60);
  h.push_back(0x0a);
  h.push_back(static_cast<char>(FederationId::size()));
  h += federation.raw();
  h.push_back(0x12);
  h.push_back(static_cast<char>(NodeId::size()));
  h += origin.raw();
  h.push_back(0x18);
  put_varint(h, seq.value);
  return h;
}

// The first field of a value with tag `tag`: its bytes and what follows.
std::optional<std::pair<std::string_view, std::string_view>> first_field(std::string_view v, char tag) {
  if (v.empty() || v[0] != tag) return std::nullopt;
  std::size_t at = 1;
  auto size = read_varint(v, at);
  if (!size || *size > v.size() - at) return std::nullopt;
  return std::pair{v.substr(at, *size), v.substr(at + *size)};
}

std::string with_field(char tag, std::string_view field, std::string_view rest) {
  std::string out(1, tag);
  out.reserve(field.size() + rest.size() + 6);
  put_varint(out, field.size());
  out += field;
  out += rest;
  return out;
}

}  // namespace

std::string log_value(std::string_view signed_delta, const std::optional<FederationId>& federation,
                      const NodeId& origin, Seq seq) {
  auto body = federation ? first_field(signed_delta, 0x0a) : std::nullopt;
  if (!body) return std::string(signed_delta);
  const std::string head = body_head(*federation, origin, seq);
  if (!body->first.starts_with(head)) return std::string(signed_delta);
  return with_field(kTrimmedBodyTag, body->first.substr(head.size()), body->second);
}

std::optional<std::string> signed_delta_of(std::string_view stored, const std::optional<FederationId>& federation,
                                           const NodeId& origin, Seq seq) {
  if (stored.empty() || stored[0] != kTrimmedBodyTag) return std::string(stored);
  auto trimmed = first_field(stored, kTrimmedBodyTag);
  if (!trimmed || !federation) return std::nullopt;
  return with_field(0x0a, body_head(*federation, origin, seq) + std::string(trimmed->first), trimmed->second);
}

std::string fold_term(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out;
  out.reserve(e - b);
  for (std::size_t i = b; i < e; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    // The index separator must not occur inside a term.
    if (c == 0) continue;
    out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

std::string make_cursor(char index, std::string_view last_key) {
  std::string raw{kCursorLayout, index};
  raw += last_key;
  return to_hex(raw);
}

std::optional<std::string> parse_cursor(char index, std::string_view cursor, CursorFault& fault) {
  auto raw = from_hex(cursor);
  fault = CursorFault::not_a_cursor;
  if (!raw || raw->size() < 2) return std::nullopt;
  // Schema 2 to 5 wrote the index's letter first, then an entry with whole
  // ids (at least a 41-byte record key).
  if ((*raw)[0] == index && raw->size() > kRecordKeySizeV5) fault = CursorFault::old_layout;
  // Ours names an index by a letter and ends with a record key.
  if ((*raw)[0] == kCursorLayout && std::isalpha(static_cast<unsigned char>((*raw)[1])) &&
      raw->size() >= 2 + kRecordKeySize)
    fault = CursorFault::other_query;
  if ((*raw)[0] != kCursorLayout || (*raw)[1] != index) return std::nullopt;
  return raw->substr(2);
}

}  // namespace conect::storage::codec
