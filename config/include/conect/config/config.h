// node.toml: the node's configuration (DESIGN §8). Every field has a default;
// the file written by `conect-node init` documents each one. Command-line
// flags override the file (apply_override).
//
// Parsing is strict: an unknown table or key, a wrong type or an out-of-range
// value is an error naming the file, line and field, because a silently
// ignored typo in a peer address or a limit is worse than refusing to start.
//
// Versions: the top-level `config_version` says which layout a file has. A
// file without it is version 1 (what 0.1.0 and 0.2.0 wrote); a file newer
// than kConfigVersion is refused (its fields may mean something this build
// does not know). A layout change bumps kConfigVersion and adds one upgrade
// step in config.cc that rewrites the older file's table in memory before
// the strict check: the operator's file is never rewritten behind their back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "conect/crdt/error.h"

namespace conect::config {

// The node.toml layout this build writes and reads.
inline constexpr std::uint32_t kConfigVersion = 1;

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const;  // "host:port" ("[::1]:port" for IPv6)
};
// Parses "HOST:PORT" ("[v6]:PORT" too); port 0 means "pick a free port".
Result<Endpoint> parse_endpoint(std::string_view text);

struct StaticPeer {
  std::string url;      // ws://host:port/sync
  std::string node_id;  // expected id, 64 hex
};

struct NodeConfig {
  // The file's config_version (1 when absent), after any upgrade: kConfigVersion.
  std::uint32_t file_version = kConfigVersion;
  // [node]
  std::string name;
  std::string country;     // ISO 3166-1 alpha-2
  std::string role;        // school | company | auditor
  std::string federation;  // 32 hex characters
  // [network]
  Endpoint peer_listen{"0.0.0.0", 7700};
  Endpoint api_listen{"127.0.0.1", 7780};
  std::vector<std::string> advertise;  // addresses printed in the member card
  std::vector<std::string> api_hosts;  // host names the API answers besides IP literals and localhost
  std::vector<StaticPeer> peers;       // dialled in addition to `peer add` ones
  // [limits]
  std::uint32_t max_frame_bytes = 4 * 1024 * 1024;
  std::uint32_t handshake_timeout_ms = 10'000;
  std::uint32_t idle_timeout_ms = 60'000;
  std::uint32_t send_queue_limit = 64;
  std::uint32_t send_queue_max_frames = 16'384;
  std::uint32_t send_queue_max_bytes = 32 * 1024 * 1024;
  std::uint32_t max_handshakes_per_ip_per_minute = 120;
  std::uint32_t max_unauthenticated_connections = 64;
  std::uint32_t max_unauthenticated_per_ip = 8;
  std::uint32_t api_max_body_bytes = 1024 * 1024;
  // [sync]
  std::uint32_t summary_interval_ms = 5'000;
  // How often peer lag, catch-up progress and their gauges are sampled.
  std::uint32_t progress_interval_ms = 1'000;
  std::uint32_t redial_min_ms = 500;
  std::uint32_t redial_max_ms = 60'000;
  // 1: a verified delta of another origin is pushed on before this node's
  // own commit (DESIGN §6); 0: only after it.
  std::uint32_t forward_before_commit = 1;
  // How a new delta spreads (docs/sync.md "Live"): eager | pruned | lazy | tree.
  std::string sync_push = "pruned";
  // [storage]
  std::uint64_t map_size_mib = 64 * 1024;
  // [privacy]
  // Days after a mobility ended (or was cancelled) after which this node, its
  // owner, erases the participant's personal data; 0 = never (the default).
  std::uint32_t retain_mobility_personal_data_days = 0;
  // [log]
  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // trace | debug | info | warn | error
};

// Reads and validates a node.toml. Errors: not_found, invalid_argument with
// "FILE:LINE: field: what is wrong".
Result<NodeConfig> load(const std::filesystem::path& file);
Result<NodeConfig> parse(std::string_view text, const std::string& source_name);

// The documented file `init` writes (every field with its default and a
// comment saying what it does).
std::string render(const NodeConfig& config);

}  // namespace conect::config
