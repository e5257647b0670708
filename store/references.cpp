#include "store/references.h"

#include <filesystem>
#include <sstream>

namespace lorascape::store {

namespace fs = std::filesystem;

namespace {

// {path part, rest}: {"a/run.h5", ":seq/2"} or {"folder", ""}; trailing slashes of a folder go.
std::pair<std::string, std::string> split_ref(const std::string& ref) {
  const auto colon = ref.rfind(".h5:");
  std::string path = colon == std::string::npos ? ref : ref.substr(0, colon + 3);
  const std::string rest = colon == std::string::npos ? "" : ref.substr(colon + 3);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return {path, rest};
}

fs::path folder_of(const std::string& scan_path) {
  std::error_code ec;
  return fs::absolute(fs::path(scan_path), ec).lexically_normal().parent_path();
}

}  // namespace

std::string ref_for_scan(const std::string& ref, const std::string& scan_path) {
  const auto [path, rest] = split_ref(ref);
  if (path.empty() || scan_path.empty()) return ref;
  std::error_code ec;
  const fs::path abs = fs::absolute(fs::path(path), ec).lexically_normal();
  if (ec) return ref;
  const fs::path folder = folder_of(scan_path);
  // Files that share no folder below the root (/tmp and /work) stay absolute: a relative path
  // up to the root would move no better.
  size_t common = 0;
  for (auto i = abs.begin(), j = folder.begin(); i != abs.end() && j != folder.end() && *i == *j;
       ++i, ++j)
    ++common;
  const fs::path rel = common >= 2 ? abs.lexically_relative(folder) : fs::path();
  return (rel.empty() ? abs : rel).generic_string() + rest;
}

std::string resolve_ref(const std::string& stored, const std::string& scan_path) {
  const auto [path, rest] = split_ref(stored);
  if (path.empty() || fs::path(path).is_absolute()) return stored;
  const fs::path candidate = (fs::path(scan_path).parent_path() / path).lexically_normal();
  std::error_code ec;
  if (fs::exists(candidate, ec)) return candidate.generic_string() + rest;
  if (fs::exists(fs::path(path), ec)) return stored;
  return candidate.generic_string() + rest;
}

std::string rebase_ref(const std::string& stored, const std::string& from_scan,
                       const std::string& to_scan) {
  return ref_for_scan(resolve_ref(stored, from_scan), to_scan);
}

std::string rebase_ref_lines(const std::string& text, const std::string& from_scan,
                             const std::string& to_scan) {
  std::stringstream ss(text);
  std::string out;
  for (std::string line; std::getline(ss, line);)
    out += (line.empty() ? line : rebase_ref(line, from_scan, to_scan)) + "\n";
  if (!text.empty() && text.back() != '\n' && !out.empty()) out.pop_back();
  return out;
}

const std::vector<std::string>& reference_text_keys() {
  static const std::vector<std::string> keys = {"adapters",
                                                "from",
                                                "to",
                                                "at",
                                                "along",
                                                "run",
                                                "anchor_labels",
                                                "projected_labels",
                                                "trajectory_labels",
                                                "curve_file"};
  return keys;
}

void rebase_reference_text(std::map<std::string, std::string>& text, const std::string& from_scan,
                           const std::string& to_scan) {
  for (const auto& key : reference_text_keys()) {
    auto it = text.find(key);
    if (it != text.end()) it->second = rebase_ref_lines(it->second, from_scan, to_scan);
  }
}

}  // namespace lorascape::store
