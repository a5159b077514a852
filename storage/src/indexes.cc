#include "indexes.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <stdexcept>

#include "codec.h"
#include "stored_state.h"

namespace conect::storage {
namespace {

constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kMaxLimit = 1000;

std::int32_t end_or_max(const v1::Date& d) { return d.days() == 0 ? INT32_MAX : d.days(); }

std::string days_key(std::int32_t days) {
  std::string k;
  codec::put_days(k, days);
  return k;
}

std::optional<RecordKey> org_key(const v1::RecordId& id) { return RecordKey::from_proto(v1::ORGANISATION, id); }

// LMDB keys are at most 511 bytes: index a bounded prefix of a term (the
// query re-checks the whole value).
std::string index_term(std::string_view s) {
  std::string t = codec::fold_term(s);
  if (t.size() > 200) t.resize(200);
  return t;
}

void placement_entries(Writer& w, const std::string& rk, const v1::Placement& p, std::vector<IndexEntry>& out) {
  if (auto t = index_term(p.trade()); !t.empty()) out.push_back({Index::placement_trade, t + '\0' + rk});
  if (auto c = index_term(p.country()); !c.empty()) out.push_back({Index::placement_country, c + '\0' + rk});
  if (p.windows_size() > 0) {
    std::int32_t last = INT32_MIN;
    for (const auto& window : p.windows()) last = std::max(last, end_or_max(window.end()));
    out.push_back({Index::placement_period, days_key(last) + rk});
  }
  if (auto host = org_key(p.host_organisation())) out.push_back({Index::placement_host, w.record_key(*host) + rk});
}

void mobility_entries(Writer& w, const std::string& rk, const v1::Mobility& m, std::vector<IndexEntry>& out) {
  auto sending = org_key(m.fixed().sending_organisation());
  auto receiving = org_key(m.fixed().receiving_organisation());
  if (sending) out.push_back({Index::mobility_org, w.record_key(*sending) + rk});
  if (receiving && receiving != sending) out.push_back({Index::mobility_org, w.record_key(*receiving) + rk});
  out.push_back({Index::mobility_period, days_key(end_or_max(m.sending().planned_end())) + rk});
  out.push_back({Index::mobility_status, std::string(1, static_cast<char>(m.sending().status())) + rk});
}

// ------------------------------------------------------------- scanning

// An entry's term and record key.
std::string_view entry_term(std::string_view key) { return key.substr(0, key.size() - codec::kRecordKeySize); }
std::string_view entry_record(std::string_view key) { return key.substr(key.size() - codec::kRecordKeySize); }

// The entries of an index in order, each as term || record key whether the
// index is kept by term or is a plain set of keys.
class EntryCursor {
 public:
  EntryCursor(const lmdb::Txn& txn, lmdb::Dbi db, bool by_term) : c_(txn.cursor(db)), by_term_(by_term) {}

  bool first() { return load(c_.first()); }
  // The first entry whose term is >= `start` (a term or a term's prefix).
  bool seek_term(std::string_view start) { return load(c_.seek(start)); }
  // The first entry >= `entry` (a whole entry, from a cursor).
  bool seek_entry(std::string_view entry) {
    if (!by_term_ || entry.size() <= codec::kRecordKeySize) return load(c_.seek(entry));
    std::string_view term = entry_term(entry);
    if (c_.seek_item(term, entry_record(entry))) return load(true);
    // Nothing at or after it in its term: the next term's first entry.
    if (!c_.seek(term)) return load(false);
    return load(c_.key() == term ? c_.next_key() : true);
  }
  bool next() { return load(c_.next()); }
  std::string_view key() const { return by_term_ ? std::string_view(entry_) : c_.key(); }

