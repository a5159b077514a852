// `import placements|mobilities|contacts FILE.csv` and `export ...`:
// coordinators keep these lists in spreadsheets. Import checks every row
// (here for form, then at the node as a create would) and imports all rows in
// one delta or none; export writes UTF-8 CSV with a byte-order mark, quoted,
// so Cyrillic and Nordic letters survive a round trip through a spreadsheet.
//
// One table per sheet maps each column to a place in the API's JSON, so
// import and export read and write the same columns the same way.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

enum class Cell {
  text,      // as it is
  number,    // a whole number
  list,      // a;b;c
  skills,    // LANG:LEVEL;LANG:LEVEL
  windows,   // START:END:CAPACITY;... (window ids 1, 2, ... in order)
  date,      // YYYY-MM-DD, or D.M.YYYY as Nordic and Russian spreadsheets save it
  audience,  // federation, local, or member ids separated by ;
};

struct Column {
  std::string name;
  std::string pointer;  // where the value lives in the API's JSON
  Cell cell = Cell::text;
  bool personal = false;     // personal data: exported only on request
  bool export_only = false;  // another node's field: must be empty on import
};

struct Sheet {
  std::string kind;  // placements, mobilities, contacts: the API path
  std::vector<Column> columns;
  std::string texts_prefix;  // "title_": one column per language of a text list
};

// web/js/csv_export.js writes these sheets too (the dashboard's Download CSV,
// compared byte for byte by tests/web/test_workflow.py): change both.
const Sheet kPlacements{"placements",
                        {{"host_organisation", "/host_organisation"},
                         {"title_en", ""},
                         {"trade", "/trade"},
                         {"trade_code", "/trade_code"},
                         {"tasks", "/tasks"},
                         {"city", "/city"},
                         {"country", "/country"},
                         {"windows", "/windows", Cell::windows},
                         {"min_days", "/min_days", Cell::number},
                         {"max_days", "/max_days", Cell::number},
                         {"languages", "/languages", Cell::skills},
                         {"safety", "/safety", Cell::list},
                         {"minimum_age", "/minimum_age", Cell::number},
                         {"accommodation", "/accommodation"},
                         {"status", "/status"}},
                        "title_"};

const Sheet kMobilities{"mobilities",
                        {{"sending_organisation", "/fixed/sending_organisation"},
                         {"receiving_organisation", "/fixed/receiving_organisation"},
                         {"pseudonym", "/fixed/participant/pseudonym"},
                         {"type", "/fixed/type"},
                         {"category", "/fixed/category"},
                         {"placement", "/sending/placement"},
                         {"window_id", "/sending/window_id", Cell::number},
                         {"planned_start", "/sending/planned_start", Cell::date},
                         {"planned_end", "/sending/planned_end", Cell::date},
                         {"qualification_title", "/sending/qualification_title"},
                         {"eqf_level", "/sending/eqf_level", Cell::number},
                         {"languages", "/sending/languages", Cell::skills},
                         {"status", "/sending/status"},
                         {"safety_briefing", "/sending/safety_briefing", Cell::date},
                         {"europass_number", "/sending/europass_number"},
                         {"host_status", "/host/host_status", Cell::text, false, true},
                         {"participant_name", "/personal_data/name", Cell::text, true},
                         {"participant_email", "/personal_data/email", Cell::text, true},
                         {"participant_birth_date", "/personal_data/birth_date", Cell::date, true}},
                        ""};

const Sheet kContacts{"contacts",
                      {{"organisation", "/organisation"},
                       {"display_name", "/display_name"},
                       {"roles", "/roles", Cell::list},
                       {"languages", "/languages", Cell::skills},
                       {"audience", "/audience", Cell::audience},
                       {"name", "/personal_data/name", Cell::text, true},
                       {"email", "/personal_data/email", Cell::text, true},
                       {"phone", "/personal_data/phone", Cell::text, true},
                       {"notes", "/personal_data/notes", Cell::text, true}},
                      ""};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
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

Result<unsigned> whole_number(const std::string& column, const std::string& value) {
  unsigned n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size())
    return Error(Errc::invalid_argument, column + ": '" + value + "' is not a whole number");
  return n;
}

