// Opening the environment, schema checks, and the public entry points that
// are not the write path (writer.cc) or queries (indexes.cc).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "codec.h"
#include "indexes.h"
#include "store_impl.h"

namespace conect::storage {
namespace {

namespace fs = std::filesystem;

struct DbSpec {
  const char* name;
  lmdb::Dbi Dbs::*member;
  unsigned flags = 0;
};
// The query indexes by term (schema 3): the term once per key, its 41-byte
// record keys as fixed-size sorted items (indexes.h).
constexpr unsigned kTerm = kTermIndexFlags;
constexpr DbSpec kDbs[] = {
    {"meta", &Dbs::meta},
    {"log", &Dbs::log},
    {"heads", &Dbs::heads},
    // One `records_*` and one `ops_*` per record type (schema 5).
    {"records_organisation", &Dbs::records_organisation},
    {"records_placement", &Dbs::records_placement},
    {"records_reservation", &Dbs::records_reservation},
    {"records_mobility", &Dbs::records_mobility},
    {"records_contact", &Dbs::records_contact},
    {"ops_organisation", &Dbs::ops_organisation},
    {"ops_placement", &Dbs::ops_placement},
    {"ops_reservation", &Dbs::ops_reservation},
    {"ops_mobility", &Dbs::ops_mobility},
    {"ops_contact", &Dbs::ops_contact},
    {"availability", &Dbs::availability},
    {"idx_placement_trade", &Dbs::placement_trade, kTerm},
    {"idx_placement_country", &Dbs::placement_country, kTerm},
    {"idx_placement_period", &Dbs::placement_period, kTerm},
    {"idx_placement_available", &Dbs::placement_available},  // record keys alone: no term to share
    {"idx_placement_host", &Dbs::placement_host, kTerm},
    {"idx_mobility_org", &Dbs::mobility_org, kTerm},
    {"idx_mobility_period", &Dbs::mobility_period, kTerm},
    {"idx_mobility_status", &Dbs::mobility_status, kTerm},
    {"idx_reservation_placement", &Dbs::reservation_placement, kTerm},
    {"blobs", &Dbs::blobs},
    {"peers", &Dbs::peers},
    {"members", &Dbs::members},
    {"evidence", &Dbs::evidence},
    {"membership", &Dbs::membership},
    {"invites", &Dbs::invites},
    {"node_codes", &Dbs::node_codes},
};

// What the environment holds before we write anything.
struct Found {
  bool fresh = false;        // empty: ours to create
  std::uint32_t schema = 0;  // of a conect store
};

std::string schema_text(std::uint32_t v) { return "schema " + std::to_string(v); }

// Reads meta without writing: a newer schema or a foreign file is refused
// before anything is touched. An older schema is returned for open_impl to
// upgrade (or refuse).
Result<Found> inspect(const lmdb::Env& env, const fs::path& dir, const SchemaPlan& plan) {
  return lmdb::guarded([&]() -> Result<Found> {
    lmdb::ReadTxn txn = env.begin_read();
    MDB_dbi meta = 0;
    int rc = mdb_dbi_open(txn.handle(), "meta", 0, &meta);
    if (rc == MDB_NOTFOUND) {
      MDB_stat st{};
      MDB_dbi main = 0;
      lmdb::check(mdb_dbi_open(txn.handle(), nullptr, 0, &main), "reading " + dir.string());
      lmdb::check(mdb_stat(txn.handle(), main, &st), "reading " + dir.string());
      if (st.ms_entries == 0) return Found{true, 0};
      return Error(Errc::schema_mismatch, dir.string() +
                                              " holds an LMDB environment of another program; "
                                              "point --data at a conect data directory");
    }
    if (rc == MDB_INCOMPATIBLE)
      return Error(Errc::schema_mismatch, dir.string() + " holds an LMDB environment of another program");
    lmdb::check(rc, "reading " + dir.string());
    MDB_val k = lmdb::val(meta::kProgram), v{};
    if (mdb_get(txn.handle(), meta, &k, &v) != MDB_SUCCESS || lmdb::view(v) != meta::kProgramName)
      return Error(Errc::schema_mismatch, dir.string() + " holds an LMDB environment of another program");
    k = lmdb::val(meta::kSchema);
    if (mdb_get(txn.handle(), meta, &k, &v) != MDB_SUCCESS || v.mv_size != 4)
      return Error(Errc::schema_mismatch, dir.string() + " has no readable schema version");
    std::uint32_t schema = codec::get_u32(lmdb::view(v));
    if (schema > plan.version)
      return Error(Errc::schema_mismatch, dir.string() + " was written by a newer conect (" + schema_text(schema) +
                                              ", this build reads " + std::to_string(plan.version) +
                                              "): upgrade conect-node, or restore a backup made by this version");
    if (schema < plan.oldest())
      return Error(Errc::schema_mismatch,
                   dir.string() + " has " + schema_text(schema) + ", older than this build can upgrade (from " +
                       std::to_string(plan.oldest()) + "): upgrade through an intermediate conect-node version first");
    return Found{false, schema};
  });
}

// `dir` made with mode 0700 from the start (its parents as the umask says),
// or kept when it exists already.
Status make_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(Errc::io_error, "cannot create " + dir.string() + ": " + std::strerror(errno));
  if (!fs::is_directory(dir, ec)) return Error(Errc::io_error, dir.string() + " is not a directory");
  return Status::Ok();
}

Status prepare_dir(const fs::path& dir, bool create) {
  std::error_code ec;
  auto st = fs::status(dir, ec);
  if (!fs::exists(st)) {
    if (!create)
      return Error(Errc::not_found,
                   "no store in " + dir.string() + ": run `conect-node init` first (or restore a backup)");
    return make_private_dir(dir);
  }
  if (!fs::is_directory(st)) return Error(Errc::invalid_argument, dir.string() + " is not a directory");
  auto data = dir / "data.mdb";
  bool has_data = fs::exists(data, ec);
  if (!has_data && !create)
    return Error(Errc::not_found,
                 "no store in " + dir.string() + ": run `conect-node init` first (or restore a backup)");
  // LMDB would silently initialise an empty file: that is not ours to claim.
  if (has_data && fs::file_size(data, ec) == 0)
    return Error(Errc::schema_mismatch, data.string() + " is empty; remove it or restore a backup");
  return Status::Ok();
}

// Runs plan's steps from the store's version inside `txn` and writes the new
// version last; any error aborts the whole transaction (schema.h).
void upgrade_in(lmdb::WriteTxn& txn, lmdb::Dbi meta_db, const SchemaPlan& plan, SchemaUpgrade& report) {
  auto v = txn.get(meta_db, meta::kSchema);
  std::uint32_t version = v && v->size() == 4 ? codec::get_u32(*v) : 0;
  report.from = version;  // another process may have upgraded meanwhile
  for (const auto& step : plan.steps) {
    if (step.from != version) continue;
    if (Status st = step.run(txn); !st.ok()) {
      Error e = st.error();
      e.detail = "upgrading the store from " + schema_text(step.from) + " to " + std::to_string(step.from + 1) + " (" +
                 step.summary + ") failed: " + e.detail + "; the store is unchanged (" + schema_text(report.from) + ")";
      throw lmdb::Failure{e, 0};
    }
    report.steps.push_back(step.summary);
    ++version;
  }
  std::string bytes;
  codec::put_u32(bytes, plan.version);
  txn.put(meta_db, meta::kSchema, bytes);
}

Result<std::unique_ptr<Store::Impl>> open_impl(const fs::path& dir, const StoreOptions& options) {
  const SchemaPlan& plan = options.schema ? *options.schema : current_schema();
  if (std::string why = plan.check(); !why.empty()) return Error(Errc::invalid_argument, "schema plan: " + why);
  if (Status s = prepare_dir(dir, options.create); !s.ok()) return s.error();
  auto env = lmdb::Env::open(dir, env_options(options, options.map_size));
  if (!env.ok()) return env.error();
  env->reader_check();  // slots of processes killed with -9
  // A compaction's copy that a crash left before its rename (Store::compact).
  // Safe to remove once the environment is open: a compaction in progress
  // holds lock.mdb exclusively, so our open would have waited for it.
  std::error_code ignored;
  fs::remove(dir / kCompactingFile, ignored);
  auto found = inspect(*env, dir, plan);
  if (!found.ok()) return found.error();
  const bool older = !found->fresh && found->schema < plan.version;
  if (older && !options.upgrade)
    return Error(Errc::schema_mismatch,
                 dir.string() + " has " + schema_text(found->schema) + " of an older conect-node (this build uses " +
                     std::to_string(plan.version) +
                     "): start the node once (`conect-node run`, or restart the service) to upgrade it");
  auto impl = std::make_unique<Store::Impl>(std::move(*env));
  impl->dir = dir;
  impl->options = options;
  auto started = std::chrono::steady_clock::now();
  SchemaUpgrade report;
  Status s = impl->write([&](lmdb::WriteTxn& txn) {
    open_databases(txn, impl->db);
    if (found->fresh) {
      txn.put(impl->db.meta, meta::kProgram, meta::kProgramName);
      std::string v;
      codec::put_u32(v, plan.version);
      txn.put(impl->db.meta, meta::kSchema, v);
    } else if (older) {
      report = {};
      upgrade_in(txn, impl->db.meta, plan, report);
      open_databases(txn, impl->db);  // a step may have dropped and recreated some
    }
    StoreOptions no_faults = impl->options;  // fault injection is for apply/author transactions
    no_faults.fault_injection = nullptr;
    Writer w(txn, impl->db, no_faults);
    refold_for_rules(w);
  });
  if (!s.ok()) return s.error();
  if (older) {
    report.to = plan.version;
    report.duration_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
    impl->upgraded = std::move(report);
  }
  auto loaded = impl->read([&](lmdb::ReadTxn& txn) -> Status {
    if (auto v = txn.get(impl->db.meta, meta::kFederation)) impl->federation = FederationId::from_raw(*v);
    if (auto v = txn.get(impl->db.meta, meta::kOwnId)) impl->own = NodeId::from_raw(*v);
    impl->db.codes->load(txn);
    return Status::Ok();
  });
  if (!loaded.ok()) return loaded.error();
  return impl;
}

Status copy_file_durably(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return Error(Errc::io_error, "cannot read " + from.string());
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Errc::io_error, "cannot create " + to.string() + ": " + std::strerror(errno));
  std::vector<char> buf(1 << 20);
  bool ok = true;
  while (ok && in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    for (std::streamsize done = 0; ok && done < n;) {
      ssize_t w = ::write(fd, buf.data() + done, static_cast<std::size_t>(n - done));
      ok = w > 0;
      done += w;
    }
  }
  ok = ok && !in.bad() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error(Errc::io_error, "cannot write " + to.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

bool empty_or_absent(const fs::path& dir) {
  std::error_code ec;
  return !fs::exists(dir, ec) || (fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
}

}  // namespace

lmdb::Dbi Dbs::records(v1::RecordType type) const {
  switch (type) {
    case v1::ORGANISATION:
      return records_organisation;
    case v1::PLACEMENT:
      return records_placement;
    case v1::RESERVATION:
      return records_reservation;
    case v1::MOBILITY:
      return records_mobility;
    case v1::CONTACT:
      return records_contact;
    default:
      break;
  }
  throw std::logic_error("no records database for record type " + std::to_string(static_cast<int>(type)));
}

lmdb::Dbi Dbs::ops(v1::RecordType type) const {
  switch (type) {
    case v1::ORGANISATION:
      return ops_organisation;
    case v1::PLACEMENT:
      return ops_placement;
    case v1::RESERVATION:
      return ops_reservation;
    case v1::MOBILITY:
      return ops_mobility;
    case v1::CONTACT:
      return ops_contact;
    default:
      break;
  }
  throw std::logic_error("no ops database for record type " + std::to_string(static_cast<int>(type)));
}

void open_databases(lmdb::WriteTxn& txn, Dbs& db) {
  // LMDB keeps the flags a database was created with (an index of schema 2
  // stays plain until its upgrade step rebuilds it, which then opens the
  // databases again).
  for (const auto& spec : kDbs) db.*spec.member = txn.open_db(spec.name, MDB_CREATE | spec.flags);
  db.codes->set_db(db.node_codes);
}

lmdb::EnvOptions env_options(const StoreOptions& options, std::uint64_t map_size) {
  lmdb::EnvOptions eo;
  eo.map_size = map_size;
  eo.max_readers = options.max_readers;
  eo.flags = MDB_NOTLS | (options.no_sync ? MDB_NOSYNC : 0u);
  return eo;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  // Wait for a running group (a hook may still be executing).
  std::unique_lock lk(impl_->q_mu);
  impl_->q_cv.wait(lk, [&] { return !impl_->leader_active && impl_->queue.empty(); });
}

Result<std::unique_ptr<Store>> Store::open(const fs::path& dir, const StoreOptions& options) {
  auto impl = open_impl(dir, options);
  if (!impl.ok()) return impl.error();
  return std::unique_ptr<Store>(new Store(std::move(*impl)));
}

Status Store::initialise(const FederationId& federation, const NodeId& own_id) {
  // meta_mu is never held across a write: the group leader takes it while
  // holding LMDB's writer lock.
  std::lock_guard once(impl_->init_mu);
  {
    std::lock_guard lock(impl_->meta_mu);
    if (impl_->federation || impl_->own) {
      if (impl_->federation == federation && impl_->own == own_id) return Status::Ok();
      return Error(Errc::already_exists, "the store in " + impl_->dir.string() + " already belongs to node " +
                                             (impl_->own ? impl_->own->hex().substr(0, 16) : "?") + " of federation " +
                                             (impl_->federation ? impl_->federation->hex() : "?"));
    }
  }
  Status s = impl_->write([&](lmdb::WriteTxn& txn) {
    txn.put(impl_->db.meta, meta::kFederation, federation.raw());
    txn.put(impl_->db.meta, meta::kOwnId, own_id.raw());
  });
  if (!s.ok()) return s;
  std::lock_guard lock(impl_->meta_mu);
  impl_->federation = federation;
  impl_->own = own_id;
  return Status::Ok();
}

std::optional<FederationId> Store::federation() const {
  std::lock_guard lock(impl_->meta_mu);
  return impl_->federation;
}

std::optional<NodeId> Store::own_id() const {
  std::lock_guard lock(impl_->meta_mu);
  return impl_->own;
}

Result<ApplyOutcome> Store::apply(std::vector<VerifiedDelta> batch) {
  if (batch.empty()) return ApplyOutcome{};
  Job job;
  job.kind = Job::Kind::apply;
  job.batch = &batch;
  impl_->submit(job);
  if (job.error) return *job.error;
  return std::move(job.outcome);
}

std::vector<Result<ApplyOutcome>> Store::apply_each(std::vector<std::vector<VerifiedDelta>> batches) {
  std::vector<Job> jobs(batches.size());
  std::vector<Job*> queued;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (batches[i].empty()) continue;
    jobs[i].kind = Job::Kind::apply;
    jobs[i].batch = &batches[i];
    queued.push_back(&jobs[i]);
  }
  impl_->submit(queued);
  std::vector<Result<ApplyOutcome>> out;
  out.reserve(jobs.size());
  for (Job& job : jobs) {
    if (job.error)
      out.emplace_back(*job.error);
    else
      out.emplace_back(std::move(job.outcome));
  }
  return out;
}

Result<VerifiedDelta> Store::author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms) {
  return author(key, std::move(draft), now_ms, AuthorOptions{});
}

