// Mobilities (fixed, sending-side and host-side fields, confirmations) and
// contacts. Personal data goes into local blobs; the records carry only the
// salted commitment (DESIGN §5).
#include <set>

#include "conect/api/json_mapper.h"
#include "conect/api/validate.h"
#include "conect/crdt/audience.h"
#include "conect/crdt/ops.h"
#include "handlers.h"
#include "records_support.h"

namespace conect::api {
namespace {
using nlohmann::json;

Error invalid(std::string detail) { return Error(Errc::invalid_argument, std::move(detail)); }
Error malformed(std::string detail) { return Error(Errc::malformed_body, std::move(detail)); }

// A phone number as people type it ("+46 70 123 45 67", "+358 (40) 123-4567")
// in the E.164 form the record keeps: the spaces, hyphens, dots and
// brackets between the digits left out.
std::string phone_digits(const std::string& typed) {
  std::string out;
  for (char c : typed)
    if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') out.push_back(c);
  return out;
}

// Checks `personal_data` against its allowed keys and their forms; a phone
// number is kept in E.164 form.
Status validate_personal(json& j, std::string_view path, bool contact) {
  if (!j.is_object()) return malformed(std::string(path) + ": expected an object");
  if (contact && j.contains("phone") && j["phone"].is_string()) {
    std::string digits = phone_digits(j["phone"].get<std::string>());
    if (is_e164_phone(digits)) j["phone"] = digits;
  }
  for (const auto& [k, v] : j.items()) {
    std::string at = std::string(path) + "." + k;
    bool known = k == "name" || k == "email" || (contact ? (k == "phone" || k == "notes") : k == "birth_date");
    if (!known) return malformed(at + ": unknown field");
    if (!v.is_string()) return malformed(at + ": expected a string");
    const auto& s = v.get_ref<const std::string&>();
    // Length first: the checks below (and the replies quoting `s`) stay bounded.
    if (auto too_long = over_limit(at, s, personal_text_limit(k))) return invalid(*too_long);
    if (k == "birth_date" && !parse_date(s)) return invalid(at + ": " + s + " is not a calendar date YYYY-MM-DD");
    if (k == "email" && !s.empty() && !is_email_address(s))
      return invalid(at + ": \"" + s + "\" is not an e-mail address");
    if (k == "phone" && !s.empty() && !is_e164_phone(s))
      return invalid(at + ": \"" + s + "\" is not an E.164 number such as +358401234567");
  }
  return {};
}

// Seals `personal_data` (already validated) and points `ref` at it.
PersonalBlob seal_into(const json& content, v1::PersonalRef* ref) {
  PersonalBlob b = seal_personal(content);
  ref->set_commitment(b.commitment.raw());
  return b;
}

// A planned date inside the window the mobility books: the host offers its
// slots for that period only.
Status within_window(const std::string& path, const v1::Date& date, const v1::PlacementWindow& w) {
  if (!w.has_start() || !w.has_end()) return {};
  if (date.days() >= w.start().days() && date.days() <= w.end().days()) return {};
  return invalid(path + ": " + format_date(date.days()) + " is outside window " + std::to_string(w.window_id()) +
                 " of the placement (" + format_date(w.start().days()) + " to " + format_date(w.end().days()) +
                 "); the host offers its slots for that period: plan within it, or choose another window");
}

// An EQF level is 1 to 8; 0 sent as a value (not null, which leaves it
// unset) was taken and cleared an agreed field.
Status no_zero_eqf(const json& sending, std::string_view path) {
  if (sending.is_object() && sending.contains("eqf_level") && sending["eqf_level"].is_number() &&
      sending["eqf_level"] == 0)
    return invalid(std::string(path) + ".eqf_level: 1 to 8 (null leaves it unset)");
  return {};
}

// The host's fields as they will be: the departure not before the arrival,
// a mentor that is one of this node's contacts.
Status validate_host(HandlerEnv& env, const v1::MobilityHost& after, bool mentor_named, const std::string& id) {
  if (after.has_actual_arrival() && after.has_actual_departure() && after.actual_arrival().days() != 0 &&
      after.actual_departure().days() != 0 && after.actual_departure().days() < after.actual_arrival().days())
    return invalid("host.actual_departure: before actual_arrival");
  if (mentor_named && after.has_mentor()) {
    auto mentor = RecordKey::from_proto(v1::CONTACT, after.mentor());
    if (!mentor || !load_record(env, *mentor).ok() || !owned_by_us(env, *mentor))
      return invalid("host.mentor: " + (mentor ? mentor->text() : std::string("?")) +
                     " is not a contact of this node; name one of this node's contacts as mobility " + id +
                     "'s mentor (add the contact first)");
  }
  return {};
}

// `receiving`: the mobility's receiving organisation when `s` names its
// placement anew (create, or a PATCH of the placement), else null.
// `period_named`: `s` sets its placement, window or planned dates anew (a
// PATCH of other fields does not re-check a period the host has moved since).
Status validate_sending(HandlerEnv& env, const v1::MobilitySending& s, std::string_view path,
                        const v1::RecordId* receiving, bool period_named) {
  std::string p(path);
  if (s.has_planned_start() && s.has_planned_end() && s.planned_end().days() < s.planned_start().days())
    return invalid(p + ".planned_end: before planned_start");
  if (s.eqf_level() > 8) return invalid(p + ".eqf_level: 1 to 8");
  if (receiving && !s.has_placement() && s.window_id() != 0)
    return invalid(p + ".window_id: names a window, but no placement; give the placement too");
  if (s.has_placement()) {
    auto key = RecordKey::from_proto(v1::PLACEMENT, s.placement());
    auto pl = key ? load_record(env, *key) : Result<v1::RecordState>(Error(Errc::not_found, ""));
    if (!pl) return invalid(p + ".placement: no such placement on this node");
    // The host side (host status, confirmation as host, the participant's
    // personal data) is the receiving organisation's node: the host of a
    // placement offered by another node could neither answer for the
    // student nor learn who comes.
    if (receiving && receiving->owner() != s.placement().owner()) {
      auto org = RecordKey::from_proto(v1::ORGANISATION, *receiving);
      return invalid(p + ".placement: " + key->text() + " is offered by node " + key->owner.hex().substr(0, 16) +
                     "..., which does not speak for the receiving organisation " +
                     (org ? org->text() : std::string("?")) +
                     "; choose a placement of the receiving organisation's node, or its host as the receiving "
                     "organisation");
    }
    if (s.window_id() != 0) {
      const auto& w = pl->placement().windows();
      auto window = std::find_if(w.begin(), w.end(), [&](const auto& x) { return x.window_id() == s.window_id(); });
      if (window == w.end())
        return invalid(p + ".window_id: the placement has no window " + std::to_string(s.window_id()));
      if (period_named && s.has_planned_start())
        if (auto st = within_window(p + ".planned_start", s.planned_start(), *window); !st) return st;
      if (period_named && s.has_planned_end())
        if (auto st = within_window(p + ".planned_end", s.planned_end(), *window); !st) return st;
    }
  }
  return {};
}

}  // namespace

Result<PreparedCreate> prepare_mobility(HandlerEnv& env, const json& body) {
  if (!body.is_object()) return malformed("expected a JSON object");
  for (const auto& [k, v] : body.items())
    if (k != "fixed" && k != "sending" && k != "personal_data") return malformed(k + ": unknown field");
  if (!body.contains("fixed")) return invalid("fixed: required");
  v1::MobilityFixed fixed;
  JsonInputOptions fo;
  fo.path = "fixed";
  if (auto f = message_from_json(body["fixed"], fixed, fo); !f) return f.error();
  if (fixed.participant().has_personal())
    return malformed("fixed.participant.personal: is read-only; send the participant's data as personal_data");
  if (!fixed.has_sending_organisation()) return invalid("fixed.sending_organisation: required");
  if (!fixed.has_receiving_organisation()) return invalid("fixed.receiving_organisation: required");
  if (fixed.participant().pseudonym().empty()) return invalid("fixed.participant.pseudonym: required");
  if (fixed.type() == v1::MOBILITY_TYPE_UNSPECIFIED) return invalid("fixed.type: required");
  if (fixed.category() == v1::PARTICIPANT_CATEGORY_UNSPECIFIED) return invalid("fixed.category: required");
  for (auto [field, id] : {std::pair{"sending_organisation", &fixed.sending_organisation()},
                           std::pair{"receiving_organisation", &fixed.receiving_organisation()}}) {
    auto key = RecordKey::from_proto(v1::ORGANISATION, *id);
    if (!key || !load_record(env, *key).ok())
      return invalid(std::string("fixed.") + field + ": no such organisation on this node");
  }
  if (!owned_by_us(env, fixed.sending_organisation()))
    return Error(Errc::not_authorised, "fixed.sending_organisation is spoken for by another node; a mobility is "
                                       "created by its sending institution's node");
  v1::MobilitySending sending;
  if (body.contains("sending")) {
    if (auto st = no_zero_eqf(body["sending"], "sending"); !st) return st.error();
    JsonInputOptions so;
    so.path = "sending";
    if (auto f = message_from_json(body["sending"], sending, so); !f) return f.error();
    if (auto st = validate_sending(env, sending, "sending", &fixed.receiving_organisation(), true); !st)
      return st.error();
  }
  if (sending.status() == v1::MOBILITY_STATUS_UNSPECIFIED) sending.set_status(v1::MOBILITY_DRAFT);
  PreparedCreate out;
  if (body.contains("personal_data")) {
    json personal = body["personal_data"];
    if (auto st = validate_personal(personal, "personal_data", false); !st) return st.error();
    out.personal = seal_into(personal, fixed.mutable_participant()->mutable_personal());
  }
  out.ops = ops::create_mobility(new_record_sentinel(v1::MOBILITY), fixed, &sending);
  return out;
}

namespace {

// `direction` (incoming/outgoing for this node) and `partner` (the other
// side's organisation) as a condition inside the scan. A side is this node's
// when this node speaks for its organisation (the owner in the id).
Status direction_and_partner(HandlerEnv& env, const HttpRequest& req, storage::MobilityFilter& f) {
  enum class Dir { any, incoming, outgoing } dir = Dir::any;
  if (auto d = req.query_param("direction")) {
    if (*d == "incoming")
      dir = Dir::incoming;
    else if (*d == "outgoing")
      dir = Dir::outgoing;
    else
      return invalid("direction: expected incoming or outgoing");
  }
  std::optional<v1::RecordId> partner;
  if (auto p = req.query_param("partner")) {
    auto key = RecordKey::parse(v1::ORGANISATION, *p);
    if (!key) return invalid("partner: not an organisation id");
    partner = key->to_proto();
    f.organisation = f.organisation ? f.organisation : key;  // walk the partner's index
  }
  if (dir == Dir::any && !partner) return {};
  const std::string self = own_id(env).raw();
  f.keep = [dir, partner, self](const RecordKey&, const v1::RecordState& s) {
    const auto& fixed = s.mobility().fixed();
    const bool sends = fixed.sending_organisation().owner() == self;
    const bool receives = fixed.receiving_organisation().owner() == self;
    if (dir == Dir::outgoing && !sends) return false;
    if (dir == Dir::incoming && !receives) return false;
    if (!partner) return true;
    auto same = [](const v1::RecordId& a, const v1::RecordId& b) {
      return a.owner() == b.owner() && a.serial() == b.serial();
    };
    const bool out = sends && same(fixed.receiving_organisation(), *partner);
    const bool in = receives && same(fixed.sending_organisation(), *partner);
    return dir == Dir::outgoing ? out : dir == Dir::incoming ? in : out || in;
  };
  return {};
}

HttpResponse list_mobilities(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(
          req, {"organisation", "country", "type", "status", "from", "to", "direction", "partner", "limit", "cursor"});
      !st)
    return error_response(st.error());
  storage::MobilityFilter f;
  auto limit = query_limit(req);
  if (!limit) return error_response(limit.error());
  f.limit = *limit;
  f.cursor = std::string(req.query_param("cursor").value_or(""));
  if (auto o = req.query_param("organisation")) {
    auto key = RecordKey::parse(v1::ORGANISATION, *o);
    if (!key) return error_response(invalid("organisation: not an organisation id"));
    f.organisation = *key;
  }
  f.country = std::string(req.query_param("country").value_or(""));
  for (auto& ch : f.country) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!f.country.empty() && !is_country_code(f.country))
    return error_response(invalid("country: \"" + f.country + "\" is not an ISO 3166-1 alpha-2 country code"));
  if (auto t = req.query_param("type")) {
    const auto* v = enum_from_json(*v1::MobilityType_descriptor(), *t);
    if (!v) return error_response(invalid("type: \"" + std::string(*t) + "\" is not a mobility type"));
    f.type = static_cast<v1::MobilityType>(v->number());
  }
  if (auto s = req.query_param("status")) {
    const auto* v = enum_from_json(*v1::MobilityStatus_descriptor(), *s);
    if (!v) return error_response(invalid("status: \"" + std::string(*s) + "\" is not a mobility status"));
    f.status = static_cast<v1::MobilityStatus>(v->number());
  }
  auto from = query_date(req, "from");
  if (!from) return error_response(from.error());
  auto to = query_date(req, "to");
  if (!to) return error_response(to.error());
  f.from = *from;
  f.to = *to;
  if (auto st = direction_and_partner(env, req, f); !st) return error_response(st.error());
  auto page = env.ctx.store->mobilities(f);
  if (!page) return error_response(page.error());
  std::vector<json> items;
  for (const auto& v : page->items) items.push_back(record_json(env, v.key, v.state));
  return list_json(std::move(items), page->next_cursor);
}