// A date as a spreadsheet in Finnish, Swedish, Norwegian or Russian
// settings saves it (1.3.2027, 01.03.2027) in the API's form 2027-03-01;
// anything else as it is, for the node to accept or name.
std::string iso_date(const std::string& value) {
  unsigned d = 0, m = 0, y = 0;
  char dot1 = 0, dot2 = 0;
  int used = 0;
  if (std::sscanf(value.c_str(), "%2u%c%2u%c%4u%n", &d, &dot1, &m, &dot2, &y, &used) == 5 && dot1 == '.' &&
      dot2 == '.' && static_cast<std::size_t>(used) == value.size() && y >= 1000) {
    char out[40];  // room for any unsigned, though %2u and %4u bound them
    std::snprintf(out, sizeof out, "%04u-%02u-%02u", y, m, d);
    return out;
  }
  return value;
}

// A cell's text -> its JSON value. Errors name the column and the form.
Result<json> parse_cell(const Column& c, const std::string& value) {
  switch (c.cell) {
    case Cell::text:
      return json(value);
    case Cell::date:
      return json(iso_date(value));
    case Cell::audience: {
      if (value == "federation" || value == "local") return json{{"kind", value}};
      return json{{"kind", "members"}, {"members", split(value, ';')}};
    }
    case Cell::number: {
      auto n = whole_number(c.name, value);
      if (!n) return n.error();
      return json(*n);
    }
    case Cell::list:
      return json(split(value, ';'));
    case Cell::skills: {
      json out = json::array();
      for (const auto& s : split(value, ';')) {
        auto parts = split(s, ':');
        if (parts.size() != 2) return Error(Errc::invalid_argument, c.name + ": '" + s + "' is not LANG:LEVEL");
        out.push_back({{"lang", parts[0]}, {"level", parts[1]}});
      }
      return out;
    }
    case Cell::windows: {
      json out = json::array();
      for (const auto& w : split(value, ';')) {
        auto parts = split(w, ':');
        Result<unsigned> capacity = Error(Errc::invalid_argument, "");
        if (parts.size() == 3) capacity = whole_number(c.name, parts[2]);
        if (!capacity) return Error(Errc::invalid_argument, c.name + ": '" + w + "' is not START:END:CAPACITY");
        out.push_back({{"window_id", out.size() + 1},
                       {"start", iso_date(parts[0])},
                       {"end", iso_date(parts[1])},
                       {"capacity", *capacity}});
      }
      return out;
    }
  }
  return json();
}

// A JSON value -> its cell's text (the inverse of parse_cell).
std::string format_cell(const Column& c, const json& v) {
  if (v.is_null()) return "";
  std::vector<std::string> parts;
  switch (c.cell) {
    case Cell::number:
      // 0 is "not given" in every number column (min_days, eqf_level,
      // window_id, ...): an empty cell, which imports back as unset.
      if (v.is_number() && v == 0) return "";
      return v.dump();
    case Cell::text:
    case Cell::date:
      return v.is_string() ? v.get<std::string>() : v.dump();
    case Cell::audience:
      if (field_text(v, "kind") != "members") return field_text(v, "kind");
      for (const auto& x : v.value("members", json::array())) parts.push_back(x.get<std::string>());
      break;
    case Cell::list:
      for (const auto& x : v) parts.push_back(x.is_string() ? x.get<std::string>() : x.dump());
      break;
    case Cell::skills:
      for (const auto& x : v) parts.push_back(field_text(x, "lang") + ":" + field_text(x, "level"));
      break;
    case Cell::windows:
      for (const auto& w : v)
        parts.push_back(field_text(w, "start") + ":" + field_text(w, "end") + ":" + field_text(w, "capacity"));
      break;
  }
  return join(parts, ';');
}

// One sheet row -> the JSON body of POST /api/v1/<kind>.
Result<json> row_body(const Sheet& sheet, const std::map<std::string, std::string>& cells) {
  json body = json::object();
  json texts = json::array();
  for (const auto& cell : cells) {
    const std::string& name = cell.first;
    const std::string& value = cell.second;
    if (value.empty()) continue;
    if (!sheet.texts_prefix.empty() && name.rfind(sheet.texts_prefix, 0) == 0) {
      texts.push_back({{"lang", name.substr(sheet.texts_prefix.size())}, {"text", value}});
      continue;
    }
    auto c = std::find_if(sheet.columns.begin(), sheet.columns.end(), [&](const Column& x) { return x.name == name; });
    if (c->export_only)
      return Error(Errc::invalid_argument, name + ": is written by the other side's node; leave it empty");
    auto v = parse_cell(*c, value);
    if (!v) return v.error();
    body[json::json_pointer(c->pointer)] = std::move(*v);
  }
  if (!texts.empty()) body[sheet.texts_prefix.substr(0, sheet.texts_prefix.size() - 1)] = texts;
  return body;
}

