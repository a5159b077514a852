#include "csv.h"

namespace conect::cli::csv {
namespace {

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80) n = 0;
    else if ((c >> 5) == 0x6) n = 1;
    else if ((c >> 4) == 0xe) n = 2;
    else if ((c >> 3) == 0x1e) n = 3;
    else return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n + 1;
  }
  return true;
}

Error at(std::size_t line, const std::string& what) {
  return Error(Errc::invalid_argument, "line " + std::to_string(line) + ": " + what);
}

}  // namespace

char header_separator(std::string_view text) {
  const std::string_view header = text.substr(0, text.find_first_of("\r\n"));
  return header.find(',') == std::string_view::npos && header.find(';') != std::string_view::npos ? ';' : ',';
}

Result<std::vector<Row>> parse(std::string_view text, char separator) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  if (!valid_utf8(text)) return Error(Errc::invalid_argument, "the file is not UTF-8 (save it as \"CSV UTF-8\")");
  std::vector<Row> rows;
  Row row;
  std::string field;
  std::size_t line = 1;
  row.line = 1;
  bool quoted = false, after_quote = false, any = false;
  auto end_field = [&] {
    row.fields.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  auto end_row = [&] {
    end_field();
    bool blank = row.fields.size() == 1 && row.fields[0].empty();
    if (!blank) rows.push_back(std::move(row));
    row = Row{};
    row.line = line;
    any = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == separator) {
      end_field();
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_row();
    } else if (c == '"') {
      if (!field.empty() || after_quote) return at(line, "a quote inside an unquoted field (quote the whole field)");
      quoted = true;
    } else {
      if (after_quote) return at(line, "text after a closing quote");
      field.push_back(c);
    }
    any = true;
  }
  if (quoted) return at(row.line, "a quoted field is never closed");
  if (any || !field.empty() || !row.fields.empty()) end_row();
  return rows;
}

std::string format_row(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back(',');
    const std::string& f = fields[i];
    bool quote = f.find_first_of(",\"\r\n") != std::string::npos || (!f.empty() && (f.front() == ' ' || f.back() == ' '));
    if (!quote) {
      out += f;
      continue;
    }
    out.push_back('"');
    for (char c : f) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out += "\r\n";
  return out;
}

}  // namespace conect::cli::csv
