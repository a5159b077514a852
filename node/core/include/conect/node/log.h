// One line per event (DESIGN §10): human-readable by default, one JSON object
// per line with --log-format json. Events have a stable name and key/value
// fields, so operators can grep text logs and machines can parse JSON ones:
//
//   2026-11-28T16:00:00.123Z info peer_connected peer=1a2b3c4d5e6f7a8b dir=out
//   {"ts":"2026-11-28T16:00:00.123Z","level":"info","event":"peer_connected","peer":"1a2b3c4d5e6f7a8b","dir":"out"}
//
// Thread-safe; writes to stderr (journald captures it under systemd).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace conect::log {

enum class Level { trace, debug, info, warn, error };
enum class Format { text, json };

void configure(Format format, Level level);
bool parse_level(std::string_view name, Level& out);

using Field = std::pair<std::string_view, std::string>;
void event(Level level, std::string_view name, std::initializer_list<Field> fields = {});

inline void info(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::info, name, fields); }
inline void warn(std::string_view name, std::initializer_list<Field> fields = {}) { event(Level::warn, name, fields); }
inline void error(std::string_view name, std::initializer_list<Field> fields = {}) {
  event(Level::error, name, fields);
}
inline void debug(std::string_view name, std::initializer_list<Field> fields = {}) {
  event(Level::debug, name, fields);
}

}  // namespace conect::log