HttpResponse status_regress(v1::MobilityStatus from, v1::MobilityStatus to) {
  return error_response(Error(Errc::invalid_argument, "sending.status: cannot move from " + enum_name_of(from) + " to " +
                                                          enum_name_of(to) + "; status only moves forward"));
}

// The steps the sending side may author (docs/api.md, `sending.status`): one at
// a time along draft → nominated → live → completed → recognised, nominated
// straight to completed (a visit never marked live), and a cancel from any
// status but recognised. The merge only keeps the lattice's order: these are
// what this node signs, so that a report never counts as completed a
// mobility nobody nominated, nor drops one whose learning was recognised.
std::optional<HttpResponse> refuse_status_move(HandlerEnv& env, const std::string& id, v1::MobilityStatus now,
                                               const v1::MobilitySending& after) {
  const v1::MobilityStatus target = after.status();
  if (now == target) return std::nullopt;
  if (now == v1::MOBILITY_CANCELLED)
    return error_response(409, "invalid_state", "mobility " + id + " is cancelled; that is final");
  if (target < now) return status_regress(now, target);
  auto refuse = [&](const std::string& why) {
    return error_response(409, "invalid_state", "mobility " + id + " is " + enum_name_of(now) + ": " + why);
  };
  switch (target) {
    case v1::MOBILITY_NOMINATED:
      return std::nullopt;
    case v1::MOBILITY_LIVE:
      if (now == v1::MOBILITY_DRAFT) return refuse("nominate it before it starts");
      return std::nullopt;
    case v1::MOBILITY_COMPLETED: {
      if (now == v1::MOBILITY_DRAFT) return refuse("nominate it first; a mobility nobody nominated did not take place");
      const auto today = static_cast<std::int32_t>(env.ctx.now_ms() / 86'400'000);
      if (after.has_planned_start() && after.planned_start().days() > today)
        return refuse("it starts on " + format_date(after.planned_start().days()) +
                      ", so it cannot be completed yet (change the planned dates if it took place earlier)");
      return std::nullopt;
    }
    case v1::MOBILITY_RECOGNISED:
      if (now != v1::MOBILITY_COMPLETED)
        return refuse("mark it completed first; only a completed mobility's learning is recognised");
      return std::nullopt;
    case v1::MOBILITY_CANCELLED:
      if (now == v1::MOBILITY_RECOGNISED)
        return refuse("its learning was recognised, so it took place and cannot be cancelled");
      return std::nullopt;
    default:
      return status_regress(now, target);
  }
}

