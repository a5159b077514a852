#include "personal_input.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>

namespace conect::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxInput = 64 * 1024;

std::string flag_of(std::string_view field) {
  std::string f = "--" + std::string(field);
  for (auto& c : f)
    if (c == '_') c = '-';
  return f;
}

Result<std::string> read_all(const std::string& file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Error(Errc::io_error, "cannot read " + file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (text.size() > kMaxInput) return Error(Errc::invalid_argument, file + ": more than 64 KiB of personal data");
  return text;
}

Result<json> parse_object(const std::string& text, const std::string& where, std::span<const std::string_view> fields) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return Error(Errc::invalid_argument, where + ": expected one JSON object such as {\"name\": \"...\"}");
  for (const auto& [k, v] : j.items()) {
    if (std::find(fields.begin(), fields.end(), k) == fields.end()) {
      std::string known;
      for (auto f : fields) known += (known.empty() ? "" : ", ") + std::string(f);
      return Error(Errc::invalid_argument, where + ": unknown field \"" + k + "\" (known: " + known + ")");
    }
    if (!v.is_string()) return Error(Errc::invalid_argument, where + ": " + k + ": expected a string");
  }
  return j;
}

// One line per field from the terminal; an empty answer leaves it out.
Result<json> prompt(std::span<const std::string_view> fields) {
  if (!::isatty(STDIN_FILENO))
    return Error(Errc::invalid_argument,
                 "--ask-personal-data needs a terminal; pipe a JSON object to --personal-data-file - instead");
  json j = json::object();
  for (auto f : fields) {
    std::cerr << f << ": " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) break;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) j[std::string(f)] = line;
  }
  return j;
}

}  // namespace

void add_personal_input(CLI::App* cmd, PersonalInput& in, std::span<const std::string_view> fields) {
  cmd->add_option("--personal-data-file", in.file,
                  "Personal data as a JSON object (" + std::string(fields.front()) +
                      ", ...) read from FILE, or from standard input with -; kept in a sealed blob, never in a "
                      "signed delta");
  cmd->add_flag("--ask-personal-data", in.ask, "Ask for the personal data on the terminal");
  for (auto f : fields) {
    // Hidden: only there to say why personal data is not taken this way.
    cmd->add_option(flag_of(f), in.given_on_command_line)->group("");
  }
}

Result<json> read_personal_input(const PersonalInput& in, std::span<const std::string_view> fields) {
  if (!in.given_on_command_line.empty())
    return Error(Errc::invalid_argument,
                 "personal data is not taken on the command line, where every user of this machine can read it "
                 "(ps) and the shell keeps it; put it in a JSON file and pass --personal-data-file FILE (or - "
                 "for standard input), or use --ask-personal-data");
  if (!in.file.empty() && in.ask)
    return Error(Errc::invalid_argument, "give --personal-data-file or --ask-personal-data, not both");
  if (in.ask) return prompt(fields);
  if (in.file.empty()) return json::object();
  auto text = read_all(in.file);
  if (!text.ok()) return text.error();
  return parse_object(*text, in.file == "-" ? "standard input" : in.file, fields);
}

}  // namespace conect::cli
