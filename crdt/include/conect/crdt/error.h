// One error type for every module: a stable code from conect's own
// std::error_category plus a human detail saying what was wrong and what to
// do. Expected failures travel as values (Result<T>, Status); exceptions are
// for programmer errors and start-up failures only.
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace conect {

// Stable rejection reasons. The names (see errc_name) appear in logs, metrics,
// API errors and audit output, so never renumber or rename them.
enum class Errc {
  ok = 0,
  bad_signature,         // a signature does not verify against its origin
  unknown_origin,        // origin is not on the roster
  wrong_federation,      // delta or handshake carries another federation id
  broken_chain,          // prev link does not match the stored predecessor
  sequence_gap,          // a delta arrived before its predecessor
  equivocation,          // two authentic deltas with the same (origin, seq)
  not_authorised,        // the origin may not change this record or field
  malformed_body,        // bytes do not parse, or fields are out of range
  unknown_record_type,   // an operation names no known record type
  fixed_field,           // an operation tries to change a field fixed at creation
  over_capacity,         // a confirmation would exceed a window's capacity
  not_found,             // no such record, key, file or member
  already_exists,        // refusing to overwrite
  invalid_argument,      // well-formed but invalid input
  io_error,              // file system or network failure
  storage_error,         // LMDB failure
  storage_full,          // LMDB map full
  schema_mismatch,       // store written by another schema version or program
  insecure_permissions,  // a secret file is readable by group or others
  crypto_error,          // a libsodium primitive failed
  protocol_error,        // a peer broke the sync or handshake protocol
  limit_exceeded,        // a size, count or rate limit was hit
  unknown_operation,     // an operation of a kind this version does not know (a newer one's)
};

const std::error_category& conect_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;
// Short stable name, e.g. "bad_signature".
const char* errc_name(Errc e) noexcept;

struct Error {
  std::error_code code;
  std::string detail;

  Error() = default;
  Error(Errc e, std::string d) : code(make_error_code(e)), detail(std::move(d)) {}
  Error(std::error_code c, std::string d) : code(c), detail(std::move(d)) {}

  bool is(Errc e) const { return code == make_error_code(e); }
  // "bad_signature: delta 3 of 1a2b..: signature does not verify"
  std::string message() const;
};

// Either a value or an Error. Deliberately small: ok(), value(), error().
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace conect

template <>
struct std::is_error_code_enum<conect::Errc> : std::true_type {};