// A mobility cancelled now (`from` → `to`) releases the reservations this
// node requested for it (those naming it, pending or confirmed): their
// cancels join `ops`, the same signed delta, so the host's slots are free
// again the moment the cancel arrives. A reservation that names no mobility
// stays booked for this node to reuse.
Status release_reservations_if_cancelled(HandlerEnv& env, const RecordKey& mobility, v1::MobilityStatus from,
                                         v1::MobilityStatus to, std::vector<v1::Operation>& ops) {
  if (to != v1::MOBILITY_CANCELLED || from == v1::MOBILITY_CANCELLED) return {};
  std::string cursor;
  do {
    auto page = env.ctx.store->list_owned(v1::RESERVATION, own_id(env), cursor, 500);
    if (!page) return page.error();
    for (const auto& v : page->items) {
      const auto& r = v.state.reservation();
      if (!r.has_mobility() || RecordKey::from_proto(v1::MOBILITY, r.mobility()) != mobility) continue;
      if (r.decision() == v1::RESERVATION_CANCELLED || r.decision() == v1::RESERVATION_REJECTED) continue;
      ops.push_back(ops::cancel(v.key));
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  return {};
}

HttpResponse patch_mobility(HandlerEnv& env, const HttpRequest& req, const std::string& id) {
  auto l = load(env, v1::MOBILITY, id);
  if (!l) return error_response(l.error());
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  const auto& m = l->state.mobility();
  std::vector<v1::Operation> ops;
  for (const auto& [k, v] : body->items()) {
    if (k == "fixed")
      return error_response(Error(Errc::fixed_field, "fixed fields never change; a different participant or "
                                                     "organisation is a new mobility"));
    if (k != "sending" && k != "host") return error_response(malformed(k + ": unknown field or read-only"));
  }
  if (body->contains("sending")) {
    if (!owned_by_us(env, l->key)) return not_ours("the sending side of mobility", l->key);
    if (auto st = no_zero_eqf((*body)["sending"], "sending"); !st) return error_response(st.error());
    v1::MobilitySending update;
    JsonInputOptions so;
    so.path = "sending";
    auto fields = message_from_json((*body)["sending"], update, so);
    if (!fields) return error_response(fields.error());
    auto after = merged(m.sending(), update, *fields);
    const bool period_named =
        update.has_placement() || update.window_id() != 0 || update.has_planned_start() || update.has_planned_end();
    if (auto st =
            validate_sending(env, after, "sending",
                             update.has_placement() ? &m.fixed().receiving_organisation() : nullptr, period_named);
        !st)
      return error_response(st.error());
    if (auto refused = refuse_status_move(env, id, m.sending().status(), after)) return *refused;
    auto more =
        patch_ops(l->key, l->state, kGroupMobilitySending, m.sending(), update, *fields,
                  [&](const std::vector<std::uint32_t>& f) { return ops::write_mobility_sending(l->key, update, f); });
    ops.insert(ops.end(), more.begin(), more.end());
    if (auto st = release_reservations_if_cancelled(env, l->key, m.sending().status(), after.status(), ops); !st)
      return error_response(st.error());
  }
  if (body->contains("host")) {
    if (!owned_by_us(env, m.fixed().receiving_organisation()))
      return error_response(403, "not_authorised", "host fields of mobility " + id +
                                                       " are written only by the receiving organisation's node");
    v1::MobilityHost update;
    JsonInputOptions ho;
    ho.path = "host";
    auto fields = message_from_json((*body)["host"], update, ho);
    if (!fields) return error_response(fields.error());
    // The host's answer is about a stay still to come: once the sending side
    // has completed, recognised or cancelled it, a rejection would leave a
    // record that says both "it took place" and "the host refused it".
    const auto sending_status = m.sending().status();
    const bool answers = std::find(fields->begin(), fields->end(), v1::MobilityHost::kHostStatusFieldNumber) !=
                         fields->end();
    if (answers && update.host_status() != m.host().host_status() &&
        (sending_status == v1::MOBILITY_COMPLETED || sending_status == v1::MOBILITY_RECOGNISED ||
         sending_status == v1::MOBILITY_CANCELLED))
      return error_response(409, "invalid_state",
                            "mobility " + id + " is " + enum_name_of(sending_status) +
                                " by its sending side: the host's answer (" + enum_name_of(m.host().host_status()) +
                                ") is no longer changed");
    const bool mentor_named =
        std::find(fields->begin(), fields->end(), v1::MobilityHost::kMentorFieldNumber) != fields->end();
    if (auto st = validate_host(env, merged(m.host(), update, *fields), mentor_named, id); !st)
      return error_response(st.error());
    auto receiving = RecordKey::from_proto(v1::ORGANISATION, m.fixed().receiving_organisation());
    if (!fields->empty()) ops.push_back(ops::write_mobility_host(l->key, *receiving, update, *fields));
  }
  return author_and_render(env, l->key, std::move(ops), {});
}

HttpResponse confirm_mobility(HandlerEnv& env, const HttpRequest& req, const std::string& id) {
  auto l = load(env, v1::MOBILITY, id);
  if (!l) return error_response(l.error());
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  const auto& m = l->state.mobility();
  bool sending_side = owned_by_us(env, m.fixed().sending_organisation()) && owned_by_us(env, l->key);
  bool host_side = owned_by_us(env, m.fixed().receiving_organisation());
  for (const auto& [k, v] : body->items())
    if (k != "party") return error_response(malformed(k + ": unknown field"));
  // A partner that is neither side was told it was "not the host party".
  if (!sending_side && !host_side)
    return error_response(403, "not_authorised",
                          "this node is neither the sending nor the host party of mobility " + id +
                              ": only their two nodes sign what they agreed");
  v1::ConfirmingParty party = sending_side ? v1::PARTY_SENDING : v1::PARTY_HOST;
  if (body->contains("party")) {
    const auto& p = (*body)["party"];
    if (!p.is_string()) return error_response(malformed("party: expected \"sending\" or \"host\""));
    if (p == "sending") party = v1::PARTY_SENDING;
    else if (p == "host") party = v1::PARTY_HOST;
    else return error_response(invalid("party: expected \"sending\" or \"host\""));
  }
  if ((party == v1::PARTY_SENDING && !sending_side) || (party == v1::PARTY_HOST && !host_side))
    return error_response(403, "not_authorised", "this node is not the " + enum_name_of(party) +
                                                     " party of mobility " + id);
  if (party == v1::PARTY_HOST && m.host().host_status() == v1::HOST_REJECTED)
    return error_response(409, "invalid_state",
                          "this node rejected mobility " + id +
                              " as its host: accept it first (host status) to sign what was agreed");
  auto agreed = DeltaId::from_raw(m.agreed_delta());
  if (!agreed) return error_response(409, "invalid_state", "mobility " + id + " has no agreed fields to confirm yet");
  for (const auto& c : m.confirmations())
    if (c.party() == party && c.signer() == own_id(env).raw() && c.agreed_delta() == m.agreed_delta())
      return json_response(200, render_record(env, l->key, l->state));
  auto c = make_confirmation(*env.ctx.key, l->key, party, *agreed);
  const auto& authority = party == v1::PARTY_SENDING ? m.fixed().sending_organisation() : m.fixed().receiving_organisation();
  return author_and_render(env, l->key, {ops::confirm(l->key, authority, c)}, {});
}

HttpResponse set_status(HandlerEnv& env, const std::string& id, v1::MobilityStatus target) {
  auto l = load(env, v1::MOBILITY, id);
  if (!l) return error_response(l.error());
  if (!owned_by_us(env, l->key)) return not_ours("mobility", l->key);
  auto now = l->state.mobility().sending().status();
  if (now == v1::MOBILITY_CANCELLED)
    return error_response(409, "invalid_state", "mobility " + id + " is cancelled; that is final");
  if (now == target) return json_response(200, render_record(env, l->key, l->state));
  v1::MobilitySending s;
  s.set_status(target);
  v1::MobilitySending after = l->state.mobility().sending();
  after.set_status(target);
  if (auto refused = refuse_status_move(env, id, now, after)) return *refused;
  std::vector<v1::Operation> ops{ops::write_mobility_sending(l->key, s, {v1::MobilitySending::kStatusFieldNumber})};
  if (auto st = release_reservations_if_cancelled(env, l->key, now, target, ops); !st)
    return error_response(st.error());
  return author_and_render(env, l->key, std::move(ops), {});
}

constexpr std::string_view kContactReadOnly[] = {"personal"};

// A contact's audience (DESIGN §5): listed members must be 32-byte ids on
// this node's roster, and LOCAL / FEDERATION list nobody.
Status check_audience(HandlerEnv& env, const v1::PersonalAudience& a) {
  if (a.kind() != v1::AUDIENCE_MEMBERS) {
    if (a.members_size() > 0) return invalid("audience.members: only with kind \"members\"");
    return {};
  }
  if (a.members_size() > 255) return invalid("audience.members: at most 255 members");
  auto member_roles = env.ctx.store->member_roles();
  if (!member_roles.ok()) return member_roles.error();
  const auto& roles = *member_roles;
  for (int i = 0; i < a.members_size(); ++i) {
    auto id = NodeId::from_raw(a.members(i));
    std::string at = "audience.members[" + std::to_string(i) + "]";
    if (!id) return invalid(at + ": a member id is 64 hex characters");
    if (!roles.contains(*id)) return invalid(at + ": " + id->hex().substr(0, 16) + "... is not on this node's roster");
  }
  return {};
}

}  // namespace

Result<PreparedCreate> prepare_contact(HandlerEnv& env, const json& request) {
  json body = request;
  if (!body.is_object()) return malformed("expected a JSON object");
  json personal;
  if (body.contains("personal_data")) {
    personal = body["personal_data"];
    body.erase("personal_data");
    if (auto st = validate_personal(personal, "personal_data", true); !st) return st.error();
  }
  v1::Contact c;
  JsonInputOptions opt;
  opt.read_only = kContactReadOnly;
  if (auto f = message_from_json(body, c, opt); !f) return f.error();
  if (!c.has_organisation()) return invalid("organisation: required");
  auto org = RecordKey::from_proto(v1::ORGANISATION, c.organisation());
  if (!org || !load_record(env, *org).ok()) return invalid("organisation: no such organisation on this node");
  // The merge files a contact only under an organisation its owner speaks
  // for (a contact shown everywhere as another member's would be refused).
  if (!owned_by_us(env, *org))
    return Error(Errc::not_authorised, "organisation: " + org->text() +
                                           " is spoken for by another node; add contacts only to organisations "
                                           "this node created (that node adds its own contacts)");
  if (c.display_name().empty()) return invalid("display_name: required");
  if (auto st = check_audience(env, c.audience()); !st) return st.error();
  PreparedCreate out;
  if (!personal.is_null()) out.personal = seal_into(personal, c.mutable_personal());
  out.ops = ops::create_contact(new_record_sentinel(v1::CONTACT), c);
  return out;
}

namespace {

// Display name, roles and languages as a patch; `personal_data` replaces the
// contact's personal data with a new sealed blob (the old one stays until
// erased: the record's history still commits to it).
HttpResponse patch_contact(HandlerEnv& env, const HttpRequest& req, const std::string& id) {
  auto l = load(env, v1::CONTACT, id);
  if (!l) return error_response(l.error());
  if (!owned_by_us(env, l->key)) return not_ours("contact", l->key);
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  if (body->contains("organisation"))
    return error_response(Error(Errc::fixed_field, "organisation: a contact stays with its organisation; create a "
                                                   "new contact for another one"));
  json personal;
  if (body->contains("personal_data")) {
    personal = (*body)["personal_data"];
    body->erase("personal_data");
    if (auto st = validate_personal(personal, "personal_data", true); !st) return error_response(st.error());
  }
  v1::Contact update;
  JsonInputOptions opt;
  opt.read_only = kContactReadOnly;
  auto fields = message_from_json(*body, update, opt);
  if (!fields) return error_response(fields.error());
  const auto& current = l->state.contact();
  if (std::find(fields->begin(), fields->end(), v1::Contact::kDisplayNameFieldNumber) != fields->end() &&
      update.display_name().empty())
    return error_response(invalid("display_name: cannot be empty"));
  if (std::find(fields->begin(), fields->end(), v1::Contact::kAudienceFieldNumber) != fields->end()) {
    if (auto st = check_audience(env, update.audience()); !st) return error_response(st.error());
    // An audience only widens: what a member received cannot be taken back
    // by a field change, only by erasing (which reaches every copy).
    auto member_roles = env.ctx.store->member_roles();
    auto roles = member_roles.ok() ? *member_roles : std::map<NodeId, v1::MemberRole>{};
    v1::RecordState after = l->state;
    *after.mutable_contact()->mutable_audience() = update.audience();
    auto before_set = personal_audience(l->key, l->state, roles), after_set = personal_audience(l->key, after, roles);
    for (const NodeId& m : before_set)
      if (!after_set.contains(m))
        return error_response(Error(Errc::invalid_argument,
                                    "audience: would leave out " + m.hex().substr(0, 16) +
                                        "..., which may already hold the data; an audience only widens. To "
                                        "narrow it, erase the personal data (conect-node erase) and enter it again"));
  }
  std::optional<PersonalBlob> blob;
  if (!personal.is_null()) {
    blob = seal_into(personal, update.mutable_personal());
    fields->push_back(v1::Contact::kPersonalFieldNumber);
  }
  auto ops = patch_ops(l->key, l->state, kGroupContact, current, update, *fields,
                       [&](const std::vector<std::uint32_t>& f) { return ops::write_contact(l->key, update, f); });
  std::vector<const PersonalBlob*> blobs;
  if (blob) blobs.push_back(&*blob);
  if (auto st = store_personal_blobs(env, blobs); !st) return error_response(st.error());
  auto r = author_and_render(env, l->key, std::move(ops), {});
  if (r.status != 200) drop_personal_blobs(env, blobs);
  return r;
}

// Every personal-data commitment the record has referred to (a contact's
// data may have been replaced), less those already erased.
Result<std::vector<Hash256>> erasable_commitments(HandlerEnv& env, const Loaded& l) {
  auto h = env.ctx.store->history(l.key);
  if (!h) return h.error();
  std::set<std::string> seen;
  for (const auto& p : h->ops) {
    if (!p.op.has_write()) continue;
    const auto& w = p.op.write();
    if (w.has_mobility_create()) seen.insert(w.mobility_create().participant().personal().commitment());
    if (w.has_contact()) seen.insert(w.contact().personal().commitment());
  }
  for (const auto& e : l.state.erased()) seen.erase(e);
  std::vector<Hash256> out;
  for (const auto& c : seen)
    if (auto h256 = Hash256::from_raw(c)) out.push_back(*h256);
  return out;
}

// The owner's signed erasure (DESIGN §5): every node that applies it drops
// the blobs and refuses them from then on; the record, its deltas and their
// signatures stay valid because they only ever held the commitments.
HttpResponse erase_personal(HandlerEnv& env, const std::string& id) {
  Result<Loaded> l = load(env, v1::MOBILITY, id);
  if (!l && l.error().is(Errc::not_found)) l = load(env, v1::CONTACT, id);
  if (!l && l.error().is(Errc::not_found)) {
    // An id of another kind of record: say so, rather than that it is missing.
    for (auto type : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION})
      if (load(env, type, id))
        return error_response(Error(Errc::not_found, id + " is a " + enum_name_of(type) +
                                                         ", which holds no personal data: only a mobility's or a "
                                                         "contact's can be erased"));
    return error_response(Error(Errc::not_found, "no mobility or contact " + id + " on this node"));
  }
  if (!l) return error_response(l.error());
  if (!owned_by_us(env, l->key)) return not_ours(enum_name_of(l->key.type), l->key);
  auto commitments = erasable_commitments(env, *l);
  if (!commitments) return error_response(commitments.error());
  if (commitments->empty())
    return error_response(409, "invalid_state", enum_name_of(l->key.type) + " " + id + " holds no personal data to erase");
  std::vector<v1::Operation> ops;
  for (const auto& c : *commitments) ops.push_back(ops::erase(l->key, c));
  // The store drops the blobs in the transaction that applies the erasure.
  return author_and_render(env, l->key, std::move(ops), {});
}

// Filters: `organisation` (the contact's) and `role` (one of its roles).
HttpResponse list_contacts(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {"organisation", "role", "limit", "cursor"}); !st) return error_response(st.error());
  auto limit = query_limit(req);
  if (!limit) return error_response(limit.error());
  std::optional<RecordKey> org;
  if (auto o = req.query_param("organisation")) {
    org = RecordKey::parse(v1::ORGANISATION, *o);
    if (!org) return error_response(invalid("organisation: not an organisation id"));
  }
  int role = 0;
  if (auto r = req.query_param("role")) {
    const auto* v = enum_from_json(*v1::ContactRole_descriptor(), *r);
    if (!v) return error_response(invalid("role: \"" + std::string(*r) + "\" is not a contact role"));
    role = v->number();
  }
  storage::Store::RecordPredicate keep;
  if (org || role)
    keep = [org, role](const RecordKey&, const v1::RecordState& s) {
      const auto& c = s.contact();
      if (org && RecordKey::from_proto(v1::ORGANISATION, c.organisation()) != org) return false;
      return role == 0 || std::find(c.roles().begin(), c.roles().end(), role) != c.roles().end();
    };
  auto page = env.ctx.store->list(v1::CONTACT, std::string(req.query_param("cursor").value_or("")), *limit, keep);
  if (!page) return error_response(page.error());
  std::vector<json> items;
  for (const auto& v : page->items) items.push_back(record_json(env, v.key, v.state));
  return list_json(std::move(items), page->next_cursor);
}

}  // namespace

