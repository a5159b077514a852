// Group commit. Callers of apply/author/add_equivocation queue a Job; the
// first caller that finds no leader becomes the leader, takes every queued
// job (up to max_group_deltas), runs them all in ONE write transaction,
// commits, wakes the followers, then runs the on_committed hook. The next
// leader starts only after that, so hooks see commits in order.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>

#include "codec.h"
#include "conect/crdt/hlc.h"
#include "fold_context.h"
#include "handshake.pb.h"
#include "store_impl.h"

namespace conect::storage {
namespace {

std::string mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Draft placeholders: a present RecordId whose owner is empty or all zero
// (RecordKey{} with only type and serial set) stands for the record minted
// by operation `serial` of this very delta, whose seq the caller cannot know.
bool is_placeholder(const std::string& owner) { return owner.empty() || owner == std::string(NodeId::size(), '\0'); }

void fill_minted(google::protobuf::Message& m, const NodeId& owner, Seq seq) {
  if (m.GetDescriptor() == v1::RecordId::descriptor()) {
    auto& id = static_cast<v1::RecordId&>(m);
    if (is_placeholder(id.owner())) {
      id.set_owner(owner.raw());
      id.set_serial((seq.value << 16) | (id.serial() & 0xffff));
    }
    return;
  }
  const auto* refl = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, f); ++i) fill_minted(*refl->MutableRepeatedMessage(&m, f, i), owner, seq);
    } else {
      fill_minted(*refl->MutableMessage(&m, f), owner, seq);
    }
  }
}

// Marks an invite used by `joiner`, inside the authoring transaction (so the
// invite is consumed exactly when the Admit is stored).
std::optional<Error> consume_invite(Writer& w, const std::string& invite_id, const NodeId& joiner,
                                    std::uint64_t now_ms) {
  auto v = w.get(w.db.invites, invite_id);
  if (!v) return Error(Errc::not_found, "this node issued no such invite");
  v1::StoredInvite stored;
  if (!stored.ParseFromArray(v->data(), static_cast<int>(v->size())))
    return Error(Errc::storage_error, "an unreadable invite entry");
  if (!stored.used_by().empty())
    return Error(Errc::already_exists, "the invite was used already (each invite admits one node)");
  if (now_ms >= stored.expires_ms()) return Error(Errc::invalid_argument, "the invite expired");
  stored.set_used_by(joiner.raw());
  w.put(w.db.invites, invite_id, stored.SerializeAsString());
  return std::nullopt;
}

Hlc meta_hlc(const Writer& w, std::string_view key) {
  auto v = w.get(w.db.meta, key);
  return v && v->size() == 8 ? Hlc{codec::get_u64(*v)} : Hlc{};
}

}  // namespace

// ------------------------------------------------------------- Writer

void Writer::before_write() {
  if (options_.fault_injection) {
    Status s = options_.fault_injection(writes_);
    if (!s.ok()) throw lmdb::Failure{s.error()};
  }
  ++writes_;
}

void Writer::put(lmdb::Dbi d, std::string_view k, std::string_view v) {
  before_write();
  txn_.put(d, k, v);
}

void Writer::append(lmdb::Dbi d, std::string_view k, std::string_view v) {
  before_write();
  if (!txn_.append(d, k, v)) txn_.put(d, k, v);
}

bool Writer::del(lmdb::Dbi d, std::string_view k) {
  before_write();
  return txn_.del(d, k);
}

void Writer::put_item(lmdb::Dbi d, std::string_view k, std::string_view v) {
  before_write();
  txn_.put_item(d, k, v);
}

bool Writer::del(lmdb::Dbi d, std::string_view k, std::string_view v) {
  before_write();
  return txn_.del(d, k, v);
}

GroupState begin_group(const Writer& w) {
  GroupState g;
  if (auto v = w.get(w.db.meta, meta::kFrozen)) g.frozen = decode_frozen(*v);
  return g;
}

// ------------------------------------------------------- map growth

bool Store::Impl::grow_map(std::uint64_t failed_at) {
  if (options.max_map_size <= failed_at) return false;
  std::unique_lock lock(resize_mu);
  std::uint64_t now = env.map_size();
  if (now > failed_at) return true;  // another writer grew it meanwhile
  std::uint64_t next = std::min(std::max(now * 2, now + (std::uint64_t{1} << 20)), options.max_map_size);
  return env.set_map_size(next).ok();
}

