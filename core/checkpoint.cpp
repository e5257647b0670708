#include "core/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/version.h"
#include "store/checkpoint_file.h"
#include "store/error.h"
#include "store/run_file.h"

namespace lorascape::core {

namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& out_dir, const std::string& method) {
  return (fs::path(out_dir) / ".resume" / (method + ".h5")).string();
}

namespace {

uint64_t fnv(uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= 0xff;  // a separator, so that "ab","c" and "a","bc" differ
  h *= 1099511628211ULL;
  return h;
}

std::string tasks_digest(const std::vector<Task>& tasks) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& t : tasks) {
    h = fnv(h, t.name);
    for (const auto* split : {&t.train, &t.eval, &t.test}) {
      h = fnv(h, std::to_string(split->size()));
      for (const auto& ex : *split) h = fnv(fnv(h, ex.prompt), ex.answer);
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace

nlohmann::json resume_key(const RunConfig& cfg, const std::string& base_model_digest,
                          const std::vector<Task>& tasks) {
  nlohmann::json config = cfg.to_json();
  config.erase("threads");
  config.erase("out");
  return {{"config", config},
          {"base_model_digest", base_model_digest},
          {"tasks_digest", tasks_digest(tasks)},
          {"lorascape_version", kVersion}};
}

std::string key_difference(const nlohmann::json& saved, const nlohmann::json& now) {
  const nlohmann::json a = saved.flatten(), b = now.flatten();
  auto name = [](std::string p) {
    if (p.rfind("/config/", 0) == 0)
      p = p.substr(8);
    else if (!p.empty() && p[0] == '/')
      p = p.substr(1);
    for (auto& c : p)
      if (c == '/') c = '.';
    return p;
  };
  auto text = [](const nlohmann::json& j, const std::string& key) {
    return j.contains(key) ? j.at(key).dump() : std::string("(unset)");
  };
  for (const auto& [k, v] : b.items())
    if (!a.contains(k) || a.at(k) != v)
      return name(k) + " = " + text(a, k) + " (now " + v.dump() + ")";
  for (const auto& [k, v] : a.items())
    if (!b.contains(k)) return name(k) + " = " + v.dump() + " (now " + text(b, k) + ")";
  return "";
}

namespace {

const char* dtype_name(c10::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    case at::kLong:
      return "int64";
    case at::kByte:
      return "uint8";
    default:
      return nullptr;
  }
}

c10::ScalarType scalar_type(const std::string& dtype) {
  if (dtype == "float32") return at::kFloat;
  if (dtype == "float64") return at::kDouble;
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "float16") return at::kHalf;
  if (dtype == "int64") return at::kLong;
  return at::kByte;
}

store::CheckpointArray to_array(const std::string& path, const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).contiguous();
  const char* dtype = dtype_name(c.scalar_type());
  if (!dtype)
    throw Error("training checkpoint: tensor " + path + " has dtype " +
                std::string(c10::toString(c.scalar_type())) + ", which it cannot store");
  store::CheckpointArray a;
  a.path = path;
  a.dtype = dtype;
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  a.bytes.resize(c.nbytes());
  if (c.nbytes() > 0) std::memcpy(a.bytes.data(), c.data_ptr(), c.nbytes());
  return a;
}

at::Tensor from_array(const store::CheckpointArray& a) {
  at::Tensor t = at::empty(a.shape, at::TensorOptions().dtype(scalar_type(a.dtype)));
  if (!a.bytes.empty()) std::memcpy(t.data_ptr(), a.bytes.data(), a.bytes.size());
  return t;
}

// Scores as rows of (loss, token_acc, exact_match, examples).
at::Tensor scores_tensor(const std::vector<std::vector<Scores>>& rows, int64_t T) {
  at::Tensor t = at::zeros({static_cast<int64_t>(rows.size()), T, 4}, at::kDouble);
  double* p = t.data_ptr<double>();
  for (const auto& row : rows) {
    if (static_cast<int64_t>(row.size()) != T)
      throw Error("training checkpoint: a row of R does not have one score per task");
    for (const auto& s : row) {
      *p++ = s.loss;
      *p++ = s.token_acc;
      *p++ = s.exact_match;
      *p++ = static_cast<double>(s.examples);
    }
  }
  return t;
}

std::vector<std::vector<Scores>> scores_rows(const at::Tensor& t) {
  std::vector<std::vector<Scores>> rows;
  const at::Tensor c = t.to(at::kDouble).contiguous();
  const double* p = c.data_ptr<double>();
  for (int64_t r = 0; r < c.size(0); ++r) {
    rows.emplace_back();
    for (int64_t i = 0; i < c.size(1); ++i, p += 4)
      rows.back().push_back({p[0], p[1], p[2], static_cast<int64_t>(p[3])});
  }
  return rows;
}

