#include "conect/crdt/testkit/history.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"

namespace conect::testkit {
namespace {

const char* const kTrades[] = {"welding", "cooking", "carpentry", "electrical", "nursing", "logistics", "forestry"};
const char* const kLangs[] = {"en", "fi", "sv", "nb", "ru"};
const char* const kCities[] = {"Oulu", "Rovaniemi", "Kemi", "Luleå", "Tromsø", "Kirkenes", "Murmansk", "Umeå"};

struct MPlacement {
  RecordKey key;
  std::uint32_t owner = 0;
  std::size_t g = 0;
  v1::Placement body;  // the owner's current view of its own placement
};

struct MReservation {
  RecordKey key;
  std::uint32_t requester = 0;
  std::size_t placement = 0;
  std::uint32_t window = 0;
  std::uint32_t slots = 0;
  std::size_t g = 0;
  std::optional<std::size_t> cancel_g;
  v1::ReservationDecision owner_decision = v1::RESERVATION_PENDING;  // the placement owner's latest
};

struct MMobility {
  RecordKey key;
  std::uint32_t owner = 0;
  std::uint32_t host = 0;
  std::size_t g = 0;
  v1::MobilityStatus status = v1::MOBILITY_DRAFT;
  std::vector<std::size_t> agreed_g;  // deltas that changed agreed fields, in the owner's order
};

struct MContact {
  RecordKey key;
  std::uint32_t owner = 0;
  std::size_t g = 0;
  std::map<std::string, std::vector<std::string>> roles;  // element -> live add tags
  Hash256 commitment;
};

struct MMember {
  Author author;
  bool school = false;
  bool auditor = false;
  RecordKey org;
  std::optional<std::size_t> org_g;
  std::size_t seen = 0;
  std::uint64_t skew = 0;
  std::vector<std::string> trades;
};

class Generator {
 public:
  explicit Generator(const HistoryOptions& o) : o_(o), rng_(o.seed) {
    std::uint32_t n = o.schools + o.companies + o.auditors;
    for (std::uint32_t i = 0; i < n; ++i) {
      bool school = i < o.schools, auditor = i >= o.schools + o.companies;
      members_.push_back(MMember{Author(i + 1), school, auditor, {}, {}, 0, uniform(0, 300), {}});
      history_.members.push_back(members_.back().author.id());
      history_.roster.set(history_.members.back(), auditor ? v1::AUDITOR : school ? v1::SCHOOL : v1::COMPANY);
    }
  }

  History run() {
    while (history_.deltas.size() < o_.deltas) step();
    for (const auto& p : placements_) history_.placements.push_back(p.key);
    return std::move(history_);
  }

 private:
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  bool coin(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[uniform(0, v.size() - 1)];
  }

  bool visible(std::size_t g, std::uint32_t m) const {
    if (g == cur_) return cur_origin_ == m;
    return g < members_[m].seen || origin_[g] == m;
  }
  MMember& me() { return members_[cur_origin_]; }
  RecordKey mint(v1::RecordType t) {
    return RecordKey::mint(t, me().author.id(), me().author.seq().next(), static_cast<std::uint32_t>(ops_.size()));
  }
  void add(v1::Operation op) { ops_.push_back(std::move(op)); }
  void add_all(std::vector<v1::Operation> ops) {
    for (auto& op : ops) add(std::move(op));
  }
  void depend_on(std::size_t g) {
    const VerifiedDelta& d = history_.deltas[g];
    for (const auto& dep : deps_)
      if (dep.origin() == d.origin.raw() && dep.seq() == d.seq.value) return;
    deps_.push_back(delta_ref(d));
  }
  template <class T, class Pred>
  std::vector<std::size_t> where(const std::vector<T>& v, Pred pred) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < v.size(); ++i)
      if (pred(v[i])) out.push_back(i);
    return out;
  }

