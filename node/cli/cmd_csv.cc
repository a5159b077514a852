// `import placements FILE.csv` and `export placements|mobilities|contacts`:
// coordinators keep these lists in spreadsheets. Import checks every row
// (here for form, then at the node as a create would) and imports all rows in
// one delta or none; export writes UTF-8 CSV with a byte-order mark, quoted,
// so Cyrillic and Nordic letters survive a round trip through a spreadsheet.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "api_client.h"
#include "csv.h"
#include "data_commands.h"

namespace conect::cli {

namespace {

using nlohmann::json;

// Columns of a placements sheet. Lists are ';'-separated: windows as
// START:END:CAPACITY, languages as LANG:LEVEL; titles in other languages as
// title_fi, title_sv, ...
const std::vector<std::string> kPlacementColumns = {
    "host_organisation", "title_en", "trade",     "trade_code", "tasks",       "city",          "country", "windows",
    "min_days",          "max_days", "languages", "safety",     "minimum_age", "accommodation", "status"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) {
    auto b = part.find_first_not_of(' '), e = part.find_last_not_of(' ');
    if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : std::string(1, sep)) + p;
  return out;
}

// One sheet row -> the JSON of POST /api/v1/placements. Errors name the column.
Result<json> placement_row(const std::map<std::string, std::string>& cells) {
  json row = json::object();
  json titles = json::array();
  for (const auto& [column, value] : cells) {
    if (value.empty()) continue;
    if (column == "title_en" || column.rfind("title_", 0) == 0) {
      titles.push_back({{"lang", column.substr(6)}, {"text", value}});
    } else if (column == "min_days" || column == "max_days" || column == "minimum_age") {
      unsigned n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size())
        return Error(Errc::invalid_argument, column + ": '" + value + "' is not a whole number");
      row[column] = n;
    } else if (column == "windows") {
      json windows = json::array();
      int id = 0;
      for (const auto& w : split(value, ';')) {
        auto parts = split(w, ':');
        unsigned capacity = 0;
        if (parts.size() != 3 ||
            std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), capacity).ec != std::errc())
          return Error(Errc::invalid_argument, "windows: '" + w + "' is not START:END:CAPACITY");
        windows.push_back({{"window_id", ++id}, {"start", parts[0]}, {"end", parts[1]}, {"capacity", capacity}});
      }
      row["windows"] = windows;
    } else if (column == "languages") {
      json langs = json::array();
      for (const auto& l : split(value, ';')) {
        auto parts = split(l, ':');
        if (parts.size() != 2) return Error(Errc::invalid_argument, "languages: '" + l + "' is not LANG:LEVEL");
        langs.push_back({{"lang", parts[0]}, {"level", parts[1]}});
      }
      row["languages"] = langs;
    } else if (column == "safety") {
      row["safety"] = split(value, ';');
    } else {
      row[column] = value;
    }
  }
  if (!titles.empty()) row["title"] = titles;
  return row;
}

int fail(const Global& g, const std::string& code, const std::string& detail, int exit_code) {
  print_error(g, code, detail);
  return exit_code;
}