void Store::Impl::adopt_map_size() {
  std::unique_lock lock(resize_mu);
  (void)env.set_map_size(0);  // 0: take the size another process set
}

Status Store::Impl::write(const std::function<void(lmdb::WriteTxn&)>& fn) {
  for (int attempt = 0;; ++attempt) {
    std::uint64_t size = 0;
    try {
      std::shared_lock lock(resize_mu);
      check_open();
      size = env.map_size();
      lmdb::WriteTxn txn = env.begin_write();
      fn(txn);
      txn.commit();
      return Status::Ok();
    } catch (const lmdb::Failure& f) {
      if (f.rc == MDB_MAP_RESIZED && attempt == 0) {
        adopt_map_size();
        continue;
      }
      if (!f.error.is(Errc::storage_full) || !grow_map(size)) {
        Error e = f.error;
        if (e.is(Errc::storage_full)) e.detail += " (map is " + mib(size) + ")";
        return e;
      }
    }
  }
}

// ------------------------------------------------------ group commit

void Store::Impl::submit(std::span<Job* const> jobs) {
  if (jobs.empty()) return;
  std::unique_lock lk(q_mu);
  queue.insert(queue.end(), jobs.begin(), jobs.end());
  // Groups are taken from the front of the queue and finish in order: the
  // last job done means all of them are.
  Job& job = *jobs.back();
  while (!job.done) {
    if (leader_active) {
      q_cv.wait(lk);
      continue;
    }
    leader_active = true;
    std::vector<Job*> group;
    std::size_t deltas = 0;
    while (!queue.empty() && (group.empty() || deltas + queue.front()->size() <= options.max_group_deltas)) {
      deltas += queue.front()->size();
      group.push_back(queue.front());
      queue.pop_front();
    }
    auto hook_copy = hook;
    lk.unlock();
    std::vector<VerifiedDelta> committed = run_group(group, static_cast<bool>(hook_copy));
    lk.lock();
    for (Job* j : group) j->done = true;
    q_cv.notify_all();
    if (hook_copy && !committed.empty()) {
      lk.unlock();
      try {
        hook_copy(committed);
      } catch (...) {
        // The deltas are durable whatever the hook does; a throwing hook
        // must not leave the leader role taken.
      }
      lk.lock();
    }
    leader_active = false;
    q_cv.notify_all();
  }
}

std::vector<VerifiedDelta> Store::Impl::run_group(std::vector<Job*>& group, bool want_copies) {
  for (int attempt = 0;; ++attempt) {
    for (Job* j : group) {
      j->outcome = {};
      j->authored.reset();
      j->error.reset();
    }
    std::uint64_t size = 0;
    try {
      std::shared_lock lock(resize_mu);
      check_open();
      size = env.map_size();
      lmdb::WriteTxn txn = env.begin_write();
      Writer w(txn, db, options);
      GroupState g = begin_group(w);
      g.observed = meta_hlc(w, meta::kObserved);
      Hlc observed_before = g.observed;
      for (Job* j : group) run_job(w, g, *j);
      if (g.roster_before) membership_changed(w, g);
      if (!g.touched.empty()) refold_touched(w, g);
      flush_heads(w, g);
      if (g.observed != observed_before) w.put(db.meta, meta::kObserved, codec::u64_bytes(g.observed.value));
      if (g.clock) w.put(db.meta, meta::kClock, codec::u64_bytes(g.clock->value));
      if (g.frozen_changed) w.put(db.meta, meta::kFrozen, encode_frozen(g.frozen));
      if (g.unknown_ops > 0) {
        auto v = w.get(db.meta, meta::kUnknownOps);
        std::uint64_t before = v && v->size() == 8 ? codec::get_u64(*v) : 0;
        w.put(db.meta, meta::kUnknownOps, codec::u64_bytes(before + g.unknown_ops));
      }
      txn.commit();
      db.codes->publish(w.given_codes());
      // Applied batches are the group's to give away once committed (the
      // callers get positions back, not deltas); authored ones are copied.
      std::vector<VerifiedDelta> copies;
      if (want_copies) {
        copies.reserve(g.stored.size());
        for (const auto& s : g.stored) copies.push_back(s.owned ? std::move(*s.delta) : *s.delta);
      }
      return copies;
    } catch (const lmdb::Failure& f) {
      if (f.rc == MDB_MAP_RESIZED && attempt == 0) {
        adopt_map_size();
        continue;
      }
      if (f.error.is(Errc::storage_full) && grow_map(size)) continue;
      Error e = f.error;
      if (e.is(Errc::storage_full)) e.detail += " (map is " + mib(size) + ")";
      for (Job* j : group) j->error = e;
      return {};
    } catch (const std::exception& ex) {
      for (Job* j : group) j->error = Error(Errc::storage_error, std::string("write failed: ") + ex.what());
      return {};
    }
  }
}

