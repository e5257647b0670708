#include "plot/document.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "store/error.h"

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
    f.run = std::make_shared<store::RunFileData>(store::read_run_file(path));
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
  if (has("lock"))
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

int new_task_index(const store::ScanData& d) {
  std::string to;
  if (d.text.count("to")) to = d.text.at("to");
  if (to.empty()) {
    const auto cfg = nlohmann::json::parse(d.spec.config_json, nullptr, false);
    if (cfg.is_object() && cfg.contains("adapters") && cfg["adapters"].is_array() &&
        cfg["adapters"].size() >= 2 && cfg["adapters"][1].is_string())
      to = cfg["adapters"][1].get<std::string>();
  }
  const auto colon = to.rfind(".h5:");
  if (colon == std::string::npos) return -1;
  // METHOD/STAGE[/KEY]
  const std::string rest = to.substr(colon + 4);
  const auto s1 = rest.find('/');
  if (s1 == std::string::npos) return -1;
  std::string stage = rest.substr(s1 + 1);
  stage = stage.substr(0, stage.find('/'));
  if (stage.empty()) return -1;
  const int by_name = index_of(d.spec.tasks, stage);
  if (by_name >= 0) return by_name;
  if (!std::all_of(stage.begin(), stage.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      stage.size() > 6)
    return -1;
  const int n = std::stoi(stage);
  if (n < 1 || n > static_cast<int>(d.spec.tasks.size())) return -1;
  if (d.spec.tasks[static_cast<size_t>(n - 1)] == "union") return -1;
  return n - 1;
}

bool is_path_kind(const store::ScanData& d) {
  return d.spec.axes.size() == 1 && d.spec.kind != "geometry";
}

bool is_plane_kind(const store::ScanData& d) {
  return d.spec.axes.size() == 2;
}

}  // namespace lorascape::plot