int import_placements(const Global& g, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(g, "not_found", "cannot read " + file, kRefused);
  std::stringstream buf;
  buf << in.rdbuf();
  auto rows = csv::parse(buf.str());
  if (!rows.ok()) return fail(g, "invalid_argument", file + ": " + rows.error().detail, kRefused);
  if (rows->size() < 2)
    return fail(g, "invalid_argument", file + ": needs a header row and at least one placement", kRefused);
  const auto& header = rows->front().fields;
  for (const auto& column : header) {
    bool known = column == "id" || column.rfind("title_", 0) == 0 ||
                 std::find(kPlacementColumns.begin(), kPlacementColumns.end(), column) != kPlacementColumns.end();
    if (!known)
      return fail(
          g, "invalid_argument",
          file + ": unknown column '" + column + "' (known: " + join(kPlacementColumns, ',') + ", title_LANG, id)",
          kUsage);
  }
  json body_rows = json::array();
  std::vector<std::size_t> lines;
  std::vector<std::string> problems;
  for (std::size_t r = 1; r < rows->size(); ++r) {
    const auto& row = (*rows)[r];
    if (row.fields.size() != header.size()) {
      problems.push_back("line " + std::to_string(row.line) + ": " + std::to_string(row.fields.size()) +
                         " fields, the header has " + std::to_string(header.size()));
      continue;
    }
    std::map<std::string, std::string> cells;
    for (std::size_t c = 0; c < header.size(); ++c)
      if (header[c] != "id") cells[header[c]] = row.fields[c];  // ids are minted on import
    auto j = placement_row(cells);
    if (!j.ok()) {
      problems.push_back("line " + std::to_string(row.line) + ": " + j.error().detail);
      continue;
    }
    body_rows.push_back(*j);
    lines.push_back(row.line);
  }
  if (problems.empty()) {
    auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
    if (!client.ok()) return fail(g, "unavailable", client.error().detail, kRefused);
    json body = {{"rows", body_rows}};
    auto reply = client->post("/api/v1/import/placements", body);
    if (!reply.ok()) return fail(g, "unavailable", reply.error().detail, kRefused);
    if (reply->status == 201) {
      if (g.json)
        std::cout << reply->body.dump() << "\n";
      else
        std::cout << "imported " << reply->body.value("imported", 0) << " placements from " << file << "\n";
      return kOk;
    }
    if (reply->body.is_object() && reply->body.contains("rows")) {
      for (const auto& p : reply->body["rows"])
        problems.push_back("line " + std::to_string(lines.at(p.value("row", 0))) + ": " + p.value("detail", ""));
    } else {
      return fail(g, reply->body.is_object() ? reply->body.value("error", "error") : "error",
                  reply->body.is_object() ? reply->body.value("detail", "") : reply->raw, kRefused);
    }
  }
  if (g.json) {
    std::cout << json{{"error", "invalid_argument"}, {"detail", "nothing was imported"}, {"rows", problems}}.dump()
              << "\n";
  } else {
    for (const auto& p : problems) std::cerr << file << ": " << p << "\n";
    std::cerr << "conect-node: " << problems.size() << " bad row(s); nothing was imported\n";
  }
  return kRefused;
}

std::string text_of(const json& texts, const std::string& lang) {
  for (const auto& t : texts)
    if (t.value("lang", "") == lang) return t.value("text", "");
  return "";
}

std::string pairs(const json& list, const char* a, const char* b) {
  std::vector<std::string> out;
  for (const auto& x : list) out.push_back(field_text(x, a) + ":" + field_text(x, b));
  return join(out, ';');
}

std::vector<std::string> placement_cells(const json& p, const std::vector<std::string>& title_langs) {
  std::vector<std::string> windows;
  for (const auto& w : p["windows"])
    windows.push_back(field_text(w, "start") + ":" + field_text(w, "end") + ":" + field_text(w, "capacity"));
  std::vector<std::string> safety;
  for (const auto& s : p["safety"]) safety.push_back(s.get<std::string>());
  std::vector<std::string> out = {
      field_text(p, "id"),       field_text(p, "host_organisation"), text_of(p["title"], "en"),
      field_text(p, "trade"),    field_text(p, "trade_code"),        field_text(p, "tasks"),
      field_text(p, "city"),     field_text(p, "country"),           join(windows, ';'),
      field_text(p, "min_days"), field_text(p, "max_days"),          pairs(p["languages"], "lang", "level"),
      join(safety, ';'),         field_text(p, "minimum_age"),       field_text(p, "accommodation"),
      field_text(p, "status")};
  for (const auto& lang : title_langs) out.push_back(text_of(p["title"], lang));
  return out;
}