  void step();
  void act();
  bool unauthorised();
  bool forbidden_write(std::uint64_t kind);
  bool forbidden_other(std::uint64_t kind);
  bool forbidden_reference(std::uint64_t kind);
  // The other members whose organisation the current author has seen.
  std::vector<std::uint32_t> others_with_an_organisation() const {
    std::vector<std::uint32_t> out;
    for (std::uint32_t k = 0; k < members_.size(); ++k)
      if (k != cur_origin_ && members_[k].org_g && *members_[k].org_g < cur_ &&
          visible(*members_[k].org_g, cur_origin_))
        out.push_back(k);
    return out;
  }
  void note_unauthorised(std::uint32_t index) {
    history_.unauthorised.emplace(me().author.id(), me().author.seq().next(), index);
  }

  void create_org();
  void update_org();
  bool create_placement();
  bool update_placement();
  bool request();
  bool decide();
  bool cancel();
  bool create_mobility();
  bool write_sending();
  bool write_host();
  bool confirm();
  bool create_contact();
  bool update_contact();

  // The placement owner's count of confirmed slots per window, and the
  // cancellations it saw of reservations it had confirmed (its deps).
  std::uint32_t counted(std::size_t placement, std::uint32_t window, bool add_deps);

  HistoryOptions o_;
  std::mt19937_64 rng_;
  std::vector<MMember> members_;
  History history_;
  std::vector<std::uint32_t> origin_;
  std::vector<Hlc> prefix_max_;
  std::uint64_t wall_ = 1'000'000;
  std::size_t cur_ = 0;
  std::uint32_t cur_origin_ = 0;
  std::vector<v1::Operation> ops_;
  std::vector<v1::DeltaRef> deps_;
  std::vector<MPlacement> placements_;
  std::vector<MReservation> reservations_;
  std::vector<MMobility> mobilities_;
  std::vector<MContact> contacts_;
};

void Generator::step() {
  auto m = static_cast<std::uint32_t>(uniform(0, members_.size() - 1));
  std::size_t n = history_.deltas.size();
  MMember& member = members_[m];
  member.seen = coin(o_.lag) ? uniform(member.seen, n) : n;
  if (member.seen > 0) member.author.clock().observe(prefix_max_[member.seen - 1]);
  cur_ = n;
  cur_origin_ = m;
  ops_.clear();
  deps_.clear();
  if (!member.org_g) {
    create_org();
  } else {
    std::size_t count = 1 + (coin(0.25) ? 1 : 0) + (coin(0.1) ? 1 : 0);
    for (std::size_t i = 0; i < count; ++i) act();
    if (!member.auditor && coin(o_.unauthorised) && unauthorised()) {
      ++history_.unauthorised_ops;
      note_unauthorised(static_cast<std::uint32_t>(ops_.size() - 1));
    }
  }
  if (ops_.empty()) update_org();
  if (member.auditor) {  // an auditor authors nothing that counts
    history_.unauthorised_ops += ops_.size();
    for (std::uint32_t i = 0; i < ops_.size(); ++i) note_unauthorised(i);
  }
  wall_ += uniform(0, 3);
  history_.op_count += ops_.size();
  VerifiedDelta d = member.author.emit(std::move(ops_), std::move(deps_), wall_ + member.skew);
  prefix_max_.push_back(n == 0 ? d.hlc : std::max(prefix_max_.back(), d.hlc));
  origin_.push_back(m);
  history_.deltas.push_back(std::move(d));
}

void Generator::act() {
  for (int attempt = 0; attempt < 4; ++attempt) {
    bool done = false;
    switch (uniform(0, 15)) {
      case 0:
        update_org();
        done = true;
        break;
      case 1:
        done = create_placement();
        break;
      case 2:
        done = update_placement();
        break;
      case 3:
      case 4:
      case 5:
        done = request();
        break;
      case 6:
      case 7:
        done = decide();
        break;
      case 8:
        done = cancel();
        break;
      case 9:
        done = create_mobility();
        break;
      case 10:
        done = write_sending();
        break;
      case 11:
        done = write_host();
        break;
      case 12:
        done = confirm();
        break;
      case 13:
        done = create_contact();
        break;
      default:
        done = update_contact();
        break;
    }
    if (done) return;
  }
  update_org();
}

// --------------------------------------------------------------- organisation

