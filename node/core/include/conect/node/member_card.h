// Member cards (DESIGN §2): one line of text a node prints with
// `conect-node card` and a partner imports with `conect-node member add`.
// The card is signed by the key it names, so a typo or an edit cannot slip
// through: a changed character breaks the signature or the encoding.
//
//   conect-card:<base64url, no padding, of MemberCard>
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "delta.pb.h"

namespace conect {

inline constexpr std::string_view kCardPrefix = "conect-card:";

struct MemberInfo {
  NodeId node_id;
  FederationId federation;
  std::string name;
  std::string country;
  v1::MemberRole role = v1::MEMBER_ROLE_UNSPECIFIED;
  std::vector<std::string> addresses;
  std::uint64_t issued_ms = 0;
};

std::string make_card(const KeyPair& key, const MemberInfo& info);
// Decodes and verifies a card. Errors: malformed_body (not a card, bad
// base64, bad fields), bad_signature.
Result<MemberInfo> parse_card(std::string_view text);
// The serialised MemberCard bytes of a verified card (what the roster stores).
Result<std::string> card_bytes(std::string_view text);
Result<MemberInfo> parse_card_bytes(std::string_view bytes);

std::string role_name(v1::MemberRole role);  // "school" | "company" | "auditor"
std::optional<v1::MemberRole> parse_role(std::string_view name);
// ISO 3166-1 alpha-2 (the officially assigned codes).
bool is_country_code(std::string_view code);

std::string base64url_encode(std::string_view raw);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace conect
