// Killed with SIGKILL by store_upgrade_test while it upgrades a copy of the
// 0.2.0 store through the blocking test step (test_plan.h).
//   conect_upgrade_child DIR
#include <cstdio>

#include "test_plan.h"
#include "v020.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const auto plan = conect::upgrade::test_plan(conect::upgrade::BackStep::block);
  auto store = conect::storage::Store::open(argv[1], conect::upgrade::upgrade_options(&plan));
  // Only reached if the parent never killed us.
  std::printf("%s\n", store.ok() ? "opened" : store.error().message().c_str());
  return 1;
}
