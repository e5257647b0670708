#include "plot/document.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "store/error.h"
#include "store/task_roles.h"

namespace lorascape::plot {

namespace fs = std::filesystem;

std::string file_name(const std::string& path) {
  return fs::path(path).filename().string();
}

std::string OpenedFile::label() const {
  if (type == Type::Run) return file_name(path);
  std::string l = file_name(path) + " (" + scan->spec.kind;
  const auto shape = scan->spec.grid_shape();
  if (shape.size() == 1) l += ", " + std::to_string(shape[0]) + " points";
  if (shape.size() == 2) l += ", " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]);
  if (!scan->complete())
    l += ", " + std::to_string(scan->num_done()) + "/" + std::to_string(scan->num_points()) +
         " done";
  return l + ")";
}

OpenedFile open_file(const std::string& path) {
  const std::string format = store::read_file_format(path);
  OpenedFile f;
  f.path = path;
  if (format == store::kRunFileFormat) {
    f.type = OpenedFile::Type::Run;
    // Scores and layout only: the views never need the adapters' tensors, which are most of the
    // file (GBs for a large model); scans read the adapters they name themselves.
    f.run = std::make_shared<store::RunFileData>(
        store::read_run_file(path, store::TensorSelection::none()));
  } else if (format == store::kScanFileFormat) {
    f.type = OpenedFile::Type::Scan;
    f.scan = std::make_shared<store::ScanData>(store::read_scan_file(path));
  } else {
    throw FormatError(path + ": /format: is '" + format +
                      "', neither 'lorascape-run' nor 'lorascape-scan'; open a run or scan file "
                      "written by lorascape");
  }
  return f;
}

std::string explain_open_error(const std::string& path, const std::string& message) {
  std::string text = "Cannot open " + file_name(path) + ".\n\n" + message;
  auto has = [&](const char* s) { return message.find(s) != std::string::npos; };
  std::string fix;
  // HDF5's own words when another process holds the file's lock (H5FD_sec2/H5FD_core: "unable
  // to lock file, errno = 11, …"; "unable to flock file" in some releases); not any message that
  // merely contains "lock" ("superblock", "sblock" of a truncated file).
  if (has("unable to lock file") || has("unable to flock file"))
    fix =
        "Another program has the file open for writing. Close it there, or wait for it to "
        "finish; on file systems without locking set HDF5_USE_FILE_LOCKING=FALSE.";
  else if (has("newer than this lorascape"))
    fix = "The file was written by a newer lorascape: upgrade lorascape to open it.";
  else if (has("not an HDF5 file") && path.size() >= 5 && path.substr(path.size() - 5) == ".json")
    fix =
        "The app reads run files (run.h5) and scan files: open the run.h5 next to this "
        "results.json.";
  else if (has("not an HDF5 file"))
    fix =
        "The app opens lorascape run files (run.h5 from `lorascape train`) and scan files "
        "(from `lorascape scan`, `geometry`, `sharpness`). A truncated file cannot be "
        "repaired: run the command that wrote it again.";
  else if (has("does not exist"))
    fix =
        "Check the path; the file may have been moved or deleted (it is removed from the "
        "recent files).";
  if (!fix.empty()) text += "\n\nHow to fix: " + fix;
  return text;
}

std::vector<std::string> scans_near(const std::string& run_path) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path run = fs::absolute(run_path, ec);
  const fs::path dir = run.parent_path();
  for (const fs::path& d : {dir / "analysis", dir}) {
    if (!fs::is_directory(d, ec)) continue;
    std::vector<std::string> here;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      if (!e.is_regular_file(ec) || e.path().extension() != ".h5") continue;
      if (fs::equivalent(e.path(), run, ec)) continue;
      const std::string name = e.path().filename().string();
      if (name.find(".tmp.") != std::string::npos) continue;  // a writer's temporary file
      here.push_back(e.path().string());
    }
    std::sort(here.begin(), here.end());
    out.insert(out.end(), here.begin(), here.end());
  }
  return out;
}

std::string short_ref(const std::string& ref) {
  const auto colon = ref.rfind(".h5:");
  if (colon != std::string::npos) {
    // "seq/3/adapter" -> "seq/3": "adapter" is the only key of single-learner methods.
    std::string r = ref.substr(colon + 4);
    const std::string key = "/adapter";
    if (r.size() > key.size() && r.compare(r.size() - key.size(), key.size(), key) == 0)
      r.resize(r.size() - key.size());
    return r;
  }
  std::string r = ref;
  while (!r.empty() && r.back() == '/') r.pop_back();
  return file_name(r);
}

int index_of(const std::vector<std::string>& list, const std::string& name) {
  const auto it = std::find(list.begin(), list.end(), name);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}