void Generator::create_org() {
  me().org = mint(v1::ORGANISATION);
  me().org_g = cur_;
  v1::Organisation o;
  auto* name = o.add_names();
  name->set_lang("en");
  name->set_text((me().school ? "School " : "Company ") + std::to_string(cur_origin_));
  o.set_type(me().school ? v1::VET_SCHOOL : v1::SME);
  o.set_country(pick(std::vector<std::string>{"FI", "SE", "NO", "RU"}));
  o.set_city(kCities[uniform(0, 7)]);
  o.set_speaker(me().author.id().raw());
  std::string trade = kTrades[uniform(0, 6)];
  o.add_trades(trade);
  me().trades.push_back(trade);
  add_all(ops::create_organisation(me().org, o));
}

void Generator::update_org() {
  if (!me().org_g) return create_org();
  v1::Organisation o;
  std::uint64_t what = uniform(0, 2);
  if (what == 0) {
    o.set_city(kCities[uniform(0, 7)]);
    o.set_website("https://example.org/" + std::to_string(uniform(0, 99)));
    add(ops::write_organisation(me().org, o, {5, 7}));
  } else if (what == 1 || me().trades.empty()) {
    std::string trade = kTrades[uniform(0, 6)];
    me().trades.push_back(trade);
    add(ops::set_add(me().org, kGroupOrganisation, 9, ops::string_element(trade)));
  } else {
    // The owner saw every add of its own: a removal naming the tags it
    // knows. Tags are recomputed from the history, as an author would read
    // them from its state.
    std::string trade = pick(me().trades);
    std::vector<std::string> tags;
    for (std::size_t g = 0; g < history_.deltas.size(); ++g) {
      if (origin_[g] != cur_origin_) continue;
      const auto& d = history_.deltas[g];
      for (int i = 0; i < d.body.ops_size(); ++i) {
        const auto& op = d.body.ops(i);
        if (op.has_set() && !op.set().remove() && op.set().element() == trade && op.set().group() == kGroupOrganisation)
          tags.push_back(set_tag(d.origin, d.seq, static_cast<std::uint32_t>(i)));
      }
    }
    std::erase(me().trades, trade);
    add(ops::set_remove(me().org, kGroupOrganisation, 9, ops::string_element(trade), std::move(tags)));
  }
}

// ------------------------------------------------------------------ placements

bool Generator::create_placement() {
  MPlacement p{mint(v1::PLACEMENT), cur_origin_, cur_, {}};
  *p.body.mutable_host_organisation() = me().org.to_proto();
  auto* title = p.body.add_title();
  title->set_lang("en");
  title->set_text("Placement " + std::to_string(cur_));
  p.body.set_trade(kTrades[uniform(0, 6)]);
  p.body.set_city(kCities[uniform(0, 7)]);
  p.body.set_status(v1::PLACEMENT_OPEN);
  std::uint64_t windows = uniform(1, 3);
  for (std::uint32_t w = 1; w <= windows; ++w) {
    auto* win = p.body.add_windows();
    win->set_window_id(w);
    win->mutable_start()->set_days(static_cast<std::int32_t>(19700 + 30 * w));
    win->mutable_end()->set_days(static_cast<std::int32_t>(19720 + 30 * w));
    win->set_capacity(static_cast<std::uint32_t>(uniform(0, 4)));
  }
  auto* lang = p.body.add_languages();
  lang->set_lang(kLangs[uniform(0, 4)]);
  lang->set_level(static_cast<v1::CefrLevel>(uniform(1, 6)));
  add_all(ops::create_placement(p.key, p.body));
  placements_.push_back(std::move(p));
  return true;
}

std::uint32_t Generator::counted(std::size_t placement, std::uint32_t window, bool add_deps) {
  std::uint32_t sum = 0;
  for (const auto& r : reservations_) {
    if (r.placement != placement || r.window != window || r.owner_decision != v1::RESERVATION_CONFIRMED) continue;
    if (r.cancel_g && visible(*r.cancel_g, cur_origin_)) {
      if (add_deps) depend_on(*r.cancel_g);
    } else {
      sum += r.slots;
    }
  }
  return sum;
}