void add_mobility_routes(Router& r, HandlerEnv& env) {
  HandlerEnv* e = &env;
  r.add("GET", "/api/v1/mobilities", [e](const HttpRequest& q, const PathParams&) { return list_mobilities(*e, q); });
  r.add("POST", "/api/v1/mobilities", [e](const HttpRequest& q, const PathParams&) {
    auto body = body_object(q);
    if (!body) return error_response(body.error());
    return create_prepared(*e, v1::MOBILITY, prepare_mobility(*e, *body));
  });
  r.add("GET", "/api/v1/mobilities/{}", plain_route([e](const HttpRequest&, const PathParams& p) {
          auto l = load(*e, v1::MOBILITY, p[0]);
          if (!l) return error_response(l.error());
          return json_response(200, record_json(*e, l->key, l->state));
        }));
  r.add("PATCH", "/api/v1/mobilities/{}",
        [e](const HttpRequest& q, const PathParams& p) { return patch_mobility(*e, q, p[0]); });
  r.add("POST", "/api/v1/mobilities/{}/confirm",
        [e](const HttpRequest& q, const PathParams& p) { return confirm_mobility(*e, q, p[0]); });
  r.add("POST", "/api/v1/mobilities/{}/complete", plain_route([e](const HttpRequest&, const PathParams& p) {
          return set_status(*e, p[0], v1::MOBILITY_COMPLETED);
        }));
  r.add("POST", "/api/v1/mobilities/{}/cancel", plain_route([e](const HttpRequest&, const PathParams& p) {
          return set_status(*e, p[0], v1::MOBILITY_CANCELLED);
        }));
  r.add("POST", "/api/v1/records/{}/erase",
        plain_route([e](const HttpRequest&, const PathParams& p) { return erase_personal(*e, p[0]); }));
  r.add("GET", "/api/v1/contacts", [e](const HttpRequest& q, const PathParams&) { return list_contacts(*e, q); });
  r.add("POST", "/api/v1/contacts", [e](const HttpRequest& q, const PathParams&) {
    auto body = body_object(q);
    if (!body) return error_response(body.error());
    return create_prepared(*e, v1::CONTACT, prepare_contact(*e, *body));
  });
  r.add("PATCH", "/api/v1/contacts/{}",
        [e](const HttpRequest& q, const PathParams& p) { return patch_contact(*e, q, p[0]); });
  r.add("GET", "/api/v1/contacts/{}", plain_route([e](const HttpRequest&, const PathParams& p) {
          auto l = load(*e, v1::CONTACT, p[0]);
          if (!l) return error_response(l.error());
          return json_response(200, record_json(*e, l->key, l->state));
        }));
}

}  // namespace conect::api
