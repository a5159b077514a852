#include "power_cut.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

namespace conect::storage::powerloss {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint32_t kVolatile = 1, kDurable = 2;

struct Record {
  std::uint32_t kind = 0;
  std::uint64_t off = 0, len = 0, old_size = 0;
  std::string old;  // the bytes this write replaced (those that existed)
};

std::vector<Record> read_journal(const std::filesystem::path& journal) {
  std::ifstream in(journal, std::ios::binary);
  if (!in) return {};
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<Record> out;
  std::size_t at = 0;
  auto take = [&](void* dst, std::size_t n) {
    if (bytes.size() - at < n) return false;
    std::memcpy(dst, bytes.data() + at, n);
    at += n;
    return true;
  };
  // A record cut short was being journaled when the process was killed:
  // the write it describes had not been made yet (the shim journals first).
  while (at < bytes.size()) {
    Record r;
    if (!take(&r.kind, 4) || !take(&r.off, 8) || !take(&r.len, 8) || !take(&r.old_size, 8)) break;
    if (r.kind != kVolatile && r.kind != kDurable) throw std::runtime_error("power-loss journal: bad record");
    if (r.kind == kVolatile) {
      std::uint64_t keep = r.off < r.old_size ? std::min(r.len, r.old_size - r.off) : 0;
      r.old.resize(keep);
      if (!take(r.old.data(), keep)) break;
    }
    out.push_back(std::move(r));
  }
  return out;
}

// Byte ranges written durably after the record being undone: never undone.
class Pinned {
 public:
  void add(std::uint64_t b, std::uint64_t e) { ranges_.emplace_back(b, e); }
  // The parts of [b, e) not pinned.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> free_parts(std::uint64_t b, std::uint64_t e) const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> parts{{b, e}};
    for (auto [pb, pe] : ranges_) {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> next;
      for (auto [fb, fe] : parts) {
        if (pe <= fb || pb >= fe) {
          next.emplace_back(fb, fe);
          continue;
        }
        if (fb < pb) next.emplace_back(fb, pb);
        if (pe < fe) next.emplace_back(pe, fe);
      }
      parts = std::move(next);
    }
    return parts;
  }

 private:
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges_;
};

void write_at(int fd, const char* data, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(off));
    if (w <= 0) throw std::runtime_error("power cut: cannot write the file");
    data += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
}

}  // namespace

CutStats power_cut(const std::filesystem::path& file, const std::filesystem::path& journal, Cut cut,
                   std::mt19937_64& rng) {
  std::vector<Record> records = read_journal(journal);
  CutStats stats;
  // Nothing written since the last sync: the disk holds the file as it is.
  // (Without this the size "sure of" below would be 0, and a kill that
  // landed just after a sync would cut a good store to nothing.)
  if (records.empty()) return stats;
  // One decision per page, whichever writes touched it.
  std::map<std::uint64_t, bool> dropped;
  // The size the disk is sure of: the size at the last sync (the first
  // record's "size before"), grown only by durable writes since.
  std::uint64_t durable_size = records.front().old_size;
  for (const auto& r : records) {
    if (r.kind == kDurable) {
      durable_size = std::max(durable_size, r.off + r.len);
      continue;
    }
    ++stats.writes;
    for (std::uint64_t p = r.off / kPage; p * kPage < r.off + r.len; ++p)
      if (!dropped.contains(p)) dropped[p] = cut == Cut::all || (rng() & 1) == 0;
  }
  for (const auto& [page, drop] : dropped) (drop ? stats.pages_dropped : stats.pages_kept)++;

  int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("power cut: cannot open " + file.string());
  // Newest first, so a page written several times ends at its synced content.
  Pinned pinned;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    const Record& r = *it;
    if (r.kind == kDurable) {
      pinned.add(r.off, r.off + r.len);
      continue;
    }
    for (std::uint64_t b = r.off; b < r.off + r.len;) {
      const std::uint64_t e = std::min(r.off + r.len, (b / kPage + 1) * kPage);
      if (dropped.at(b / kPage)) {
        for (auto [fb, fe] : pinned.free_parts(b, e)) {
          // What the write replaced; bytes past the old end did not exist (zeros).
          std::string restore(fe - fb, '\0');
          for (std::uint64_t x = fb; x < fe; ++x)
            if (x - r.off < r.old.size()) restore[x - fb] = r.old[x - r.off];
          write_at(fd, restore.data(), restore.size(), fb);
          stats.bytes_dropped += fe - fb;
        }
      }
      b = e;
    }
  }
  // Whole-file loss of what grew the file since: all of it, or none (a
  // random cut keeps the size; its lost pages read back as zeros).
  const auto size = std::filesystem::file_size(file);
  if (cut == Cut::all && size > durable_size && ::ftruncate(fd, static_cast<off_t>(durable_size)) != 0) {
    ::close(fd);
    throw std::runtime_error("power cut: cannot truncate " + file.string());
  }
  ::close(fd);
  std::filesystem::resize_file(journal, 0);
  return stats;
}

}  // namespace conect::storage::powerloss