bool Generator::update_placement() {
  auto mine = where(placements_, [&](const MPlacement& p) { return p.owner == cur_origin_; });
  if (mine.empty()) return false;
  std::size_t pi = pick(mine);
  MPlacement& p = placements_[pi];
  if (coin(0.5)) {
    // Capacity change: never below what the owner has confirmed and counts.
    for (auto& w : *p.body.mutable_windows()) {
      std::uint32_t used = counted(pi, w.window_id(), true);
      w.set_capacity(used + static_cast<std::uint32_t>(uniform(0, 3)));
    }
    add(ops::write_placement(p.key, p.body, {8}));
  } else {
    p.body.set_city(kCities[uniform(0, 7)]);
    p.body.set_tasks("tasks v" + std::to_string(cur_));
    p.body.set_status(coin(0.8) ? v1::PLACEMENT_OPEN : v1::PLACEMENT_CLOSED);
    ops::Fields fields{5, 6, 16};
    auto mentors = where(contacts_, [&](const MContact& c) { return c.owner == cur_origin_; });
    if (!mentors.empty() && coin(0.5)) {  // one's own contact as the mentor: allowed
      *p.body.mutable_mentor_contact() = contacts_[pick(mentors)].key.to_proto();
      fields.push_back(15);
    }
    add(ops::write_placement(p.key, p.body, fields));
  }
  return true;
}

// ---------------------------------------------------------------- reservations

bool Generator::request() {
  auto open = where(placements_, [&](const MPlacement& p) {
    return p.owner != cur_origin_ && visible(p.g, cur_origin_) && p.body.windows_size() > 0;
  });
  if (open.empty()) return false;
  std::size_t pi = pick(open);
  const MPlacement& p = placements_[pi];
  MReservation r{mint(v1::RESERVATION), cur_origin_, pi, 0, static_cast<std::uint32_t>(uniform(1, 2)), cur_, {}};
  r.window =
      p.body.windows(static_cast<int>(uniform(0, static_cast<std::uint64_t>(p.body.windows_size()) - 1))).window_id();
  v1::Reservation body;
  *body.mutable_placement() = p.key.to_proto();
  body.set_window_id(r.window);
  body.set_slots(r.slots);
  body.set_note("request " + std::to_string(cur_));
  add(ops::request_reservation(r.key, body));
  reservations_.push_back(r);
  return true;
}

bool Generator::decide() {
  auto pending = where(reservations_, [&](const MReservation& r) {
    return placements_[r.placement].owner == cur_origin_ && visible(r.g, cur_origin_) &&
           !(r.cancel_g && visible(*r.cancel_g, cur_origin_)) &&
           (r.owner_decision == v1::RESERVATION_PENDING ||
            (r.owner_decision == v1::RESERVATION_CONFIRMED && coin(0.05)));
  });
  if (pending.empty()) return false;
  MReservation& r = reservations_[pick(pending)];
  const MPlacement& p = placements_[r.placement];
  std::uint32_t capacity = 0;
  for (const auto& w : p.body.windows())
    if (w.window_id() == r.window) capacity = w.capacity();
  v1::ReservationDecision d = v1::RESERVATION_REJECTED;
  if (r.owner_decision == v1::RESERVATION_PENDING && counted(r.placement, r.window, false) + r.slots <= capacity) {
    counted(r.placement, r.window, true);
    d = v1::RESERVATION_CONFIRMED;
  }
  r.owner_decision = d;
  add(ops::decide(r.key, p.key, r.window, r.slots, d));
  return true;
}

bool Generator::cancel() {
  auto mine = where(reservations_, [&](const MReservation& r) { return r.requester == cur_origin_ && !r.cancel_g; });
  if (mine.empty()) return false;
  MReservation& r = reservations_[pick(mine)];
  r.cancel_g = cur_;
  add(ops::cancel(r.key));
  return true;
}

// ------------------------------------------------------------------ mobilities

