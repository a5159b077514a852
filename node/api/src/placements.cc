// Placements and reservations (DESIGN §3): availability per window, and the
// owner's decisions made one at a time so no confirmation exceeds capacity.
#include <algorithm>
#include <set>

#include "conect/api/json_mapper.h"
#include "conect/api/validate.h"
#include "conect/crdt/ops.h"
#include "handlers.h"
#include "records_support.h"

namespace conect::api {
namespace {
using nlohmann::json;

constexpr std::string_view kReservationReadOnly[] = {"decision", "placement"};

Error invalid(std::string detail) { return Error(Errc::invalid_argument, std::move(detail)); }

Status validate_placement(HandlerEnv& env, const v1::Placement& p) {
  if (!p.has_host_organisation()) return invalid("host_organisation: required");
  auto host = RecordKey::from_proto(v1::ORGANISATION, p.host_organisation());
  if (!host) return invalid("host_organisation: not a record id");
  if (auto org = load_record(env, *host); !org)
    return invalid("host_organisation: no organisation " + host->text() + " on this node");
  if (!owned_by_us(env, *host))
    return Error(Errc::not_authorised, "host_organisation: " + host->text() +
                                           " is spoken for by another node; offer placements only at organisations "
                                           "this node created");
  if (p.has_mentor_contact()) {
    auto mentor = RecordKey::from_proto(v1::CONTACT, p.mentor_contact());
    if (!mentor || !load_record(env, *mentor).ok())
      return invalid("mentor_contact: no contact " + (mentor ? mentor->text() : std::string("?")) + " on this node");
    if (!owned_by_us(env, *mentor))
      return Error(Errc::not_authorised, "mentor_contact: " + mentor->text() +
                                             " is another node's contact; name as mentor a contact this node "
                                             "created");
  }
  if (p.title_size() == 0) return invalid("title: required (at least one {\"lang\", \"text\"})");
  if (p.trade().empty()) return invalid("trade: required");
  if (p.country().empty()) return invalid("country: required");
  if (p.windows_size() == 0) return invalid("windows: required (at least one window)");
  std::set<std::uint32_t> ids;
  for (int i = 0; i < p.windows_size(); ++i) {
    const auto& w = p.windows(i);
    std::string at = "windows[" + std::to_string(i) + "]";
    if (w.window_id() == 0) return invalid(at + ".window_id: required (a number unique in the placement)");
    if (!ids.insert(w.window_id()).second) return invalid(at + ".window_id: " + std::to_string(w.window_id()) + " is used twice");
    if (!w.has_start() || w.start().days() == 0) return invalid(at + ".start: required");
    if (!w.has_end() || w.end().days() == 0) return invalid(at + ".end: required");
    if (w.end().days() < w.start().days()) return invalid(at + ".end: before start");
  }
  if (p.max_days() != 0 && p.min_days() > p.max_days()) return invalid("min_days: greater than max_days");
  for (int i = 0; i < p.windows_size(); ++i) {
    const auto& w = p.windows(i);
    const auto length = static_cast<std::int64_t>(w.end().days()) - w.start().days() + 1;
    if (p.min_days() != 0 && length < p.min_days())
      return invalid("windows[" + std::to_string(i) + "]: " + std::to_string(length) +
                     (length == 1 ? " day" : " days") + " long, shorter than min_days " + std::to_string(p.min_days()) +
                     ": no stay could fit in it (lengthen the window or lower min_days)");
  }
  return {};
}

HttpResponse list_placements(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {"available", "trade", "country", "from", "to", "language", "host", "limit", "cursor"});
      !st)
    return error_response(st.error());
  storage::PlacementFilter f;
  auto limit = query_limit(req);
  if (!limit) return error_response(limit.error());
  f.limit = *limit;
  f.cursor = std::string(req.query_param("cursor").value_or(""));
  if (auto a = req.query_param("available")) {
    if (*a != "true" && *a != "false") return error_response(invalid("available: expected true or false"));
    f.available = *a == "true";
  }
  f.trade = std::string(req.query_param("trade").value_or(""));
  f.country = std::string(req.query_param("country").value_or(""));
  for (auto& ch : f.country) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!f.country.empty() && !is_country_code(f.country))
    return error_response(invalid("country: \"" + f.country + "\" is not an ISO 3166-1 alpha-2 country code"));
  f.language = std::string(req.query_param("language").value_or(""));
  if (!f.language.empty() && !is_language_tag(f.language))
    return error_response(invalid("language: \"" + f.language + "\" is not a language code such as \"fi\""));
  auto from = query_date(req, "from");
  if (!from) return error_response(from.error());
  auto to = query_date(req, "to");
  if (!to) return error_response(to.error());
  f.from = *from;
  f.to = *to;
  if (f.from && f.to && *f.to < *f.from) return error_response(invalid("to: before from"));
  if (auto h = req.query_param("host")) {
    auto key = RecordKey::parse(v1::ORGANISATION, *h);
    if (!key) return error_response(invalid("host: not an organisation id"));
    f.host = *key;
  }
  auto page = env.ctx.store->placements(f);
  if (!page) return error_response(page.error());
  std::vector<json> items;
  for (const auto& v : page->items) items.push_back(placement_json(env, v.key, v.state, v.availability));
  return list_json(std::move(items), page->next_cursor);
}

