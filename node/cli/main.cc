// conect-node: one binary, many subcommands (DESIGN §8). This file only
// declares the command line; each command lives in a cmd_*.cc file.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <string_view>

#include "commands.h"
#include "conect/crdt/identity.h"
#include "data_commands.h"

using namespace conect::cli;

namespace {

void add_global(CLI::App& app, Global& g) {
  app.add_option("--data", g.data, "Data directory (default: $CONECT_DATA, else ./conect-data)");
  app.add_flag("--json", g.json, "Machine-readable output");
  app.add_option("--log-format", g.log_format, "Log format: text or json (overrides node.toml)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

}  // namespace

int main(int argc, char** argv) {
  if (!conect::crypto_init()) {
    std::cerr << "conect-node: libsodium failed to initialise\n";
    return 1;
  }
  CLI::App app{"conect-node: a peer-to-peer federated sync node for mobility networks"};
  app.set_version_flag("--version", "conect-node " CONECT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  Global g;
  add_global(app, g);
  int code = kOk;

  // ------------------------------------------------------------------ admin
  InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "Create a node: identity, token, node.toml and store");
  init_cmd->add_option("--name", init.name, "Institution name")->required();
  init_cmd->add_option("--country", init.country, "ISO 3166-1 alpha-2 country code")->required();
  init_cmd->add_option("--role", init.role, "school, company or auditor")->required();
  init_cmd->add_option("--federation", init.federation,
                       "Join this federation id by card exchange (omit, with no --join, to found a new one)");
  init_cmd->add_option("--join", init.join, "Join with an invite (conect-invite:...) from a member");
  init_cmd->add_option("--admission-quorum", init.quorum,
                       "When founding: how many members must admit a new one (default 1)");
  init_cmd->add_option("--peer-listen", init.peer_listen, "Peer port HOST:PORT")->capture_default_str();
  init_cmd->add_option("--api-listen", init.api_listen, "API port HOST:PORT")->capture_default_str();
  init_cmd->add_option("--advertise", init.advertise, "ws://HOST:PORT/sync address(es) for the member card");
  init_cmd->callback([&] { code = conect::cli::init(g, init); });

  app.add_subcommand("card", "Print this node's member card (one line)")->callback([&] { code = card(g); });

  InviteOptions invite_opts;
  auto* invite_cmd = app.add_subcommand("invite", "Print a one-use, expiring invite for a new member");
  invite_cmd->add_option("--expires", invite_opts.expires, "Lifetime: 7d, 12h, 30m, 90s")->capture_default_str();
  invite_cmd->add_option("--role", invite_opts.role, "The new member's role: school, company or auditor")
      ->capture_default_str();
  invite_cmd->add_option("--address", invite_opts.address,
                         "ws://HOST:PORT/sync the new node dials (default: advertised)");
  invite_cmd->callback([&] { code = invite(g, invite_opts); });

  auto* member = app.add_subcommand("member", "The roster of trusted members");
  member->require_subcommand(1);
  std::string card_arg, id_arg, url_arg;
  auto* madd = member->add_subcommand("add", "Trust a member: CARD text or a FILE holding it");
  madd->add_option("card", card_arg, "conect-card:... or a file")->required();
  madd->callback([&] { code = member_add(g, card_arg); });
  member->add_subcommand("list", "List members: admitted, pending (admissions so far), removed, local overrides")
      ->callback([&] { code = member_list(g); });
  add_member_commands(*member, g, code);
  add_key_commands(app, g, code);
  std::uint32_t upgrade_quorum = 1;
  auto* mup = member->add_subcommand(
      "upgrade", "Adopt the replicated roster in a federation made before it: Found, then admit every trusted card");
  mup->add_option("--admission-quorum", upgrade_quorum, "The quorum this member agrees to (the smallest named wins)");
  mup->callback([&] { code = member_upgrade(g, upgrade_quorum); });
  auto* mrm = member->add_subcommand("remove", "Stop trusting a member's future deltas");
  mrm->add_option("id", id_arg, "Node id")->required();
  mrm->callback([&] { code = member_remove(g, id_arg); });

  auto* peer = app.add_subcommand("peer", "Peers this node dials");
  peer->require_subcommand(1);
  auto* padd = peer->add_subcommand("add", "Dial URL, expecting node --id (or the roster card listing URL)");
  padd->add_option("url", url_arg, "ws://HOST:PORT/sync")->required();
  padd->add_option("--id", id_arg, "Expected node id");
  padd->callback([&] { code = peer_add(g, url_arg, id_arg); });
  peer->add_subcommand("list", "List peers to dial")->callback([&] { code = peer_list(g); });
  auto* prm = peer->add_subcommand("remove", "Stop dialling a peer");
  prm->add_option("peer", url_arg, "URL or node id")->required();
  prm->callback([&] { code = peer_remove(g, url_arg); });

  RunOptions run_opts;
  auto* run_cmd = app.add_subcommand("run", "Run the node (peer port, API, dashboard)");
  run_cmd->add_option("--peer-listen", run_opts.peer_listen, "Override network.peer_listen (port 0: any free port)");
  run_cmd->add_option("--api-listen", run_opts.api_listen, "Override network.api_listen (port 0: any free port)");
  run_cmd->add_option("--web-root", run_opts.web_root, "Dashboard files (default: installed web/)");
  run_cmd->callback([&] { code = run(g, run_opts); });

  std::string backup_dir;
  unsigned backup_keep = 0;
  auto* backup_cmd = app.add_subcommand("backup", "Write a consistent, compacted copy of the store to DIR");
  backup_cmd->add_option("dir", backup_dir, "Empty target directory (with --keep: the folder of dated copies)")
      ->required();
  backup_cmd
      ->add_option("--keep", backup_keep,
                   "Write DIR/conect-<UTC time> and keep only the N newest such copies (nightly timer)")
      ->check(CLI::Range(1u, 10000u));
  backup_cmd->callback([&] { code = backup(g, backup_dir, backup_keep); });
  auto* restore_cmd = app.add_subcommand(
      "restore", "Install a backup as this data directory's store (the node then fetches its own chain back first)");
  restore_cmd->add_option("backup", backup_dir, "Directory written by `conect-node backup`")->required();
  bool allow_writes_now = false;
  restore_cmd->add_flag("--allow-writes-now", allow_writes_now,
                        "Let the restored node write at once, without fetching its own chain back first. Only "
                        "when no partner holds deltas this node wrote after the backup (it never linked to one, "
                        "or a restore drill): otherwise its next write reuses a sequence number and a partner "
                        "freezes its chain for good");
  restore_cmd->callback([&] { code = restore(g, backup_dir, allow_writes_now); });

  DemoOptions demo_opts;
  auto* demo_cmd = app.add_subcommand("demo", "Run a local demo federation of four schools with sample data");
  demo_cmd->add_option("--dir", demo_opts.dir, "Keep the federation here (default: a new temporary directory)");
  demo_cmd->add_option("--changes-every", demo_opts.changes_every_s, "Seconds between random changes (0: none)")
      ->capture_default_str();
  demo_cmd->add_option("--duration", demo_opts.duration_s, "Stop after this many seconds (0: at Ctrl-C)");
  demo_cmd->add_option("--web-root", demo_opts.web_root, "Dashboard files (default: installed web/)");
  demo_cmd->callback([&] { code = demo(g, demo_opts); });

  // ------------------------------------------------------------------ data
  add_data_commands(app, g, code);
  add_csv_commands(app, g, code);
  add_audit_commands(app, g, code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const bool json = std::any_of(argv + 1, argv + argc, [](const char* a) { return std::string_view(a) == "--json"; });
    // A mistyped command ("placment list") reached CLI11 as "A subcommand
    // is required": name the word it did not know and the commands it knows.
    if (dynamic_cast<const CLI::RequiredError*>(&e) &&
        std::string_view(e.what()).find("subcommand") != std::string_view::npos) {
      CLI::App* at = &app;
      std::string path = "conect-node";
      while (!at->get_subcommands().empty()) {
        at = at->get_subcommands().front();
        path += " " + at->get_name();
      }
      std::string unknown;
      for (const auto& word : app.remaining(true))
        if (!word.empty() && word.front() != '-') {
          unknown = word;
          break;
        }
      std::string known;
      const CLI::App* where = at;
      for (const CLI::App* sub : where->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }))
        known += (known.empty() ? "" : ", ") + sub->get_name();
      Global usage;
      usage.json = json;
      print_error(usage, "usage",
                  (unknown.empty() ? path + " needs a command" : "'" + unknown + "' is not a command of " + path) +
                      "; one of: " + known + " (" + path + " --help says more)");
      return kUsage;
    }
    // With --json a script reads errors from standard output as JSON, as it
    // does every other refusal (the parse failed, so `g.json` may be unset).
    if (e.get_exit_code() != 0 && json) {
      Global as_json;
      as_json.json = true;
      print_error(as_json, "usage", std::string(e.what()) + " (run with --help for more information)");
      return kUsage;
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : kUsage;
  }
  return code;
}
