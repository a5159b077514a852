// export_bundle: the roster, evidence and chains a selection needs, read
// from the store (docs/audit.md, "What a bundle holds").
#include <algorithm>
#include <map>
#include <set>

#include "conect/audit/audit.h"
#include "conect/storage/store.h"
#include "header.h"

namespace conect::audit {
namespace {

constexpr v1::RecordType kTypes[] = {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY, v1::CONTACT};

std::string type_name(v1::RecordType t) {
  std::string s = v1::RecordType_Name(t);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Adds a mobility's sending and receiving organisations to `keys`.
Status add_mobility_organisations(const storage::Store& store, const RecordKey& mobility, std::set<RecordKey>& keys) {
  auto state = store.record(mobility);
  if (!state.ok()) return state.error();
  if (!state->has_value() || !(*state)->has_mobility()) return Status::Ok();
  const auto& fixed = (*state)->mobility().fixed();
  for (const auto* id : {&fixed.sending_organisation(), &fixed.receiving_organisation()})
    if (auto k = RecordKey::from_proto(v1::ORGANISATION, *id)) keys.insert(*k);
  return Status::Ok();
}

// Every record the selection needs, and its description.
Result<std::set<RecordKey>> selected_keys(const storage::Store& store, const Selection& sel, v1::AuditSelection& out) {
  std::set<RecordKey> keys;
  std::string description;
  for (const auto& k : sel.records) {
    auto state = store.record(k);
    if (!state.ok()) return state.error();
    if (!state->has_value()) return Error(Errc::not_found, "no record " + k.text() + " in this store");
    keys.insert(k);
    auto* ref = out.add_records();
    ref->set_type(k.type);
    *ref->mutable_id() = k.to_proto();
    if (k.type == v1::MOBILITY)
      if (Status st = add_mobility_organisations(store, k, keys); !st.ok()) return st.error();
    description += (description.empty() ? "" : ", ") + type_name(k.type) + " " + k.text();
  }
  if (sel.organisation) {
    const RecordKey& org = *sel.organisation;
    auto state = store.record(org);
    if (!state.ok()) return state.error();
    if (!state->has_value()) return Error(Errc::not_found, "no organisation " + org.text() + " in this store");
    keys.insert(org);
    *out.mutable_organisation() = org.to_proto();
    std::size_t count = 0;
    storage::MobilityFilter filter;
    filter.organisation = org;
    filter.limit = 500;
    for (;;) {
      auto page = store.mobilities(filter);
      if (!page.ok()) return page.error();
      for (const auto& m : page->items) {
        keys.insert(m.key);
        ++count;
        if (Status st = add_mobility_organisations(store, m.key, keys); !st.ok()) return st.error();
      }
      if (page->next_cursor.empty()) break;
      filter.cursor = page->next_cursor;
    }
    description += (description.empty() ? "" : "; ") + std::string("organisation ") + org.text() + " and its " +
                   std::to_string(count) + " mobilities";
  }
  out.set_description(description);
  return keys;
}

Error cancelled() { return Error(Errc::limit_exceeded, "cancelled: the export stopped before the end"); }

// Chains of every origin up to `needed`, raising `needed` to the
// dependencies each fetched delta names, until nothing more is needed.
Status fetch_chains(const storage::Store& store, std::map<NodeId, std::uint64_t>& needed,
                    std::map<NodeId, std::vector<std::string>>& chains, const Progress& report) {
  std::uint64_t fetched = 0;
  auto total = [&] {
    std::uint64_t n = 0;
    for (const auto& [o, w] : needed) n += w;
    return n;
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& [origin, want] : needed) {
      auto& chain = chains[origin];
      while (chain.size() < want) {
        if (report && !report("export", fetched, total())) return cancelled();
        auto got = store.deltas_from(origin, Seq{chain.size() + 1}, want - chain.size(), 8u << 20);
        if (!got.ok()) return got.error();
        if (got->empty())
          return Error(Errc::storage_error, "the store's log of " + origin.hex() + " ends at seq " +
                                                std::to_string(chain.size()) + ", before seq " + std::to_string(want));
        for (auto& bytes : *got) {
          v1::SignedDelta sd;
          v1::DeltaBody body;
          if (!sd.ParseFromString(bytes) || !body.ParseFromString(sd.body()))
            return Error(Errc::storage_error, "unreadable log entry of " + origin.hex());
          for (const auto& dep : body.deps()) {
            auto dep_origin = NodeId::from_raw(dep.origin());
            if (!dep_origin) continue;      // the verifier reports it
            auto& w = needed[*dep_origin];  // std::map: references to other entries stay valid
            if (dep.seq() > w) {
              w = dep.seq();
              progress = true;
            }
          }
          chain.push_back(std::move(bytes));
          ++fetched;
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<RecordKey> find_record(const storage::Store& store, std::string_view text) {
  for (auto t : kTypes) {
    auto key = RecordKey::parse(t, text);
    if (!key)
      return Error(Errc::malformed_body,
                   "\"" + std::string(text) + "\" is not a record id (\"<64 hex>-<serial>\", as the API prints it)");
    auto state = store.record(*key);
    if (!state.ok()) return state.error();
    if (state->has_value()) return *key;
  }
  return Error(Errc::not_found, "no record " + std::string(text) + " in this store");
}

Result<std::string> export_bundle(const storage::Store& store, const Selection& selection, const KeyPair& exporter,
                                  std::uint64_t now_ms, const Progress& progress) {
  auto federation = store.federation();
  if (!federation) return Error(Errc::invalid_argument, "the store is not initialised (run `conect-node init`)");
  v1::AuditBundle bundle;
  bundle.set_format_version(kFormatVersion);
  bundle.set_federation(federation->raw());

  // The roster: every member the replicated roster admitted (its admitted
  // card, the same on every node), then this node's local overrides.
  auto replicated = store.roster();
  if (!replicated.ok()) return replicated.error();
  for (const auto& [id, m] : (*replicated)->members())
    if (m.admitted) *bundle.add_roster() = m.card;
  auto members = store.members();
  if (!members.ok()) return members.error();
  for (const auto& [id, card] : *members)
    if (!(*replicated)->admitted(id)) *bundle.add_roster() = card;
  auto evidence = store.evidence();
  if (!evidence.ok()) return evidence.error();
  for (const auto& e : *evidence)
    if (e.has_equivocation()) *bundle.add_equivocations() = e.equivocation();

  std::map<NodeId, std::uint64_t> needed;
  v1::AuditSelection header_selection;
  auto* sel = &header_selection;
  if (selection.everything()) {
    sel->set_everything(true);
    sel->set_description("everything");
    auto vv = store.version_vector();
    if (!vv.ok()) return vv.error();
    for (const auto& [origin, head] : *vv) needed[origin] = head.seq.value;
  } else {
    auto keys = selected_keys(store, selection, *sel);
    if (!keys.ok()) return keys.error();
    for (const auto& key : *keys) {
      auto h = store.history(key);
      if (!h.ok()) return h.error();
      for (const auto& d : h->deltas) needed[d.origin] = std::max(needed[d.origin], d.seq.value);
    }
  }
  std::map<NodeId, std::vector<std::string>> chains;
  if (Status st = fetch_chains(store, needed, chains, progress); !st.ok()) return st.error();

  std::uint64_t size = 0;
  for (auto& [origin, deltas] : chains) {
    if (deltas.empty()) continue;
    auto* chain = bundle.add_chains();
    chain->set_origin(origin.raw());
    for (const auto& bytes : deltas) {
      size += bytes.size() + 8;
      if (size > kMaxBundleBytes)
        return Error(Errc::limit_exceeded,
                     "the bundle would exceed 2 GiB: export a selection (--organisation or --record) instead");
      if (!chain->add_deltas()->ParseFromString(bytes))
        return Error(Errc::storage_error, "unreadable log entry of " + origin.hex());
    }
  }
  detail::sign_header(bundle, std::move(header_selection), exporter, now_ms);
  if (bundle.ByteSizeLong() > kMaxBundleBytes)
    return Error(Errc::limit_exceeded,
                 "the bundle would exceed 2 GiB: export a selection (--organisation or --record) instead");
  return encode_bundle(bundle);
}

}  // namespace conect::audit
