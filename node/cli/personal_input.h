// Personal data for `mobility add` and `contact add`, taken from a file, from
// standard input or from a prompt, never from the command line: arguments
// are visible to every user of the machine (ps, /proc/PID/cmdline) and stay
// in shell history.
#pragma once

#include <CLI/App.hpp>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "commands.h"

namespace conect::cli {

struct PersonalInput {
  std::string file;  // --personal-data-file FILE ("-" = standard input)
  bool ask = false;  // --ask-personal-data
  // The refused flags (--name, --email, ...), to say why they are refused.
  std::string given_on_command_line;
};

// Adds --personal-data-file and --ask-personal-data to `cmd`, and `fields`
// (e.g. "name", "birth-date") as flags that refuse with the reason.
void add_personal_input(CLI::App* cmd, PersonalInput& in, std::span<const std::string_view> fields);

// The personal_data object (empty when none was given), or an error
// (invalid_argument, io_error) saying what to do instead. `fields` are the
// JSON keys allowed ("name", "birth_date", ...); prompts ask for each.
Result<nlohmann::json> read_personal_input(const PersonalInput& in, std::span<const std::string_view> fields);

}  // namespace conect::cli
