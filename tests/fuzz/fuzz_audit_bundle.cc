// Fuzz target: `conect-node audit verify BUNDLE` on untrusted bytes
// (decode_bundle, verify_bundle, the report and both printers). Besides "no
// crash, no sanitizer report", it checks what a broken verifier would get
// wrong, and traps on any:
//   - the verdict is FAIL exactly when there are failures;
//   - a bundle that decodes re-encodes to bytes that decode to the same verdict;
//   - a report is refused exactly for a FAIL verdict, and its total equals
//     the sum of its rows.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "conect/audit/audit.h"
#include "conect/crdt/identity.h"
#include "fuzz_check.h"

namespace {

using namespace conect;

void check(std::string_view bytes) {
  auto decoded = audit::decode_bundle(bytes);
  auto r = audit::verify_bundle(bytes);
  FUZZ_CHECK(decoded.ok() == r.ok());
  if (!r.ok()) {
    FUZZ_CHECK(!r.error().detail.empty());
    return;
  }
  FUZZ_CHECK((r->verdict == audit::Verdict::fail) == !r->failures.empty());
  if (r->verdict == audit::Verdict::pass) FUZZ_CHECK(r->warnings.empty() && r->rejected.empty());
  auto again = audit::verify_bundle(std::string_view(audit::encode_bundle(*decoded)));
  FUZZ_CHECK(again.ok() && again->verdict == r->verdict && again->failures.size() == r->failures.size());
  (void)audit::verify_report_text(*r);
  (void)audit::verify_report_json(*r);
  auto report = audit::mobility_report(*r, {});
  FUZZ_CHECK(report.ok() == (r->verdict != audit::Verdict::fail));
  if (report.ok()) {
    std::uint64_t sum = 0;
    for (const auto& row : report->rows) sum += row.count;
    FUZZ_CHECK(sum == report->total);
    (void)audit::report_json(*report);
    (void)audit::report_csv(*report);
    (void)audit::report_table(*report);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool init = crypto_init();
  FUZZ_CHECK(init);
  check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
