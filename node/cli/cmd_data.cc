// Data commands: each one is a request to the running node's API. Output is
// a short human table by default and the API's JSON with --json. Flags map
// one to one onto the JSON fields of docs/api.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "api_client.h"
#include "data_commands.h"
#include "personal_input.h"
#include "progress_text.h"

namespace conect::cli {

namespace {

using nlohmann::json;

constexpr std::string_view kParticipantFields[] = {"name", "birth_date", "email"};
constexpr std::string_view kContactPersonFields[] = {"name", "email", "phone", "notes"};

int call(const Global& g, const std::string& method, const std::string& target, const json* body,
         const std::function<void(const json&)>& show) {
  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) {
    print_error(g, errc_name(static_cast<Errc>(client.error().code.value())), client.error().detail);
    return kRefused;
  }
  auto reply = client->request(method, target, body);
  if (!reply.ok()) {
    print_error(g, "unavailable", reply.error().detail);
    return kRefused;
  }
  if (reply->status >= 400) {
    bool structured = reply->body.is_object();
    std::string code = structured ? reply->body.value("error", "error") : "http_" + std::to_string(reply->status);
    std::string detail = structured ? reply->body.value("detail", "") : reply->raw;
    print_error(g, code, detail.empty() ? code : detail);
    // 400/422 mean the request as typed was wrong: a usage error.
    return reply->status == 400 || reply->status == 422 ? kUsage : kRefused;
  }
  if (g.json)
    std::cout << reply->body.dump() << "\n";
  else
    show(reply->body);
  return kOk;
}

std::string url_encode(const std::string& s) {
  std::ostringstream out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out << c;
    else
      out << '%' << "0123456789ABCDEF"[c >> 4] << "0123456789ABCDEF"[c & 15];
  }
  return out.str();
}

// Builds "?a=b&c=d" from the non-empty options.
std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params)
    if (!v.empty()) q += (q.empty() ? "?" : "&") + k + "=" + url_encode(v);
  return q;
}

std::string text_in(const json& texts, const std::string& lang = "en") {
  if (!texts.is_array() || texts.empty()) return "";
  for (const auto& t : texts)
    if (t.value("lang", "") == lang) return t.value("text", "");
  return texts[0].value("text", "");
}

void show_id(const json& r) { std::cout << r.value("id", "") << "\n"; }