HttpResponse create_placement(HandlerEnv& env, const HttpRequest& req) {
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  return create_prepared(env, v1::PLACEMENT, prepare_placement(env, *body));
}

HttpResponse get_placement(HandlerEnv& env, const std::string& id) {
  auto l = load(env, v1::PLACEMENT, id);
  if (!l) return error_response(l.error());
  return json_response(200, render_record(env, l->key, l->state));
}

HttpResponse patch_placement(HandlerEnv& env, const HttpRequest& req, const std::string& id) {
  auto l = load(env, v1::PLACEMENT, id);
  if (!l) return error_response(l.error());
  if (!owned_by_us(env, l->key)) return not_ours("placement", l->key);
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  v1::Placement update;
  auto fields = message_from_json(*body, update);
  if (!fields) return error_response(fields.error());
  const auto& current = l->state.placement();
  if (auto st = validate_placement(env, merged(current, update, *fields)); !st) return error_response(st.error());
  auto ops = patch_ops(l->key, l->state, kGroupPlacement, current, update, *fields,
                       [&](const std::vector<std::uint32_t>& f) { return ops::write_placement(l->key, update, f); });
  return author_and_render(env, l->key, std::move(ops), {});
}

HttpResponse close_placement(HandlerEnv& env, const std::string& id) {
  auto l = load(env, v1::PLACEMENT, id);
  if (!l) return error_response(l.error());
  if (!owned_by_us(env, l->key)) return not_ours("placement", l->key);
  auto status = l->state.placement().status();
  if (status == v1::PLACEMENT_CLOSED) return json_response(200, render_record(env, l->key, l->state));
  if (status == v1::PLACEMENT_WITHDRAWN)
    return error_response(409, "invalid_state", "placement " + id + " is withdrawn; it cannot be closed");
  v1::Placement p;
  p.set_status(v1::PLACEMENT_CLOSED);
  return author_and_render(env, l->key, {ops::write_placement(l->key, p, {v1::Placement::kStatusFieldNumber})}, {});
}

HttpResponse request_reservation(HandlerEnv& env, const HttpRequest& req, const std::string& placement_id) {
  auto pl = load(env, v1::PLACEMENT, placement_id);
  if (!pl) return error_response(pl.error());
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  v1::Reservation r;
  JsonInputOptions opt;
  opt.read_only = kReservationReadOnly;
  if (auto f = message_from_json(*body, r, opt); !f) return error_response(f.error());
  // A host that left or was removed decides nothing any more: the request
  // would be taken and wait for good.
  if (auto roster = env.ctx.store->roster(); roster.ok())
    if (const MemberState* host = (*roster)->member(pl->key.owner); host && host->cut)
      return error_response(409, "invalid_state",
                            "the host of placement " + placement_id + " " +
                                (host->cut_reason == "left" ? "left" : "was removed from") +
                                " the federation (after its delta " + std::to_string(host->cut->value) +
                                "): nobody would decide this request");
  const auto& p = pl->state.placement();
  if (r.window_id() == 0) return error_response(invalid("window_id: required"));
  auto w = std::find_if(p.windows().begin(), p.windows().end(),
                        [&](const v1::PlacementWindow& x) { return x.window_id() == r.window_id(); });
  if (w == p.windows().end())
    return error_response(invalid("window_id: placement " + placement_id + " has no window " + std::to_string(r.window_id())));
  if (r.slots() == 0) return error_response(invalid("slots: required (1 or more)"));
  // Above the window's current availability a request may wait (slots may
  // free up); above its capacity it could never be confirmed.
  if (r.slots() > w->capacity())
    return error_response(
        Error(Errc::over_capacity, "slots: window " + std::to_string(r.window_id()) + " of placement " + placement_id +
                                       " holds " + std::to_string(w->capacity()) + " slots in all; a request for " +
                                       std::to_string(r.slots()) + " could never be confirmed (ask for at most " +
                                       std::to_string(w->capacity()) + ")"));
  if (r.has_mobility()) {
    auto m = RecordKey::from_proto(v1::MOBILITY, r.mobility());
    if (!m || !load_record(env, *m).ok()) return error_response(invalid("mobility: no such mobility on this node"));
  }
  if (p.status() != v1::PLACEMENT_OPEN)
    return error_response(409, "invalid_state", "placement " + placement_id + " is " + enum_name_of(p.status()) +
                                                    "; only open placements take reservations");
  *r.mutable_placement() = pl->key.to_proto();
  return create_and_render(env, v1::RESERVATION, {ops::request_reservation(new_record_sentinel(v1::RESERVATION), r)});
}

