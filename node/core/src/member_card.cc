#include "conect/node/member_card.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace conect {

std::string base64url_encode(std::string_view raw) {
  std::string out(sodium_base64_encoded_len(raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &len, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string role_name(v1::MemberRole role) {
  switch (role) {
    case v1::SCHOOL:
      return "school";
    case v1::COMPANY:
      return "company";
    case v1::AUDITOR:
      return "auditor";
    default:
      return "unknown";
  }
}

std::optional<v1::MemberRole> parse_role(std::string_view name) {
  if (name == "school") return v1::SCHOOL;
  if (name == "company") return v1::COMPANY;
  if (name == "auditor") return v1::AUDITOR;
  return std::nullopt;
}

bool is_country_code(std::string_view code) {
  static constexpr std::array<std::string_view, 249> kCodes = {
      "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB",
      "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY",
      "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX",
      "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK",
      "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
      "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR",
      "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA",
      "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
      "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE",
      "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
      "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG",
      "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF",
      "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY",
      "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW"};
  return std::binary_search(kCodes.begin(), kCodes.end(), code);
}

std::string make_card(const KeyPair& key, const MemberInfo& info) {
  v1::MemberCardBody body;
  body.set_federation(info.federation.raw());
  body.set_node_id(key.public_key().raw());
  body.set_name(info.name);
  body.set_country(info.country);
  body.set_role(info.role);
  for (const auto& a : info.addresses) body.add_addresses(a);
  body.set_issued_ms(info.issued_ms);
  v1::MemberCard card;
  body.SerializeToString(card.mutable_body());
  card.set_signature(key.sign(SigningDomain::member_card, card.body()).raw());
  return std::string(kCardPrefix) + base64url_encode(card.SerializeAsString());
}

Result<MemberInfo> parse_card_bytes(std::string_view bytes) {
  v1::MemberCard card;
  v1::MemberCardBody body;
  if (!card.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !body.ParseFromString(card.body()))
    return Error(Errc::malformed_body, "member card does not decode");
  auto id = NodeId::from_raw(body.node_id());
  auto fed = FederationId::from_raw(body.federation());
  if (!id || !fed) return Error(Errc::malformed_body, "member card has no valid node id or federation id");
  if (!verify_signature(*id, SigningDomain::member_card, card.body(), card.signature()))
    return Error(Errc::bad_signature, "member card signature does not verify: the card was altered or mistyped");
  if (body.name().empty() || body.name().size() > 200)
    return Error(Errc::malformed_body, "member card name must be 1 to 200 characters");
  if (!is_country_code(body.country()))
    return Error(Errc::malformed_body,
                 "member card country '" + body.country() + "' is not an ISO 3166-1 alpha-2 code");
  if (!parse_role(role_name(body.role())))
    return Error(Errc::malformed_body, "member card role must be school, company or auditor");
  MemberInfo info;
  info.node_id = *id;
  info.federation = *fed;
  info.name = body.name();
  info.country = body.country();
  info.role = body.role();
  info.addresses.assign(body.addresses().begin(), body.addresses().end());
  info.issued_ms = body.issued_ms();
  return info;
}

Result<std::string> card_bytes(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (text.substr(0, kCardPrefix.size()) != kCardPrefix)
    return Error(Errc::malformed_body, "not a member card: it must start with '" + std::string(kCardPrefix) +
                                           "' (print one with `conect-node card`)");
  auto raw = base64url_decode(text.substr(kCardPrefix.size()));
  if (!raw) return Error(Errc::malformed_body, "member card is not valid base64url: was it cut or wrapped?");
  // Keep only what the signature covers: other fields in the wrapper would be stored in the
  // roster, exported in audit bundles and passed on, unsigned (issue 14 item 2).
  v1::MemberCard card;
  if (!card.ParseFromString(*raw)) return Error(Errc::malformed_body, "member card does not decode");
  v1::MemberCard bare;
  bare.set_body(card.body());
  bare.set_signature(card.signature());
  return bare.SerializeAsString();
}

Result<MemberInfo> parse_card(std::string_view text) {
  auto bytes = card_bytes(text);
  if (!bytes.ok()) return bytes.error();
  return parse_card_bytes(*bytes);
}

}  // namespace conect
