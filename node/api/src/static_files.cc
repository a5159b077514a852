#include "static_files.h"

#include <fstream>
#include <sstream>

#include "router.h"

namespace conect::api {
namespace fs = std::filesystem;

namespace {
constexpr std::uintmax_t kMaxFileBytes = 16 * 1024 * 1024;
}

std::optional<std::string> content_type_for(const fs::path& file) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},     {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},            {".map", "application/json"},
      {".svg", "image/svg+xml"},                {".png", "image/png"},
      {".ico", "image/x-icon"},                 {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  auto ext = file.extension().string();
  for (const auto& [e, type] : kTypes)
    if (ext == e) return std::string(type);
  return std::nullopt;
}

StaticFiles::StaticFiles(fs::path root) {
  std::error_code ec;
  if (!root.empty()) {
    auto canon = fs::canonical(root, ec);
    if (!ec) root_ = canon;
  }
}

bool StaticFiles::has_dashboard() const {
  std::error_code ec;
  return !root_.empty() && fs::is_regular_file(root_ / "index.html", ec);
}

std::optional<HttpResponse> StaticFiles::serve(std::string_view path) const {
  if (root_.empty()) return std::nullopt;
  if (path.find('\\') != std::string_view::npos || path.find("//") != std::string_view::npos)
    return std::nullopt;
  fs::path rel;
  for (auto seg : split_path(path)) {
    if (seg == ".." || seg == "." || seg.front() == '.') return std::nullopt;
    rel /= std::string(seg);
  }
  if (rel.empty() || path.back() == '/') rel /= "index.html";
  std::error_code ec;
  fs::path file = fs::canonical(root_ / rel, ec);
  if (ec) return std::nullopt;
  auto [root_end, _] = std::mismatch(root_.begin(), root_.end(), file.begin(), file.end());
  if (root_end != root_.end()) return std::nullopt;  // resolved outside the root
  if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) > kMaxFileBytes) return std::nullopt;
  auto type = content_type_for(file);
  if (!type) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream data;
  data << in.rdbuf();
  HttpResponse r;
  r.content_type = *type;
  r.body = std::move(data).str();
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

}  // namespace conect::api
