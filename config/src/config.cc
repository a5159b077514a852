#include "conect/config/config.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <toml++/toml.h>

namespace conect::config {

std::string Endpoint::text() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return Error(Errc::invalid_argument, "'" + std::string(text) + "' is not HOST:PORT (e.g. 127.0.0.1:7780)");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3)
      return Error(Errc::invalid_argument, "'" + std::string(text) + "': IPv6 hosts are written [addr]:port");
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return Error(Errc::invalid_argument, "'" + std::string(text) + "': port must be a number from 0 to 65535");
  return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

namespace {

// One error message format for every problem in the file.
Error at(const std::string& source, const toml::source_region& where, const std::string& field,
         const std::string& what) {
  return Error(Errc::invalid_argument, source + ":" + std::to_string(where.begin.line) + ": " + field + ": " + what);
}

using Setter = std::function<std::optional<std::string>(const toml::node&, NodeConfig&)>;

Setter string_field(std::string NodeConfig::*member, std::vector<std::string> allowed = {}) {
  return [member, allowed](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    auto v = n.value<std::string>();
    if (!n.is_string() || !v) return allowed.empty() ? "expected a string" : "expected a string, one of " + list;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end())
      return "'" + *v + "' is not one of " + list;
    c.*member = *v;
    return std::nullopt;
  };
}

template <class Int>
Setter int_field(Int NodeConfig::*member, std::int64_t min, std::int64_t max) {
  return [member, min, max](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
    if (!n.is_integer()) return "expected an integer";
    std::int64_t v = *n.value<std::int64_t>();
    if (v < min || v > max) return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    c.*member = static_cast<Int>(v);
    return std::nullopt;
  };
}

Setter endpoint_field(Endpoint NodeConfig::*member) {
  return [member](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
    if (!n.is_string()) return "expected a string \"HOST:PORT\"";
    auto e = parse_endpoint(*n.value<std::string>());
    if (!e.ok()) return e.error().detail;
    c.*member = *e;
    return std::nullopt;
  };
}

Setter string_list_field(std::vector<std::string> NodeConfig::*member) {
  return [member](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
    const toml::array* arr = n.as_array();
    if (!arr) return "expected an array of strings";
    (c.*member).clear();
    for (const auto& item : *arr) {
      if (!item.is_string()) return "expected an array of strings";
      (c.*member).push_back(*item.value<std::string>());
    }
    return std::nullopt;
  };
}

// Whole days, 0 (off) to 100 years; the message says what the number means,
// since "30d" or "1 year" are the likely mistakes.
constexpr std::int64_t kMaxRetentionDays = 36'500;
Setter retention_days_field(std::uint32_t NodeConfig::*member) {
  return [member](const toml::node& n, NodeConfig& c) -> std::optional<std::string> {
    const std::string what = "expected a whole number of days from 1 to " + std::to_string(kMaxRetentionDays) +
                             " after which the personal data of a mobility that ended is erased (e.g. 365), "
                             "or 0 to keep it until someone erases it";
    if (!n.is_integer()) return what;
    std::int64_t v = *n.value<std::int64_t>();
    if (v < 0 || v > kMaxRetentionDays) return std::to_string(v) + ": " + what;
    c.*member = static_cast<std::uint32_t>(v);
    return std::nullopt;
  };
}

