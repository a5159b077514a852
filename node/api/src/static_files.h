// The dashboard's files (web/), served read-only from one directory. Only
// regular files under the root with a known extension are served; a path
// with "..", ".", a backslash or an empty segment is refused before the
// file system is touched, and the resolved file must still lie inside the
// root (symlinks out of it are refused).
#pragma once

#include <filesystem>
#include <optional>

#include "conect/api/http.h"

namespace conect::api {

class StaticFiles {
 public:
  explicit StaticFiles(std::filesystem::path root);
  // nullopt when the path names no servable file (the caller answers 404).
  std::optional<HttpResponse> serve(std::string_view path) const;
  // True when the root holds the dashboard (index.html).
  bool has_dashboard() const;

 private:
  std::filesystem::path root_;  // canonical, or empty when there is none
};

// "text/css; charset=utf-8" for ".css"; nullopt for unknown extensions.
std::optional<std::string> content_type_for(const std::filesystem::path& file);

}  // namespace conect::api
