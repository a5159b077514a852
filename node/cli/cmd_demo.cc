// `conect-node demo`: a local federation of four schools (FI, SE, NO, RU) on
// loopback. Each node is a real `conect-node run` process with its own
// identity and store; cards are exchanged and every pair linked; the sample
// data goes in through each node's HTTP API, as a coordinator's would; then
// a small change lands at a random node every few seconds so the sync is
// visible on the dashboards. Ctrl-C stops every node cleanly.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "api_client.h"
#include "commands.h"
#include "conect/node/invite.h"
#include "conect/node/member_card.h"
#include "conect/node/node_files.h"
#include "demo_data.h"
#include "membership_commands.h"

extern char** environ;

namespace conect::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct DemoNode {
  const sample::School* school = nullptr;
  DataDir dir;
  NodeId id;
  std::uint16_t peer_port = 0, api_port = 0;
  pid_t pid = -1;
  std::optional<ApiClient> api;
  std::string school_org;  // record ids
  std::vector<std::string> company_orgs;
  std::vector<std::string> placements;  // with their windows below
  std::vector<int> placement_windows;
  std::vector<std::string> mobilities;
};

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

std::string date_in_days(int days_from_today) {
  std::time_t t = std::time(nullptr) + static_cast<std::time_t>(days_from_today) * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// Monday of the week `weeks` from now.
int monday_in_weeks(int weeks) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int to_monday = (8 - tm.tm_wday) % 7;
  return to_monday + 7 * weeks;
}

Result<json> call(const DemoNode& n, const std::string& method, const std::string& path, const json& body = nullptr) {
  auto reply = n.api->request(method, path, body.is_null() ? nullptr : &body);
  if (!reply.ok()) return reply.error();
  if (reply->status >= 300)
    return Error(Errc::invalid_argument, method + " " + path + " at " + n.school->city + " -> " +
                                             std::to_string(reply->status) + " " + reply->raw);
  return reply->body;
}

// Blocks SIGINT/SIGTERM so they can be waited for; the nodes get them unblocked.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Sleeps up to `ms`; true when a stop signal arrived.
bool wait_for_stop(const sigset_t& set, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000};
  return sigtimedwait(&set, nullptr, &ts) > 0;
}

std::string log_path(const DemoNode& n) {
  return (n.dir.root.parent_path() / (n.dir.root.filename().string() + ".log")).string();
}

// The pid a node's ports.json names, or -1.
pid_t ports_pid(const DataDir& dir) {
  std::ifstream in(dir.ports());
  auto ports = json::parse(in, nullptr, false);
  return ports.is_object() && ports.contains("pid") && ports["pid"].is_number_integer() ? ports["pid"].get<pid_t>()
                                                                                        : -1;
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

Status spawn(DemoNode& n, const std::string& web_root) {
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string log = log_path(n);
  std::vector<std::string> args = {exe, "run", "--data", n.dir.root.string(), "--log-level", "info"};
  if (!web_root.empty()) args.insert(args.end(), {"--web-root", web_root});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&n.pid, exe.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Error(Errc::io_error, "cannot start a node: " + std::string(std::strerror(rc)));
  return {};
}

Status wait_until(const std::string& what, std::chrono::seconds limit, const std::function<bool()>& done) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Error(Errc::io_error, "timed out waiting for " + what);
}