// A contact's audience from the command line: federation, local, or member
// ids separated by commas (the API checks each id against the roster).
json audience_json(const std::string& text) {
  if (text == "federation" || text == "local") return {{"kind", text}};
  json ids = json::array();
  for (std::size_t at = 0; at <= text.size();) {
    std::size_t comma = std::min(text.find(',', at), text.size());
    ids.push_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return {{"kind", "members"}, {"members", ids}};
}

// "LANG:TEXT" -> {"lang":..., "text":...}; "LANG:LEVEL" likewise for languages.
json pair_list(const std::vector<std::string>& items, const char* second) {
  json out = json::array();
  for (const auto& item : items) {
    auto colon = item.find(':');
    if (colon == std::string::npos) throw CLI::ValidationError(item + ": expected LANG:" + second);
    out.push_back({{"lang", item.substr(0, colon)}, {second, item.substr(colon + 1)}});
  }
  return out;
}

void show_status(const json& s) {
  std::cout << s.value("name", "") << " (" << s.value("country", "") << ", " << s.value("role", "") << ")\n"
            << "  node id     " << field_text(s, "node_id") << "\n"
            << "  federation  " << field_text(s, "federation") << "\n"
            << "  digest      " << field_text(s, "digest") << "\n";
  if (s.contains("store_schema")) std::cout << "  store       schema " << s["store_schema"].dump() << "\n";
  if (s.contains("writes_fenced") && s["writes_fenced"].is_string())
    std::cout << "  writes      refused until a partner has shown this node its own chain back ("
              << (s["writes_fenced"] == "restore" ? "restored from a backup" : "its data directory was rolled back")
              << "); keep a partner reachable\n";
  if (s.contains("counts"))
    for (const auto& [k, v] : s["counts"].items()) std::cout << "  " << k << ": " << v.dump() << "\n";
  if (s.contains("peers"))
    for (const auto& p : s["peers"]) {
      std::cout << "  peer " << field_text(p, "node_id").substr(0, 16) << "  "
                << (p.value("connected", false) ? "connected   " : "disconnected") << "  " << field_text(p, "address");
      if (p.value("lag", 0) > 0)
        std::cout << "  behind by " << p.value("lag", 0) << " deltas for " << p.value("lag_s", 0) << " s";
      std::cout << "  last sync "
                << (p.contains("last_sync") && p["last_sync"].is_string() ? field_text(p, "last_sync") : "never");
      if (p.contains("refuses_us") && p["refuses_us"].is_string())
        std::cout << "  refuses us: " << p["refuses_us"].get<std::string>() << " (not redialled)";
      std::cout << "\n";
    }
  if (s.contains("progress") && !s["progress"].empty()) {
    std::cout << "  long work:\n";
    for (const auto& t : s["progress"]) std::cout << "    " << progress_line(t) << "\n";
  }
}

bool any_running(const json& s) {
  if (!s.contains("progress")) return false;
  for (const auto& t : s["progress"])
    if (t.value("state", "") == "running") return true;
  return false;
}

// `status --watch`: the status again every `interval_s` seconds while long
// work runs; it returns once none does (after showing its end), or on ^C.
// On a terminal each refresh replaces the last; elsewhere (a log, a pipe)
// each is printed after the other, one JSON object per line with --json.
int watch_status(const Global& g, double interval_s) {
  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) {
    print_error(g, errc_name(static_cast<Errc>(client.error().code.value())), client.error().detail);
    return kRefused;
  }
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  for (;;) {
    auto reply = client->request("GET", "/api/v1/status", nullptr);
    if (!reply.ok()) {
      print_error(g, "unavailable", reply.error().detail);
      return kRefused;
    }
    if (reply->status >= 400) {
      print_error(g, reply->body.is_object() ? reply->body.value("error", "error") : "error", reply->raw);
      return kRefused;
    }
    if (g.json) {
      std::cout << reply->body.dump() << std::endl;
    } else {
      if (tty) std::cout << "\033[H\033[2J";
      show_status(reply->body);
      std::cout << std::flush;
    }
    if (!any_running(reply->body)) return kOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<std::int64_t>(interval_s * 1000)));
  }
}

void show_placements(const json& page) {
  for (const auto& p : page["items"]) {
    std::string windows;
    for (const auto& w : p["windows"])
      windows += (windows.empty() ? "" : ", ") + field_text(w, "start") + ".." + field_text(w, "end") + " " +
                 std::to_string(w.value("available", 0)) + "/" + std::to_string(w.value("capacity", 0)) + " free";
    std::cout << field_text(p, "id") << "\n  " << text_in(p["title"]) << " | " << field_text(p, "trade") << " | "
              << field_text(p, "city") << " " << field_text(p, "country") << " | " << field_text(p, "status") << "\n  "
              << windows << "\n";
  }
  if (!page["next_cursor"].is_null()) std::cout << "(more: --cursor " << field_text(page, "next_cursor") << ")\n";
}

// Characters on a terminal, not bytes: names carry å, ö and Cyrillic (two
// bytes each in UTF-8), which padded by bytes pushed the columns apart.
std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// One line per item: its full id (what other commands take), then the
// columns `cells` gives, each padded to the widest in the page; an unset
// field shows as "-" so that the columns stay readable.
void show_list(const json& page, const std::function<std::vector<std::string>(const json&)>& cells) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::size_t> width;
  for (const auto& item : page["items"]) {
    std::vector<std::string> row{field_text(item, "id")};
    for (auto& c : cells(item)) row.push_back(c.empty() ? "-" : std::move(c));
    width.resize(std::max(width.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
    rows.push_back(std::move(row));
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - display_width(row[i]) + 2, ' ');
    }
    std::cout << line << "\n";
  }
  if (!page["next_cursor"].is_null()) std::cout << "(more: --cursor " << field_text(page, "next_cursor") << ")\n";
}

