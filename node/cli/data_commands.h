// Data commands (placements, reservations, mobilities, contacts, status,
// demo, ...): they talk to the running node's HTTP API with the token from
// the data directory, so that the node's single writer stays in charge.
#pragma once

#include <CLI/App.hpp>

#include "commands.h"

namespace conect::cli {

// Registers the data subcommands on `app`; their callbacks set `code`.
void add_data_commands(CLI::App& app, Global& g, int& code);
// `import placements FILE.csv`, `export placements|mobilities|contacts`.
void add_csv_commands(CLI::App& app, Global& g, int& code);

}  // namespace conect::cli
