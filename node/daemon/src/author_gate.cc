#include "author_gate.h"

#include "conect/node/log.h"
#include "conect/node/wall_clock.h"

namespace conect::node {

Result<VerifiedDelta> AuthorGate::author(DeltaDraft draft) {
  return author(std::move(draft), storage::Store::AuthorOptions{});
}

Result<VerifiedDelta> AuthorGate::author(DeltaDraft draft, const storage::Store::AuthorOptions& options) {
  if (core_.node.config.role == "auditor")
    return Error(Errc::not_authorised, "this node is an auditor; auditors author nothing");
  if (auto refused = fenced()) return *refused;
  storage::Store::AuthorOptions with = options;
  with.origin = core_.id();  // the member id, whichever key signs now
  auto signer = core_.signer();
  return core_.store.author(*signer, std::move(draft), wall_ms(), with);
}

std::optional<Error> AuthorGate::fenced() {
  std::lock_guard lock(mu_);
  auto cause = core_.store.author_fence();
  if (!cause && !behind_) return std::nullopt;
  if (board_.any_connected() && board_.own_chain_caught_up()) {
    if (cause)
      if (Status st = core_.store.lift_author_fence(); !st.ok()) return st.error();
    behind_ = false;
    log::info("author_fence_lifted", {{"cause", cause.value_or("rollback")}});
    return std::nullopt;
  }
  if (cause == "restore")
    return Error(Errc::not_authorised,
                 "restored from a backup: writes wait until this node has fetched its own chain back from a "
                 "connected peer");
  return Error(Errc::not_authorised,
               "a peer holds more of this node's own chain than its store (was the data directory rolled back, "
               "by a VM snapshot or copied files?): writes wait until this node has fetched its own chain back "
               "from a connected peer");
}

void AuthorGate::on_own_chain_caught_up() { (void)fenced(); }

void AuthorGate::on_own_chain_behind() {
  std::lock_guard lock(mu_);
  behind_ = true;
  if (core_.store.author_fence()) return;
  if (Status st = core_.store.fence_author("rollback"); !st.ok())
    log::error("author_fence_not_stored", {{"reason", st.error().message()}});
  else
    log::warn("author_fenced", {{"cause", "rollback"}});
}

}  // namespace conect::node