bool Generator::create_mobility() {
  if (!me().school) return false;
  std::vector<std::uint32_t> hosts;
  for (std::uint32_t m = 0; m < members_.size(); ++m)
    if (m != cur_origin_ && members_[m].org_g && visible(*members_[m].org_g, cur_origin_)) hosts.push_back(m);
  if (hosts.empty()) return false;
  MMobility mob{mint(v1::MOBILITY), cur_origin_, pick(hosts), cur_, v1::MOBILITY_DRAFT, {cur_}};
  v1::MobilityFixed f;
  *f.mutable_sending_organisation() = me().org.to_proto();
  *f.mutable_receiving_organisation() = members_[mob.host].org.to_proto();
  f.mutable_participant()->set_pseudonym("P-" + std::to_string(cur_));
  f.mutable_participant()->mutable_personal()->set_commitment(blake2b256("participant " + std::to_string(cur_)).raw());
  f.set_type(static_cast<v1::MobilityType>(uniform(1, 8)));
  f.set_category(static_cast<v1::ParticipantCategory>(uniform(1, 8)));
  v1::MobilitySending s;
  s.set_status(v1::MOBILITY_DRAFT);
  s.mutable_planned_start()->set_days(static_cast<std::int32_t>(uniform(19700, 19800)));
  auto* l = s.add_languages();
  l->set_lang(kLangs[uniform(0, 4)]);
  l->set_level(v1::B1);
  add_all(ops::create_mobility(mob.key, f, &s));
  mobilities_.push_back(std::move(mob));
  return true;
}

bool Generator::write_sending() {
  auto mine = where(mobilities_, [&](const MMobility& m) { return m.owner == cur_origin_; });
  if (mine.empty()) return false;
  MMobility& m = mobilities_[pick(mine)];
  v1::MobilitySending s;
  switch (uniform(0, 3)) {
    case 0:
      if (m.status == v1::MOBILITY_CANCELLED) return false;
      m.status = static_cast<v1::MobilityStatus>(uniform(static_cast<std::uint64_t>(m.status) + 1, 6));
      s.set_status(m.status);
      add(ops::write_mobility_sending(m.key, s, {8}));
      return true;
    case 1:
      s.mutable_planned_end()->set_days(static_cast<std::int32_t>(19800 + cur_));
      s.set_qualification_title("Qualification " + std::to_string(cur_));
      s.set_eqf_level(static_cast<std::uint32_t>(uniform(2, 5)));
      add(ops::write_mobility_sending(m.key, s, {4, 5, 6}));
      m.agreed_g.push_back(cur_);
      return true;
    case 2:
      s.mutable_safety_briefing()->set_days(static_cast<std::int32_t>(19750 + cur_ % 50));
      s.set_europass_number("EP-" + std::to_string(cur_));
      add(ops::write_mobility_sending(m.key, s, {9, 10}));
      return true;
    default: {
      v1::LanguageSkill l;
      l.set_lang(kLangs[uniform(0, 4)]);
      l.set_level(static_cast<v1::CefrLevel>(uniform(1, 6)));
      add(ops::set_add(m.key, kGroupMobilitySending, 7, ops::message_element(l)));
      return true;
    }
  }
}

bool Generator::write_host() {
  auto hosted =
      where(mobilities_, [&](const MMobility& m) { return m.host == cur_origin_ && visible(m.g, cur_origin_); });
  if (hosted.empty()) return false;
  const MMobility& m = mobilities_[pick(hosted)];
  v1::MobilityHost h;
  h.set_host_status(static_cast<v1::HostStatus>(uniform(1, 3)));
  h.mutable_actual_arrival()->set_days(static_cast<std::int32_t>(19800 + cur_ % 30));
  h.set_attendance_confirmed(coin(0.5));
  h.set_units_achieved(static_cast<std::uint32_t>(uniform(0, 5)));
  add(ops::write_mobility_host(m.key, members_[m.host].org, h, {1, 3, 5, 6}));
  return true;
}

