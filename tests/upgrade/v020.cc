#include "v020.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

namespace conect::upgrade {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path fixtures() { return CONECT_V020_FIXTURES; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

json load_json(const std::string& name) { return json::parse(read_file(fixtures() / name)); }

std::string unhex(const json& hex) {
  auto bytes = conect::from_hex(hex.get<std::string>());
  if (!bytes) throw std::runtime_error("not hex in a fixture: " + hex.dump());
  return *bytes;
}

fs::path copy_store(const fs::path& dir) {
  fs::create_directories(dir / "store");
  fs::copy_file(fixtures() / "data" / "store" / "data.mdb", dir / "store" / "data.mdb");
  fs::permissions(dir / "store" / "data.mdb", fs::perms::owner_read | fs::perms::owner_write);
  return dir / "store";
}

storage::StoreOptions upgrade_options(const storage::SchemaPlan* plan) {
  storage::StoreOptions o;
  o.upgrade = true;
  o.map_size = std::uint64_t{256} << 20;
  o.schema = plan;
  return o;
}

namespace {

std::set<std::string> ids_of(const json& list) {
  std::set<std::string> out;
  for (const auto& item : list["items"]) out.insert(item["id"].get<std::string>());
  return out;
}

template <class View>
std::set<std::string> ids_of(const std::vector<View>& items) {
  std::set<std::string> out;
  for (const auto& v : items) out.insert(v.key.text());
  return out;
}

storage::PlacementFilter all_placements() {
  storage::PlacementFilter f;
  f.limit = 1000;
  return f;
}

std::set<std::string> listed(const storage::Store& store, v1::RecordType type) {
  auto page = store.list(type, "", 1000);
  EXPECT_TRUE(page.ok());
  return page.ok() ? ids_of(page->items) : std::set<std::string>{};
}

// Availability per window as the 0.2.0 API showed it, against the store's.
void expect_availability(const storage::Store& store, const json& placement) {
  auto key = RecordKey::parse(v1::PLACEMENT, placement["id"].get<std::string>());
  ASSERT_TRUE(key);
  auto windows = store.availability(*key);
  ASSERT_TRUE(windows.ok());
  ASSERT_EQ(windows->size(), placement["windows"].size());
  for (std::size_t i = 0; i < windows->size(); ++i) {
    const auto& w = placement["windows"][i];
    EXPECT_EQ((*windows)[i].window_id, w["window_id"].get<std::uint32_t>());
    EXPECT_EQ((*windows)[i].confirmed, w["confirmed"].get<std::uint32_t>()) << placement["id"];
    EXPECT_EQ((*windows)[i].pending, w["pending"].get<std::uint32_t>()) << placement["id"];
    EXPECT_EQ((*windows)[i].available, w["available"].get<std::uint32_t>()) << placement["id"];
  }
}

// Personal data the 0.2.0 node held is still in the blob store; erased data
// is gone.
void expect_personal_data(const storage::Store& store, const json& mobilities) {
  for (const auto& m : mobilities["items"]) {
    auto key = RecordKey::parse(v1::MOBILITY, m["id"].get<std::string>());
    ASSERT_TRUE(key);
    auto state = store.record(*key);
    ASSERT_TRUE(state.ok() && state->has_value());
    auto commitment = Hash256::from_raw((*state)->mobility().fixed().participant().personal().commitment());
    if (!commitment) continue;
    auto blob = store.blob(*commitment);
    ASSERT_TRUE(blob.ok());
    const bool held = m.contains("personal_data") && !m["personal_data"].is_null();
    EXPECT_EQ(blob->has_value() && !(*blob)->empty(), held) << m["id"];
  }
}

}  // namespace

void expect_answers_of_020(const storage::Store& store) {
  const json e = load_json("expected.json");
  ASSERT_TRUE(store.own_id().has_value());
  EXPECT_EQ(store.own_id()->hex(), e["node_id"].get<std::string>());
  EXPECT_EQ(store.federation()->hex(), load_json("sync-session.json")["federation"].get<std::string>());
  auto digest = store.digest();
  auto refolded = store.digest_recomputed();
  ASSERT_TRUE(digest.ok() && refolded.ok());
  EXPECT_EQ(digest->hex(), e["digest"].get<std::string>());
  EXPECT_EQ(refolded->hex(), e["digest"].get<std::string>());

  auto vv = store.version_vector();
  ASSERT_TRUE(vv.ok());
  EXPECT_EQ(vv->size(), e["version_vector"].size());
  for (const auto& [origin, head] : *vv) {
    const auto& h = e["version_vector"][origin.hex()];
    EXPECT_EQ(head.seq.value, h["seq"].get<std::uint64_t>()) << origin.hex();
    EXPECT_EQ(head.id.hex(), h["head"].get<std::string>()) << origin.hex();
  }
  auto members = store.members();
  ASSERT_TRUE(members.ok());
  std::set<std::string> member_ids, expected_members;
  for (const auto& [id, card] : *members) member_ids.insert(id.hex());
  for (const auto& m : e["members"]["items"]) expected_members.insert(m["node_id"].get<std::string>());
  EXPECT_EQ(member_ids, expected_members);

  auto placements = store.placements(all_placements());
  ASSERT_TRUE(placements.ok());
  EXPECT_EQ(ids_of(placements->items), ids_of(e["placements"]));
  auto filter = all_placements();
  filter.available = true;
  EXPECT_EQ(ids_of(store.placements(filter)->items), ids_of(e["placements_available"]));
  filter = all_placements();
  filter.trade = "carpentry";
  EXPECT_EQ(ids_of(store.placements(filter)->items), ids_of(e["placements_carpentry"]));
  for (const auto& p : e["placements"]["items"]) expect_availability(store, p);

  storage::MobilityFilter mf;
  mf.limit = 1000;
  auto mobilities = store.mobilities(mf);
  ASSERT_TRUE(mobilities.ok());
  EXPECT_EQ(ids_of(mobilities->items), ids_of(e["mobilities"]));
  EXPECT_EQ(listed(store, v1::ORGANISATION), ids_of(e["organisations"]));
  EXPECT_EQ(listed(store, v1::CONTACT), ids_of(e["contacts"]));
  EXPECT_EQ(listed(store, v1::RESERVATION), ids_of(e["reservations"]));
  expect_personal_data(store, e["mobilities"]);
}

}  // namespace conect::upgrade
