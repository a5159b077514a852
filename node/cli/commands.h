// The `conect-node` subcommands (DESIGN §8). main.cc parses the command line
// with CLI11 and calls one of these; each returns the process exit code:
//   0 success, 1 refused (the request was understood but not done),
//   2 usage error (CLI11 reports its own as 2 too).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/crdt/types.h"
#include "conect/node/data_dir.h"

namespace CLI {
class App;
}

namespace conect::cli {

inline constexpr int kOk = 0;
inline constexpr int kRefused = 1;
inline constexpr int kUsage = 2;

struct Global {
  std::string data;        // --data DIR
  bool json = false;       // --json
  std::string log_format;  // --log-format text|json (overrides node.toml)
  std::string log_level;
};

struct InitOptions {
  std::string name, country, role, federation;
  // --join INVITE (cmd_member.cc). Given but empty (an invite command that
  // failed in `$(...)`) is a usage error, not a new federation.
  std::optional<std::string> join;
  std::uint32_t quorum = 1;  // --admission-quorum, when founding
  std::string peer_listen = "0.0.0.0:7700";
  std::string api_listen = "127.0.0.1:7780";
  std::vector<std::string> advertise;
};
int init(const Global& g, const InitOptions& o);
// The work of `init` without printing (the demo makes its nodes with it).
struct InitResult {
  NodeId node_id;
  FederationId federation;
};
// The flag values init cannot take (invalid_argument: a usage error), checked
// before anything is read or written, also by `init --join`.
Status check_init_flags(const InitOptions& o);
Result<InitResult> init_node(const DataDir& dir, const InitOptions& o);
// `init --join INVITE`: creates the node, runs the join exchange with the
// inviter, and on refusal removes what it created.
int init_join(const Global& g, const InitOptions& o);
struct InviteOptions {
  std::string expires = "7d";
  std::string role = "school";
  std::string address;  // default: the node's first advertised address
};
int invite(const Global& g, const InviteOptions& o);
// `member upgrade`: a member of a federation made before the replicated
// roster writes Found{own card, quorum} and admits every card it trusts.
int member_upgrade(const Global& g, std::uint32_t quorum);
// member admit|expel|leave: writes through the running node's API.
void add_member_commands(CLI::App& member, Global& g, int& code);
// key rotate (through the running node's API).
void add_key_commands(CLI::App& app, Global& g, int& code);
int card(const Global& g);
int member_add(const Global& g, const std::string& card_or_file);
int member_list(const Global& g);
// `key offer`: a new signing key in DIR/signing.key and its offer on stdout.
int key_offer(const Global& g);
int member_remove(const Global& g, const std::string& id);
int peer_add(const Global& g, const std::string& url, const std::string& id);
int peer_list(const Global& g);
int peer_remove(const Global& g, const std::string& url_or_id);

struct RunOptions {
  std::string peer_listen, api_listen;
  std::string web_root;  // dashboard files; default: next to the binary
};
int run(const Global& g, const RunOptions& o);

// keep > 0: `dir` holds dated copies (conect-YYYYMMDDTHHMMSSZ); a new one is
// written and all but the `keep` newest removed.
int backup(const Global& g, const std::string& dir, unsigned keep);
// Installs a backup as the (absent) store of an initialised data directory.
// allow_writes_now lifts the restore fence at once: for a node whose later
// deltas no partner holds, which would otherwise never be shown its chain.
int restore(const Global& g, const std::string& backup_dir, bool allow_writes_now);

// One daemon per data directory: `run` holds this while it runs, and
// `restore` while it works. A second daemon would author into the same log
// from its own in-memory chain state and take ports.json over; a restore
// under a running node would leave it writing to the store moved aside. An
// flock on the directory itself: released by the kernel when the process
// ends (kill -9 included), and no new file in the fixed layout.
class DataDirLock {
 public:
  DataDirLock() = default;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();
  // already_exists ("a node is already running on DIR (pid N)") when held.
  Status take(const DataDir& dir);

 private:
  int fd_ = -1;
};

// `audit export`, `audit verify BUNDLE`, `report` (cmd_audit.cc).
void add_audit_commands(CLI::App& app, Global& g, int& code);

struct DemoOptions {
  std::string dir;          // keep the federation here (default: a new temp dir)
  int changes_every_s = 3;  // a small change at a random node this often; 0: none
  int duration_s = 0;       // stop by itself after this long; 0: at Ctrl-C
  std::string web_root;
};
int demo(const Global& g, const DemoOptions& o);

// Prints an error the way every command does: "conect-node: <what>" on stderr,
// or {"error":..., "detail":...} on stdout with --json.
void print_error(const Global& g, const std::string& code, const std::string& detail);
// print_error() for an Error (its Errc name and detail); returns `exit_code`.
int refuse(const Global& g, const Error& e, int exit_code = kRefused);

}  // namespace conect::cli