class ArrayWriter {
 public:
  std::vector<store::CheckpointArray> arrays;
  void put(const std::string& path, const at::Tensor& t) {
    if (t.defined()) arrays.push_back(to_array(path, t));
  }
  // An adapter's tensors under prefix/, their names in order into `names`.
  void put(const std::string& prefix, const Adapter& a, nlohmann::json& names) {
    names = nlohmann::json::array();
    for (const auto& [n, t] : a.entries()) {
      names.push_back(n);
      put(prefix + "/" + n, t);
    }
  }
};

class ArrayReader {
 public:
  ArrayReader(std::string file, const std::vector<store::CheckpointArray>& arrays)
      : file_(std::move(file)) {
    for (const auto& a : arrays) by_path_[a.path] = &a;
  }
  bool has(const std::string& path) const { return by_path_.count(path) > 0; }
  at::Tensor get(const std::string& path) const {
    const auto it = by_path_.find(path);
    if (it == by_path_.end())
      throw FormatError(file_ + ": /state/" + path +
                        ": missing from the training checkpoint; delete the file to train afresh");
    return from_array(*it->second);
  }
  Adapter adapter(const std::string& prefix, const nlohmann::json& names) const {
    std::vector<Adapter::Entry> entries;
    for (const auto& n : names)
      entries.emplace_back(n.get<std::string>(), get(prefix + "/" + n.get<std::string>()));
    return Adapter(std::move(entries));
  }
  std::vector<std::string> under(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& [p, a] : by_path_)
      if (p.rfind(prefix, 0) == 0) out.push_back(p.substr(prefix.size()));
    return out;
  }

 private:
  std::string file_;
  std::map<std::string, const store::CheckpointArray*> by_path_;
};

std::string index_name(size_t i, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*zu", width, i);
  return buf;
}

}  // namespace

void write_train_checkpoint(const std::string& path, const TrainCheckpoint& ck) {
  const RunResult& r = ck.result;
  const int64_t T = static_cast<int64_t>(r.tasks.size());
  ArrayWriter w;
  nlohmann::json meta;
  meta["global_step"] = ck.global_step;
  meta["seconds"] = r.seconds;
  meta["tasks"] = r.tasks;
  meta["reported"] = r.reported;
  w.put("model/lora", ck.lora, meta["lora_names"]);
  meta["frozen"] = nlohmann::json::array();
  for (const auto& [layer, f] : ck.frozen) {
    meta["frozen"].push_back(layer);
    w.put("model/frozen/" + layer + "/A", f.first);
    w.put("model/frozen/" + layer + "/B", f.second);
  }
  w.put("rng/cpu", ck.cpu_generator);
  w.put("rng/device", ck.device_generator);
  w.put("result/base", scores_tensor({r.base}, T));
  w.put("result/final_train_loss", at::tensor(r.final_train_loss, at::kDouble));
  meta["learners"] = nlohmann::json::object();
  for (const auto& [key, l] : r.learners) {
    nlohmann::json& lj = meta["learners"][key];
    lj["dirs"] = l.dirs;
    lj["names"] = nlohmann::json::array();
    const std::string lp = "result/learners/" + key;
    w.put(lp + "/R", scores_tensor(l.R, T));
    for (size_t s = 0; s < l.stages.size(); ++s) {
      nlohmann::json names;
      w.put(lp + "/stages/" + index_name(s, 2), l.stages[s], names);
      lj["names"].push_back(names);
    }
  }
  meta["snapshots"] = nlohmann::json::array();
  for (size_t s = 0; s < r.snapshots.size(); ++s) {
    nlohmann::json names;
    w.put("result/snapshots/" + index_name(s, 6), r.snapshots[s].adapter, names);
    meta["snapshots"].push_back(
        {{"step", r.snapshots[s].step}, {"task", r.snapshots[s].task}, {"names", names}});
  }
  meta["strategy"] = ck.strategy.meta;
  meta["strategy_tensors"] = nlohmann::json::array();
  for (const auto& [name, t] : ck.strategy.tensors) {
    if (!t.defined()) continue;
    meta["strategy_tensors"].push_back(name);
    w.put("strategy/" + name, t);
  }

  store::CheckpointData d;
  d.software_version = kVersion;
  d.created = store::utc_now();
  d.method = ck.method;
  d.key_json = ck.key.dump();
  d.stages_done = ck.stages_done;
  d.stages_total = ck.stages_total;
  d.state_json = meta.dump();
  d.arrays = std::move(w.arrays);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec)
    throw FormatError("cannot create the folder of the training checkpoint " + path + ": " +
                      ec.message() + " (check that the run folder is writable)");
  store::write_checkpoint_file(path, d);
}

