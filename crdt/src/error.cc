#include "conect/crdt/error.h"

namespace conect {
namespace {

class ConectCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "conect"; }
  std::string message(int ev) const override { return errc_name(static_cast<Errc>(ev)); }
};

}  // namespace

const std::error_category& conect_category() noexcept {
  static const ConectCategory category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), conect_category()}; }

const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok:
      return "ok";
    case Errc::bad_signature:
      return "bad_signature";
    case Errc::unknown_origin:
      return "unknown_origin";
    case Errc::wrong_federation:
      return "wrong_federation";
    case Errc::broken_chain:
      return "broken_chain";
    case Errc::sequence_gap:
      return "sequence_gap";
    case Errc::equivocation:
      return "equivocation";
    case Errc::not_authorised:
      return "not_authorised";
    case Errc::malformed_body:
      return "malformed_body";
    case Errc::unknown_record_type:
      return "unknown_record_type";
    case Errc::fixed_field:
      return "fixed_field";
    case Errc::over_capacity:
      return "over_capacity";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::io_error:
      return "io_error";
    case Errc::storage_error:
      return "storage_error";
    case Errc::storage_full:
      return "storage_full";
    case Errc::schema_mismatch:
      return "schema_mismatch";
    case Errc::insecure_permissions:
      return "insecure_permissions";
    case Errc::crypto_error:
      return "crypto_error";
    case Errc::protocol_error:
      return "protocol_error";
    case Errc::limit_exceeded:
      return "limit_exceeded";
    case Errc::unknown_operation:
      return "unknown_operation";
  }
  return "unknown";
}

std::string Error::message() const {
  std::string name = code.category() == conect_category() ? errc_name(static_cast<Errc>(code.value())) : code.message();
  return detail.empty() ? name : name + ": " + detail;
}

}  // namespace conect