 private:
  bool load(bool ok) {
    if (ok && by_term_) {
      entry_.assign(c_.key());
      entry_.append(c_.value());
    }
    return ok;
  }
  lmdb::Cursor c_;
  bool by_term_;
  std::string entry_;
};

struct Scan {
  Index index;
  lmdb::Dbi db;
  std::string prefix;  // every entry of the scan starts with it
  std::string start;   // where to start (>= prefix): a term or a prefix of one
};

Error cursor_refused(codec::CursorFault fault) {
  switch (fault) {
    case codec::CursorFault::not_a_cursor:
      return Error(Errc::invalid_argument,
                   "the cursor is not one this node handed out (pass a listing's next_cursor as it came); start "
                   "again without it");
    case codec::CursorFault::old_layout:
      return Error(Errc::invalid_argument,
                   "the cursor has the form conect-node handed out before 0.4.0 (it names a key of the store's old "
                   "layout); start the listing again without it");
    case codec::CursorFault::other_query:
      break;
  }
  return Error(Errc::invalid_argument, "the cursor belongs to another query; start again without it");
}

// Visits entries of `scan` from the cursor on; `visit` returns true when it
// kept the record. Stops after `limit` kept; returns the next cursor: the
// last entry returned (term || record key, the bytes a schema-2 cursor
// held, so cursors handed out before the upgrade resume where they were).
Result<std::string> run_scan(const lmdb::Txn& txn, const Scan& scan, const std::string& cursor,
                             std::size_t limit, const std::function<bool(std::string_view)>& visit) {
  EntryCursor c(txn, scan.db, by_term(scan.index));
  bool ok = false;
  if (cursor.empty()) {
    ok = scan.start.empty() ? c.first() : c.seek_term(scan.start);  // LMDB refuses an empty key
  } else {
    codec::CursorFault fault{};
    auto from = codec::parse_cursor(static_cast<char>(scan.index), cursor, fault);
    if (from && !from->starts_with(scan.prefix)) fault = codec::CursorFault::other_query;
    if (!from || !from->starts_with(scan.prefix)) return cursor_refused(fault);
    ok = from->empty() ? c.first() : c.seek_entry(*from);
    if (ok && c.key() == *from) ok = c.next();
  }
  std::size_t kept = 0;
  for (; ok && c.key().starts_with(scan.prefix); ok = c.next()) {
    if (!visit(c.key())) continue;
    if (++kept < limit) continue;
    std::string last(c.key());
    if (c.next() && c.key().starts_with(scan.prefix)) return codec::make_cursor(static_cast<char>(scan.index), last);
    return std::string();
  }
  return std::string();
}

std::size_t clamp_limit(std::size_t limit) {
  return limit == 0 ? kDefaultLimit : std::min(limit, kMaxLimit);
}

// `rk` is key as the store writes it (Keys::record).
std::optional<v1::RecordState> load_state(const lmdb::Txn& txn, const Dbs& db, const RecordKey& key,
                                          std::string_view rk) {
  auto v = txn.get(db.records(key.type), rk);
  if (!v) return std::nullopt;
  return load_stored_state(Keys(txn, db), key, *v);
}

bool same_term(std::string_view a, std::string_view b) { return codec::fold_term(a) == codec::fold_term(b); }

bool window_overlaps(const v1::PlacementWindow& w, const std::optional<std::int32_t>& from,
                     const std::optional<std::int32_t>& to) {
  if (from && end_or_max(w.end()) < *from) return false;
  if (to && w.start().days() != 0 && w.start().days() > *to) return false;
  return true;
}

bool placement_matches(const PlacementFilter& f, const v1::RecordState& s, const v1::StoredAvailability& a) {
  const auto& p = s.placement();
  if (!s.created()) return false;
  if (!f.trade.empty() && !same_term(p.trade(), f.trade)) return false;
  if (!f.country.empty() && !same_term(p.country(), f.country)) return false;
  if (f.from || f.to) {
    bool any = std::any_of(p.windows().begin(), p.windows().end(),
                           [&](const auto& w) { return window_overlaps(w, f.from, f.to); });
    if (!any) return false;
  }
  if (!f.language.empty()) {
    bool any = std::any_of(p.languages().begin(), p.languages().end(),
                           [&](const auto& l) { return same_term(l.lang(), f.language); });
    if (!any) return false;
  }
  if (f.available && !a.has_free()) return false;
  if (f.host && org_key(p.host_organisation()) != f.host) return false;
  return true;
}

// The scan prefix of an index by a record (a host, an organisation) the
// store never met: no entry starts with it (record keys start with their
// type, never 0).
const std::string kNoRecord(1, '\0');

Scan placement_scan(const Keys& keys, const Dbs& db, const PlacementFilter& f) {
  if (!f.trade.empty()) {
    auto p = index_term(f.trade) + '\0';
    return {Index::placement_trade, db.placement_trade, p, p};
  }
  if (f.host) {
    auto host = keys.record(*f.host).value_or(kNoRecord);
    return {Index::placement_host, db.placement_host, host, host};
  }
  if (!f.country.empty()) {
    auto p = index_term(f.country) + '\0';
    return {Index::placement_country, db.placement_country, p, p};
  }
  if (f.available) return {Index::placement_available, db.placement_available, "", ""};
  if (f.from) return {Index::placement_period, db.placement_period, "", days_key(*f.from)};
  std::string type(1, static_cast<char>(v1::PLACEMENT));
  return {Index::records, db.records(v1::PLACEMENT), type, type};
}

std::optional<std::string> org_country(const lmdb::Txn& txn, const Dbs& db, const v1::RecordId& id) {
  auto key = org_key(id);
  if (!key) return std::nullopt;
  auto rk = Keys(txn, db).record(*key);
  auto s = rk ? load_state(txn, db, *key, *rk) : std::nullopt;
  if (!s) return std::nullopt;
  return s->organisation().country();
}

bool mobility_matches(const lmdb::Txn& txn, const Dbs& db, const MobilityFilter& f, const v1::RecordState& s) {
  const auto& m = s.mobility();
  if (!s.created()) return false;
  if (f.organisation && org_key(m.fixed().sending_organisation()) != f.organisation &&
      org_key(m.fixed().receiving_organisation()) != f.organisation)
    return false;
  if (f.type != v1::MOBILITY_TYPE_UNSPECIFIED && m.fixed().type() != f.type) return false;
  if (f.status != v1::MOBILITY_STATUS_UNSPECIFIED && m.sending().status() != f.status) return false;
  if (f.from || f.to) {
    // A period is asked for: a mobility with no planned start has none to
    // compare (every undated draft matched every range), and one with no
    // planned end is taken to end when it starts.
    const std::int32_t start = m.sending().planned_start().days();
    if (start == 0) return false;
    const std::int32_t end = m.sending().planned_end().days() == 0 ? start : m.sending().planned_end().days();
    if (f.from && end < *f.from) return false;
    if (f.to && start > *f.to) return false;
  }
  if (!f.country.empty()) {
    auto a = org_country(txn, db, m.fixed().sending_organisation());
    auto b = org_country(txn, db, m.fixed().receiving_organisation());
    if (!(a && same_term(*a, f.country)) && !(b && same_term(*b, f.country))) return false;
  }
  return true;
}

Scan mobility_scan(const Keys& keys, const Dbs& db, const MobilityFilter& f) {
  if (f.organisation) {
    auto org = keys.record(*f.organisation).value_or(kNoRecord);
    return {Index::mobility_org, db.mobility_org, org, org};
  }
  if (f.status != v1::MOBILITY_STATUS_UNSPECIFIED) {
    std::string p(1, static_cast<char>(f.status));
    return {Index::mobility_status, db.mobility_status, p, p};
  }
  if (f.from) return {Index::mobility_period, db.mobility_period, "", days_key(*f.from)};
  std::string type(1, static_cast<char>(v1::MOBILITY));
  return {Index::records, db.records(v1::MOBILITY), type, type};
}

}  // namespace

lmdb::Dbi index_db(const Dbs& db, Index index) {
  switch (index) {
    case Index::placement_trade: return db.placement_trade;
    case Index::placement_country: return db.placement_country;
    case Index::placement_period: return db.placement_period;
    case Index::placement_available: return db.placement_available;
    case Index::placement_host: return db.placement_host;
    case Index::mobility_org: return db.mobility_org;
    case Index::mobility_period: return db.mobility_period;
    case Index::mobility_status: return db.mobility_status;
    case Index::reservation_placement: return db.reservation_placement;
    case Index::records:
      break;  // a scan of one type's records, never an index entry
  }
  throw std::logic_error("no index database for index " + std::to_string(static_cast<int>(index)));
}

bool by_term(Index index) { return index != Index::placement_available && index != Index::records; }

void put_entry(Writer& w, const IndexEntry& e) {
  constexpr std::string_view kNoValue("", 0);  // a non-null pointer keeps memcpy well-defined
  if (by_term(e.index))
    w.put_item(index_db(w.db, e.index), entry_term(e.key), entry_record(e.key));
  else
    w.put(index_db(w.db, e.index), e.key, kNoValue);
}

void del_entry(Writer& w, const IndexEntry& e) {
  if (by_term(e.index))
    w.del(index_db(w.db, e.index), entry_term(e.key), entry_record(e.key));
  else
    w.del(index_db(w.db, e.index), e.key);
}

std::vector<IndexEntry> index_entries(Writer& w, const RecordKey& key, const v1::RecordState& state) {
  std::vector<IndexEntry> out;
  // Only created records are listed (as the reference replica does).
  if (!state.created()) return out;
  const std::string rk = w.record_key(key);
  if (key.type == v1::PLACEMENT && state.has_placement()) placement_entries(w, rk, state.placement(), out);
  if (key.type == v1::MOBILITY && state.has_mobility()) mobility_entries(w, rk, state.mobility(), out);
  if (key.type == v1::RESERVATION && state.has_reservation())
    if (auto p = RecordKey::from_proto(v1::PLACEMENT, state.reservation().placement()))
      out.push_back({Index::reservation_placement, w.record_key(*p) + rk});
  std::sort(out.begin(), out.end());
  return out;
}

v1::StoredAvailability encode_availability(const v1::RecordState& placement,
                                           const std::vector<WindowAvailability>& windows) {
  v1::StoredAvailability out;
  bool free = false;
  for (const auto& w : windows) {
    auto* s = out.add_windows();
    s->set_window_id(w.window_id);
    s->set_capacity(w.capacity);
    s->set_confirmed(w.confirmed);
    s->set_pending(w.pending);
    s->set_available(w.available);
    s->set_overbooked_by(w.overbooked_by);
    free = free || w.available > 0;
  }
  out.set_has_free(free && placement.created() && placement.placement().status() == v1::PLACEMENT_OPEN);
  return out;
}

std::vector<WindowAvailability> decode_availability(const v1::StoredAvailability& stored) {
  std::vector<WindowAvailability> out;
  for (const auto& s : stored.windows())
    out.push_back({s.window_id(), s.capacity(), s.confirmed(), s.pending(), s.available(), s.overbooked_by()});
  return out;
}

Result<Page<PlacementView>> query_placements(const lmdb::Txn& txn, const Dbs& db, const PlacementFilter& f) {
  Page<PlacementView> page;
  const Keys keys(txn, db);
  auto next = run_scan(txn, placement_scan(keys, db, f), f.cursor, clamp_limit(f.limit), [&](std::string_view k) {
    auto rk = codec::trailing_record(k);
    if (!rk) return false;
    RecordKey key = keys.record_at(*rk);
    auto s = load_state(txn, db, key, *rk);
    if (!s) return false;
    v1::StoredAvailability a;
    if (auto v = txn.get(db.availability, *rk)) a.ParseFromArray(v->data(), static_cast<int>(v->size()));
    if (!placement_matches(f, *s, a)) return false;
    page.items.push_back({key, std::move(*s), decode_availability(a)});
    return true;
  });
  if (!next.ok()) return next.error();
  page.next_cursor = std::move(*next);
  return page;
}

Result<Page<RecordView>> query_mobilities(const lmdb::Txn& txn, const Dbs& db, const MobilityFilter& f) {
  Page<RecordView> page;
  const Keys keys(txn, db);
  auto next = run_scan(txn, mobility_scan(keys, db, f), f.cursor, clamp_limit(f.limit), [&](std::string_view k) {
    auto rk = codec::trailing_record(k);
    if (!rk) return false;
    RecordKey key = keys.record_at(*rk);
    auto s = load_state(txn, db, key, *rk);
    if (!s || !mobility_matches(txn, db, f, *s) || (f.keep && !f.keep(key, *s))) return false;
    page.items.push_back({key, std::move(*s)});
    return true;
  });
  if (!next.ok()) return next.error();
  page.next_cursor = std::move(*next);
  return page;
}

Result<Page<RecordView>> query_list(const lmdb::Txn& txn, const Dbs& db, v1::RecordType type, const std::string& cursor,
                                    std::size_t limit, const Store::RecordPredicate& keep, const NodeId* owner) {
  Page<RecordView> page;
  const Keys keys(txn, db);
  std::string prefix(1, static_cast<char>(type));
  if (owner) {
    auto code = keys.code(*owner);
    if (!code) return page;  // the store never met it: it owns nothing here
    prefix += *code;
  }
  Scan scan{Index::records, db.records(type), prefix, prefix};
  auto next = run_scan(txn, scan, cursor, clamp_limit(limit), [&](std::string_view k) {
    RecordKey key = keys.record_at(k);
    auto s = load_state(txn, db, key, k);
    if (!s || !s->created()) return false;
    if (keep && !keep(key, *s)) return false;
    page.items.push_back({key, std::move(*s)});
    return true;
  });
  if (!next.ok()) return next.error();
  page.next_cursor = std::move(*next);
  return page;
}

}  // namespace conect::storage