int fail(const Global& g, const std::string& code, const std::string& detail, int exit_code) {
  print_error(g, code, detail);
  return exit_code;
}

std::string known_columns(const Sheet& sheet) {
  std::vector<std::string> names;
  for (const auto& c : sheet.columns) names.push_back(c.name);
  if (!sheet.texts_prefix.empty()) names.push_back(sheet.texts_prefix + "LANG");
  names.push_back("id");
  return join(names, ',');
}

bool known_column(const Sheet& sheet, const std::string& name) {
  if (name == "id") return true;
  if (!sheet.texts_prefix.empty() && name.rfind(sheet.texts_prefix, 0) == 0) return true;
  return std::any_of(sheet.columns.begin(), sheet.columns.end(), [&](const Column& c) { return c.name == name; });
}

// The node names a refused value by its place in the API's JSON
// ("personal_data.email: ..."); a spreadsheet user looks for the column
// ("participant_email"). Names the column before the node's words when the
// two differ; the node's own path stays (it says which list item).
std::string with_column(const Sheet& sheet, const std::string& detail) {
  const std::string token = detail.substr(0, detail.find_first_of(": "));
  const Column* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& c : sheet.columns) {
    if (c.pointer.empty()) continue;
    std::string path = c.pointer.substr(1);
    std::replace(path.begin(), path.end(), '/', '.');
    bool prefix = token.rfind(path, 0) == 0 &&
                  (token.size() == path.size() || token[path.size()] == '[' || token[path.size()] == '.');
    if (prefix && path.size() > best_len) {
      best = &c;
      best_len = path.size();
    }
  }
  if (!best || token.rfind(best->name, 0) == 0) return detail;  // "roles[0]: ..." names it already
  return "column " + best->name + " (" + token + ")" + detail.substr(token.size());
}

// Rows the node refused are reported by their index in the request; the
// user needs the sheet's line numbers.
// `exit_code`: kUsage for values the sheet must change (the node's 422,
// as every data command), kRefused for what the node's state refuses.
int report_problems(const Global& g, const std::string& file, const std::vector<std::string>& problems,
                    int exit_code = kUsage) {
  if (g.json) {
    std::cout << json{{"error", "invalid_argument"}, {"detail", "nothing was imported"}, {"rows", problems}}.dump()
              << "\n";
  } else {
    for (const auto& p : problems) std::cerr << file << ": " << p << "\n";
    std::cerr << "conect-node: " << problems.size() << " bad row(s); nothing was imported\n";
  }
  return exit_code;
}

Result<std::vector<json>> fetch_all(ApiClient& client, const std::string& kind) {
  std::vector<json> items;
  std::string cursor;
  do {
    auto reply = client.get("/api/v1/" + kind + "?limit=500" + (cursor.empty() ? "" : "&cursor=" + cursor));
    if (!reply.ok()) return reply.error();
    if (reply->status != 200) return Error(Errc::io_error, reply->raw);
    for (auto& item : reply->body["items"]) items.push_back(item);
    cursor = reply->body["next_cursor"].is_string() ? reply->body["next_cursor"].get<std::string>() : "";
  } while (!cursor.empty());
  return items;
}

