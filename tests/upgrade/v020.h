// The committed fixtures of conect 0.2.0 (tests/fixtures/v0.2.0/, see the
// README there): a data directory with its store, an audit bundle, a recorded
// sync session and what the 0.2.0 node answered about its store. Every later
// build must keep reading them.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "conect/storage/store.h"

namespace conect::upgrade {

std::filesystem::path fixtures();  // tests/fixtures/v0.2.0
std::string read_file(const std::filesystem::path& path);
// expected.json, sync-session.json
nlohmann::json load_json(const std::string& name);
// The bytes of a hex string from a fixture (throws if it is not hex).
std::string unhex(const nlohmann::json& hex);

// Copies the 0.2.0 store (data.mdb only, as a backup would hold it) into
// dir/store and returns that folder; the committed file is never opened.
std::filesystem::path copy_store(const std::filesystem::path& dir);

// Options for opening a copy: upgrade allowed, a small map.
storage::StoreOptions upgrade_options(const storage::SchemaPlan* plan = nullptr);

// Checks (gtest EXPECTs) that `store` answers as the 0.2.0 node did:
// identity, digest (incremental and refolded), version vector, roster, the
// placement, mobility, contact, organisation and reservation lists,
// availability, and which personal data it holds or erased.
void expect_answers_of_020(const storage::Store& store);

}  // namespace conect::upgrade