Result<VerifiedDelta> Store::author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms,
                                    const AuthorOptions& options) {
  Job job;
  job.kind = Job::Kind::author;
  job.key = &key;
  job.draft = &draft;
  job.now_ms = now_ms;
  job.author_options = &options;
  impl_->submit(job);
  if (job.error) return *job.error;
  return std::move(*job.authored);
}

Status Store::add_equivocation(const VerifiedDelta& a, const VerifiedDelta& b) {
  Job job;
  job.kind = Job::Kind::evidence;
  job.first = &a;
  job.second = &b;
  impl_->submit(job);
  if (job.error) return *job.error;
  return Status::Ok();
}

void Store::set_on_committed(std::function<void(std::span<const VerifiedDelta>)> hook) {
  std::lock_guard lock(impl_->q_mu);
  impl_->hook = std::move(hook);
}

const std::optional<SchemaUpgrade>& Store::upgraded() const { return impl_->upgraded; }

std::uint64_t Store::map_size() const {
  std::shared_lock lock(impl_->resize_mu);
  return impl_->env.map_size();
}

std::uint64_t Store::map_limit() const { return std::max(impl_->options.max_map_size, map_size()); }

std::uint64_t Store::used_bytes() const {
  std::shared_lock lock(impl_->resize_mu);
  return impl_->env.used_bytes();
}

