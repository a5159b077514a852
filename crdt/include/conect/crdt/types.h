// Strong types for the identifiers that flow through every module, so that a
// node id cannot be passed where a delta id belongs, nor a sequence number
// where an HLC timestamp does.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace conect {

template <std::size_t N, class Tag>
struct FixedBytes {
  std::array<std::uint8_t, N> bytes{};

  static constexpr std::size_t size() { return N; }
  const std::uint8_t* data() const { return bytes.data(); }
  std::uint8_t* data() { return bytes.data(); }
  bool is_zero() const {
    for (auto b : bytes)
      if (b != 0) return false;
    return true;
  }
  // Raw bytes as a std::string (the form protobuf `bytes` fields use).
  std::string raw() const { return std::string(reinterpret_cast<const char*>(bytes.data()), N); }
  // From raw bytes; nullopt when the length is wrong.
  static std::optional<FixedBytes> from_raw(std::string_view s) {
    if (s.size() != N) return std::nullopt;
    FixedBytes out;
    for (std::size_t i = 0; i < N; ++i) out.bytes[i] = static_cast<std::uint8_t>(s[i]);
    return out;
  }
  std::string hex() const;
  // From lowercase or uppercase hex of exactly 2N characters.
  static std::optional<FixedBytes> from_hex(std::string_view s);

  auto operator<=>(const FixedBytes&) const = default;
  bool operator==(const FixedBytes&) const = default;
};

struct NodeIdTag {};
struct DeltaIdTag {};
struct FederationIdTag {};
struct Hash256Tag {};

// A member: its first Ed25519 public key. Printed as 64 lowercase hex chars.
using NodeId = FixedBytes<32, NodeIdTag>;
// BLAKE2b-256 over the length-prefixed body and the signature (DESIGN §4).
using DeltaId = FixedBytes<32, DeltaIdTag>;
// Random 16 bytes minted by the founding node. Printed as 32 hex chars.
using FederationId = FixedBytes<16, FederationIdTag>;
using Hash256 = FixedBytes<32, Hash256Tag>;

// Position in one origin's log: 1, 2, 3, ... (0 = nothing yet).
struct Seq {
  std::uint64_t value = 0;
  auto operator<=>(const Seq&) const = default;
  Seq next() const { return Seq{value + 1}; }
};

// Hybrid logical clock timestamp: physical milliseconds << 16 | logical counter.
struct Hlc {
  std::uint64_t value = 0;
  auto operator<=>(const Hlc&) const = default;
  std::uint64_t millis() const { return value >> 16; }
  std::uint16_t logical() const { return static_cast<std::uint16_t>(value & 0xffff); }
  static Hlc make(std::uint64_t millis, std::uint16_t logical) { return Hlc{(millis << 16) | logical}; }
};

// Lowercase hex of arbitrary bytes, and back (nullopt on bad input).
std::string to_hex(std::string_view raw);
std::optional<std::string> from_hex(std::string_view hex);

template <std::size_t N, class Tag>
std::string FixedBytes<N, Tag>::hex() const {
  return to_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), N));
}

template <std::size_t N, class Tag>
std::optional<FixedBytes<N, Tag>> FixedBytes<N, Tag>::from_hex(std::string_view s) {
  if (s.size() != 2 * N) return std::nullopt;
  auto raw = conect::from_hex(s);
  if (!raw) return std::nullopt;
  return from_raw(*raw);
}

}  // namespace conect