bool Generator::confirm() {
  auto mine = where(mobilities_, [&](const MMobility& m) {
    return (m.owner == cur_origin_ || m.host == cur_origin_) && m.g < cur_ && visible(m.g, cur_origin_);
  });
  if (mine.empty()) return false;
  const MMobility& m = mobilities_[pick(mine)];
  std::optional<std::size_t> agreed;
  for (std::size_t g : m.agreed_g)
    if (g < cur_ && visible(g, cur_origin_)) agreed = g;
  if (!agreed) return false;
  bool sending = m.owner == cur_origin_;
  v1::Confirmation c = make_confirmation(me().author.key(), m.key, sending ? v1::PARTY_SENDING : v1::PARTY_HOST,
                                         history_.deltas[*agreed].id);
  add(ops::confirm(m.key, (sending ? members_[m.owner].org : members_[m.host].org).to_proto(), c));
  return true;
}

// -------------------------------------------------------------------- contacts

bool Generator::create_contact() {
  MContact c{mint(v1::CONTACT), cur_origin_, cur_, {}, blake2b256("contact " + std::to_string(cur_))};
  v1::Contact body;
  *body.mutable_organisation() = me().org.to_proto();
  body.set_display_name("Coordinator " + std::to_string(cur_));
  body.mutable_personal()->set_commitment(c.commitment.raw());
  auto role = static_cast<int>(uniform(1, 8));
  body.add_roles(static_cast<v1::ContactRole>(role));
  std::uint32_t tag_index = static_cast<std::uint32_t>(ops_.size()) + 1;  // after the FieldWrite
  c.roles[ops::enum_element(role)].push_back(set_tag(me().author.id(), me().author.seq().next(), tag_index));
  add_all(ops::create_contact(c.key, body));
  contacts_.push_back(std::move(c));
  return true;
}

bool Generator::update_contact() {
  auto mine = where(contacts_, [&](const MContact& c) { return c.owner == cur_origin_; });
  if (mine.empty()) return false;
  MContact& c = contacts_[pick(mine)];
  std::uint64_t what = uniform(0, 3);
  if (what == 0) {
    add(ops::erase(c.key, c.commitment));
  } else if (what == 1 && !c.roles.empty()) {
    auto it = std::next(c.roles.begin(), static_cast<long>(uniform(0, c.roles.size() - 1)));
    add(ops::set_remove(c.key, kGroupContact, 3, it->first, it->second));
    c.roles.erase(it);
  } else {
    std::string e = ops::enum_element(static_cast<int>(uniform(1, 8)));
    c.roles[e].push_back(set_tag(me().author.id(), me().author.seq().next(), static_cast<std::uint32_t>(ops_.size())));
    add(ops::set_add(c.key, kGroupContact, 3, e));
  }
  return true;
}

// ---------------------------------------------------- operations to be rejected

bool Generator::unauthorised() {
  std::uint64_t kind = uniform(0, 13);
  return kind < 5 ? forbidden_write(kind) : kind < 10 ? forbidden_other(kind) : forbidden_reference(kind);
}

bool Generator::forbidden_write(std::uint64_t kind) {
  std::uint32_t m = cur_origin_;
  auto earlier = [&](std::size_t g) { return g < cur_ && visible(g, m); };
  switch (kind) {
    case 0: {  // write another member's placement
      auto other = where(placements_, [&](const MPlacement& p) { return p.owner != m && earlier(p.g); });
      if (other.empty()) return false;
      v1::Placement p;
      p.set_city("Hijacked");
      add(ops::write_placement(placements_[pick(other)].key, p, {6}));
      return true;
    }
    case 1: {  // decide on a reservation of someone else's placement
      auto other = where(reservations_,
                         [&](const MReservation& r) { return placements_[r.placement].owner != m && earlier(r.g); });
      if (other.empty()) return false;
      const MReservation& r = reservations_[pick(other)];
      add(ops::decide(r.key, placements_[r.placement].key, r.window, r.slots, v1::RESERVATION_CONFIRMED));
      return true;
    }
    case 2: {  // host fields of a mobility hosted by someone else
      auto other = where(mobilities_, [&](const MMobility& x) { return x.host != m && earlier(x.g); });
      if (other.empty()) return false;
      const MMobility& x = mobilities_[pick(other)];
      v1::MobilityHost h;
      h.set_host_status(v1::HOST_REJECTED);
      add(ops::write_mobility_host(x.key, members_[x.host].org, h, {1}));
      return true;
    }
    case 3: {  // cancel someone else's reservation
      auto other = where(reservations_, [&](const MReservation& r) { return r.requester != m && earlier(r.g); });
      if (other.empty()) return false;
      add(ops::cancel(reservations_[pick(other)].key));
      return true;
    }
    case 4: {  // re-create one's own mobility with another participant
      auto mine = where(mobilities_, [&](const MMobility& x) { return x.owner == m && x.g < cur_; });
      if (mine.empty()) return false;
      const MMobility& x = mobilities_[pick(mine)];
      v1::MobilityFixed f;
      *f.mutable_sending_organisation() = me().org.to_proto();
      *f.mutable_receiving_organisation() = members_[x.host].org.to_proto();
      f.mutable_participant()->set_pseudonym("someone else");
      add(ops::create_mobility(x.key, f)[0]);
      return true;
    }
    default:
      return false;
  }
}

