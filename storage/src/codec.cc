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
  std::string raw(1, index);
  raw += last_key;
  return to_hex(raw);
}

std::optional<std::string> parse_cursor(char index, std::string_view cursor) {
  auto raw = from_hex(cursor);
  if (!raw || raw->empty() || (*raw)[0] != index) return std::nullopt;
  return raw->substr(1);
}

}  // namespace conect::storage::codec