int export_records(const Global& g, const std::string& kind, const std::string& output) {
  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) return fail(g, "unavailable", client.error().detail, kRefused);
  std::vector<json> items;
  std::string cursor;
  do {
    auto reply = client->get("/api/v1/" + kind + "?limit=500" + (cursor.empty() ? "" : "&cursor=" + cursor));
    if (!reply.ok()) return fail(g, "unavailable", reply.error().detail, kRefused);
    if (reply->status != 200) return fail(g, "error", reply->raw, kRefused);
    for (auto& item : reply->body["items"]) items.push_back(item);
    cursor = reply->body["next_cursor"].is_string() ? reply->body["next_cursor"].get<std::string>() : "";
  } while (!cursor.empty());

  std::string out(csv::kUtf8Bom);
  if (kind == "placements") {
    std::vector<std::string> title_langs;
    for (const auto& p : items)
      for (const auto& t : p["title"]) {
        std::string lang = t.value("lang", "");
        if (lang != "en" && std::find(title_langs.begin(), title_langs.end(), lang) == title_langs.end())
          title_langs.push_back(lang);
      }
    std::vector<std::string> header = {"id"};
    header.insert(header.end(), kPlacementColumns.begin(), kPlacementColumns.end());
    for (const auto& l : title_langs) header.push_back("title_" + l);
    out += csv::format_row(header);
    for (const auto& p : items) out += csv::format_row(placement_cells(p, title_langs));
  } else if (kind == "mobilities") {
    out += csv::format_row({"id", "sending_organisation", "receiving_organisation", "pseudonym", "type", "category",
                            "placement", "window_id", "planned_start", "planned_end", "qualification_title",
                            "eqf_level", "status", "host_status"});
    for (const auto& m : items) {
      const json& f = m["fixed"];
      const json& s = m["sending"];
      out += csv::format_row({field_text(m, "id"), field_text(f, "sending_organisation"),
                              field_text(f, "receiving_organisation"), field_text(f["participant"], "pseudonym"),
                              field_text(f, "type"), field_text(f, "category"), field_text(s, "placement"),
                              field_text(s, "window_id"), field_text(s, "planned_start"), field_text(s, "planned_end"),
                              field_text(s, "qualification_title"), field_text(s, "eqf_level"), field_text(s, "status"),
                              field_text(m["host"], "host_status")});
    }
  } else {
    out += csv::format_row({"id", "organisation", "display_name", "roles", "languages"});
    for (const auto& c : items) {
      std::vector<std::string> roles;
      for (const auto& r : c["roles"]) roles.push_back(r.get<std::string>());
      out += csv::format_row({field_text(c, "id"), field_text(c, "organisation"), field_text(c, "display_name"),
                              join(roles, ';'), pairs(c["languages"], "lang", "level")});
    }
  }
  if (output.empty() || output == "-") {
    std::cout << out;
  } else {
    std::ofstream f(output, std::ios::binary);
    if (!(f << out)) return fail(g, "io_error", "cannot write " + output, kRefused);
    if (!g.json) std::cerr << "exported " << items.size() << " " << kind << " to " << output << "\n";
  }
  return kOk;
}

}  // namespace

void add_csv_commands(CLI::App& app, Global& g, int& code) {
  auto file = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto* import = app.add_subcommand("import", "Import records from a spreadsheet (CSV, UTF-8): all rows or none");
  import->require_subcommand(1);
  auto* ip = import->add_subcommand("placements", "Placements: one per row; see README for the columns");
  ip->add_option("file", *file, "FILE.csv")->required();
  ip->callback([&g, &code, file] { code = import_placements(g, *file); });

  auto* exp = app.add_subcommand("export", "Export records as CSV (UTF-8 with BOM, quoted)");
  exp->require_subcommand(1);
  for (const char* kind : {"placements", "mobilities", "contacts"}) {
    auto* sub = exp->add_subcommand(kind, std::string("Export ") + kind);
    sub->add_option("--output,-o", *output, "File to write (default: standard output)");
    sub->callback([&g, &code, output, kind] { code = export_records(g, kind, *output); });
  }
}

}  // namespace conect::cli
