// Schema 6 (docs/storage.md "Node codes and trimmed log values"): node ids
// in keys as 6-byte codes, and log values without what their key says.
//   - Ids that share their first 6 bytes, or start with 0xff, get escaped
//     codes: their records, histories, index entries and queries stay
//     apart from the first id's, before and after the store is reopened.
//   - Every delta comes back byte for byte (trimmed or kept whole), so ids,
//     signatures and wire frames do not change; a body in another field
//     order is kept whole.
#include <gtest/gtest.h>

#include <set>

#include "conect/crdt/delta.h"
#include "conect/crdt/ops.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::TempDir;
using testkit::Author;

v1::Organisation organisation(const std::string& name) {
  v1::Organisation o;
  auto* n = o.add_names();
  n->set_lang("en");
  n->set_text(name);
  o.set_type(v1::VET_SCHOOL);
  o.set_country("FI");
  return o;
}

v1::Placement placement_at(const RecordKey& host) {
  v1::Placement p;
  *p.mutable_host_organisation() = host.to_proto();
  auto* t = p.add_title();
  t->set_lang("en");
  t->set_text("Carpentry");
  p.set_trade("carpentry");
  p.set_country("FI");
  p.set_status(v1::PLACEMENT_OPEN);
  auto* w = p.add_windows();
  w->set_window_id(1);
  w->mutable_start()->set_days(20000);
  w->mutable_end()->set_days(20030);
  w->set_capacity(2);
  return p;
}

std::set<RecordKey> hosted_by(const Store& s, const RecordKey& host) {
  PlacementFilter f;
  f.host = host;
  auto page = s.placements(f);
  EXPECT_TRUE(page.ok()) << page.error().message();
  std::set<RecordKey> out;
  if (page.ok())
    for (const auto& p : page->items) out.insert(p.key);
  return out;
}

std::set<std::pair<NodeId, Seq>> history_of(const Store& s, const RecordKey& key) {
  auto h = s.history(key);
  EXPECT_TRUE(h.ok()) << h.error().message();
  std::set<std::pair<NodeId, Seq>> out;
  if (h.ok())
    for (const auto& op : h->ops) out.insert({op.origin, op.seq});
  return out;
}

// The key a store of schema 6 writes for `key`, its owner's code read from
// the dump's node_codes ('i' || id -> code).
std::string k_of(const testing::SubDatabases& dump, const RecordKey& key) {
  const std::string code = dump.at("node_codes").at("i" + key.owner.raw());
  return key.encode().substr(0, 1) + code + key.encode().substr(33);
}

NodeId with_byte(const NodeId& id, std::size_t at, unsigned char value) {
  std::string raw = id.raw();
  raw[at] = static_cast<char>(value);
  return *NodeId::from_raw(raw);
}

// Owners that share A's first 6 bytes (x), start with 0xff (y), or both
// start with 0xff and share y's first 6 bytes (z) each get a record key of
// their own: one member's placements hosted at organisations of those
// owners, and another member's writes to those organisations, land where
// they belong. With every id's code its first 6 bytes the records of x and
// a merge, and the host index answers one host with the others' placements.
TEST(NodeCodes, OwnersThatShareTheirFirstBytesKeepTheirRecordsApart) {
  TempDir t;
  Author a(1), b(2);
  const NodeId x = with_byte(a.id(), 31, static_cast<unsigned char>(a.id().raw()[31] ^ 0x01));
  const NodeId y = with_byte(a.id(), 0, 0xff);
  const NodeId z = with_byte(y, 31, static_cast<unsigned char>(y.raw()[31] ^ 0x01));

  std::vector<VerifiedDelta> deltas;
  const RecordKey org_a = a.next_key(v1::ORGANISATION);
  deltas.push_back(a.emit(ops::create_organisation(org_a, organisation("A"))));
  // The same type and serial as A's organisation, other owners.
  std::map<NodeId, RecordKey> orgs{{a.id(), org_a}};
  for (const NodeId& owner : {x, y, z}) orgs[owner] = RecordKey{v1::ORGANISATION, owner, org_a.serial};
  // B writes to each (a non-owner's write: stored, positioned, refused by the merge).
  for (const NodeId& owner : {x, y, z})
    deltas.push_back(b.emit({ops::write_organisation(orgs[owner], organisation("B's"), {1})}));
  // A's placements, one hosted at each organisation.
  std::map<NodeId, RecordKey> placements;
  for (const NodeId& owner : {a.id(), x, y, z}) {
    placements[owner] = a.next_key(v1::PLACEMENT);
    deltas.push_back(a.emit(ops::create_placement(placements[owner], placement_at(orgs[owner]))));
  }
  // A placement whose host's owner is not an id (3 bytes), which the fold
  // refuses like the others at an organisation that does not exist.
  RecordKey odd_host{v1::ORGANISATION, a.id(), 7};
  v1::Placement odd = placement_at(odd_host);
  odd.mutable_host_organisation()->set_owner("abc");
  const RecordKey odd_placement = a.next_key(v1::PLACEMENT);
  deltas.push_back(a.emit(ops::create_placement(odd_placement, odd)));
  Replica replica;
  for (const auto& d : deltas) ASSERT_TRUE(replica.apply(d).ok());

  auto check = [&](const Store& s) {
    testing::expect_same_state(s, replica);
    EXPECT_EQ(history_of(s, org_a), (std::set<std::pair<NodeId, Seq>>{{a.id(), Seq{1}}}));
    for (const NodeId& owner : {x, y, z}) {
      const auto history = history_of(s, orgs[owner]);
      ASSERT_EQ(history.size(), 1u) << owner.hex();
      EXPECT_EQ(history.begin()->first, b.id()) << owner.hex();
    }
    for (const NodeId& owner : {a.id(), x, y, z}) {
      const ReplicaRecord* p = replica.record(placements[owner]);
      ASSERT_NE(p, nullptr);
      // Whatever the merge made of a placement at another owner's
      // organisation, the index answers each host with its own only.
      const std::set<RecordKey> want =
          p->state.created() ? std::set<RecordKey>{placements[owner]} : std::set<RecordKey>{};
      EXPECT_EQ(hosted_by(s, orgs[owner]), want) << owner.hex();
    }
    EXPECT_TRUE(hosted_by(s, RecordKey{v1::ORGANISATION, with_byte(x, 30, 7), 1}).empty())
        << "an owner the store never met has no placements";
  };
  {
    auto s = testing::open_store(t / "store");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->apply(deltas).ok());
    check(*s);
  }
  // The placement the fold took is kept with codes (field 31 = 1 in front)
  // and holds no whole id any more; the four it refused hold no reference
  // or tag to code (only the refused operation's position, whole), so they
  // are kept as they are.
  const auto dump = testing::dump_subdatabases(t / "store");
  const std::string coded_mark("\xf8\x01\x01", 3);
  std::size_t coded = 0;
  for (const auto& [k, v] : dump.at("records_placement")) coded += v.starts_with(coded_mark);
  EXPECT_EQ(dump.at("records_placement").size(), 5u);
  EXPECT_EQ(coded, 1u);
  ASSERT_TRUE(replica.record(placements[a.id()])->state.created());
  const std::string created_key = k_of(dump, placements[a.id()]);
  ASSERT_EQ(dump.at("records_placement").count(created_key), 1u);
  EXPECT_EQ(dump.at("records_placement").at(created_key).find(a.id().raw().substr(0, 16)), std::string::npos)
      << "a whole id inside a stored state";
  auto s = testing::open_store(t / "store");  // codes read back from node_codes
  ASSERT_TRUE(s);
  check(*s);
}