int import_sheet(const Global& g, const Sheet& sheet, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(g, "not_found", "cannot read " + file, kRefused);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  auto rows = csv::parse(text, csv::header_separator(text));
  if (!rows.ok()) return fail(g, "invalid_argument", file + ": " + rows.error().detail, kUsage);
  if (rows->size() < 2) return fail(g, "invalid_argument", file + ": needs a header row and at least one row", kUsage);
  const auto& header = rows->front().fields;
  for (std::size_t c = 0; c < header.size(); ++c) {
    if (!known_column(sheet, header[c]))
      return fail(g, "invalid_argument",
                  file + ": unknown column '" + header[c] + "' (known: " + known_columns(sheet) + ")", kUsage);
    // Two columns of one name: one of them would be dropped without a word.
    for (std::size_t d = 0; d < c; ++d)
      if (header[d] == header[c])
        return fail(g, "invalid_argument",
                    file + ": column '" + header[c] + "' appears twice (columns " + std::to_string(d + 1) + " and " +
                        std::to_string(c + 1) + "); keep one",
                    kUsage);
  }
  json body_rows = json::array();
  std::vector<std::size_t> lines;
  std::vector<std::string> problems;
  std::map<std::string, std::size_t> ids;  // a row's `id` cell -> its line
  const bool has_audience =
      std::any_of(sheet.columns.begin(), sheet.columns.end(), [](const Column& c) { return c.cell == Cell::audience; });
  for (std::size_t r = 1; r < rows->size(); ++r) {
    const auto& row = (*rows)[r];
    // A row of separators only (";;;;" is what a spreadsheet saves for a
    // row whose cells were cleared) is as empty as a blank line.
    if (std::all_of(row.fields.begin(), row.fields.end(), [](const std::string& f) { return f.empty(); })) continue;
    if (row.fields.size() != header.size()) {
      problems.push_back("line " + std::to_string(row.line) + ": " + std::to_string(row.fields.size()) +
                         " fields, the header has " + std::to_string(header.size()));
      continue;
    }
    std::map<std::string, std::string> cells;
    for (std::size_t c = 0; c < header.size(); ++c) {
      if (header[c] != "id")
        cells[header[c]] = row.fields[c];
      else if (!row.fields[c].empty())  // ids are minted on import; this one is checked below
        ids.emplace(row.fields[c], row.line);
    }
    auto body = row_body(sheet, cells);
    if (!body.ok()) {
      problems.push_back("line " + std::to_string(row.line) + ": " + body.error().detail);
      continue;
    }
    // A sheet does not say who may read the personal data it carries unless
    // it has an audience: the node's default (every member) would share a
    // contact kept for this node alone once its export is imported again.
    if (has_audience && body->contains("personal_data") && !body->contains("audience")) {
      problems.push_back("line " + std::to_string(row.line) +
                         ": column audience: empty, but the row has personal data; say who may read it: "
                         "federation, local (this node only), or member ids separated by ;");
      continue;
    }
    body_rows.push_back(std::move(*body));
    lines.push_back(row.line);
  }
  if (!problems.empty()) return report_problems(g, file, problems);
  if (body_rows.empty()) return fail(g, "invalid_argument", file + ": no row holds a value; nothing to import", kUsage);

  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) return fail(g, "unavailable", client.error().detail, kRefused);
  // A row exported from a record this node holds would become a second
  // copy of it (ids are minted anew): a sheet exported, edited and imported
  // again doubled every record, and a recognised mobility cannot be removed.
  if (!ids.empty()) {
    auto held = fetch_all(*client, sheet.kind);
    if (!held.ok()) return fail(g, "unavailable", held.error().detail, kRefused);
    std::map<std::size_t, std::string> copies;  // by line
    for (const auto& item : *held)
      if (auto it = ids.find(field_text(item, "id")); it != ids.end()) copies[it->second] = it->first;
    for (const auto& [line, id] : copies)
      problems.push_back("line " + std::to_string(line) + ": id " + id +
                         " is a record this node already holds: importing the row would make a second copy of it. "
                         "Change the record itself (dashboard, or PATCH), or empty the id cell to import a copy on "
                         "purpose");
    if (!problems.empty()) return report_problems(g, file, problems, kRefused);
  }
  auto reply = client->post("/api/v1/import/" + sheet.kind, json{{"rows", body_rows}});
  if (!reply.ok()) return fail(g, "unavailable", reply.error().detail, kRefused);
  if (reply->status == 201) {
    if (g.json)
      std::cout << reply->body.dump() << "\n";
    else
      std::cout << "imported " << reply->body.value("imported", 0) << " " << sheet.kind << " from " << file << "\n";
    return kOk;
  }
  if (!reply->body.is_object() || !reply->body.contains("rows"))
    return fail(g, reply->body.is_object() ? reply->body.value("error", "error") : "error",
                reply->body.is_object() ? reply->body.value("detail", "") : reply->raw, kRefused);
  for (const auto& p : reply->body["rows"])
    problems.push_back("line " + std::to_string(lines.at(p.value("row", 0))) + ": " +
                       with_column(sheet, p.value("detail", "")));
  return report_problems(g, file, problems);
}