// "2027-03-01..2027-03-12", "from 2027-03-01", "until 2027-03-12" or "".
std::string period_text(const std::string& start, const std::string& end) {
  if (!start.empty() && !end.empty()) return start + ".." + end;
  if (!start.empty()) return "from " + start;
  if (!end.empty()) return "until " + end;
  return "";
}

// The other names of an organisation, "lang: text", after the English one.
std::string other_names(const json& texts) {
  std::string out;
  if (!texts.is_array()) return out;
  for (const auto& t : texts)
    if (t.value("lang", "") != "en" && !t.value("text", "").empty())
      out += (out.empty() ? "" : "; ") + t.value("lang", "") + ": " + t.value("text", "");
  return out;
}

// A record as indented "name: value" lines, unset fields left out: what a
// person reads (`--json` gives the API's object). Lists of plain values go
// on one line; a list of objects is one "-" entry each.
void show_fields(const json& v, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  auto unset = [](const json& x) {
    return x.is_null() || (x.is_string() && x.get_ref<const std::string&>().empty()) ||
           ((x.is_array() || x.is_object()) && x.empty());
  };
  auto plain = [](const json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
  for (const auto& [name, x] : v.items()) {
    if (unset(x)) continue;
    if (x.is_object()) {
      std::cout << pad << name << ":\n";
      show_fields(x, indent + 2);
    } else if (x.is_array() && std::all_of(x.begin(), x.end(), [](const json& e) { return !e.is_structured(); })) {
      std::string line;
      for (const auto& e : x) line += (line.empty() ? "" : ", ") + plain(e);
      std::cout << pad << name << ": " << line << "\n";
    } else if (x.is_array()) {
      std::cout << pad << name << ":\n";
      for (const auto& e : x) {
        if (!e.is_object()) {
          std::cout << pad << "  - " << plain(e) << "\n";
          continue;
        }
        std::cout << pad << "  -\n";
        show_fields(e, indent + 4);
      }
    } else {
      std::cout << pad << name << ": " << plain(x) << "\n";
    }
  }
}

void show_record(const json& r) { show_fields(r, 0); }

}  // namespace