HttpResponse list_reservations(HandlerEnv& env, const HttpRequest& req, const std::string& placement_id) {
  if (auto st = check_query(req, {}); !st) return error_response(st.error());
  auto pl = load(env, v1::PLACEMENT, placement_id);
  if (!pl) return error_response(pl.error());
  auto list = env.ctx.store->reservations_of(pl->key);
  if (!list) return error_response(list.error());
  std::vector<json> items;
  for (const auto& v : *list)
    if (v.state.created()) items.push_back(record_json(env, v.key, v.state));
  return list_json(std::move(items), "");
}

// Every reservation this node holds, in id order. `role=incoming` keeps the
// requests for this node's placements (what its operator decides),
// `role=outgoing` those this node made.
HttpResponse list_all_reservations(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {"placement", "decision", "role", "limit", "cursor"}); !st)
    return error_response(st.error());
  auto limit = query_limit(req);
  if (!limit) return error_response(limit.error());
  std::optional<RecordKey> placement;
  if (auto p = req.query_param("placement")) {
    auto key = RecordKey::parse(v1::PLACEMENT, *p);
    if (!key) return error_response(invalid("placement: not a placement id"));
    placement = *key;
  }
  auto decision = v1::RESERVATION_DECISION_UNSPECIFIED;
  if (auto d = req.query_param("decision")) {
    const auto* v = enum_from_json(*v1::ReservationDecision_descriptor(), *d);
    if (!v || v->number() == 0)
      return error_response(invalid("decision: \"" + std::string(*d) +
                                    "\" is not one of pending, confirmed, rejected, cancelled"));
    decision = static_cast<v1::ReservationDecision>(v->number());
  }
  std::string role(req.query_param("role").value_or(""));
  if (!role.empty() && role != "incoming" && role != "outgoing")
    return error_response(invalid("role: expected incoming or outgoing"));
  auto keep = [&](const RecordKey& key, const v1::RecordState& s) {
    const auto& r = s.reservation();
    if (decision != v1::RESERVATION_DECISION_UNSPECIFIED && r.decision() != decision) return false;
    if (placement && !(RecordKey::from_proto(v1::PLACEMENT, r.placement()) == placement)) return false;
    if (role == "incoming") return owned_by_us(env, r.placement());
    if (role == "outgoing") return owned_by_us(env, key);
    return true;
  };
  auto page = env.ctx.store->list(v1::RESERVATION, std::string(req.query_param("cursor").value_or("")), *limit, keep);
  if (!page) return error_response(page.error());
  std::vector<json> items;
  for (const auto& v : page->items) items.push_back(record_json(env, v.key, v.state));
  return list_json(std::move(items), page->next_cursor);
}

// The other origins' cancellations of reservations in this window: the
// decision names them so that nobody sees it without the slots it counted
// as freed (DESIGN §3 Dependencies).
Result<std::vector<v1::DeltaRef>> cancel_deps(HandlerEnv& env, const RecordKey& placement, std::uint32_t window) {
  std::vector<v1::DeltaRef> deps;
  auto list = env.ctx.store->reservations_of(placement);
  if (!list) return list.error();
  for (const auto& v : *list) {
    const auto& r = v.state.reservation();
    if (r.decision() != v1::RESERVATION_CANCELLED || r.window_id() != window || owned_by_us(env, v.key)) continue;
    auto h = env.ctx.store->history(v.key);
    if (!h) return h.error();
    for (const auto& op : h->ops) {
      if (!op.op.has_cancel()) continue;
      v1::DeltaRef ref;
      ref.set_origin(op.origin.raw());
      ref.set_seq(op.seq.value);
      ref.set_id(op.delta_id.raw());
      deps.push_back(std::move(ref));
    }
  }
  return deps;
}

