// A record's state as `records` keeps it (schema 4, docs/storage.md): the
// bytes of serialize_state(state) without its first two fields, `type` and
// `id`, which the record key already says. Protobuf writes a message's
// fields in field-number order, so a state's bytes are
// key_fields(key) || stored bytes: readers get back the same state, and the
// digest (record_hash over the whole bytes) and everything derived from it
// do not change. Only the bytes at rest in LMDB do.
//
// Schema 6 writes the node ids inside a state as node codes too
// (node_codes.h): the owner of every record the state refers to (a
// placement's host, a mobility's organisations, ...) and the origin at the
// front of each OR-set tag. Such a stored state starts with kCodedState (a
// field, 31, that no state has) and reads back to the same state, bytes
// and digest; a state without inner ids, or holding an id of another size
// than 32 bytes or a tag of another size than 44, is kept as it is.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "conect/crdt/merge.h"

namespace conect::storage {

class Keys;
class Writer;

inline constexpr std::string_view kCodedState{"\xf8\x01\x01", 3};  // field 31 (varint) = 1

// Calls f(bytes, is_tag) on each node id inside `s` that schema 6 codes:
// every RecordId owner it refers to (not its own id), and each OR-set tag,
// whose first 32 bytes are the origin. Leaves unset references unset.
void for_each_inner_id(v1::RecordState& s, const std::function<void(std::string&, bool)>& f);

// What `records` keeps of `state` (folded under `key`, its whole bytes
// `whole`): its node ids as codes, given in `w` if new, without the type
// and id; `state` is left as it was.
std::string stored_state(Writer& w, const RecordKey& key, v1::RecordState& state, std::string_view whole);

// The serialised `type` and `id` fields of a state folded under `key` (what
// fold_record always sets first).
std::string key_fields(const RecordKey& key);

// The part of `state_bytes` (serialize_state of a state folded under `key`)
// that `records` keeps: a view into `state_bytes`. A state whose bytes do
// not start with key_fields(key) is a bug of the fold (std::logic_error).
std::string_view stored_part(const RecordKey& key, std::string_view state_bytes);

// A state as schema 5 stored it (no codes, no type and id) as schema 6
// stores it, `code` giving each inner id's code; none if `stored` does not
// parse. `ids` (if given) collects the inner ids instead, coding nothing.
std::optional<std::string> coded_from_schema_5(std::string_view stored,
                                               const std::function<std::string(const NodeId&)>& code);
bool inner_ids_of_schema_5(std::string_view stored, std::set<std::string>& ids);

// The state `records` keeps under `key`, whole again (type and id from the
// key, ids for codes). Unreadable bytes are a corrupt store (storage_error).
v1::RecordState load_stored_state(const Keys& keys, const RecordKey& key, std::string_view stored);

// record_hash(key, whole state bytes) of the state `records` keeps under `key`.
Hash256 stored_state_hash(const Keys& keys, const RecordKey& key, std::string_view stored);

}  // namespace conect::storage
