// RFC 4180 CSV as spreadsheets write and read it: fields separated by commas,
// quoted when they hold a comma, quote, CR or LF (quotes doubled inside),
// records ended by CRLF (LF accepted), UTF-8 with an optional byte-order mark.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/error.h"

namespace conect::cli::csv {

struct Row {
  std::size_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};

// Errors (invalid_argument, naming the line): an unterminated quote, a quote
// inside an unquoted field, text after a closing quote, invalid UTF-8.
// `separator` ';' reads what spreadsheets save as "CSV" in Finnish, Swedish,
// Norwegian and Russian settings.
Result<std::vector<Row>> parse(std::string_view text, char separator = ',');
// The separator a file's header line uses: ';' when it has semicolons and no
// comma (column names hold neither), else ','.
char header_separator(std::string_view text);

// One record, quoted where needed, ending in CRLF.
std::string format_row(const std::vector<std::string>& fields);
// The UTF-8 byte-order mark that makes spreadsheets read the file as UTF-8.
inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace conect::cli::csv