void Store::Impl::run_job(Writer& w, GroupState& g, Job& job) {
  switch (job.kind) {
    case Job::Kind::apply: {
      std::optional<FederationId> fed;
      {
        std::lock_guard lock(meta_mu);
        fed = federation;
      }
      apply_batch(w, g, fed, *job.batch, job.outcome);
      return;
    }
    case Job::Kind::author:
      author_one(w, g, job);
      return;
    case Job::Kind::evidence:
      if (Status s = record_equivocation(w, g, *job.first, *job.second); !s.ok()) job.error = s.error();
      return;
  }
}

void Store::Impl::author_one(Writer& w, GroupState& g, Job& job) {
  std::optional<FederationId> fed;
  std::optional<NodeId> self;
  {
    std::lock_guard lock(meta_mu);
    fed = federation;
    self = own;
  }
  const Store::AuthorOptions no_options;
  const Store::AuthorOptions& opts = job.author_options ? *job.author_options : no_options;
  const NodeId& origin = opts.origin ? *opts.origin : job.key->public_key();
  if (!fed || !self) {
    job.error = Error(Errc::invalid_argument, "the store is not initialised: run `conect-node init`");
    return;
  }
  if (origin != *self) {
    job.error =
        Error(Errc::invalid_argument, "author() signs only with the store's own key " + self->hex().substr(0, 16));
    return;
  }
  if (w.get(db.meta, meta::kFence)) {
    job.error = Error(Errc::not_authorised,
                      "this store is fenced (restored from a backup, or found behind its own chain): fetch the "
                      "node's own chain back from its peers up to its true head, then lift the fence, before "
                      "authoring (else it would equivocate)");
    return;
  }
  if (g.frozen.count(origin)) {
    job.error =
        Error(Errc::not_authorised, "equivocation evidence froze this node's own chain; see `conect-node status`");
    return;
  }
  if (job.draft->ops.size() > 0xffff) {
    job.error = Error(Errc::limit_exceeded, "a delta holds at most 65535 operations");
    return;
  }
  auto head = group_head(w, g, origin).value_or(HeadInfo{});
  Seq seq = head.seq.next();
  // Only the key the replicated roster names for this seq signs (after a
  // Rotate the old key no longer may; after a Rekey only the new one).
  if (NodeId current = stored_roster(w.txn(), w.db, g.frozen)->key_at(origin, seq); current != job.key->public_key()) {
    job.error =
        Error(Errc::not_authorised, "the key " + job.key->public_key().hex().substr(0, 16) +
                                        " is not this member's current key for delta " + std::to_string(seq.value) +
                                        " (that is " + current.hex().substr(0, 16) + "): it was rotated or replaced");
    return;
  }
  // Never reuse an HLC: start from the newest this node ever issued, and
  // follow received ones unless they are implausibly far ahead.
  if (!g.clock) g.clock = meta_hlc(w, meta::kClock);
  HlcClock hlc_clock(std::max(*g.clock, head.hlc));
  hlc_clock.observe(std::min(g.observed, Hlc::make(job.now_ms + options.hlc_max_drift_ms, 0)));
  Hlc hlc = hlc_clock.tick(job.now_ms);
  g.clock = hlc;

  if (!opts.consume_invite.empty()) {
    if (auto why = consume_invite(w, opts.consume_invite, opts.joiner, job.now_ms)) {
      job.error = *why;
      return;
    }
  }
  DeltaDraft draft = *job.draft;
  for (auto& op : draft.ops) fill_minted(op, origin, seq);
  job.authored = build_delta(*job.key, origin, *fed, seq, head.id, hlc, draft);
  if (job.authored->signed_delta.ByteSizeLong() > kMaxDeltaBytes) {
    job.authored.reset();
    job.error = Error(Errc::limit_exceeded, "the delta would exceed " + std::to_string(kMaxDeltaBytes) +
                                                " bytes; split the change into smaller ones");
    return;
  }
  store_delta(w, g, *job.authored, false);
}

}  // namespace conect::storage