bool Generator::forbidden_other(std::uint64_t kind) {
  std::uint32_t m = cur_origin_;
  auto earlier = [&](std::size_t g) { return g < cur_ && visible(g, m); };
  switch (kind) {
    case 5: {  // move a mobility's status back
      auto mine = where(mobilities_, [&](const MMobility& x) { return x.owner == m && x.status > v1::MOBILITY_DRAFT; });
      if (mine.empty()) return false;
      v1::MobilitySending s;
      s.set_status(v1::MOBILITY_DRAFT);
      add(ops::write_mobility_sending(mobilities_[pick(mine)].key, s, {8}));
      return true;
    }
    case 6: {  // confirm as the host of a mobility one does not host
      auto other = where(mobilities_, [&](const MMobility& x) { return x.host != m && earlier(x.g); });
      if (other.empty()) return false;
      const MMobility& x = mobilities_[pick(other)];
      v1::Confirmation c = make_confirmation(me().author.key(), x.key, v1::PARTY_HOST, history_.deltas[x.g].id);
      add(ops::confirm(x.key, members_[x.host].org.to_proto(), c));
      return true;
    }
    case 7: {  // add a trade to another member's organisation
      std::vector<std::uint32_t> others = others_with_an_organisation();
      if (others.empty()) return false;
      add(ops::set_add(members_[pick(others)].org, kGroupOrganisation, 9, "stolen"));
      return true;
    }
    case 8: {  // change the slots of one's own request (fixed)
      auto mine = where(reservations_, [&](const MReservation& r) { return r.requester == m && r.g < cur_; });
      if (mine.empty()) return false;
      const MReservation& r = reservations_[pick(mine)];
      v1::Reservation body;
      body.set_slots(r.slots + 1);
      add(ops::write_reservation(r.key, body, {3}));
      return true;
    }
    default: {  // the placement owner decides with slots that differ from the request
      // (not on an auditor's request: that never exists, so a decision on it is held, not rejected)
      auto mine = where(reservations_, [&](const MReservation& r) {
        return placements_[r.placement].owner == m && earlier(r.g) && !members_[r.requester].auditor;
      });
      if (mine.empty()) return false;
      const MReservation& r = reservations_[pick(mine)];
      add(ops::decide(r.key, placements_[r.placement].key, r.window, r.slots + 1, v1::RESERVATION_CONFIRMED));
      return true;
    }
  }
}

