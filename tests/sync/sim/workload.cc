// Random writes of every record type, decided from what the node's own store
// shows, as a coordinator using the node would: placement owners decide
// reservations one delta at a time and never confirm beyond the capacity
// they see, naming the cancellations they counted in deps (DESIGN §3).
#include "workload.h"

#include <algorithm>

#include "conect/crdt/ops.h"

namespace conect::sim {
namespace {

std::optional<RecordEntry> own_organisation(const SimStore& store, const NodeId& me) {
  for (auto& r : store.records(v1::ORGANISATION))
    if (r.key.owner == me && r.state.created()) return r;
  return std::nullopt;
}

template <class T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& v) {
  return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
}

v1::LocalisedText text(const std::string& lang, const std::string& s) {
  v1::LocalisedText t;
  t.set_lang(lang);
  t.set_text(s);
  return t;
}

DeltaDraft create_placement(std::mt19937_64& rng, const RecordKey& org, const NodeId& me, Seq seq) {
  v1::Placement p;
  *p.mutable_host_organisation() = org.to_proto();
  *p.add_title() = text("en", "Welder trainee " + std::to_string(seq.value));
  p.set_trade(rng() % 2 ? "welding" : "electrician");
  p.set_country("FI");
  p.set_status(v1::PLACEMENT_OPEN);
  const int windows = 1 + static_cast<int>(rng() % 2);
  for (int w = 0; w < windows; ++w) {
    auto* win = p.add_windows();
    win->set_window_id(static_cast<std::uint32_t>(w + 1));
    win->mutable_start()->set_days(20000 + 30 * w);
    win->mutable_end()->set_days(20020 + 30 * w);
    win->set_capacity(1 + static_cast<std::uint32_t>(rng() % 3));
  }
  DeltaDraft d;
  d.ops = ops::create_placement(RecordKey::mint(v1::PLACEMENT, me, seq, 0), p);
  return d;
}

std::optional<DeltaDraft> request(std::mt19937_64& rng, const SimStore& store, const NodeId& me, Seq seq) {
  std::vector<RecordEntry> open;
  for (auto& r : store.records(v1::PLACEMENT))
    if (r.state.created() && r.key.owner != me && r.state.placement().windows_size() > 0) open.push_back(r);
  if (open.empty()) return std::nullopt;
  const RecordEntry& pl = pick(rng, open);
  v1::Reservation res;
  *res.mutable_placement() = pl.key.to_proto();
  const auto& wins = pl.state.placement().windows();
  res.set_window_id(wins[static_cast<int>(rng() % static_cast<std::uint64_t>(wins.size()))].window_id());
  res.set_slots(1 + static_cast<std::uint32_t>(rng() % 2));
  res.set_note("sim");
  DeltaDraft d;
  d.ops.push_back(ops::request_reservation(RecordKey::mint(v1::RESERVATION, me, seq, 0), res));
  return d;
}

// The owner decides every pending request on one of its placements, in key
// order, confirming while the window has room in its own view.
std::optional<DeltaDraft> decide(std::mt19937_64& rng, const SimStore& store, const NodeId& me) {
  std::vector<RecordEntry> mine;
  for (auto& r : store.records(v1::PLACEMENT))
    if (r.key.owner == me && r.state.created()) mine.push_back(r);
  if (mine.empty()) return std::nullopt;
  const RecordEntry& pl = pick(rng, mine);
  auto avail = store.availability(pl.key);
  DeltaDraft d;
  std::map<NodeId, bool> counted_cancels;
  for (auto& r : store.records(v1::RESERVATION)) {
    const auto& res = r.state.reservation();
    if (!r.state.created() || RecordKey::from_proto(v1::PLACEMENT, res.placement()) != pl.key) continue;
    if (res.decision() == v1::RESERVATION_CANCELLED) counted_cancels[r.key.owner] = true;
    if (res.decision() != v1::RESERVATION_PENDING) continue;
    auto w = std::find_if(avail.begin(), avail.end(), [&](auto& a) { return a.window_id == res.window_id(); });
    const bool fits = w != avail.end() && w->available >= res.slots();
    if (fits) w->available -= res.slots();
    d.ops.push_back(ops::decide(r.key, res, fits ? v1::RESERVATION_CONFIRMED : v1::RESERVATION_REJECTED));
  }
  if (d.ops.empty()) return std::nullopt;
  // Slots freed by cancellations were counted: name them (a superset: each
  // requester's head) so nobody sees this decision without them.
  for (const auto& [origin, yes] : counted_cancels) {
    auto h = store.head(origin);
    if (!h.ok() || h->seq.value == 0) continue;
    v1::DeltaRef ref;
    ref.set_origin(origin.raw());
    ref.set_seq(h->seq.value);
    ref.set_id(h->id.raw());
    d.deps.push_back(ref);
  }
  return d;
}

std::optional<DeltaDraft> cancel(std::mt19937_64& rng, const SimStore& store, const NodeId& me) {
  std::vector<RecordEntry> mine;
  for (auto& r : store.records(v1::RESERVATION)) {
    const auto dec = r.state.reservation().decision();
    if (r.key.owner == me && r.state.created() &&
        (dec == v1::RESERVATION_PENDING || dec == v1::RESERVATION_CONFIRMED))
      mine.push_back(r);
  }
  if (mine.empty()) return std::nullopt;
  DeltaDraft d;
  d.ops.push_back(ops::cancel(pick(rng, mine).key));
  return d;
}

std::optional<DeltaDraft> mobility(std::mt19937_64& rng, const SimStore& store, const RecordKey& org,
                                   const NodeId& me, Seq seq) {
  std::vector<RecordEntry> others;
  for (auto& r : store.records(v1::ORGANISATION))
    if (r.key.owner != me && r.state.created()) others.push_back(r);
  if (others.empty()) return std::nullopt;
  v1::MobilityFixed fixed;
  *fixed.mutable_sending_organisation() = org.to_proto();
  *fixed.mutable_receiving_organisation() = pick(rng, others).key.to_proto();
  fixed.mutable_participant()->set_pseudonym("P-" + std::to_string(rng() % 10000));
  fixed.set_type(v1::LEARNER_OTJ_COMPANY);
  fixed.set_category(v1::IVET_LEARNER);
  v1::MobilitySending sending;
  sending.set_status(v1::MOBILITY_NOMINATED);
  sending.set_qualification_title("Welder");
  sending.set_eqf_level(4);
  DeltaDraft d;
  d.ops = ops::create_mobility(RecordKey::mint(v1::MOBILITY, me, seq, 0), fixed, &sending);
  return d;
}

std::optional<DeltaDraft> host_answer(std::mt19937_64& rng, const SimStore& store, const NodeId& me) {
  std::vector<RecordEntry> hosted;
  for (auto& r : store.records(v1::MOBILITY))
    if (r.state.created() && r.state.mobility().fixed().receiving_organisation().owner() == me.raw())
      hosted.push_back(r);
  if (hosted.empty()) return std::nullopt;
  const RecordEntry& m = pick(rng, hosted);
  auto recv = RecordKey::from_proto(v1::ORGANISATION, m.state.mobility().fixed().receiving_organisation());
  if (!recv) return std::nullopt;
  v1::MobilityHost h;
  h.set_host_status(rng() % 4 ? v1::HOST_ACCEPTED : v1::HOST_REJECTED);
  DeltaDraft d;
  d.ops.push_back(ops::write_mobility_host(m.key, *recv, h, {1}));
  return d;
}

}  // namespace