HttpResponse decide(HandlerEnv& env, const std::string& id, v1::ReservationDecision decision) {
  auto key = key_from_path(v1::RESERVATION, id);
  if (!key) return error_response(key.error());
  // One decision at a time (HandlerEnv::write_mu, held for every API write):
  // the availability read and the authored decision must not interleave
  // with another decision's.
  auto state = load_record(env, *key);
  if (!state) return error_response(state.error());
  const auto& r = state->reservation();
  auto placement = RecordKey::from_proto(v1::PLACEMENT, r.placement());
  if (!placement) return error_response(500, "internal", "reservation " + id + " names no valid placement");
  if (!owned_by_us(env, *placement))
    return error_response(403, "not_authorised", "only the owner of placement " + placement->text() +
                                                     " decides its reservations");
  if (r.decision() == v1::RESERVATION_CANCELLED)
    return error_response(409, "invalid_state", "reservation " + id + " was cancelled by its requester");
  if (r.decision() == decision) return json_response(200, render_record(env, *key, *state));
  std::vector<v1::DeltaRef> deps;
  if (decision == v1::RESERVATION_CONFIRMED) {
    auto avail = env.ctx.store->availability(*placement);
    if (!avail) return error_response(avail.error());
    auto w = std::find_if(avail->begin(), avail->end(),
                          [&](const WindowAvailability& a) { return a.window_id == r.window_id(); });
    std::uint32_t free = w == avail->end() ? 0 : w->available;
    if (free < r.slots())
      return error_response(Error(Errc::over_capacity, "window " + std::to_string(r.window_id()) + " of placement " +
                                                           placement->text() + " has " + std::to_string(free) +
                                                           " free slots; the reservation asks for " +
                                                           std::to_string(r.slots())));
    auto d = cancel_deps(env, *placement, r.window_id());
    if (!d) return error_response(d.error());
    deps = std::move(*d);
  }
  return author_and_render(env, *key, {ops::decide(*key, r, decision)}, std::move(deps));
}

HttpResponse cancel_reservation(HandlerEnv& env, const std::string& id) {
  auto l = load(env, v1::RESERVATION, id);
  if (!l) return error_response(l.error());
  if (!owned_by_us(env, l->key))
    return error_response(403, "not_authorised", "only the node that requested reservation " + id + " may cancel it");
  if (l->state.reservation().decision() == v1::RESERVATION_CANCELLED)
    return error_response(409, "invalid_state", "reservation " + id + " is already cancelled");
  return author_and_render(env, l->key, {ops::cancel(l->key)}, {});
}

}  // namespace

Result<PreparedCreate> prepare_placement(HandlerEnv& env, const json& body) {
  v1::Placement p;
  if (auto f = message_from_json(body, p); !f) return f.error();
  if (p.status() == v1::PLACEMENT_STATUS_UNSPECIFIED) p.set_status(v1::PLACEMENT_OPEN);
  if (auto st = validate_placement(env, p); !st) return st.error();
  return PreparedCreate{ops::create_placement(new_record_sentinel(v1::PLACEMENT), p), std::nullopt};
}

void add_placement_routes(Router& r, HandlerEnv& env) {
  HandlerEnv* e = &env;
  r.add("GET", "/api/v1/placements", [e](const HttpRequest& q, const PathParams&) { return list_placements(*e, q); });
  r.add("POST", "/api/v1/placements", [e](const HttpRequest& q, const PathParams&) { return create_placement(*e, q); });
  r.add("GET", "/api/v1/placements/{}",
        plain_route([e](const HttpRequest&, const PathParams& p) { return get_placement(*e, p[0]); }));
  r.add("PATCH", "/api/v1/placements/{}",
        [e](const HttpRequest& q, const PathParams& p) { return patch_placement(*e, q, p[0]); });
  r.add("POST", "/api/v1/placements/{}/close",
        plain_route([e](const HttpRequest&, const PathParams& p) { return close_placement(*e, p[0]); }));
  r.add("POST", "/api/v1/placements/{}/reservations",
        [e](const HttpRequest& q, const PathParams& p) { return request_reservation(*e, q, p[0]); });
  r.add("GET", "/api/v1/placements/{}/reservations",
        [e](const HttpRequest& q, const PathParams& p) { return list_reservations(*e, q, p[0]); });
  r.add("GET", "/api/v1/reservations", [e](const HttpRequest& q, const PathParams&) { return list_all_reservations(*e, q); });
  r.add("GET", "/api/v1/reservations/{}", plain_route([e](const HttpRequest&, const PathParams& p) {
          auto l = load(*e, v1::RESERVATION, p[0]);
          if (!l) return error_response(l.error());
          return json_response(200, record_json(*e, l->key, l->state));
        }));
  r.add("POST", "/api/v1/reservations/{}/confirm", plain_route([e](const HttpRequest&, const PathParams& p) {
          return decide(*e, p[0], v1::RESERVATION_CONFIRMED);
        }));
  r.add("POST", "/api/v1/reservations/{}/reject", plain_route([e](const HttpRequest&, const PathParams& p) {
          return decide(*e, p[0], v1::RESERVATION_REJECTED);
        }));
  r.add("POST", "/api/v1/reservations/{}/cancel",
        plain_route([e](const HttpRequest&, const PathParams& p) { return cancel_reservation(*e, p[0]); }));
}

}  // namespace conect::api
