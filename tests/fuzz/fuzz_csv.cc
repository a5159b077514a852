// The CSV reader takes files coordinators export from spreadsheets: arbitrary
// bytes must give rows or a line-numbered error, never a crash, and what it
// reads must survive being written and read again.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "csv.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conect::cli;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rows = csv::parse(text);
  if (!rows.ok()) return 0;
  if (!rows->empty() && !rows->front().fields.empty() &&
      rows->front().fields.front().substr(0, csv::kUtf8Bom.size()) == csv::kUtf8Bom)
    return 0;  // a leading BOM is read as the file's encoding mark, by design
  std::string written;
  for (const auto& r : *rows) written += csv::format_row(r.fields);
  auto again = csv::parse(written);
  FUZZ_CHECK(again.ok() && again->size() == rows->size());
  for (std::size_t i = 0; i < rows->size(); ++i) FUZZ_CHECK((*again)[i].fields == (*rows)[i].fields);
  return 0;
}