std::optional<DeltaDraft> next_write(std::mt19937_64& rng, const SimStore& store, const NodeId& me, Seq seq) {
  auto org = own_organisation(store, me);
  if (!org) {
    v1::Organisation o;
    *o.add_names() = text("en", "School " + me.hex().substr(0, 6));
    o.set_type(v1::VET_SCHOOL);
    o.set_country("FI");
    o.set_speaker(me.raw());
    DeltaDraft d;
    d.ops = ops::create_organisation(RecordKey::mint(v1::ORGANISATION, me, seq, 0), o);
    return d;
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::optional<DeltaDraft> d;
    switch (rng() % 10) {
      case 0: d = create_placement(rng, org->key, me, seq); break;
      case 1:
      case 2:
      case 3: d = request(rng, store, me, seq); break;
      case 4:
      case 5: d = decide(rng, store, me); break;
      case 6: d = cancel(rng, store, me); break;
      case 7: d = mobility(rng, store, org->key, me, seq); break;
      case 8: d = host_answer(rng, store, me); break;
      default: {
        v1::Contact c;
        *c.mutable_organisation() = org->key.to_proto();
        c.set_display_name("Coordinator " + std::to_string(seq.value));
        c.add_roles(v1::MOBILITY_COORDINATOR);
        DeltaDraft dc;
        dc.ops = ops::create_contact(RecordKey::mint(v1::CONTACT, me, seq, 0), c);
        d = dc;
      }
    }
    if (d) return d;
  }
  return create_placement(rng, org->key, me, seq);
}

}  // namespace conect::sim
