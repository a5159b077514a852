// A small federation on a real LMDB store: schools in Finland (a) and Sweden
// (b), a company in Norway (c), each with a signed member card and an
// organisation record, and helpers that author signed deltas into the store.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../storage/history.h"
#include "conect/audit/audit.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"
#include "conect/storage/store.h"

namespace conect::audit::testing {

v1::MemberCard make_member_card(const KeyPair& key, const FederationId& fed, const std::string& name,
                                const std::string& country, v1::MemberRole role);

// Days since 1970-01-01 of a calendar date.
std::int32_t days(int year, unsigned month, unsigned day);

struct MobilitySpec {
  RecordKey from, to;
  v1::ParticipantCategory category = v1::IVET_LEARNER;
  v1::MobilityType type = v1::LEARNER_OTJ_COMPANY;
  std::int32_t planned_start = 0;
  std::string pseudonym = "P-1";
};

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Signs the next delta of `who` and stores it (fails the test if refused).
  VerifiedDelta emit(testkit::Author& who, std::vector<v1::Operation> ops, std::vector<v1::DeltaRef> deps = {});
  RecordKey add_organisation(testkit::Author& who, const std::string& country, const std::string& name);
  RecordKey add_mobility(testkit::Author& who, const MobilitySpec& spec);
  void set_status(testkit::Author& who, const RecordKey& mobility, v1::MobilityStatus status);
  // Both parties confirm what is agreed now.
  void confirm_both(const RecordKey& mobility, testkit::Author& sender, const RecordKey& sending_org,
                    testkit::Author& host, const RecordKey& receiving_org);

  // Everything, exported (and its header signed) by a.
  std::string export_all();
  // Re-signs the header of a bundle whose content a test changed on purpose
  // (as a dishonest exporter could), so the checks behind it are reached.
  void reseal(v1::AuditBundle& bundle, const KeyPair* by = nullptr);
  VerifyReport verify(const std::string& bytes);
  VerifyReport verify(const v1::AuditBundle& bundle) { return verify_bundle(bundle); }
  v1::AuditBundle decode(const std::string& bytes);
  v1::AuditChain* chain_of(v1::AuditBundle& bundle, const NodeId& origin);

  storage::testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  testkit::Author a_{1}, b_{2}, c_{3};
  RecordKey org_a_, org_b_, org_c_;
};

// Whether some failure (or warning) has this reason, and (when given) this
// origin and seq.
bool has_failure(const VerifyReport& r, const std::string& reason, const NodeId* origin = nullptr,
                 std::uint64_t seq = 0);
bool has_warning(const VerifyReport& r, const std::string& reason);
v1::AuditHeader header_of(const v1::AuditBundle& bundle);
std::string describe(const VerifyReport& r);
const InstitutionSummary& summary_of(const VerifyReport& r, const NodeId& id);

}  // namespace conect::audit::testing