const std::map<std::string, std::map<std::string, Setter>>& schema() {
  static const std::map<std::string, std::map<std::string, Setter>> s = {
      {"node",
       {{"name", string_field(&NodeConfig::name)},
        {"country", string_field(&NodeConfig::country)},
        {"role", string_field(&NodeConfig::role, {"school", "company", "auditor"})},
        {"federation", string_field(&NodeConfig::federation)}}},
      {"network",
       {{"peer_listen", endpoint_field(&NodeConfig::peer_listen)},
        {"api_listen", endpoint_field(&NodeConfig::api_listen)},
        {"advertise", string_list_field(&NodeConfig::advertise)},
        {"api_hosts", string_list_field(&NodeConfig::api_hosts)}}},
      {"limits",
       {{"max_frame_bytes", int_field(&NodeConfig::max_frame_bytes, 4096, 64 << 20)},
        {"handshake_timeout_ms", int_field(&NodeConfig::handshake_timeout_ms, 100, 600'000)},
        {"idle_timeout_ms", int_field(&NodeConfig::idle_timeout_ms, 1'000, 3'600'000)},
        {"send_queue_limit", int_field(&NodeConfig::send_queue_limit, 1, 65'536)},
        {"send_queue_max_frames", int_field(&NodeConfig::send_queue_max_frames, 16, 1 << 20)},
        {"send_queue_max_bytes", int_field(&NodeConfig::send_queue_max_bytes, 64 << 10, 1 << 30)},
        {"max_handshakes_per_ip_per_minute", int_field(&NodeConfig::max_handshakes_per_ip_per_minute, 1, 1'000'000)},
        {"max_unauthenticated_connections", int_field(&NodeConfig::max_unauthenticated_connections, 1, 65'536)},
        {"max_unauthenticated_per_ip", int_field(&NodeConfig::max_unauthenticated_per_ip, 1, 65'536)},
        {"api_max_body_bytes", int_field(&NodeConfig::api_max_body_bytes, 1024, 64 << 20)}}},
      {"sync",
       {{"summary_interval_ms", int_field(&NodeConfig::summary_interval_ms, 100, 3'600'000)},
        {"progress_interval_ms", int_field(&NodeConfig::progress_interval_ms, 100, 60'000)},
        {"redial_min_ms", int_field(&NodeConfig::redial_min_ms, 10, 3'600'000)},
        {"redial_max_ms", int_field(&NodeConfig::redial_max_ms, 10, 86'400'000)},
        {"forward_before_commit", int_field(&NodeConfig::forward_before_commit, 0, 1)},
        {"push", string_field(&NodeConfig::sync_push, {"eager", "pruned", "lazy", "tree"})}}},
      {"storage", {{"map_size_mib", int_field(&NodeConfig::map_size_mib, 16, std::int64_t{1} << 24)}}},
      {"privacy",
       {{"retain_mobility_personal_data_days", retention_days_field(&NodeConfig::retain_mobility_personal_data_days)}}},
      {"log",
       {{"format", string_field(&NodeConfig::log_format, {"text", "json"})},
        {"level", string_field(&NodeConfig::log_level, {"trace", "debug", "info", "warn", "error"})}}},
  };
  return s;
}

std::optional<Error> parse_peers(const std::string& source, const toml::node& n, NodeConfig& c) {
  const toml::array* arr = n.as_array();
  if (!arr || !arr->is_array_of_tables())
    return at(source, n.source(), "peers", "expected [[peers]] tables with url and id");
  for (const auto& item : *arr) {
    const toml::table& t = *item.as_table();
    StaticPeer p;
    for (const auto& [key, value] : t) {
      if (key == "url" && value.is_string())
        p.url = *value.value<std::string>();
      else if (key == "id" && value.is_string())
        p.node_id = *value.value<std::string>();
      else
        return at(source, value.source(), "peers." + std::string(key.str()),
                  "unknown field or wrong type (expected url = \"ws://HOST:PORT/sync\", id = \"NODE ID\")");
    }
    if (p.url.empty() || p.node_id.size() != 64)
      return at(source, t.source(), "peers", "each [[peers]] needs url and a 64-hex-character id");
    c.peers.push_back(std::move(p));
  }
  return std::nullopt;
}

// One step per bump of kConfigVersion: rewrites a table of version `from`
// into one of `from + 1` (rename or move keys, convert units) and returns
// nullopt, or what is wrong with the file.
struct ConfigStep {
  std::uint32_t from;
  std::optional<std::string> (*run)(toml::table& root);
};
// Version 1 is the layout of 0.1.0 and 0.2.0: nothing to upgrade yet.
const std::vector<ConfigStep> kConfigSteps = {};

// Reads and removes the top-level config_version and upgrades the table to
// kConfigVersion. Returns the file's version.
Result<std::uint32_t> upgrade_table(toml::table& root, const std::string& source) {
  std::uint32_t version = 1;
  if (const toml::node* v = root.get("config_version")) {
    auto n = v->value<std::int64_t>();
    if (!v->is_integer() || !n || *n < 1)
      return at(source, v->source(), "config_version", "expected a positive integer");
    if (*n > kConfigVersion)
      return at(source, v->source(), "config_version",
                std::to_string(*n) + " is newer than this conect-node reads (" + std::to_string(kConfigVersion) +
                    "): upgrade conect-node, or use the node.toml written by this version");
    version = static_cast<std::uint32_t>(*n);
    root.erase("config_version");
  }
  const std::uint32_t file_version = version;
  for (const auto& step : kConfigSteps) {
    if (step.from != version) continue;
    if (auto problem = step.run(root))
      return Error(Errc::invalid_argument,
                   source + ": upgrading from config_version " + std::to_string(version) + ": " + *problem);
    ++version;
  }
  if (version != kConfigVersion)
    return Error(Errc::invalid_argument,
                 source + ": config_version " + std::to_string(version) + " cannot be upgraded by this conect-node");
  return file_version;
}

}  // namespace

Result<NodeConfig> parse(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return at(source_name, e.source(), "syntax", std::string(e.description()));
  }
  auto file_version = upgrade_table(root, source_name);
  if (!file_version.ok()) return file_version.error();
  NodeConfig config;
  config.file_version = *file_version;
  for (const auto& [section, node] : root) {
    std::string name(section.str());
    if (name == "peers") {
      if (auto err = parse_peers(source_name, node, config)) return *err;
      continue;
    }
    auto table_schema = schema().find(name);
    if (table_schema == schema().end() || !node.is_table())
      return at(source_name, node.source(), name,
                "unknown section (known: node, network, limits, sync, storage, privacy, log, peers)");
    for (const auto& [key, value] : *node.as_table()) {
      std::string field = name + "." + std::string(key.str());
      auto setter = table_schema->second.find(std::string(key.str()));
      if (setter == table_schema->second.end()) return at(source_name, value.source(), field, "unknown field");
      if (auto problem = setter->second(value, config)) return at(source_name, value.source(), field, *problem);
    }
  }
  if (config.redial_min_ms > config.redial_max_ms)
    return Error(Errc::invalid_argument, source_name + ": sync.redial_min_ms must not exceed sync.redial_max_ms");
  if (config.send_queue_max_bytes < config.max_frame_bytes)
    return Error(Errc::invalid_argument, source_name +
                                             ": limits.send_queue_max_bytes must be at least limits.max_frame_bytes "
                                             "(one largest frame must fit)");
  if (config.send_queue_limit > config.send_queue_max_frames)
    return Error(Errc::invalid_argument,
                 source_name + ": limits.send_queue_limit must not exceed limits.send_queue_max_frames");
  return config;
}

Result<NodeConfig> load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in)
    return Error(Errc::not_found,
                 "cannot read " + file.string() + " (is --data right? run `conect-node init` to create it)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), file.string());
}

namespace {
// A TOML basic string: double quotes, so `grep federation node.toml | cut -d'"' -f2` works.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}
}  // namespace

std::string render(const NodeConfig& c) {
  std::ostringstream o;
  std::string advertise;
  for (const auto& a : c.advertise) advertise += (advertise.empty() ? "" : ", ") + quoted(a);
  std::string api_hosts;
  for (const auto& h : c.api_hosts) api_hosts += (api_hosts.empty() ? "" : ", ") + quoted(h);
  o << "# conect node configuration. Every field is optional and shows its default\n"
       "# unless `conect-node init` set it. Command-line flags override this file.\n\n"
       "# Layout of this file (a newer conect-node reads older layouts; an older one\n"
       "# refuses a newer file). Leave it as written.\n"
    << "config_version = " << kConfigVersion << "\n\n"
    << "[node]\n"
       "# Institution name shown to partners and printed in the member card.\n"
    << "name = " << quoted(c.name) << "\n"
    << "# ISO 3166-1 alpha-2 country code (FI, SE, NO, RU, ...).\n"
    << "country = " << quoted(c.country) << "\n"
    << "# school | company | auditor. Auditors author nothing.\n"
    << "role = " << quoted(c.role) << "\n"
    << "# Federation id (32 hex). Every node of one federation carries the same one.\n"
    << "federation = " << quoted(c.federation) << "\n\n"
    << "[network]\n"
    << "# Peer port (WebSocket path /sync): the only port to expose to the network.\n"
    << "peer_listen = " << quoted(c.peer_listen.text()) << "\n"
    << "# HTTP API and dashboard. Keep it on loopback; put a TLS proxy in front to share it.\n"
    << "api_listen = " << quoted(c.api_listen.text()) << "\n"
    << "# Addresses partners can dial, printed in the member card (ws://HOST:PORT/sync).\n"
    << "advertise = [" << advertise << "]\n"
    << "# Host names the API and dashboard answer to besides IP addresses and localhost\n"
    << "# (e.g. the name a TLS proxy forwards); requests naming any other host are refused.\n"
    << "api_hosts = [" << api_hosts << "]\n\n"
    << "# Peers to dial besides those added with `conect-node peer add`:\n"
    << "# [[peers]]\n# url = \"ws://partner.example:7700/sync\"\n# id = \"<64 hex node id>\"\n\n"
    << "[limits]\n"
    << "# Largest frame accepted from a peer; larger ones close the connection.\n"
    << "max_frame_bytes = " << c.max_frame_bytes << "\n"
    << "# A peer must finish the Noise handshake within this time.\n"
    << "handshake_timeout_ms = " << c.handshake_timeout_ms << "\n"
    << "# A link with no traffic (pings included) for this long is closed.\n"
    << "idle_timeout_ms = " << c.idle_timeout_ms << "\n"
    << "# Frames queued per peer before reads from it pause (back-pressure).\n"
    << "send_queue_limit = " << c.send_queue_limit << "\n"
    << "# A peer whose unsent frames pass either bound is disconnected (\"send queue\n"
    << "# full\"): it stopped reading, or asks for more than it reads. Keep the byte\n"
    << "# bound above the credit partners grant (conect grants at most 8 MiB).\n"
    << "send_queue_max_frames = " << c.send_queue_max_frames << "\n"
    << "send_queue_max_bytes = " << c.send_queue_max_bytes << "\n"
    << "# Connections accepted per remote address per minute; more are refused.\n"
    << "max_handshakes_per_ip_per_minute = " << c.max_handshakes_per_ip_per_minute << "\n"
    << "# Connections that have not finished the handshake, in all and per remote\n"
    << "# address (an IPv6 /64 counts as one). Over the per-address cap a new one is\n"
    << "# refused; when all are taken the oldest of the busiest address is dropped.\n"
    << "max_unauthenticated_connections = " << c.max_unauthenticated_connections << "\n"
    << "max_unauthenticated_per_ip = " << c.max_unauthenticated_per_ip << "\n"
    << "# Largest HTTP request body the API accepts (413 beyond).\n"
    << "api_max_body_bytes = " << c.api_max_body_bytes << "\n\n"
    << "[sync]\n"
    << "# Anti-entropy: how often connected peers compare summaries.\n"
    << "summary_interval_ms = " << c.summary_interval_ms << "\n"
    << "# How often peer lag and catch-up progress (status, dashboard, /metrics) are sampled.\n"
    << "progress_interval_ms = " << c.progress_interval_ms << "\n"
    << "# Redial lost links with exponential backoff and jitter between these bounds.\n"
    << "redial_min_ms = " << c.redial_min_ms << "\n"
    << "redial_max_ms = " << c.redial_max_ms << "\n"
    << "# 1: a delta of another node, once its signature is verified, is passed on\n"
    << "# to peers before this node's own commit (it is durable at its author and\n"
    << "# every peer verifies it itself): one fsync less per hop. 0: after the commit.\n"
    << "# What this node writes itself is always sent only after its commit.\n"
    << "forward_before_commit = " << c.forward_before_commit << "\n"
    << "# How a new delta spreads: pruned (push to every peer, stop pushing to one\n"
    << "# that only sends duplicates; the default), eager (push to every peer),\n"
    << "# lazy (announce; peers fetch it once), tree (push along one tree per\n"
    << "# author, announce elsewhere: fewer bytes, a little slower; relays commit\n"
    << "# before forwarding). Nodes with different settings work together.\n"
    << "push = " << quoted(c.sync_push) << "\n\n"
    << "[storage]\n"
    << "# LMDB map size (sparse; only used pages take disk). Raise it if the node\n"
    << "# reports storage_full.\n"
    << "map_size_mib = " << c.map_size_mib << "\n\n"
    << "[privacy]\n"
    << "# Erase a mobility's personal data (name, e-mail, birth date) this many days\n"
    << "# after it ended: the later of its planned end and the actual departure, or\n"
    << "# its cancellation. Only for mobilities this node sent (it owns them); the\n"
    << "# erasure reaches every node that holds the data. 0 = never (the default).\n"
    << "retain_mobility_personal_data_days = " << c.retain_mobility_personal_data_days << "\n\n"
    << "[log]\n"
    << "# text (one human-readable line per event) | json (one JSON object per line).\n"
    << "format = " << quoted(c.log_format) << "\n"
    << "# trace | debug | info | warn | error\n"
    << "level = " << quoted(c.log_level) << "\n";
  return o.str();
}

}  // namespace conect::config
