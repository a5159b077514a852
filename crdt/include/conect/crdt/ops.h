// Thin builders for Operations, so the API, the demo and the tests never
// hand-fill protobuf oneofs and field lists. They check nothing: the fold
// decides what an operation may do (merge.h). Put the result in a
// DeltaDraft; a new record's key comes from RecordKey::mint(type, author,
// seq of the delta that will carry it, index of the operation in it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/merge.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"
#include "records.pb.h"
#include "state.pb.h"

namespace google::protobuf {
class Message;
}

namespace conect::ops {

using Fields = std::vector<std::uint32_t>;

// Numbers of the fields of a group message that hold a value, leaving out
// OR-set fields and Reservation.decision (derived): what a creating write lists.
Fields present_fields(std::uint32_t group, const google::protobuf::Message& m);

// Last-writer-wins writes of the listed fields of one group.
v1::Operation write_organisation(const RecordKey& key, const v1::Organisation& o, const Fields& fields);
v1::Operation write_placement(const RecordKey& key, const v1::Placement& p, const Fields& fields);
v1::Operation write_contact(const RecordKey& key, const v1::Contact& c, const Fields& fields);
v1::Operation write_reservation(const RecordKey& key, const v1::Reservation& r, const Fields& fields);
v1::Operation write_mobility_sending(const RecordKey& key, const v1::MobilitySending& s, const Fields& fields);
// `receiving_organisation` is the mobility's fixed receiving organisation;
// the author must be its owner.
v1::Operation write_mobility_host(const RecordKey& key, const RecordKey& receiving_organisation,
                                  const v1::MobilityHost& h, const Fields& fields);

// Creating writes: one FieldWrite of every field that holds a value, then a
// SetChange add per element of each OR-set field.
std::vector<v1::Operation> create_organisation(const RecordKey& key, const v1::Organisation& o);
std::vector<v1::Operation> create_placement(const RecordKey& key, const v1::Placement& p);
std::vector<v1::Operation> create_contact(const RecordKey& key, const v1::Contact& c);
// The request lists placement, window, slots, mobility and note (the first
// three become fixed).
v1::Operation request_reservation(const RecordKey& key, const v1::Reservation& r);
// The creating write (whole MobilityFixed); with `sending`, also its
// sending-side fields and language adds.
std::vector<v1::Operation> create_mobility(const RecordKey& key, const v1::MobilityFixed& fixed,
                                           const v1::MobilitySending* sending = nullptr);

// Reservation decision and cancellation. The decision repeats what the
// request fixed; its delta must name the cancels whose slots it counted.
v1::Operation decide(const RecordKey& reservation, const RecordKey& placement, std::uint32_t window_id,
                     std::uint32_t slots, v1::ReservationDecision decision);
v1::Operation decide(const RecordKey& reservation, const v1::Reservation& request, v1::ReservationDecision decision);
v1::Operation cancel(const RecordKey& reservation);

// A party's confirmation (make it with make_confirmation); `authority` is the
// party's organisation (sending or receiving, from the mobility's fixed fields).
v1::Operation confirm(const RecordKey& mobility, const v1::RecordId& authority, const v1::Confirmation& c);

// OR-set changes. Elements: a string's UTF-8 bytes, an enum's minimal
// varint, a message's deterministic encoding (use the helpers below).
v1::Operation set_add(const RecordKey& key, std::uint32_t group, std::uint32_t field, std::string element);
v1::Operation set_remove(const RecordKey& key, std::uint32_t group, std::uint32_t field, std::string element,
                         std::vector<std::string> observed_tags);
// A removal of every add of `element` that `state` shows live (what the
// author has observed). Returns a removal with no tags if none is live.
v1::Operation set_remove_live(const RecordKey& key, const v1::RecordState& state, std::uint32_t group,
                              std::uint32_t field, std::string element);
std::string string_element(std::string_view s);
std::string enum_element(int value);
std::string message_element(const google::protobuf::Message& m);

// Drop the sealed blob behind `commitment` (a PersonalRef of that record).
v1::Operation erase(const RecordKey& key, const Hash256& commitment);

}  // namespace conect::ops
