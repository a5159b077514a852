// The registered schema steps: one per bump of kSchemaVersion.
//
// To bump the schema (docs/storage.md, "Schema version and upgrades"):
//   1. raise kSchemaVersion in conect/storage/schema.h;
//   2. add a step {from = old version, summary, function} below that rewrites
//      what changed, inside the transaction it is given (a refold of every
//      record from the log is the usual tool when record states change);
//   3. describe the new layout in docs/storage.md;
//   4. run tests/upgrade: the committed 0.2.0 store must open through every
//      step and answer as before (update the expectations only for what the
//      step meant to change, and say so).
#include "conect/storage/schema.h"

#include <algorithm>
#include <map>
#include <set>

#include "codec.h"
#include "store_impl.h"
#include "stored_state.h"

namespace conect::storage {
namespace {

// Schema 1 -> 2: `ops` as key-only positions. Every schema-1 entry (record
// key (41) || hlc (8) || origin (32) || seq (8) || index (4) -> delta id (32)
// || serialised Operation) becomes record key || origin || seq || index ->
// empty; the operation stays where it already was, in its signed delta in
// `log`. The new keys are written in order with MDB_APPEND (full pages).
Status ops_as_positions(lmdb::WriteTxn& txn) {
  lmdb::Dbi ops = txn.open_db("ops", 0);
  std::vector<std::string> keys;
  {
    auto c = txn.cursor(ops);
    for (bool ok = c.first(); ok; ok = c.next()) {
      std::string_view k = c.key();
      auto record =
          k.size() == codec::kOpKeySizeV1 ? RecordKey::decode(k.substr(0, codec::kRecordKeySizeV5)) : std::nullopt;
      if (!record || c.value().size() < 32)
        return Error(Errc::storage_error, "an entry of ops does not have the layout of schema 1 (key " +
                                              to_hex(k.substr(0, 48)) + "...); restore a backup");
      // Drop the HLC (8 bytes after the record key): the fold sorts by it
      // from the delta itself.
      std::string key(k.substr(0, codec::kRecordKeySizeV5));
      key += k.substr(codec::kRecordKeySizeV5 + 8);
      keys.push_back(std::move(key));
    }
  }
  txn.clear(ops);
  std::sort(keys.begin(), keys.end());
  constexpr std::string_view kEmpty("", 0);
  for (const auto& k : keys)
    if (!txn.append(ops, k, kEmpty)) txn.put(ops, k, kEmpty);
  // The old entries' pages are free now (about a third of the file), but
  // LMDB never shrinks data.mdb: mark the store for the daemon's compactor
  // (node/daemon compactor.h), which swaps in a compacting copy at its first
  // check, as after an erasure.
  txn.put(txn.open_db("meta", 0), meta::kCompactDue, meta::kCompactAfterUpgrade);
  return Status::Ok();
}

// Schema 2 -> 3: the query indexes by term as MDB_DUPSORT | MDB_DUPFIXED
// databases. A schema-2 entry is the key term || record key (41) with an
// empty value; it becomes the item record key under the key term. LMDB
// keeps the flags a database was created with, so each index is read, then
// deleted (mdb_drop) and created again under the same name with the new
// flags, in this transaction. The old keys come in entry order, which is
// (term, record key) order (the terms of an index are prefix-free:
// storage/src/indexes.h), so every item is appended (full pages); the
// result does not depend on the old pages.
Status indexes_by_term(lmdb::WriteTxn& txn) {
  // The indexes of schema 2 that schema 3 keeps by term: all but
  // idx_placement_available (record keys alone).
  static constexpr const char* kByTerm[] = {
      "idx_placement_trade", "idx_placement_country", "idx_placement_period", "idx_placement_host",
      "idx_mobility_org",    "idx_mobility_period",   "idx_mobility_status",  "idx_reservation_placement",
  };
  constexpr unsigned kFlags = MDB_DUPSORT | MDB_DUPFIXED;
  static_assert(kFlags == kTermIndexFlags);
  for (const char* name : kByTerm) {
    lmdb::Dbi old = txn.open_db(name, MDB_CREATE);
    unsigned flags = 0;
    lmdb::check(mdb_dbi_flags(txn.handle(), old.handle, &flags), std::string("reading database ") + name);
    if ((flags & kFlags) == kFlags) continue;  // absent before this open created it with the new flags
    std::vector<std::string> keys;
    {
      auto c = txn.cursor(old);
      for (bool ok = c.first(); ok; ok = c.next()) {
        if (c.key().size() <= codec::kRecordKeySizeV5 || !c.value().empty())
          return Error(Errc::storage_error, std::string("an entry of ") + name +
                                                " does not have the layout of schema 2 (key " + to_hex(c.key()) +
                                                "); restore a backup");
        keys.emplace_back(c.key());
      }
    }
    txn.drop(old);
    lmdb::Dbi now = txn.open_db(name, MDB_CREATE | kFlags);
    std::string_view last_term;
    for (const auto& k : keys) {
      std::string_view term = std::string_view(k).substr(0, k.size() - codec::kRecordKeySizeV5);
      std::string_view record = std::string_view(k).substr(k.size() - codec::kRecordKeySizeV5);
      MDB_val key = lmdb::val(term), item = lmdb::val(record);
      const bool same = !last_term.empty() && term == last_term;
      int rc = mdb_put(txn.handle(), now.handle, &key, &item, same ? MDB_APPENDDUP : MDB_APPEND);
      if (rc == MDB_KEYEXIST) rc = mdb_put(txn.handle(), now.handle, &key, &item, 0);  // not last after all
      lmdb::check(rc, std::string("rebuilding ") + name);
      last_term = term;
    }
  }
  // The old indexes' pages are free now: for the daemon's compactor, as
  // after the step from 1.
  txn.put(txn.open_db("meta", 0), meta::kCompactDue, meta::kCompactAfterUpgrade);
  return Status::Ok();
}

// Schema 3 -> 4: record states without the type and id the record key
// says (stored_state.h). A schema-3 value is serialize_state(state), which
// starts with those two fields; the step keeps the rest. The keys come in
// order, so every value is appended to the emptied database (full pages:
// `records` written live is about 76 % full); the states, the digest and
// every answer stay the same.
Status states_without_key_fields(lmdb::WriteTxn& txn) {
  lmdb::Dbi records = txn.open_db("records", 0);
  std::vector<std::pair<std::string, std::string>> kept;
  {
    auto c = txn.cursor(records);
    for (bool ok = c.first(); ok; ok = c.next()) {
      auto key = RecordKey::decode(c.key());
      const std::string fields = key ? key_fields(*key) : std::string();
      if (!key || !c.value().starts_with(fields))
        return Error(Errc::storage_error, "an entry of records does not have the layout of schema 3 (key " +
                                              to_hex(c.key()) + "); restore a backup");
      kept.emplace_back(c.key(), c.value().substr(fields.size()));
    }
  }
  txn.clear(records);
  for (const auto& [k, v] : kept)
    if (!txn.append(records, k, v)) txn.put(records, k, v);
  // The old values' pages are free now: for the daemon's compactor, as
  // after the steps from 1 and 2.
  txn.put(txn.open_db("meta", 0), meta::kCompactDue, meta::kCompactAfterUpgrade);
  return Status::Ok();
}

// Schema 4 -> 5: a `records` and an `ops` database per record type. Their
// keys start with the type, so in one database a type whose key range sits
// between two others (placements, between organisations and mobilities)
// never grows at the tree's end, and LMDB splits its full pages in half;
// in its own database each type appends. Every entry moves, unchanged, to
// the database of the type its key starts with, in key order (MDB_APPEND:
// full pages); the old databases are deleted with their names.
Status databases_per_type(lmdb::WriteTxn& txn) {
  struct Move {
    const char* from;
    const char* prefix;  // of the new databases' names
  };
  static constexpr Move kMoves[] = {{"records", "records_"}, {"ops", "ops_"}};
  static constexpr std::pair<v1::RecordType, const char*> kTypes[] = {
      {v1::ORGANISATION, "organisation"}, {v1::PLACEMENT, "placement"}, {v1::RESERVATION, "reservation"},
      {v1::MOBILITY, "mobility"},         {v1::CONTACT, "contact"},
  };
  for (const Move& move : kMoves) {
    lmdb::Dbi old = txn.open_db(move.from, 0);
    std::map<int, lmdb::Dbi> to;
    for (const auto& [type, name] : kTypes) to[type] = txn.open_db((std::string(move.prefix) + name).c_str(), 0);
    {
      auto c = txn.cursor(old);
      for (bool ok = c.first(); ok; ok = c.next()) {
        auto it = c.key().empty() ? to.end() : to.find(static_cast<unsigned char>(c.key()[0]));
        if (it == to.end() || c.key().size() < codec::kRecordKeySizeV5)
          return Error(Errc::storage_error, std::string("an entry of ") + move.from +
                                                " does not have the layout of schema 4 (key " + to_hex(c.key()) +
                                                "); restore a backup");
        if (!txn.append(it->second, c.key(), c.value())) txn.put(it->second, c.key(), c.value());
      }
    }
    txn.drop(old);
  }
  // The old databases' pages are free now: for the daemon's compactor, as
  // after the earlier steps.
  txn.put(txn.open_db("meta", 0), meta::kCompactDue, meta::kCompactAfterUpgrade);
  return Status::Ok();
}

// Schema 5 -> 6: node ids in keys as 6-byte node codes (node_codes.h), and
// in the record states (stored_state.h); `log` values without the
// federation, origin and seq that the store and the key say
// (codec::log_value).
// Every id a key holds (the origin in `log` and `ops_*` keys, the owner in
// every record key: `records_*`, `ops_*`, `availability`, the indexes'
// items and their record-keyed terms; the references and OR-set tags inside
// the record states) is given its code, in the ids' order, and every such
// key and state is written again with it. The states and the log's values
// read back to the same bytes, so no answer, digest or wire frame changes;
// a cursor handed out before names an old key and is refused (cursors now
// start with their layout: codec::make_cursor). Each database is emptied
// and refilled in its new key order (MDB_APPEND: full pages); the DUPFIXED
// indexes are dropped and created again, as their items change size.
namespace v6 {

std::string_view owner_of(std::string_view record_key) { return record_key.substr(1, 32); }

// A record key of schema 5 (41 bytes), as schema 6 writes it.
std::optional<std::string> record_key(const std::map<std::string, std::string, std::less<>>& code,
                                      std::string_view key) {
  if (key.size() != codec::kRecordKeySizeV5) return std::nullopt;
  auto it = code.find(owner_of(key));
  if (it == code.end()) return std::nullopt;
  std::string out(1, key[0]);
  out += it->second;
  out += key.substr(33);
  return out;
}

struct Db {
  const char* name;
  unsigned flags;
  enum Layout { log, record, op, term_record, record_term } layout;
};
constexpr Db kDbs6[] = {
    {"log", 0, Db::log},
    {"records_organisation", 0, Db::record},
    {"records_placement", 0, Db::record},
    {"records_reservation", 0, Db::record},
    {"records_mobility", 0, Db::record},
    {"records_contact", 0, Db::record},
    {"ops_organisation", 0, Db::op},
    {"ops_placement", 0, Db::op},
    {"ops_reservation", 0, Db::op},
    {"ops_mobility", 0, Db::op},
    {"ops_contact", 0, Db::op},
    {"availability", 0, Db::record},
    {"idx_placement_available", 0, Db::record},
    // By term: the term is text, a day or a status, and the items are record keys...
    {"idx_placement_trade", kTermIndexFlags, Db::term_record},
    {"idx_placement_country", kTermIndexFlags, Db::term_record},
    {"idx_placement_period", kTermIndexFlags, Db::term_record},
    {"idx_mobility_period", kTermIndexFlags, Db::term_record},
    {"idx_mobility_status", kTermIndexFlags, Db::term_record},
    // ... or the term is a record key too.
    {"idx_placement_host", kTermIndexFlags, Db::record_term},
    {"idx_mobility_org", kTermIndexFlags, Db::record_term},
    {"idx_reservation_placement", kTermIndexFlags, Db::record_term},
};

// A database of record states (`records_*`), whose inner ids are coded too.
bool is_state(const Db& db) { return std::string_view(db.name).starts_with("records_"); }

}  // namespace v6

Status node_codes_in_keys(lmdb::WriteTxn& txn) {
  using namespace v6;
  auto bad = [](const char* name, std::string_view key) {
    return Error(Errc::storage_error, std::string("an entry of ") + name +
                                          " does not have the layout of schema 5 (key " + to_hex(key) +
                                          "); restore a backup");
  };
  // Every id the keys hold, then their codes in the ids' order.
  std::set<std::string> ids;
  for (const Db& db : kDbs6) {
    auto c = txn.cursor(txn.open_db(db.name, MDB_CREATE | db.flags));
    for (bool ok = c.first(); ok; ok = c.next()) {
      std::string_view k = c.key();
      switch (db.layout) {
        case Db::log:
          if (k.size() != codec::kPositionKeySize) return bad(db.name, k);
          ids.emplace(k.substr(0, 32));
          break;
        case Db::op:
          if (k.size() != codec::kOpKeySizeV5) return bad(db.name, k);
          ids.emplace(owner_of(k));
          ids.emplace(k.substr(codec::kRecordKeySizeV5, 32));
          break;
        case Db::record:
          if (k.size() != codec::kRecordKeySizeV5) return bad(db.name, k);
          ids.emplace(owner_of(k));
          if (is_state(db) && !inner_ids_of_schema_5(c.value(), ids)) return bad(db.name, k);
          break;
        case Db::record_term:
          if (k.size() != codec::kRecordKeySizeV5) return bad(db.name, k);
          ids.emplace(owner_of(k));
          [[fallthrough]];
        case Db::term_record:
          if (c.value().size() != codec::kRecordKeySizeV5) return bad(db.name, k);
          ids.emplace(owner_of(c.value()));
          break;
      }
    }
  }
  std::optional<FederationId> federation;
  if (auto v = txn.get(txn.open_db("meta", 0), meta::kFederation)) federation = FederationId::from_raw(*v);
  NodeCodes codes;
  codes.set_db(txn.open_db("node_codes", MDB_CREATE));
  NodeCodes::Given given;
  std::map<std::string, std::string, std::less<>> code;
  for (const std::string& id : ids) code[id] = codes.assign(txn, *NodeId::from_raw(id), given);

  for (const Db& db : kDbs6) {
    lmdb::Dbi old = txn.open_db(db.name, MDB_CREATE | db.flags);
    std::vector<std::pair<std::string, std::string>> entries;  // new key (|| item) and value
    {
      auto c = txn.cursor(old);
      for (bool ok = c.first(); ok; ok = c.next()) {
        std::string_view k = c.key();
        std::optional<std::string> key;
        std::string value(c.value());
        switch (db.layout) {
          case Db::log:
            key = code.at(std::string(k.substr(0, 32))) + std::string(k.substr(32));
            value = codec::log_value(value, federation, *NodeId::from_raw(k.substr(0, 32)), Seq{codec::get_u64(k, 32)});
            break;
          case Db::op:
            if ((key = record_key(code, k.substr(0, codec::kRecordKeySizeV5))))
              *key += code.at(std::string(k.substr(codec::kRecordKeySizeV5, 32))) +
                      std::string(k.substr(codec::kRecordKeySizeV5 + 32));
            break;
          case Db::record:
            key = record_key(code, k);
            if (is_state(db)) {
              auto coded = coded_from_schema_5(value, [&](const NodeId& id) { return code.at(id.raw()); });
              if (!coded) return bad(db.name, k);
              value = std::move(*coded);
            }
            break;
          case Db::record_term:
            if (!(key = record_key(code, k))) return bad(db.name, k);
            [[fallthrough]];
          case Db::term_record:
            if (!key) key = std::string(k);
            if (auto item = record_key(code, c.value()))
              value = std::move(*item);
            else
              key.reset();
            break;
        }
        if (!key) return bad(db.name, k);
        entries.emplace_back(std::move(*key), std::move(value));
      }
    }
    std::sort(entries.begin(), entries.end());
    txn.drop(old);
    lmdb::Dbi now = txn.open_db(db.name, MDB_CREATE | db.flags);
    const bool by_term = db.flags != 0;
    std::string_view last;
    for (const auto& [k, v] : entries) {
      MDB_val key = lmdb::val(k), value = lmdb::val(v);
      const bool same = by_term && k == last;
      int rc = mdb_put(txn.handle(), now.handle, &key, &value, same ? MDB_APPENDDUP : MDB_APPEND);
      if (rc == MDB_KEYEXIST) rc = mdb_put(txn.handle(), now.handle, &key, &value, 0);
      lmdb::check(rc, std::string("rewriting ") + db.name);
      last = k;
    }
  }
  txn.put(txn.open_db("meta", 0), meta::kCompactDue, meta::kCompactAfterUpgrade);
  return Status::Ok();
}

}  // namespace

std::string SchemaPlan::check() const {
  std::uint32_t next = oldest();
  for (const auto& step : steps) {
    if (step.from != next)
      return "schema step from " + std::to_string(step.from) + " found where one from " + std::to_string(next) +
             " was expected";
    if (!step.run) return "schema step from " + std::to_string(step.from) + " has no function";
    ++next;
  }
  if (next != version)
    return "schema steps end at " + std::to_string(next) + ", not at version " + std::to_string(version);
  return {};
}

const SchemaPlan& current_schema() {
  // Schema 1 is the layout of 0.1.0 and 0.2.0.
  static const SchemaPlan plan{
      kSchemaVersion,
      {
          {1, "ops as key-only positions (the operations stay in the log)", ops_as_positions},
          {2, "query indexes by term (the term once, its record keys as fixed-size items)", indexes_by_term},
          {3, "record states without the type and id their key says", states_without_key_fields},
          {4, "a records and an ops database per record type", databases_per_type},
          {5, "node ids in keys and states as 6-byte codes, log entries without what their key says", node_codes_in_keys},
      }};
  return plan;
}

}  // namespace conect::storage
