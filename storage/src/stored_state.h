// A record's state as `records` keeps it (schema 4, docs/storage.md): the
// bytes of serialize_state(state) without its first two fields, `type` and
// `id`, which the record key already says. Protobuf writes a message's
// fields in field-number order, so a state's bytes are
// key_fields(key) || stored bytes: readers get back the same state, and the
// digest (record_hash over the whole bytes) and everything derived from it
// do not change. Only the bytes at rest in LMDB do.
#pragma once

#include <string>
#include <string_view>

#include "conect/crdt/merge.h"

namespace conect::storage {

// The serialised `type` and `id` fields of a state folded under `key` (what
// fold_record always sets first).
std::string key_fields(const RecordKey& key);

// The part of `state_bytes` (serialize_state of a state folded under `key`)
// that `records` keeps: a view into `state_bytes`. A state whose bytes do
// not start with key_fields(key) is a bug of the fold (std::logic_error).
std::string_view stored_part(const RecordKey& key, std::string_view state_bytes);

// The state `records` keeps under `key`, whole again (type and id from the
// key). Unreadable bytes are a corrupt store (storage_error).
v1::RecordState load_stored_state(const RecordKey& key, std::string_view stored);

// record_hash(key, whole state bytes) of the state `records` keeps under `key`.
Hash256 stored_state_hash(const RecordKey& key, std::string_view stored);

}  // namespace conect::storage