// The languages of a text list other than English (which has its column).
std::vector<std::string> text_languages(const std::vector<json>& items, const std::string& field) {
  std::vector<std::string> langs;
  for (const auto& item : items)
    if (item.contains(field))
      for (const auto& t : item[field]) {
        std::string lang = t.value("lang", "");
        if (lang != "en" && std::find(langs.begin(), langs.end(), lang) == langs.end()) langs.push_back(lang);
      }
  return langs;
}

std::string text_in(const json& item, const std::string& field, const std::string& lang) {
  if (item.contains(field))
    for (const auto& t : item[field])
      if (t.value("lang", "") == lang) return t.value("text", "");
  return "";
}

int export_sheet(const Global& g, const Sheet& sheet, const std::string& output, bool with_personal, bool force) {
  // A sheet edited since the last export is the coordinator's work: as
  // `audit export`, replace a file only when told to.
  std::error_code ec;
  if (!output.empty() && output != "-" && !force && std::filesystem::exists(output, ec))
    return fail(
        g, "already_exists",
        output + " already exists; refusing to overwrite it (pass --force to replace it, or choose another file)",
        kRefused);
  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) return fail(g, "unavailable", client.error().detail, kRefused);
  auto items = fetch_all(*client, sheet.kind);
  if (!items.ok()) return fail(g, "unavailable", items.error().detail, kRefused);

  std::vector<const Column*> columns;
  for (const auto& c : sheet.columns)
    if (with_personal || !c.personal) columns.push_back(&c);
  std::string texts_field =
      sheet.texts_prefix.empty() ? "" : sheet.texts_prefix.substr(0, sheet.texts_prefix.size() - 1);
  std::vector<std::string> langs =
      texts_field.empty() ? std::vector<std::string>{} : text_languages(*items, texts_field);
  std::vector<std::string> header = {"id"};
  for (const auto* c : columns) header.push_back(c->name);
  for (const auto& l : langs) header.push_back(sheet.texts_prefix + l);

  std::string out(csv::kUtf8Bom);
  out += csv::format_row(header);
  for (const auto& item : *items) {
    std::vector<std::string> cells = {field_text(item, "id")};
    for (const auto* c : columns) {
      if (c->pointer.empty()) {  // the English text of the sheet's text list
        cells.push_back(text_in(item, texts_field, c->name.substr(sheet.texts_prefix.size())));
        continue;
      }
      json::json_pointer ptr(c->pointer);
      cells.push_back(item.contains(ptr) ? format_cell(*c, item[ptr]) : "");
    }
    for (const auto& l : langs) cells.push_back(text_in(item, texts_field, l));
    out += csv::format_row(cells);
  }
  if (output.empty() || output == "-") {
    std::cout << out;
  } else {
    std::ofstream f(output, std::ios::binary);
    if (!f)  // say why: "permission denied" tells the user to write elsewhere
      return fail(g, "io_error", "cannot write " + output + ": " + std::strerror(errno), kRefused);
    if (!(f << out)) return fail(g, "io_error", "cannot write " + output, kRefused);
    if (!g.json) std::cerr << "exported " << items->size() << " " << sheet.kind << " to " << output << "\n";
  }
  return kOk;
}

}  // namespace

void add_csv_commands(CLI::App& app, Global& g, int& code) {
  auto file = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto personal = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto* import = app.add_subcommand("import", "Import records from a spreadsheet (CSV, UTF-8): all rows or none");
  import->require_subcommand(1);
  auto* exp = app.add_subcommand("export", "Export records as CSV (UTF-8 with BOM, quoted)");
  exp->require_subcommand(1);
  for (const Sheet* sheet : {&kPlacements, &kMobilities, &kContacts}) {
    auto* in =
        import->add_subcommand(sheet->kind, "Import " + sheet->kind + ", one per row; see README for the columns");
    in->add_option("file", *file, "FILE.csv")->required();
    in->callback([&g, &code, file, sheet] { code = import_sheet(g, *sheet, *file); });
    auto* out = exp->add_subcommand(sheet->kind, "Export " + sheet->kind);
    out->add_option("--output,-o", *output, "File to write (default: standard output)");
    out->add_flag("--force", *force, "Replace the --output file if it exists");
    if (std::any_of(sheet->columns.begin(), sheet->columns.end(), [](const Column& c) { return c.personal; }))
      out->add_flag("--personal-data", *personal, "Include the personal data this node holds (names, e-mail, ...)");
    out->callback(
        [&g, &code, output, personal, force, sheet] { code = export_sheet(g, *sheet, *output, *personal, *force); });
  }
}

}  // namespace conect::cli