// References to records that are not the author's own (authority.h).
bool Generator::forbidden_reference(std::uint64_t kind) {
  std::uint32_t m = cur_origin_;
  auto earlier = [&](std::size_t g) { return g < cur_ && visible(g, m); };
  switch (kind) {
    case 10: {  // a placement shown as hosted by another member's organisation
      std::vector<std::uint32_t> others = others_with_an_organisation();
      if (others.empty()) return false;
      v1::Placement p;
      *p.mutable_host_organisation() = members_[pick(others)].org.to_proto();
      p.set_trade("stolen");
      add(ops::write_placement(mint(v1::PLACEMENT), p, {1, 3}));
      return true;
    }
    case 11: {  // a contact filed under another member's organisation
      std::vector<std::uint32_t> others = others_with_an_organisation();
      if (others.empty()) return false;
      v1::Contact c;
      *c.mutable_organisation() = members_[pick(others)].org.to_proto();
      c.set_display_name("Coordinator (not really)");
      add(ops::write_contact(mint(v1::CONTACT), c, {1, 2}));
      return true;
    }
    case 12: {  // a mentor who is another member's contact
      auto mine = where(placements_, [&](const MPlacement& p) { return p.owner == m; });
      auto theirs = where(contacts_, [&](const MContact& c) { return c.owner != m && earlier(c.g); });
      if (mine.empty() || theirs.empty()) return false;
      v1::Placement p;
      *p.mutable_mentor_contact() = contacts_[pick(theirs)].key.to_proto();
      add(ops::write_placement(placements_[pick(mine)].key, p, {15}));
      return true;
    }
    default: {  // a host that is no organisation (one's own placement)
      auto mine = where(placements_, [&](const MPlacement& p) { return p.owner == m; });
      if (mine.empty()) return false;
      const MPlacement& pl = placements_[pick(mine)];
      v1::Placement p;
      *p.mutable_host_organisation() = pl.key.to_proto();
      add(ops::write_placement(pl.key, p, {1}));
      return true;
    }
  }
}

}  // namespace

History generate_history(const HistoryOptions& options) { return Generator(options).run(); }

// ------------------------------------------------------------------- delivery

Status deliver_shuffled(Replica& replica, const std::vector<VerifiedDelta>& deltas, std::mt19937_64& rng,
                        double duplicate_rate, const std::function<void(const VerifiedDelta&)>& after,
                        std::size_t limit) {
  std::map<NodeId, std::vector<const VerifiedDelta*>> queues;
  for (const auto& d : deltas) queues[d.origin].push_back(&d);
  std::vector<std::pair<std::vector<const VerifiedDelta*>*, std::size_t>> cursors;
  cursors.reserve(queues.size());
  for (auto& [origin, q] : queues) cursors.emplace_back(&q, 0);
  std::vector<const VerifiedDelta*> applied;
  std::size_t delivered = 0;
  std::bernoulli_distribution dup(duplicate_rate);
  while (delivered < limit) {
    std::vector<std::size_t> open;
    for (std::size_t i = 0; i < cursors.size(); ++i)
      if (cursors[i].second < cursors[i].first->size()) open.push_back(i);
    if (open.empty()) break;
    std::shuffle(open.begin(), open.end(), rng);
    bool progressed = false;
    for (std::size_t i : open) {
      auto& [q, pos] = cursors[i];
      const VerifiedDelta& d = *(*q)[pos];
      Status s = replica.apply(d);
      if (!s.ok()) {
        if (s.error().is(Errc::sequence_gap) && replica.head(d.origin).value + 1 == d.seq.value) continue;  // a dep
        return s;
      }
      ++pos;
      ++delivered;
      applied.push_back(&d);
      if (after) after(d);
      if (!applied.empty() && dup(rng)) {
        const VerifiedDelta& again = *applied[std::uniform_int_distribution<std::size_t>(0, applied.size() - 1)(rng)];
        Hash256 before = replica.digest();
        Status s2 = replica.apply(again);
        if (!s2.ok()) return s2;
        if (replica.digest() != before) return Error(Errc::invalid_argument, "a duplicate changed the digest");
      }
      progressed = true;
      break;
    }
    if (!progressed) return Error(Errc::sequence_gap, "no origin can make progress: a dependency is never delivered");
  }
  return Status::Ok();
}

Status merge_into(Replica& into, const Replica& from, std::mt19937_64& rng) {
  std::vector<VerifiedDelta> missing;
  for (const NodeId& o : from.origins()) {
    const auto& log = from.log(o);
    for (std::size_t i = into.head(o).value; i < log.size(); ++i) missing.push_back(log[i]);
  }
  return deliver_shuffled(into, missing, rng, 0.0);
}

}  // namespace conect::testkit