void stop_all(std::vector<DemoNode>& nodes) {
  for (auto& n : nodes)
    if (n.pid > 0) kill(n.pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& n : nodes) {
    while (n.pid > 0) {
      int status = 0;
      pid_t r = waitpid(n.pid, &status, WNOHANG);
      if (r == n.pid || r < 0) {
        n.pid = -1;
      } else if (Clock::now() > deadline) {
        kill(n.pid, SIGKILL);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

json names(const std::string& en, const std::string& local, const std::string& lang) {
  json out = json::array({{{"lang", "en"}, {"text", en}}});
  if (!local.empty() && local != en) out.push_back({{"lang", lang}, {"text", local}});
  return out;
}

Status seed_organisations(DemoNode& n) {
  const auto& s = *n.school;
  std::vector<std::string> trades;
  for (const auto& c : s.companies) trades.insert(trades.end(), c.trades.begin(), c.trades.end());
  std::sort(trades.begin(), trades.end());
  trades.erase(std::unique(trades.begin(), trades.end()), trades.end());
  auto org = call(n, "POST", "/api/v1/organisations",
                  {{"names", names(s.name_en, s.name_local, s.lang)},
                   {"type", "vet_school"},
                   {"country", s.country},
                   {"region", s.region},
                   {"city", s.city},
                   {"trades", trades}});
  if (!org.ok()) return org.error();
  n.school_org = (*org)["id"];
  for (const auto& c : s.companies) {
    auto co = call(n, "POST", "/api/v1/organisations",
                   {{"names", names(c.name, "", s.lang)},
                    {"type", c.type},
                    {"country", s.country},
                    {"region", s.region},
                    {"city", c.city},
                    {"trades", c.trades}});
    if (!co.ok()) return co.error();
    n.company_orgs.push_back((*co)["id"]);
  }
  for (const auto& p : s.placements) {
    json windows = json::array();
    for (int w = 0; w < p.windows; ++w) {
      int start = monday_in_weeks(p.first_week + 3 * w);
      windows.push_back({{"window_id", w + 1},
                         {"start", date_in_days(start)},
                         {"end", date_in_days(start + 11)},
                         {"capacity", p.capacity}});
    }
    json languages = json::array({{{"lang", "en"}, {"level", "B1"}}});
    languages.push_back({{"lang", s.lang}, {"level", "A2"}});
    const auto& host = p.company < 0 ? n.school_org : n.company_orgs[static_cast<std::size_t>(p.company)];
    auto pl = call(n, "POST", "/api/v1/placements",
                   {{"host_organisation", host},
                    {"title", names(p.title_en, p.title_local, s.lang)},
                    {"trade", p.trade},
                    {"tasks", p.tasks},
                    {"city", p.company < 0 ? s.city : s.companies[static_cast<std::size_t>(p.company)].city},
                    {"country", s.country},
                    {"windows", windows},
                    {"min_days", 10},
                    {"max_days", 14},
                    {"languages", languages},
                    {"safety", p.safety},
                    {"minimum_age", 16},
                    {"accommodation", "Student housing arranged by the host school"},
                    {"status", "open"}});
    if (!pl.ok()) return pl.error();
    n.placements.push_back((*pl)["id"]);
    n.placement_windows.push_back(p.windows);
  }
  for (const auto& [role, who] :
       {std::pair{"mobility_coordinator", s.coordinator_role}, std::pair{"mentor", "Workplace mentor, " + s.city}}) {
    auto c = call(n, "POST", "/api/v1/contacts",
                  {{"organisation", n.school_org},
                   {"display_name", who},
                   {"roles", json::array({role})},
                   {"languages", json::array({{{"lang", "en"}, {"level", "B2"}}, {{"lang", s.lang}, {"level", "C2"}}})},
                   // A name, not the role key: the dashboard shows it as the person's.
                   {"personal_data",
                    {{"name", "Demo " + s.city + (std::string(role) == "mentor" ? " Mentor" : " Coordinator")},
                     {"email", "demo@" + s.city + ".invalid"}}}});
    if (!c.ok()) return c.error();
  }
  return {};
}

// Learners from each school to placements of the other schools: some
// reserved and confirmed by the host, some pending, in several states.
Status seed_mobilities(std::vector<DemoNode>& nodes, std::mt19937& rng) {
  const char* statuses[] = {"draft", "nominated", "nominated", "live", "completed"};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    DemoNode& sender = nodes[i];
    for (std::size_t k = 0; k < sender.school->pseudonyms.size(); ++k) {
      DemoNode& host = nodes[(i + 1 + k % (nodes.size() - 1)) % nodes.size()];
      std::size_t p = (k / (nodes.size() - 1) + i) % host.placements.size();
      int window = 1 + static_cast<int>(k % static_cast<std::size_t>(host.placement_windows[p]));
      const auto& hp = host.school->placements[p];
      std::string receiving =
          hp.company < 0 ? host.school_org : host.company_orgs[static_cast<std::size_t>(hp.company)];
      int start = monday_in_weeks(hp.first_week + 3 * (window - 1));
      std::string status = statuses[(k + i) % 5];
      // The placements' windows lie ahead, and a mobility is live or
      // completed only once it has started: those two are last term's
      // periods, which booked no window of today's placements.
      const bool past = status == "live" || status == "completed";
      if (past) start = status == "live" ? -3 : monday_in_weeks(-26);
      json sending = {{"planned_start", date_in_days(start)},
                      {"planned_end", date_in_days(start + 11)},
                      {"qualification_title", "VET qualification in " + hp.trade},
                      {"eqf_level", 4},
                      {"status", past ? "nominated" : status}};
      if (!past) {
        sending["placement"] = host.placements[p];
        sending["window_id"] = window;
      }
      auto mob = call(
          sender, "POST", "/api/v1/mobilities",
          {{"fixed",
            {{"sending_organisation", sender.school_org},
             {"receiving_organisation", receiving},
             {"participant", {{"pseudonym", sender.school->pseudonyms[k]}}},
             {"type", "learner_otj_company"},
             {"category", k % 3 == 2 ? "apprentice" : "ivet_learner"}}},
           {"sending", sending},
           {"personal_data", {{"name", "Learner " + sender.school->pseudonyms[k]}, {"birth_date", "2008-05-17"}}}});
      if (!mob.ok()) return mob.error();
      std::string mobility = (*mob)["id"];
      sender.mobilities.push_back(mobility);
      if (past) {
        // As it happened: the host accepted it, then it started (and ended).
        if (Status st = wait_until("a mobility to reach " + host.school->city, std::chrono::seconds(30),
                                   [&] { return call(host, "GET", "/api/v1/mobilities/" + mobility).ok(); });
            !st.ok())
          return st;
        auto accepted =
            call(host, "PATCH", "/api/v1/mobilities/" + mobility, {{"host", {{"host_status", "accepted"}}}});
        if (!accepted.ok()) return accepted.error();
        auto moved = status == "live"
                         ? call(sender, "PATCH", "/api/v1/mobilities/" + mobility, {{"sending", {{"status", "live"}}}})
                         : call(sender, "POST", "/api/v1/mobilities/" + mobility + "/complete", json::object());
        if (!moved.ok()) return moved.error();
        continue;
      }
      if (status == "draft") continue;
      auto res = call(sender, "POST", "/api/v1/placements/" + host.placements[p] + "/reservations",
                      {{"window_id", window},
                       {"slots", 1},
                       {"mobility", mobility},
                       // A note is signed and read by every member: the pseudonym, never the
                       // name (the participant's name goes to the two schools only).
                       {"note", "Participant " + sender.school->pseudonyms[k]}});
      if (!res.ok()) return res.error();
      if (rng() % 4 == 0) continue;  // left pending for the host to decide on the dashboard
      std::string reservation = (*res)["id"];
      // The host decides once the request has reached it.
      if (Status st = wait_until("a reservation to reach " + host.school->city, std::chrono::seconds(30),
                                 [&] { return call(host, "GET", "/api/v1/reservations/" + reservation).ok(); });
          !st.ok())
        return st;
      auto decided = call(host, "POST", "/api/v1/reservations/" + reservation + "/confirm", json::object());
      if (!decided.ok() && decided.error().detail.find("over_capacity") == std::string::npos) return decided.error();
    }
  }
  return {};
}

Status wait_converged(std::vector<DemoNode>& nodes, std::chrono::seconds limit) {
  return wait_until("the nodes to converge", limit, [&] {
    std::set<std::string> digests;
    for (auto& n : nodes) {
      auto s = call(n, "GET", "/api/v1/status");
      if (!s.ok()) return false;
      digests.insert((*s)["digest"].get<std::string>());
    }
    return digests.size() == 1;
  });
}

// One small, visible change at a random node.
void random_change(std::vector<DemoNode>& nodes, std::mt19937& rng) {
  DemoNode& n = nodes[rng() % nodes.size()];
  DemoNode& other =
      nodes[(rng() % (nodes.size() - 1) + 1 + static_cast<std::size_t>(&n - nodes.data())) % nodes.size()];
  switch (rng() % 3) {
    case 0: {  // book a slot on a partner's placement
      std::size_t p = rng() % other.placements.size();
      int window = 1 + static_cast<int>(rng() % static_cast<std::uint32_t>(other.placement_windows[p]));
      auto r = call(n, "POST", "/api/v1/placements/" + other.placements[p] + "/reservations",
                    {{"window_id", window}, {"slots", 1}, {"note", "Demo request"}});
      if (r.ok()) std::cout << "  " << n.school->city << " requested a slot at " << other.school->city << "\n";
      break;
    }
    case 1: {  // the host decides a pending request on one of its placements
      for (const auto& placement : n.placements) {
        auto list = call(n, "GET", "/api/v1/placements/" + placement + "/reservations");
        if (!list.ok()) continue;
        for (const auto& r : (*list)["items"]) {
          if (r.value("decision", "") != "pending") continue;
          std::string action = rng() % 4 == 0 ? "reject" : "confirm";
          if (call(n, "POST", "/api/v1/reservations/" + r["id"].get<std::string>() + "/" + action, json::object())
                  .ok()) {
            std::cout << "  " << n.school->city << " " << action << "ed a request\n";
            return;
          }
        }
      }
      break;
    }
    default: {  // a window's capacity changes
      std::size_t p = rng() % n.placements.size();
      auto pl = call(n, "GET", "/api/v1/placements/" + n.placements[p]);
      if (!pl.ok()) break;
      json windows = (*pl)["windows"];
      if (windows.empty()) break;
      auto& w = windows[rng() % windows.size()];
      w["capacity"] = 1 + rng() % 4;
      if (call(n, "PATCH", "/api/v1/placements/" + n.placements[p], {{"windows", windows}}).ok())
        std::cout << "  " << n.school->city << " changed a window's capacity\n";
    }
  }
}

}  // namespace

int demo(const Global& g, const DemoOptions& o) {
  sigset_t stop = stop_signals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::filesystem::path root = o.dir;
  if (root.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "conect-demo-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      print_error(g, "io_error", "cannot create a temporary directory");
      return kRefused;
    }
    root = tmpl;
  }
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  const auto& schools = sample::schools();
  std::vector<DemoNode> nodes(schools.size());
  bool fresh = !std::filesystem::exists(root / "fi" / "identity.key");
  const char* dirs[] = {"fi", "se", "no", "ru"};
  auto init_options = [&](DemoNode& n) {
    n.peer_port = free_port();
    n.api_port = free_port();
    InitOptions init;
    init.name = n.school->name_local;
    init.country = n.school->country;
    init.role = "school";
    init.peer_listen = "127.0.0.1:" + std::to_string(n.peer_port);
    init.api_listen = "127.0.0.1:" + std::to_string(n.api_port);
    return init;
  };
  auto load = [&](DemoNode& n) -> Status {
    auto files = NodeFiles::load(n.dir);
    if (!files.ok()) return files.error();
    n.id = files->key.public_key();
    n.peer_port = files->config.peer_listen.port;
    n.api_port = files->config.api_listen.port;
    return {};
  };
  auto start = [&](DemoNode& n) -> Status {
    if (Status st = spawn(n, o.web_root); !st.ok()) return st;
    // The child's own ports.json (removing an old one first would also hide a
    // node another demo still runs there); a child that stops at its start
    // (a port taken, the directory in use) said why last in its log.
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      if (ports_pid(n.dir) == n.pid) return {};
      if (waitpid(n.pid, nullptr, WNOHANG) == n.pid) {
        n.pid = -1;
        return Error(Errc::io_error,
                     "the " + n.school->city + " node did not start (" + log_path(n) + "): " + last_line(log_path(n)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Error(Errc::io_error, "timed out waiting for " + n.school->city + " to listen; see " + log_path(n));
  };
  std::cout << "conect demo federation in " << root.string() << "\n";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].school = &schools[i];
    nodes[i].dir = DataDir{root / dirs[i]};
  }
  Status setup;
  if (fresh) {
    // The first school founds the federation; each next one joins with an
    // invite from the one before it: no member cards are exchanged by hand.
    auto made = init_node(nodes[0].dir, init_options(nodes[0]));
    setup = made.ok() ? load(nodes[0]) : Status(made.error());
    if (setup.ok()) setup = start(nodes[0]);
    for (std::size_t i = 1; i < nodes.size() && setup.ok(); ++i) {
      DemoNode& inviter = nodes[i - 1];
      auto files = NodeFiles::load(inviter.dir);
      if (!files.ok()) {
        setup = files.error();
        break;
      }
      auto store = files->open_store();
      if (!store.ok()) {
        setup = store.error();
        break;
      }
      auto line = issue_invite(*files, **store, v1::SCHOOL, files->config.advertise.front(), 3'600'000);
      store = Error(Errc::io_error, "closed");
      auto invite = line.ok() ? parse_invite(*line) : Result<v1::Invite>(line.error());
      if (!invite.ok()) {
        setup = invite.error();
        break;
      }
      auto joined = join_node(nodes[i].dir, init_options(nodes[i]), *invite);
      setup = joined.ok() ? load(nodes[i]) : Status(joined.error());
      if (setup.ok()) setup = start(nodes[i]);
      // It invites the next school: its own store must hold its admission.
      if (setup.ok())
        setup = wait_until(nodes[i].school->city + " to catch up its admission", std::chrono::seconds(60), [&] {
          auto joined_files = NodeFiles::load(nodes[i].dir);
          if (!joined_files.ok()) return false;
          auto joined_store = joined_files->open_store();
          if (!joined_store.ok()) return false;
          auto roster = (*joined_store)->roster();
          return roster.ok() && (*roster)->admitted(nodes[i].id);
        });
      if (setup.ok())
        std::cout << "  " << nodes[i].school->city << " joined with an invite from " << inviter.school->city << "\n";
    }
  } else {
    for (auto& n : nodes)
      if (setup.ok()) setup = load(n);
    for (auto& n : nodes)
      if (setup.ok()) setup = start(n);
  }
  if (!setup.ok()) {
    stop_all(nodes);
    print_error(g, "start_failed", setup.error().message());
    return kRefused;
  }
  Status st;
  std::mt19937 rng(static_cast<unsigned>(std::time(nullptr)));
  for (auto& n : nodes) {
    auto client = ApiClient::for_data_dir(n.dir);
    if (client.ok())
      n.api.emplace(std::move(*client));
    else
      st = client.error();
  }
  if (st.ok() && fresh) {
    std::cout << "seeding sample data through each node's API...\n";
    for (auto& n : nodes)
      if (st.ok()) st = seed_organisations(n);
    if (st.ok()) st = wait_converged(nodes, std::chrono::seconds(60));
    if (st.ok()) st = seed_mobilities(nodes, rng);
  } else if (st.ok()) {
    for (auto& n : nodes) {  // a restarted demo: find its records again
      auto placements = call(n, "GET", "/api/v1/placements?limit=200");
      if (!placements.ok()) continue;
      for (const auto& p : (*placements)["items"])
        if (p["id"].get<std::string>().rfind(n.id.hex(), 0) == 0) {
          n.placements.push_back(p["id"]);
          n.placement_windows.push_back(static_cast<int>(p["windows"].size()));
        }
    }
  }
  if (st.ok()) st = wait_converged(nodes, std::chrono::seconds(60));
  if (!st.ok()) {
    stop_all(nodes);
    print_error(g, "demo_failed", st.error().detail + " (node logs: " + root.string() + "/*.log)");
    return kRefused;
  }

  json summary = json::array();
  std::cout << "\nfour schools are running and in sync. Dashboards (one-time login links):\n";
  for (auto& n : nodes) {
    auto code = call(n, "POST", "/api/v1/login-codes", json::object());
    std::string url = "http://127.0.0.1:" + std::to_string(n.api_port) + "/";
    if (code.ok()) url += "?login=" + (*code)["code"].get<std::string>();
    std::cout << "  " << n.school->country << "  " << n.school->name_local << " (" << n.school->city << ")\n"
              << "      " << url << "\n";
    summary.push_back({{"country", n.school->country},
                       {"name", n.school->name_local},
                       {"node_id", n.id.hex()},
                       {"data", n.dir.root.string()},
                       {"dashboard", url},
                       {"api_port", n.api_port}});
  }
  std::cout << "\nCLI against a node, e.g.:  conect-node --data " << nodes[0].dir.root.string() << " placement list\n"
            << "Every " << o.changes_every_s << " s a small change lands at a random node. Ctrl-C stops the demo.\n";
  if (g.json) std::cout << summary.dump() << "\n";
  std::cout.flush();

  auto started = Clock::now();
  while (true) {
    long wait_ms = o.changes_every_s > 0 ? o.changes_every_s * 1000L : 1000L;
    if (wait_for_stop(stop, wait_ms)) break;
    if (o.duration_s > 0 && Clock::now() - started > std::chrono::seconds(o.duration_s)) break;
    bool all_alive = true;
    for (auto& n : nodes)
      if (waitpid(n.pid, nullptr, WNOHANG) == n.pid) {
        n.pid = -1;
        all_alive = false;
        std::cerr << "conect-node: the " << n.school->city << " node exited; see " << root.string() << "\n";
      }
    if (!all_alive) break;
    if (o.changes_every_s > 0) random_change(nodes, rng);
  }
  std::cout << "stopping the demo federation...\n";
  stop_all(nodes);
  std::cout << "stopped. Data kept in " << root.string() << " (run `conect-node demo --dir " << root.string()
            << "` to start it again).\n";
  return kOk;
}

}  // namespace conect::cli