// The store's bytes for one delta, as the catch-up source reads them.
std::string served(const Store& s, const NodeId& origin, Seq seq) {
  auto got = s.deltas_from(origin, seq, 1, 1 << 20);
  EXPECT_TRUE(got.ok() && got->size() == 1);
  return got.ok() && !got->empty() ? got->front() : std::string();
}

// Every delta is served with the bytes it arrived with, whether its log
// entry was trimmed (the usual body) or kept whole (a body whose fields
// come in another order, which the trim must not touch); and a trimmed
// entry is smaller by what the store already knows.
TEST(TrimmedLog, EveryDeltaComesBackWithItsSignedBytes) {
  TempDir t;
  Author a(3);
  const FederationId federation = testkit::test_federation();
  std::vector<VerifiedDelta> deltas;
  deltas.push_back(a.emit(ops::create_organisation(a.next_key(v1::ORGANISATION), organisation("A"))));
  // The next delta, its body re-encoded with seq before origin and signed again.
  const RecordKey second_org = a.next_key(v1::ORGANISATION);
  VerifiedDelta usual = a.emit_fork(ops::create_organisation(second_org, organisation("A2")));
  v1::DeltaBody body = usual.body;
  std::string reordered;
  {
    v1::DeltaBody head, rest = body;
    head.set_federation(body.federation());
    rest.clear_federation();
    rest.clear_origin();
    rest.clear_seq();
    v1::DeltaBody seq_only, origin_only;
    seq_only.set_seq(body.seq());
    origin_only.set_origin(body.origin());
    reordered = head.SerializeAsString() + seq_only.SerializeAsString() + origin_only.SerializeAsString() +
                rest.SerializeAsString();
  }
  ASSERT_NE(reordered, usual.signed_delta.body());
  v1::SignedDelta sd;
  sd.set_body(reordered);
  sd.set_signature(a.key().sign(SigningDomain::delta, reordered).raw());
  auto unusual = decode_delta(federation, sd);
  ASSERT_TRUE(unusual.ok()) << unusual.error().message();
  deltas.push_back(*unusual);

  {
    auto s = testing::open_store(t / "store");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->initialise(federation, a.id()).ok());
    ASSERT_TRUE(s->apply(deltas).ok());
    for (const auto& d : deltas) EXPECT_EQ(served(*s, d.origin, d.seq), d.signed_delta.SerializeAsString());
    auto h = s->history(second_org);
    ASSERT_TRUE(h.ok());
    ASSERT_FALSE(h->deltas.empty());
    EXPECT_EQ(h->deltas.front().signed_delta.SerializeAsString(), deltas[1].signed_delta.SerializeAsString());
    EXPECT_EQ(s->digest_recomputed()->hex(), s->digest()->hex());
  }
  auto dump = testing::dump_subdatabases(t / "store");
  const auto& log = dump.at("log");
  ASSERT_EQ(log.size(), 2u);
  auto first = log.begin(), second = std::next(first);
  EXPECT_EQ(first->second[0], '\x7a') << "the usual body is trimmed";
  // Federation (16), origin (32) and seq 1, each with its tag, and their
  // length (2 bytes each); the body's own length may take a byte less.
  const std::size_t whole = deltas[0].signed_delta.SerializeAsString().size();
  EXPECT_GE(whole - first->second.size(), 16u + 32u + 2u * 2u + 2u);
  EXPECT_LE(whole - first->second.size(), 16u + 32u + 2u * 2u + 3u);
  EXPECT_EQ(second->second, deltas[1].signed_delta.SerializeAsString()) << "another field order is kept whole";
}

}  // namespace
}  // namespace conect::storage