void add_data_commands(CLI::App& app, Global& g, int& code) {
  auto watch = std::make_shared<std::pair<bool, double>>(false, 1.0);
  auto* status = app.add_subcommand("status", "Show the running node's status, peers and long work in progress");
  status->add_flag("--watch", watch->first,
                   "Refresh while long work (catch-up, import, audit) runs; return when it is done (or on Ctrl-C)");
  status->add_option("--interval", watch->second, "Seconds between refreshes with --watch")
      ->check(CLI::Range(0.2, 3600.0))
      ->capture_default_str();
  status->callback([&g, &code, watch] {
    code = watch->first ? watch_status(g, watch->second) : call(g, "GET", "/api/v1/status", nullptr, show_status);
  });

  app.add_subcommand("dashboard", "Print a one-time login link to this node's dashboard")->callback([&] {
    auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
    std::string base = client.ok() ? client->base_url() : "";
    json empty = json::object();
    code = call(g, "POST", "/api/v1/login-codes", &empty, [base](const json& r) {
      std::cout << base << "/?login=" << field_text(r, "code") << "\n(the link works once, for ten minutes)\n";
    });
  });

  // ------------------------------------------------------- organisations
  struct OrgOpts {
    std::string name, type = "vet_school", country, region, city, address, website;
    std::vector<std::string> names, trades;
    std::string cursor;
  };
  auto* org = app.add_subcommand("org", "Organisations (schools, companies)");
  org->require_subcommand(1);
  auto o = std::make_shared<OrgOpts>();
  auto* oadd = org->add_subcommand("add", "Add an organisation this node speaks for");
  oadd->add_option("--name", o->name, "Name in English")->required();
  oadd->add_option("--name-local", o->names, "Name in another language, LANG:TEXT (repeatable)");
  oadd->add_option("--type", o->type, "vet_school, sme, large_enterprise, public_body, ngo, chamber, hei, other")
      ->capture_default_str();
  oadd->add_option("--country", o->country, "ISO 3166-1 alpha-2")->required();
  oadd->add_option("--region", o->region);
  oadd->add_option("--city", o->city);
  oadd->add_option("--address", o->address);
  oadd->add_option("--website", o->website);
  oadd->add_option("--trade", o->trades, "A trade (repeatable)");
  oadd->callback([&g, &code, o] {
    json names = json::array({{{"lang", "en"}, {"text", o->name}}});
    for (auto& n : pair_list(o->names, "text")) names.push_back(n);
    json body = {{"names", names}, {"type", o->type}, {"country", o->country}};
    for (auto [k, v] :
         {std::pair{"region", &o->region}, {"city", &o->city}, {"address", &o->address}, {"website", &o->website}})
      if (!v->empty()) body[k] = *v;
    if (!o->trades.empty()) body["trades"] = o->trades;
    code = call(g, "POST", "/api/v1/organisations", &body, show_id);
  });
  auto* olist = org->add_subcommand("list", "List organisations");
  olist->add_option("--cursor", o->cursor);
  olist->callback([&g, &code, o] {
    code = call(g, "GET", "/api/v1/organisations" + query({{"cursor", o->cursor}, {"limit", "200"}}), nullptr,
                [](const json& page) {
                  show_list(page, [](const json& item) -> std::vector<std::string> {
                    return {field_text(item, "country"), field_text(item, "type"), field_text(item, "city"),
                            text_in(item["names"]), other_names(item["names"])};
                  });
                });
  });

  // ---------------------------------------------------------- placements
  struct PlacementOpts {
    std::string host, title, trade, trade_code, tasks, city, country, status = "open", accommodation;
    std::vector<std::string> titles, windows, languages, safety;
    unsigned min_days = 0, max_days = 0, minimum_age = 0;
    std::string id, from, to, language, list_host, cursor, limit;
    bool available = false;
  };
  auto p = std::make_shared<PlacementOpts>();
  auto* placement = app.add_subcommand("placement", "Placements: a host's on-the-job slots");
  placement->require_subcommand(1);
  auto* padd = placement->add_subcommand("add", "Offer a placement");
  padd->add_option("--host", p->host, "Host organisation id")->required();
  padd->add_option("--title", p->title, "Title in English")->required();
  padd->add_option("--title-local", p->titles, "Title in another language, LANG:TEXT (repeatable)");
  padd->add_option("--trade", p->trade, "Trade, e.g. carpentry")->required();
  padd->add_option("--trade-code", p->trade_code, "ESCO/ISCO code");
  padd->add_option("--tasks", p->tasks);
  padd->add_option("--city", p->city);
  padd->add_option("--country", p->country, "ISO 3166-1 alpha-2")->required();
  padd->add_option("--window", p->windows, "START:END:CAPACITY, dates YYYY-MM-DD (repeatable)")->required();
  padd->add_option("--language", p->languages, "Working language LANG:LEVEL, e.g. en:B1 (repeatable)");
  padd->add_option("--safety", p->safety,
                   "ppe, safety_induction, medical_certificate, work_at_height, hot_work, "
                   "machinery, minimum_age, other (repeatable)");
  padd->add_option("--min-days", p->min_days);
  padd->add_option("--max-days", p->max_days);
  padd->add_option("--minimum-age", p->minimum_age);
  padd->add_option("--accommodation", p->accommodation);
  padd->add_option("--status", p->status, "draft or open")->capture_default_str();
  padd->callback([&g, &code, p] {
    json titles = json::array({{{"lang", "en"}, {"text", p->title}}});
    for (auto& t : pair_list(p->titles, "text")) titles.push_back(t);
    json windows = json::array();
    int id = 0;
    for (const auto& w : p->windows) {
      auto a = w.find(':'), b = w.rfind(':');
      if (a == std::string::npos || a == b)
        throw CLI::ValidationError("--window " + w + ": expected START:END:CAPACITY");
      windows.push_back({{"window_id", ++id},
                         {"start", w.substr(0, a)},
                         {"end", w.substr(a + 1, b - a - 1)},
                         {"capacity", std::stoul(w.substr(b + 1))}});
    }
    json body = {{"host_organisation", p->host}, {"title", titles},    {"trade", p->trade},
                 {"country", p->country},        {"windows", windows}, {"status", p->status}};
    for (auto [k, v] : {std::pair{"trade_code", &p->trade_code},
                        {"tasks", &p->tasks},
                        {"city", &p->city},
                        {"accommodation", &p->accommodation}})
      if (!v->empty()) body[k] = *v;
    if (!p->languages.empty()) body["languages"] = pair_list(p->languages, "level");
    if (!p->safety.empty()) body["safety"] = p->safety;
    if (p->min_days) body["min_days"] = p->min_days;
    if (p->max_days) body["max_days"] = p->max_days;
    if (p->minimum_age) body["minimum_age"] = p->minimum_age;
    code = call(g, "POST", "/api/v1/placements", &body, show_id);
  });
  auto* plist = placement->add_subcommand("list", "Search placements across the federation");
  plist->add_option("--trade", p->trade);
  plist->add_option("--country", p->country);
  plist->add_option("--from", p->from, "Windows ending on or after YYYY-MM-DD");
  plist->add_option("--to", p->to, "Windows starting on or before YYYY-MM-DD");
  plist->add_option("--language", p->language);
  plist->add_option("--host", p->list_host, "Host organisation id");
  plist->add_flag("--available", p->available, "Only placements with a free slot");
  plist->add_option("--limit", p->limit);
  plist->add_option("--cursor", p->cursor);
  plist->callback([&g, &code, p] {
    code = call(g, "GET",
                "/api/v1/placements" + query({{"trade", p->trade},
                                              {"country", p->country},
                                              {"from", p->from},
                                              {"to", p->to},
                                              {"language", p->language},
                                              {"host", p->list_host},
                                              {"available", p->available ? "true" : ""},
                                              {"limit", p->limit},
                                              {"cursor", p->cursor}}),
                nullptr, show_placements);
  });
  auto* pshow = placement->add_subcommand("show", "Show a placement with its availability");
  pshow->add_option("id", p->id)->required();
  pshow->callback([&g, &code, p] { code = call(g, "GET", "/api/v1/placements/" + p->id, nullptr, show_record); });
  auto* pclose = placement->add_subcommand("close", "Close a placement to new reservations");
  pclose->add_option("id", p->id)->required();
  pclose->callback([&g, &code, p] {
    json empty = json::object();
    code = call(g, "POST", "/api/v1/placements/" + p->id + "/close", &empty, show_id);
  });

  // -------------------------------------------------------- reservations
  struct ReserveOpts {
    std::string placement, mobility, note, id, decision, role, limit, cursor;
    unsigned window = 0, slots = 1;
  };
  auto r = std::make_shared<ReserveOpts>();
  auto* reserve = app.add_subcommand("reserve", "Request slots in a partner's placement window");
  reserve->add_option("placement", r->placement, "Placement id")->required();
  reserve->add_option("--window", r->window, "Window id")->required();
  reserve->add_option("--slots", r->slots)->capture_default_str();
  reserve->add_option("--mobility", r->mobility, "Mobility id the slots are for");
  reserve->add_option("--note", r->note);
  reserve->callback([&g, &code, r] {
    json body = {{"window_id", r->window}, {"slots", r->slots}};
    if (!r->mobility.empty()) body["mobility"] = r->mobility;
    if (!r->note.empty()) body["note"] = r->note;
    code = call(g, "POST", "/api/v1/placements/" + r->placement + "/reservations", &body, [](const json& res) {
      std::cout << field_text(res, "id") << "  " << field_text(res, "decision") << "\n";
    });
  });
  auto* reservation = app.add_subcommand("reservation", "List, decide on or cancel reservations");
  reservation->require_subcommand(1);
  auto* rlist = reservation->add_subcommand("list", "Reservations this node holds");
  rlist->add_option("--placement", r->placement, "Only those for this placement");
  rlist->add_option("--decision", r->decision, "pending, confirmed, rejected or cancelled");
  rlist->add_option("--role", r->role, "incoming (for your placements: yours to decide) or outgoing (your requests)");
  rlist->add_option("--limit", r->limit);
  rlist->add_option("--cursor", r->cursor);
  rlist->callback([&g, &code, r] {
    code = call(g, "GET",
                "/api/v1/reservations" + query({{"placement", r->placement},
                                                {"decision", r->decision},
                                                {"role", r->role},
                                                {"limit", r->limit},
                                                {"cursor", r->cursor}}),
                nullptr, [](const json& page) {
                  show_list(page, [](const json& x) -> std::vector<std::string> {
                    return {field_text(x, "decision"), field_text(x, "slots") + " slot(s) in window " +
                                                           field_text(x, "window_id") + " of " +
                                                           field_text(x, "placement")};
                  });
                });
  });
  for (const char* action : {"confirm", "reject", "cancel"}) {
    auto* cmd = reservation->add_subcommand(action, std::string(action) == "cancel"
                                                        ? "Cancel your own request (frees confirmed slots)"
                                                        : std::string(action) + " a request for your placement");
    cmd->add_option("id", r->id, "Reservation id")->required();
    cmd->callback([&g, &code, r, action] {
      json empty = json::object();
      code = call(g, "POST", "/api/v1/reservations/" + r->id + "/" + action, &empty, [](const json& res) {
        std::cout << field_text(res, "id") << "  " << field_text(res, "decision") << "\n";
      });
    });
  }

  auto erase_id = std::make_shared<std::string>();
  auto* erase = app.add_subcommand(
      "erase", "Erase the personal data of your mobility or contact on every node (the signed record stays)");
  erase->add_option("id", *erase_id, "Mobility or contact id")->required();
  erase->callback([&g, &code, erase_id] {
    json empty = json::object();
    code = call(g, "POST", "/api/v1/records/" + *erase_id + "/erase", &empty, [](const json& res) {
      std::cout << "erased the personal data of " << field_text(res, "record_type") << " " << field_text(res, "id")
                << "; its signed history stays verifiable\n";
    });
  });

  // ---------------------------------------------------------- mobilities
  struct MobilityOpts {
    std::string sending, receiving, pseudonym, type = "learner_otj_company", category = "ivet_learner";
    std::string placement, start, end, qualification, status = "draft";
    PersonalInput personal;
    unsigned window = 0, eqf = 0;
    std::string id, party, organisation, country, list_type, list_status, from, to, cursor;
  };
  auto m = std::make_shared<MobilityOpts>();
  auto* mobility = app.add_subcommand("mobility", "Mobilities: who goes where, when, in what status");
  mobility->require_subcommand(1);
  auto* madd = mobility->add_subcommand("add", "Record a mobility (as the sending institution)");
  madd->add_option("--sending", m->sending, "Sending organisation id")->required();
  madd->add_option("--receiving", m->receiving, "Receiving organisation id")->required();
  madd->add_option("--pseudonym", m->pseudonym, "Participant pseudonym")->required();
  madd->add_option("--type", m->type)->capture_default_str();
  madd->add_option("--category", m->category)->capture_default_str();
  madd->add_option("--placement", m->placement);
  madd->add_option("--window", m->window);
  madd->add_option("--start", m->start, "Planned start YYYY-MM-DD");
  madd->add_option("--end", m->end, "Planned end YYYY-MM-DD");
  madd->add_option("--qualification", m->qualification);
  madd->add_option("--eqf", m->eqf, "EQF level 1-8");
  madd->add_option("--status", m->status, "draft, nominated, live, completed, recognised")->capture_default_str();
  add_personal_input(madd, m->personal, kParticipantFields);
  madd->callback([&g, &code, m] {
    auto personal = read_personal_input(m->personal, kParticipantFields);
    if (!personal.ok()) {
      code = refuse(g, personal.error(), kUsage);
      return;
    }
    json fixed = {{"sending_organisation", m->sending},
                  {"receiving_organisation", m->receiving},
                  {"participant", {{"pseudonym", m->pseudonym}}},
                  {"type", m->type},
                  {"category", m->category}};
    json sending = {{"status", m->status}};
    if (!m->placement.empty()) sending["placement"] = m->placement;
    if (m->window) sending["window_id"] = m->window;
    if (!m->start.empty()) sending["planned_start"] = m->start;
    if (!m->end.empty()) sending["planned_end"] = m->end;
    if (!m->qualification.empty()) sending["qualification_title"] = m->qualification;
    if (m->eqf) sending["eqf_level"] = m->eqf;
    json body = {{"fixed", fixed}, {"sending", sending}};
    if (!personal->empty()) body["personal_data"] = *personal;
    code = call(g, "POST", "/api/v1/mobilities", &body, show_id);
  });
  auto* mlist = mobility->add_subcommand("list", "List mobilities");
  mlist->add_option("--organisation", m->organisation);
  mlist->add_option("--country", m->country);
  mlist->add_option("--type", m->list_type);
  mlist->add_option("--status", m->list_status);
  mlist->add_option("--from", m->from);
  mlist->add_option("--to", m->to);
  mlist->add_option("--cursor", m->cursor);
  mlist->callback([&g, &code, m] {
    code = call(g, "GET",
                "/api/v1/mobilities" + query({{"organisation", m->organisation},
                                              {"country", m->country},
                                              {"type", m->list_type},
                                              {"status", m->list_status},
                                              {"from", m->from},
                                              {"to", m->to},
                                              {"cursor", m->cursor},
                                              {"limit", "200"}}),
                nullptr, [](const json& page) {
                  show_list(page, [](const json& item) -> std::vector<std::string> {
                    static const json none = json::object();
                    const json& s = item.contains("sending") && item["sending"].is_object() ? item["sending"] : none;
                    const json& f = item.contains("fixed") && item["fixed"].is_object() ? item["fixed"] : none;
                    const json& who =
                        f.contains("participant") && f["participant"].is_object() ? f["participant"] : none;
                    std::string languages;
                    if (s.contains("languages") && s["languages"].is_array())
                      for (const auto& l : s["languages"])
                        if (auto lang = field_text(l, "lang"); !lang.empty()) {
                          std::string level = field_text(l, "level");
                          if (level.find("unspecified") != std::string::npos) level.clear();
                          languages += (languages.empty() ? "" : ",") + lang + (level.empty() ? "" : " " + level);
                        }
                    return {field_text(s, "status"), field_text(f, "type"), field_text(who, "pseudonym"),
                            period_text(field_text(s, "planned_start"), field_text(s, "planned_end")), languages};
                  });
                });
  });
  auto* mshow = mobility->add_subcommand("show", "Show a mobility");
  mshow->add_option("id", m->id)->required();
  mshow->callback([&g, &code, m] { code = call(g, "GET", "/api/v1/mobilities/" + m->id, nullptr, show_record); });
  auto* mconfirm = mobility->add_subcommand("confirm", "Sign what was agreed (as sender or host)");
  mconfirm->add_option("id", m->id)->required();
  mconfirm->add_option("--party", m->party, "sending or host (default: this node's side)");
  mconfirm->callback([&g, &code, m] {
    json body = json::object();
    if (!m->party.empty()) body["party"] = m->party;
    code = call(g, "POST", "/api/v1/mobilities/" + m->id + "/confirm", &body, show_id);
  });
  for (const char* action : {"complete", "cancel"}) {
    auto* cmd = mobility->add_subcommand(
        action, std::string("Mark a mobility ") + (std::string(action) == "complete" ? "completed" : "cancelled"));
    cmd->add_option("id", m->id)->required();
    cmd->callback([&g, &code, m, action] {
      json empty = json::object();
      code = call(g, "POST", "/api/v1/mobilities/" + m->id + "/" + action, &empty, show_id);
    });
  }
  // The sending side's other steps (nominate, under way, recognised): the
  // node's refusals name them ("nominate it first"), so the CLI takes them.
  auto step = std::make_shared<std::string>();
  auto* mstatus = mobility->add_subcommand("status", "Move a mobility's status one step (sending side)");
  mstatus->add_option("id", m->id)->required();
  mstatus->add_option("status", *step, "nominated, live, completed or recognised (cancel: `mobility cancel`)")
      ->required()
      ->check(CLI::IsMember({"nominated", "live", "completed", "recognised"}));
  mstatus->callback([&g, &code, m, step] {
    json body = {{"sending", {{"status", *step}}}};
    code = call(g, "PATCH", "/api/v1/mobilities/" + m->id, &body,
                [step](const json& moved) { std::cout << field_text(moved, "id") << " is " << *step << "\n"; });
  });

  // ------------------------------------------------------------ contacts
  struct ContactOpts {
    std::string organisation, display_name, cursor, audience, id;
    PersonalInput personal;
    std::vector<std::string> roles, languages;
  };
  auto c = std::make_shared<ContactOpts>();
  auto* contact = app.add_subcommand("contact", "Network contacts");
  contact->require_subcommand(1);
  auto* cadd = contact->add_subcommand("add", "Add a contact");
  cadd->add_option("--organisation", c->organisation)->required();
  cadd->add_option("--display-name", c->display_name, "Role-like label shown to every partner; no personal data here")
      ->required();
  cadd->add_option("--audience", c->audience,
                   "Who receives the personal data: federation (default: every member but auditors), local "
                   "(this node only), or member ids separated by commas");
  cadd->add_option("--role", c->roles, "mobility_coordinator, mentor, supervisor, ... (repeatable)");
  cadd->add_option("--language", c->languages, "LANG:LEVEL (repeatable)");
  add_personal_input(cadd, c->personal, kContactPersonFields);
  cadd->callback([&g, &code, c] {
    auto personal = read_personal_input(c->personal, kContactPersonFields);
    if (!personal.ok()) {
      code = refuse(g, personal.error(), kUsage);
      return;
    }
    json body = {{"organisation", c->organisation}, {"display_name", c->display_name}};
    if (!c->roles.empty()) body["roles"] = c->roles;
    if (!c->languages.empty()) body["languages"] = pair_list(c->languages, "level");
    if (!personal->empty()) body["personal_data"] = *personal;
    if (!c->audience.empty()) body["audience"] = audience_json(c->audience);
    code = call(g, "POST", "/api/v1/contacts", &body, show_id);
  });
  // Widening (DESIGN §5): the owner's node seals the data again for the new
  // members and delivers it; the API refuses to leave anyone out.
  auto* caud = contact->add_subcommand(
      "audience",
      "Widen who receives a contact's personal data (owner only; an audience never narrows: erase instead)");
  caud->add_option("id", c->id, "The contact's id")->required();
  caud->add_option("audience", c->audience,
                   "federation (every member but auditors), or member ids separated by commas (the owner and "
                   "those members); it must include everyone the contact is shared with now")
      ->required();
  caud->callback([&g, &code, c] {
    json body = {{"audience", audience_json(c->audience)}};
    code = call(g, "PATCH", "/api/v1/contacts/" + c->id, &body, [](const json& updated) {
      std::cout << field_text(updated, "id") << "\n";
      for (const auto& member : updated.value("personal_data_audience", json::array()))
        std::cout << "  " << member.value("node_id", std::string()).substr(0, 16)
                  << (member.value("seal_key_announced", false) ? "  can receive it"
                                                                : "  cannot receive it yet: announced no seal key")
                  << "\n";
    });
  });
  auto* clist = contact->add_subcommand("list", "List contacts");
  clist->add_option("--cursor", c->cursor);
  clist->callback([&g, &code, c] {
    code = call(
        g, "GET", "/api/v1/contacts" + query({{"cursor", c->cursor}, {"limit", "200"}}), nullptr, [](const json& page) {
          show_list(page,
                    [](const json& item) -> std::vector<std::string> { return {field_text(item, "display_name")}; });
        });
  });
}

}  // namespace conect::cli