std::uint64_t Store::last_commit_id() const {
  std::shared_lock lock(impl_->resize_mu);
  return impl_->commit_id_base + impl_->env.last_txn_id();
}

// ------------------------------------------------------------ fence

bool Store::author_fenced() const {
  auto r = impl_->read(
      [&](lmdb::ReadTxn& txn) -> Result<bool> { return txn.get(impl_->db.meta, meta::kFence).has_value(); });
  return !r.ok() || *r;
}

std::optional<std::string> Store::author_fence() const {
  auto r = impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<std::string>> {
    auto v = txn.get(impl_->db.meta, meta::kFence);
    if (!v) return std::optional<std::string>();
    // 0.2.0's restore wrote "1".
    return std::optional<std::string>(*v == "1" ? "restore" : std::string(*v));
  });
  if (!r.ok()) return "unreadable";  // refuse rather than risk an equivocation
  return *r;
}

Status Store::fence_author(std::string_view cause) {
  return impl_->write([&](lmdb::WriteTxn& txn) { txn.put(impl_->db.meta, meta::kFence, cause); });
}

Status Store::lift_author_fence() {
  return impl_->write([&](lmdb::WriteTxn& txn) { txn.del(impl_->db.meta, meta::kFence); });
}

// --------------------------------------------------- backup, restore

