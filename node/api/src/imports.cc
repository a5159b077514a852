// POST /api/v1/import/{placements,mobilities,contacts}: spreadsheet imports,
// all or nothing. Every row is validated as its create would be, and only
// when all hold are they authored together, as one delta, so a bad row in the
// middle of a sheet leaves nothing behind.
#include "handlers.h"

namespace conect::api {
namespace {
using nlohmann::json;

// One delta carries the whole import; keep well inside its size limit.
constexpr std::size_t kImportBudget = kMaxDeltaBytes - 16 * 1024;

struct ImportKind {
  std::string_view path;
  v1::RecordType type;
  CreatePreparer prepare;
};

HttpResponse import_checked(HandlerEnv& env, const nlohmann::json& rows, const ImportKind& kind);

json row_problem(std::size_t row, const Error& e) {
  return {{"row", row}, {"error", errc_name(static_cast<Errc>(e.code.value()))}, {"detail", e.detail}};
}

HttpResponse import_rows(HandlerEnv& env, const HttpRequest& req, const ImportKind& kind) {
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  for (const auto& [k, v] : body->items())
    if (k != "rows") return error_response(Error(Errc::malformed_body, k + ": unknown field"));
  if (!body->contains("rows") || !(*body)["rows"].is_array() || (*body)["rows"].empty())
    return error_response(Error(Errc::malformed_body, "rows: expected a non-empty array of " + std::string(kind.path)));
  const json& rows = (*body)["rows"];
  ProgressBoard& progress = *env.ctx.progress;
  progress.begin("import", "rows", rows.size(), "validate");
  auto response = import_checked(env, rows, kind);
  progress.finish("import", response.status == 201);
  return response;
}

HttpResponse import_checked(HandlerEnv& env, const json& rows, const ImportKind& kind) {
  json problems = json::array();
  DeltaDraft draft;
  std::vector<std::uint32_t> first_ops;
  std::vector<PersonalBlob> personal;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i % 64 == 0) env.ctx.progress->update("import", i, rows.size());
    auto prepared = rows[i].is_object() ? kind.prepare(env, rows[i])
                                        : Result<PreparedCreate>(Error(Errc::malformed_body, "expected an object"));
    if (!prepared) {
      problems.push_back(row_problem(i, prepared.error()));
      continue;
    }
    auto index = static_cast<std::uint32_t>(draft.ops.size());
    use_placeholder(prepared->ops, index);
    first_ops.push_back(index);
    for (auto& op : prepared->ops) {
      bytes += op.ByteSizeLong();
      draft.ops.push_back(std::move(op));
    }
    if (prepared->personal) personal.push_back(std::move(*prepared->personal));
  }
  if (!problems.empty())
    return json_response(422, {{"error", "invalid_argument"},
                               {"detail", std::to_string(problems.size()) + " of " + std::to_string(rows.size()) +
                                              " rows are invalid; nothing was imported"},
                               {"rows", problems}});
  if (bytes > kImportBudget) {
    std::size_t per_row = bytes / rows.size() + 1;
    return error_response(Error(Errc::limit_exceeded, std::to_string(rows.size()) + " rows make " +
                                                          std::to_string(bytes) +
                                                          " bytes, more than one delta carries; import at most " +
                                                          std::to_string(kImportBudget / per_row) + " rows at a time"));
  }
  env.ctx.progress->update("import", rows.size(), rows.size(), "store");
  std::vector<const PersonalBlob*> blobs;
  for (const auto& b : personal) blobs.push_back(&b);
  if (auto st = store_personal_blobs(env, blobs); !st) return error_response(st.error());
  auto d = author(env, std::move(draft));
  if (!d) {
    drop_personal_blobs(env, blobs);
    return error_response(d.error());
  }
  json ids = json::array();
  for (auto index : first_ops) ids.push_back(RecordKey::mint(kind.type, own_id(env), d->seq, index).text());
  return json_response(201, {{"imported", ids.size()}, {"ids", ids}});
}

}  // namespace

void add_import_routes(Router& r, HandlerEnv& env) {
  static constexpr ImportKind kKinds[] = {{"placements", v1::PLACEMENT, prepare_placement},
                                          {"mobilities", v1::MOBILITY, prepare_mobility},
                                          {"contacts", v1::CONTACT, prepare_contact}};
  HandlerEnv* e = &env;
  for (const auto& kind : kKinds)
    r.add("POST", "/api/v1/import/" + std::string(kind.path),
          [e, &kind](const HttpRequest& q, const PathParams&) { return import_rows(*e, q, kind); });
}

}  // namespace conect::api
