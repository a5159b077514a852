// The bundle file's framing (docs/audit.md, "File layout").
#include <string>

#include "conect/audit/audit.h"

namespace conect::audit {
namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::uint64_t get_be(std::string_view in, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<std::uint8_t>(in[static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

std::string encode_bundle(const v1::AuditBundle& bundle) {
  std::string payload;
  bundle.SerializeToString(&payload);
  std::string out(kMagic);
  put_be(out, bundle.format_version() == 0 ? kFormatVersion : bundle.format_version(), 4);
  put_be(out, payload.size(), 8);
  out += payload;
  return out;
}

Result<v1::AuditBundle> decode_bundle(std::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic)
    return Error(Errc::malformed_body,
                 "not a conect audit bundle: it must start with \"conect-audit\" (make one with `conect-node audit "
                 "export`)");
  if (bytes.size() < kHeaderSize)
    return Error(Errc::malformed_body, "audit bundle is truncated inside its " + std::to_string(kHeaderSize) +
                                           "-byte header (" + std::to_string(bytes.size()) + " bytes)");
  auto version = static_cast<std::uint32_t>(get_be(bytes.substr(12), 4));
  if (version < kOldestFormatVersion || version > kFormatVersion)
    return Error(Errc::schema_mismatch, "audit bundle format version " + std::to_string(version) +
                                            " is not supported (this build reads versions " +
                                            std::to_string(kOldestFormatVersion) + " to " +
                                            std::to_string(kFormatVersion) + "): use a matching conect-node");
  std::uint64_t length = get_be(bytes.substr(16), 8);
  std::uint64_t available = bytes.size() - kHeaderSize;
  if (length > kMaxBundleBytes)
    return Error(Errc::malformed_body, "audit bundle header announces " + std::to_string(length) +
                                           " bytes, over the 2 GiB limit: the file is corrupt");
  if (length > available)
    return Error(Errc::malformed_body, "audit bundle is truncated: the header announces " + std::to_string(length) +
                                           " bytes of content, the file holds " + std::to_string(available));
  if (length < available)
    return Error(Errc::malformed_body, "audit bundle has " + std::to_string(available - length) +
                                           " unexpected bytes after its content: the file is corrupt");
  v1::AuditBundle bundle;
  if (!bundle.ParseFromArray(bytes.data() + kHeaderSize, static_cast<int>(length)))
    return Error(Errc::malformed_body, "audit bundle content does not parse as an AuditBundle: the file is corrupt");
  if (bundle.format_version() != version)
    return Error(Errc::malformed_body, "audit bundle content says format version " +
                                           std::to_string(bundle.format_version()) + ", its framing " +
                                           std::to_string(version) + ": the file is corrupt");
  return bundle;
}

}  // namespace conect::audit