Status Store::backup(const fs::path& dir, bool compact) const {
  if (!empty_or_absent(dir))
    return Error(Errc::already_exists, dir.string() + " is not empty; back up into a new directory");
  // Like the store itself, readable by the node's user only, from the first
  // byte on (a chmod after the copy would leave a window).
  if (Status s = make_private_dir(dir); !s.ok()) return s;
  std::shared_lock lock(impl_->resize_mu);
  return impl_->env.copy_to(dir, compact);
}

Status Store::restore(const fs::path& backup_dir, const fs::path& target, std::optional<SchemaUpgrade>* upgraded) {
  if (!fs::exists(backup_dir / "data.mdb")) return Error(Errc::not_found, "no data.mdb in " + backup_dir.string());
  if (!empty_or_absent(target))
    return Error(Errc::already_exists, target.string() +
                                           " is not empty; restore into an empty directory "
                                           "(move the damaged store aside first)");
  {
    // Check what we are about to install, without writing to the backup.
    lmdb::EnvOptions eo;
    eo.flags = MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS;
    auto env = lmdb::Env::open(backup_dir, eo);
    if (!env.ok()) return env.error();
    auto found = inspect(*env, backup_dir, current_schema());
    if (!found.ok()) return found.error();
    if (found->fresh) return Error(Errc::schema_mismatch, backup_dir.string() + " holds no conect store");
  }
  std::error_code ec;
  if (Status s = make_private_dir(target); !s.ok()) return s;
  auto tmp = target / "data.mdb.restoring";
  if (Status s = copy_file_durably(backup_dir / "data.mdb", tmp); !s.ok()) return s;
  fs::rename(tmp, target / "data.mdb", ec);
  if (ec) return Error(Errc::io_error, "cannot install the restored store: " + ec.message());
  StoreOptions o;
  o.map_size = std::uint64_t{1} << 30;
  o.upgrade = true;  // a backup of an older version: the node is stopped
  auto store = Store::open(target, o);
  if (!store.ok()) return store.error();
  if (upgraded) *upgraded = (*store)->upgraded();
  return (*store)->fence_author("restore");
}

}  // namespace conect::storage