namespace {

// The stage part of a run-file reference "P.h5:METHOD/STAGE[/KEY]" (its path and method too),
// or false.
bool parse_stage_ref(const std::string& ref, std::string& file_method, std::string& stage) {
  const auto colon = ref.rfind(".h5:");
  if (colon == std::string::npos) return false;
  const std::string rest = ref.substr(colon + 4);
  const auto s1 = rest.find('/');
  if (s1 == std::string::npos) return false;
  file_method = ref.substr(0, colon + 4) + rest.substr(0, s1);
  stage = rest.substr(s1 + 1);
  stage = stage.substr(0, stage.find('/'));
  return !stage.empty();
}

int stage_number(const std::string& stage) {
  if (stage.empty() || stage.size() > 6 ||
      !std::all_of(stage.begin(), stage.end(), [](unsigned char c) { return std::isdigit(c); }))
    return -1;
  return std::stoi(stage);
}

std::vector<std::string> config_adapters(const store::ScanData& d) {
  std::vector<std::string> out;
  const auto cfg = nlohmann::json::parse(d.spec.config_json, nullptr, false);
  if (cfg.is_object() && cfg.contains("adapters") && cfg["adapters"].is_array())
    for (const auto& a : cfg["adapters"])
      if (a.is_string()) out.push_back(a.get<std::string>());
  return out;
}

// Roles of a file without text "roles" (see task_roles).
std::vector<std::string> derived_roles(const store::ScanData& d) {
  const size_t T = d.spec.tasks.size();
  std::vector<std::string> roles(T, store::kRoleUnknown);
  for (size_t t = 0; t < T; ++t)
    if (d.spec.tasks[t] == "union") roles[t] = store::kRoleUnion;
  const std::vector<std::string> refs = config_adapters(d);
  std::string from = d.text.count("from") ? d.text.at("from") : refs.size() >= 2 ? refs[0] : "";
  std::string to = d.text.count("to") ? d.text.at("to") : refs.size() >= 2 ? refs[1] : "";
  std::string to_fm, to_stage, from_fm, from_stage;
  if (!parse_stage_ref(to, to_fm, to_stage)) return roles;
  const int n = stage_number(to_stage);
  if (n >= 1 && n <= static_cast<int>(T) && d.spec.tasks[static_cast<size_t>(n - 1)] != "union") {
    int m = n - 1;  // tasks before the `from` stage are old
    if (parse_stage_ref(from, from_fm, from_stage) && from_fm == to_fm) {
      const int k = stage_number(from_stage);
      if (k >= 1 && k < n) m = k;
    }
    for (size_t t = 0; t < T; ++t) {
      if (roles[t] == store::kRoleUnion) continue;
      roles[t] = static_cast<int>(t) < m   ? store::kRoleOld
                 : static_cast<int>(t) < n ? store::kRoleNew
                                           : store::kRoleFuture;
    }
    return roles;
  }
  const int by_name = index_of(d.spec.tasks, to_stage);
  if (by_name >= 0 && d.spec.tasks[static_cast<size_t>(by_name)] != "union")
    roles[static_cast<size_t>(by_name)] = store::kRoleNew;
  return roles;
}

}  // namespace

std::vector<std::string> task_roles(const store::ScanData& d) {
  if (d.text.count("roles")) {
    std::vector<std::string> roles = store::split_lines(d.text.at("roles"));
    if (roles.size() == d.spec.tasks.size()) return roles;
  }
  return derived_roles(d);
}

int new_task_index(const store::ScanData& d) {
  const std::vector<std::string> roles = task_roles(d);
  int found = -1;
  for (size_t t = 0; t < roles.size(); ++t)
    if (roles[t] == store::kRoleNew) {
      if (found >= 0) return -1;
      found = static_cast<int>(t);
    }
  return found;
}

std::vector<std::string> union_members(const store::ScanData& d) {
  if (d.text.count("union")) return store::split_lines(d.text.at("union"));
  std::vector<std::string> out;
  const auto cfg = nlohmann::json::parse(d.spec.config_json, nullptr, false);
  if (cfg.is_object() && cfg.contains("union") && cfg["union"].is_array())
    for (const auto& a : cfg["union"])
      if (a.is_string()) out.push_back(a.get<std::string>());
  return out;
}

std::string task_set_caption(const store::ScanData& d, size_t t) {
  if (t >= d.spec.tasks.size()) return std::string();
  const std::string& name = d.spec.tasks[t];
  const std::vector<std::string> roles = task_roles(d);
  const std::string& role = roles[t];
  if (role == store::kRoleUnion) {
    std::vector<std::string> members = union_members(d), old, all;
    if (members.empty()) return name;
    for (size_t k = 0; k < roles.size(); ++k) {
      if (d.spec.tasks[k] == "union") continue;
      all.push_back(d.spec.tasks[k]);
      if (roles[k] == store::kRoleOld) old.push_back(d.spec.tasks[k]);
    }
    std::sort(members.begin(), members.end());
    std::sort(old.begin(), old.end());
    std::sort(all.begin(), all.end());
    if (!old.empty() && members == old) return name + " (old tasks)";
    if (members == all) return name + " (all tasks)";
    std::string joined;
    for (const auto& m : union_members(d)) joined += (joined.empty() ? "" : "+") + m;
    return name + " (" + joined + ")";
  }
  if (role == store::kRoleUnknown) return name;
  return name + " (" + store::role_caption(role) + ")";
}

bool is_path_kind(const store::ScanData& d) {
  return d.spec.axes.size() == 1 && d.spec.kind != "geometry";
}

bool is_plane_kind(const store::ScanData& d) {
  return d.spec.axes.size() == 2;
}

}  // namespace lorascape::plot