TrainCheckpoint read_train_checkpoint(const std::string& path) {
  const store::CheckpointData d = store::read_checkpoint_file(path);
  const auto bad = [&](const std::string& what) {
    return FormatError(path + ": " + what + "; delete the file to train afresh");
  };
  TrainCheckpoint ck;
  ck.key = nlohmann::json::parse(d.key_json, nullptr, false);
  const nlohmann::json meta = nlohmann::json::parse(d.state_json, nullptr, false);
  if (ck.key.is_discarded() || meta.is_discarded() || !meta.is_object())
    throw bad("/key_json or /state_json is not valid JSON");
  ck.method = d.method;
  ck.stages_done = d.stages_done;
  ck.stages_total = d.stages_total;
  const ArrayReader a(path, d.arrays);
  try {
    RunResult& r = ck.result;
    ck.global_step = meta.at("global_step").get<int64_t>();
    r.seconds = meta.at("seconds").get<double>();
    r.tasks = meta.at("tasks").get<std::vector<std::string>>();
    r.reported = meta.at("reported").get<std::string>();
    if (static_cast<int64_t>(r.tasks.size()) != ck.stages_total)
      throw bad("/state_json: " + std::to_string(r.tasks.size()) + " tasks for " +
                std::to_string(ck.stages_total) + " stages");
    ck.lora = a.adapter("model/lora", meta.at("lora_names"));
    for (const auto& layer : meta.at("frozen")) {
      const std::string l = layer.get<std::string>();
      ck.frozen[l] = {a.get("model/frozen/" + l + "/A"), a.get("model/frozen/" + l + "/B")};
    }
    ck.cpu_generator = a.get("rng/cpu");
    if (a.has("rng/device")) ck.device_generator = a.get("rng/device");
    const auto base = scores_rows(a.get("result/base"));
    if (base.size() != 1 || base[0].size() != r.tasks.size())
      throw bad("/state/result/base: not one score per task");
    r.base = base[0];
    const at::Tensor losses = a.get("result/final_train_loss").to(at::kDouble).contiguous();
    r.final_train_loss.assign(losses.data_ptr<double>(),
                              losses.data_ptr<double>() + losses.numel());
    for (const auto& [key, lj] : meta.at("learners").items()) {
      RunResult::Learner& l = r.learners[key];
      const std::string lp = "result/learners/" + key;
      l.dirs = lj.at("dirs").get<std::vector<std::string>>();
      l.R = scores_rows(a.get(lp + "/R"));
      const auto& names = lj.at("names");
      for (size_t s = 0; s < names.size(); ++s)
        l.stages.push_back(a.adapter(lp + "/stages/" + index_name(s, 2), names[s]));
      const size_t done = static_cast<size_t>(ck.stages_done);
      if (l.R.size() != done || l.stages.size() != done || l.dirs.size() != done)
        throw bad("/state: learner '" + key + "' does not hold one row and adapter per stage");
      for (const auto& row : l.R)
        if (row.size() != r.tasks.size()) throw bad("/state/" + lp + "/R: not (stages, T, 4)");
    }
    const auto& snaps = meta.at("snapshots");
    for (size_t s = 0; s < snaps.size(); ++s)
      r.snapshots.push_back(
          {snaps[s].at("step").get<int64_t>(), snaps[s].at("task").get<int>(),
           a.adapter("result/snapshots/" + index_name(s, 6), snaps[s].at("names"))});
    if (r.final_train_loss.size() != static_cast<size_t>(ck.stages_done))
      throw bad("/state/result/final_train_loss: not one loss per stage");
    ck.strategy.meta = meta.at("strategy");
    for (const auto& name : meta.at("strategy_tensors")) {
      const std::string n = name.get<std::string>();
      ck.strategy.tensors[n] = a.get("strategy/" + n);
    }
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("/state_json: ") + e.what());
  }
  return ck;
}

void remove_checkpoint(const std::string& out_dir, const std::string& method) {
  std::error_code ec;
  const fs::path p = checkpoint_path(out_dir, method);
  fs::remove(p, ec);
  // A temporary file of a writer killed mid-write ("<method>.h5.tmp.<pid>").
  for (const auto& e : fs::directory_iterator(p.parent_path(), ec))
    if (e.path().filename().string().rfind(p.filename().string() + ".tmp.", 0) == 0)
      fs::remove(e.path(), ec);
  if (fs::is_empty(p.parent_path(), ec) && !ec) fs::remove(p.parent_path(), ec);
}

void remove_checkpoints(const std::string& out_dir) {
  std::error_code ec;
  const fs::path dir = fs::path(out_dir) / ".resume";
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().find(".h5") != std::string::npos) fs::remove(e.path(), ec);
  if (fs::is_empty(dir, ec) && !ec) fs::remove(dir, ec);
}

}  // namespace lorascape::core
