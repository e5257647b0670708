#include "analysis/import_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/device.h"
#include "core/metrics.h"
#include "core/run.h"
#include "core/run_file_io.h"
#include "core/strategies.h"
#include "core/text_codec.h"
#include "core/version.h"
#include "store/error.h"
#include "store/run_file.h"

namespace lorascape::analysis {

namespace fs = std::filesystem;

namespace {

bool valid_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

// The stage folder exists (a pickle in place of its safetensors: core::load_peft_adapter).
void check_stage_folder(const ImportStage& s) {
  const std::string where = "stage '" + s.label() + "'";
  std::error_code ec;
  if (!fs::exists(s.dir, ec))
    throw ConfigError(where + ": " + s.dir +
                      ": no such folder (give TASK=DIR with the PEFT adapter folder of the task)");
}

// ---- the LLMCL layout -------------------------------------------------------------------
//
// LLMCL's BaseTrainerCL.after_task_end (github.com/which47/LLMCL, method/BaseTrainerCL.py) writes,
// after each task T, into its --output_dir:
//   lora_T.pt                 the LoRA state dict (torch.save: a pickle)
//   lora_T/adapter_config.json  the PEFT config of the default adapter (save_pretrained of the
//                             config only)
//   lora_T_NAME/adapter_config.json  the config of every other adapter NAME
//   tokenizer_T/              the tokenizer
// lorascape reads lora_T/ with adapter_model.safetensors (converted from lora_T.pt) as the
// stage of task T, key `key`; lora_T_NAME/ holding weights as key NAME.

struct LlmclTask {
  std::string task;
  fs::path dir;
  fs::file_time_type written{};  // of lora_T.pt, else of lora_T/adapter_config.json
};

std::vector<ImportStage> llmcl_stages(const std::string& root,
                                      const std::vector<std::string>& order, const std::string& key,
                                      std::string* note) {
  const std::string hint =
      " (the LLMCL layout: DIR/lora_<task>/adapter_config.json, written by LLMCL after each "
      "task, with adapter_model.safetensors converted from DIR/lora_<task>.pt; "
      "docs/user-guide.md)";
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw ConfigError("`layout` llmcl: " + root + ": no such folder" + hint);
  std::set<std::string> pts;
  std::map<std::string, fs::path> folders;  // lora_X/ holding adapter_config.json, by X
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("lora_", 0) != 0 || name.size() <= 5) continue;
    if (e.is_regular_file() && name.size() > 8 && name.compare(name.size() - 3, 3, ".pt") == 0)
      pts.insert(name.substr(5, name.size() - 8));
    else if (e.is_directory() && fs::exists(e.path() / "adapter_config.json"))
      folders[name.substr(5)] = e.path();
  }
  // Tasks: every lora_T.pt, and every lora_X/ that is not lora_T_NAME/ of another task T.
  std::set<std::string> tasks = pts;
  for (const auto& [x, p] : folders) (void)p, tasks.insert(x);
  std::map<std::string, std::pair<std::string, std::string>> other;  // lora_T_NAME -> (T, NAME)
  for (const auto& x : std::set<std::string>(tasks))
    for (const auto& t : tasks)
      if (x != t && x.rfind(t + "_", 0) == 0 && x.size() > t.size() + 1 && !pts.count(x)) {
        other[x] = {t, x.substr(t.size() + 1)};
        tasks.erase(x);
        break;
      }
  if (tasks.empty())
    throw ConfigError("`layout` llmcl: " + root +
                      " holds no lora_<task>.pt and no lora_<task>/ folder" + hint);
  std::vector<LlmclTask> found;
  for (const auto& t : tasks) {
    LlmclTask lt;
    lt.task = t;
    lt.dir = fs::path(root) / ("lora_" + t);
    if (!folders.count(t))
      throw ConfigError("`layout` llmcl: " + root + "/lora_" + t + ".pt has no folder " +
                        lt.dir.string() + " with its adapter_config.json" + hint);
    if (!fs::exists(lt.dir / "adapter_model.safetensors")) {
      const fs::path pt = fs::path(root) / ("lora_" + t + ".pt");
      if (fs::exists(pt))
        throw FormatError("`layout` llmcl: " + lt.dir.string() +
                          " has no adapter_model.safetensors: " +
                          core::pickle_refusal(pt.string(), lt.dir.string()));
      core::refuse_pickle_folder(lt.dir.string());
      throw ConfigError("`layout` llmcl: " + lt.dir.string() + " has no adapter_model.safetensors" +
                        hint);
    }
    const fs::path stamp = fs::exists(fs::path(root) / ("lora_" + t + ".pt"))
                               ? fs::path(root) / ("lora_" + t + ".pt")
                               : lt.dir / "adapter_config.json";
    lt.written = fs::last_write_time(stamp, ec);
    found.push_back(lt);
  }
  std::vector<const LlmclTask*> ordered;
  if (!order.empty()) {
    std::set<std::string> seen;
    for (const auto& t : order) {
      auto it =
          std::find_if(found.begin(), found.end(), [&](const LlmclTask& x) { return x.task == t; });
      if (it == found.end()) {
        std::string have;
        for (const auto& x : found) have += (have.empty() ? "" : ", ") + x.task;
        throw ConfigError("`order`: task '" + t + "' has no lora_" + t + " in " + root +
                          " (the folder has: " + have + ")");
      }
      if (!seen.insert(t).second)
        throw ConfigError("`order`: task '" + t + "' named twice (name each task once)");
      ordered.push_back(&*it);
    }
    if (note) *note = "order as given";
  } else {
    for (const auto& x : found) ordered.push_back(&x);
    std::stable_sort(ordered.begin(), ordered.end(), [](const LlmclTask* a, const LlmclTask* b) {
      return a->written < b->written;
    });
    for (size_t i = 1; i < ordered.size(); ++i)
      if (ordered[i]->written == ordered[i - 1]->written)
        throw ConfigError("`layout` llmcl: " + root + ": lora_" + ordered[i - 1]->task +
                          " and lora_" + ordered[i]->task +
                          " were written at the same time, so the training order is unknown; "
                          "set `order` to LLMCL's --dataset_names");
    if (note)
      *note =
          "order of the files' modification times (LLMCL writes lora_<task>.pt "
          "when the task ends)";
  }
  std::vector<ImportStage> out;
  for (const auto* t : ordered) out.push_back({t->task, key, t->dir.string()});
  // Other adapters that LLMCL saved with weights (lora_T_NAME/ with adapter_model.safetensors).
  for (const auto& [x, tn] : other)
    if (fs::exists(folders[x] / "adapter_model.safetensors"))
      for (const auto* t : ordered)
        if (t->task == tn.first) out.push_back({tn.first, tn.second, folders[x].string()});
  return out;
}

double nan_value() {
  return std::numeric_limits<double>::quiet_NaN();
}

std::string base_name_of(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

std::string absolute_path(const std::string& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.string();
}

// The base model of the import (see import_run).
std::string resolve_base(const ImportOptions& opt, const core::RunConfig& data,
                         const ImportStage& first, const core::PeftAdapter& pa, bool* given) {
  *given = true;
  std::string base = !opt.base.empty() ? opt.base : (data.base != "auto" ? data.base : "");
  if (!base.empty()) {
    if (!fs::exists(base))
      throw ConfigError("`base` " + base +
                        ": no such file or folder (give a lorascape base model file or a "
                        "Hugging Face model folder)");
    return base;
  }
  *given = false;
  return core::cached_base_model(pa.extra.value("base_model", std::string()),
                                 "stage '" + first.label() + "' (" + first.dir + ")");
}

core::Scores nan_scores() {
  core::Scores s;
  s.loss = s.token_acc = s.exact_match = nan_value();
  return s;
}

// Checks an existing run file against the import before anything heavy; returns whether
// the method is to be added to it.
bool check_existing(const ImportOptions& opt, const std::vector<std::string>& tasks,
                    const core::LoraConfig& lora) {
  std::error_code ec;
  if (!fs::exists(opt.out, ec)) return false;
  const store::RunFileData run = store::read_run_file(opt.out);
  if (run.tasks != tasks) {
    std::string have;
    for (const auto& t : run.tasks) have += (have.empty() ? "" : ", ") + t;
    throw ConfigError("`out` " + opt.out + " holds a run of other tasks (" + have +
                      "); import into a new run file (another `out`)");
  }
  const core::LoraConfig root = core::run_lora(run, opt.out);
  const std::string diff = lora_difference(root, lora);
  if (!diff.empty())
    throw ConfigError("`out` " + opt.out + " holds adapters of another LoRA setup (" + diff +
                      "); import into a new run file (another `out`)");
  if (run.find_method(opt.method) && !opt.force)
    throw ConfigError("`out` " + opt.out + " already holds method '" + opt.method +
                      "'; choose another `method`, or set `force` to replace it");
  return true;
}

}  // namespace

ImportStage parse_import_stage(const std::string& spec, const std::string& default_key) {
  const auto eq = spec.find('=');
  const std::string help = "': expected TASK=DIR or TASK/KEY=DIR (e.g. arith=out/lora_arith)";
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw ConfigError("stage '" + spec + help);
  ImportStage s;
  s.dir = spec.substr(eq + 1);
  const std::string lhs = spec.substr(0, eq);
  const auto slash = lhs.find('/');
  s.task = lhs.substr(0, slash);
  s.key = slash == std::string::npos ? default_key : lhs.substr(slash + 1);
  if (!valid_name(s.task) || !valid_name(s.key)) throw ConfigError("stage '" + spec + help);
  return s;
}

const std::vector<std::string>& import_layouts() {
  static const std::vector<std::string> names{"llmcl"};
  return names;
}

std::vector<ImportStage> layout_stages(const std::string& layout, const std::string& dir,
                                       const std::vector<std::string>& order,
                                       const std::string& key, std::string* note) {
  if (layout == "llmcl") return llmcl_stages(dir, order, key, note);
  std::string known;
  for (const auto& l : import_layouts()) known += (known.empty() ? "" : ", ") + l;
  throw ConfigError("`layout` '" + layout + "': unknown layout (known: " + known +
                    "; or give the stages as TASK=DIR)");
}

std::string lora_difference(const core::LoraConfig& a, const core::LoraConfig& b) {
  std::string d;
  auto add = [&](const std::string& s) { d += (d.empty() ? "" : ", ") + s; };
  if (a.rank != b.rank) add("r " + std::to_string(a.rank) + " vs " + std::to_string(b.rank));
  if (a.alpha != b.alpha) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "lora_alpha %g vs %g", a.alpha, b.alpha);
    add(buf);
  }
  std::vector<std::string> ta = a.targets, tb = b.targets;
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  if (ta != tb) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
      return s;
    };
    add("target_modules " + join(ta) + " vs " + join(tb));
  }
  // Fields that do not change the arithmetic may differ.
  core::LoraConfig x = a, y = b;
  x.dropout = y.dropout = 0;
  x.fan_in_fan_out = y.fan_in_fan_out = false;
  x.bias = y.bias = "none";
  std::sort(x.targets.begin(), x.targets.end());  // the order of a list of targets means nothing
  std::sort(y.targets.begin(), y.targets.end());
  if (d.empty() && x != y)
    add("the other adapter_config.json fields (rank_pattern, alpha_pattern, use_rslora, "
        "exclude_modules, layers_to_transform)");
  return d;
}

bool method_not_evaluated(const std::string& method_config_json) {
  const auto j = nlohmann::json::parse(method_config_json, nullptr, false);
  if (!j.is_object() || !j.contains("import") || !j["import"].is_object()) return false;
  return !j["import"].value("evaluated", true);
}

ImportResult import_run(const ImportOptions& opt, const core::RunConfig& data,
                        const std::string& command_line) {
  // ---- the options, before any file is read
  if (opt.out.empty()) throw ConfigError("`out` (the run file to write) is required");
  if (!valid_name(opt.method))
    throw ConfigError("`method` '" + opt.method + "': not a valid name (non-empty, no '/')");
  if (opt.stages.empty())
    throw ConfigError("no stages to import: give TASK=DIR for each task, or `layout`");
  ImportResult res;
  std::map<std::string, std::map<std::string, const ImportStage*>> by_key;  // key -> task ->
  for (const auto& s : opt.stages) {
    if (!valid_name(s.task) || !valid_name(s.key))
      throw ConfigError("stage '" + s.label() + "': task and key must be names (no '/')");
    if (std::find(res.tasks.begin(), res.tasks.end(), s.task) == res.tasks.end())
      res.tasks.push_back(s.task);
    if (!by_key[s.key].emplace(s.task, &s).second)
      throw ConfigError("stage '" + s.label() + "': task '" + s.task + "' named twice" +
                        (s.key == "adapter" ? "" : " for key '" + s.key + "'") + " (" +
                        by_key[s.key][s.task]->dir + " and " + s.dir +
                        "); give each task once per adapter key");
  }
  for (const auto& [key, m] : by_key) {
    res.keys.push_back(key);
    for (const auto& t : res.tasks)
      if (!m.count(t))
        throw ConfigError("adapter key '" + key + "' has no stage for task '" + t +
                          "' (every key needs an adapter for every task: give " + t + "/" + key +
                          "=DIR)");
  }
  if (!opt.reported.empty()) {
    if (!by_key.count(opt.reported))
      throw ConfigError("`reported` '" + opt.reported + "' is none of the stages' adapter keys");
    res.reported = opt.reported;
  } else if (res.keys.size() == 1) {
    res.reported = res.keys.front();
  } else if (by_key.count("slow")) {
    res.reported = "slow";
  } else {
    throw ConfigError(
        "the stages have several adapter keys; set `reported` to the one that is "
        "the method's model");
  }

  // ---- every adapter: folder, no pickle, LoRA setup (stage order: task, then key)
  std::vector<const ImportStage*> order;
  for (const auto& t : res.tasks)
    for (const auto& k : res.keys) order.push_back(by_key[k][t]);
  std::vector<core::PeftAdapter> loaded;
  for (const auto* s : order) {
    check_stage_folder(*s);
    loaded.push_back(core::load_peft_adapter(s->dir));
  }
  const core::LoraConfig lora = loaded.front().lora;
  for (size_t i = 1; i < order.size(); ++i) {
    const std::string diff = lora_difference(lora, loaded[i].lora);
    if (!diff.empty())
      throw ConfigError("stage '" + order[i]->label() + "' (" + order[i]->dir +
                        "): its LoRA setup differs from that of stage '" + order[0]->label() +
                        "' (" + diff +
                        "); one run file holds one LoRA setup: import such adapters into "
                        "separate run files");
  }
  const bool add_to_existing = check_existing(opt, res.tasks, lora);

  // ---- the base model
  bool base_given = false;
  res.base_path = resolve_base(opt, data, *order[0], loaded[0], &base_given);
  const std::string digest = core::file_digest(res.base_path);
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string want = loaded[i].extra.value("base_model_digest", std::string());
    if (!want.empty() && want != digest)
      throw FormatError("stage '" + order[i]->label() + "' (" + order[i]->dir +
                        "): trained on base model " +
                        loaded[i].extra.value("base_model", std::string("?")) + " (digest " + want +
                        "), not on " + res.base_path + " (digest " + digest +
                        "); set `base` to the model the adapters were trained on");
  }
  if (add_to_existing) {
    const store::RunFileData run = store::read_run_file(opt.out);
    if (!run.base_model_digest.empty() && run.base_model_digest != digest)
      throw ConfigError("`out` " + opt.out + " holds a run on another base model (" +
                        run.base_model + ", digest " + run.base_model_digest + " vs " + digest +
                        "); import into a new run file (another `out`)");
  }

  // ---- the data (unknown task names fail here) and the model, as run_training sets them up
  core::RunConfig cfg = data;
  cfg.tasks.names = res.tasks;
  cfg.train.method = opt.method;
  // The configuration records the setup as lorascape's own settings can (r, alpha, the projection
  // names); a setup with PEFT-only fields is kept whole in the run file's lora_config.
  cfg.lora = core::LoraConfig{};
  cfg.lora.rank = lora.rank;
  cfg.lora.alpha = lora.alpha;
  cfg.lora.dropout = lora.dropout;
  cfg.lora.targets.clear();
  for (const auto& name : core::lora_target_names())
    for (const auto& [n, t] : loaded.front().adapter.entries())
      if (n.find("." + name + ".lora_A.") != std::string::npos) {
        cfg.lora.targets.push_back(name);
        break;
      }
  if (!lora.per_module()) cfg.lora.targets = lora.targets;
  cfg.validate();
  const std::vector<core::Task> tasks = core::load_tasks(cfg);
  core::set_threads(cfg.threads);
  const c10::Device device = core::resolve_device(cfg.device);
  core::Transformer model = core::load_base_model(res.base_path);
  core::set_training_threads(cfg.threads, model->config().d_model);
  core::set_prompt_template(*model, cfg.tasks.prompt_template);
  core::check_tasks_fit(model->codec(), tasks, model->config().max_seq);
  cfg.model = model->config();
  cfg.base = base_given ? absolute_path(res.base_path) : "auto";
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  model->add_lora(lora);
  model->to(device);
  const core::Adapter fresh = core::Adapter::from_model(*model);  // B = 0: the base model

  // ---- every adapter against the model: tensor names and shapes; kept in model order
  std::map<std::string, std::vector<core::Adapter>> stages;  // key -> per task
  for (size_t i = 0; i < order.size(); ++i) {
    loaded[i].adapter.load_into(*model,
                                "stage '" + order[i]->label() + "' (" + order[i]->dir + ")");
    stages[order[i]->key].push_back(core::Adapter::from_model(*model));
  }

  // ---- the scores, by the code that scores training's stages
  core::RunResult& r = res.result;
  r.tasks = res.tasks;
  r.reported = res.reported;
  const bool task_aware = std::find(core::method_names().begin(), core::method_names().end(),
                                    opt.method) != core::method_names().end() &&
                          core::make_strategy(cfg)->task_aware();
  if (opt.evaluate) {
    fresh.load_into(*model);
    r.base = core::evaluate_tasks(*model, tasks, cfg);
  } else {
    r.base.assign(tasks.size(), nan_scores());
  }
  for (size_t t = 0; t < tasks.size(); ++t)
    for (const auto& key : res.keys) {
      core::RunResult::Learner& l = r.learners[key];
      l.stages.push_back(stages[key][t]);
      l.dirs.push_back(by_key[key][res.tasks[t]]->dir);
      if (opt.evaluate)
        l.R.push_back(
            core::evaluate_stage(*model, tasks, cfg, l.stages.back(), l.stages, task_aware));
      else
        l.R.emplace_back(tasks.size(), nan_scores());
    }

  // ---- the run file
  store::MethodData m = core::method_record(cfg, r);
  nlohmann::json mcfg = nlohmann::json::parse(m.config_json);
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& key : res.keys)
    for (const auto& t : res.tasks) sources[key].push_back(by_key[key][t]->dir);
  mcfg["import"] = {{"evaluated", opt.evaluate},
                    {"adapters", sources},
                    {"source", opt.source},
                    {"command_line", command_line}};
  m.config_json = mcfg.dump();
  if (!opt.evaluate) {  // no scores: every metric NaN (not the metrics of NaN matrices)
    for (auto& [score, metrics] : m.metrics)
      for (auto& [name, v] : metrics) v = nan_value();
    for (auto& [key, l] : m.learners)
      for (auto& [score, metrics] : l.metrics)
        for (auto& [name, v] : metrics) v = nan_value();
  }
  store::put_method(
      opt.out, m,
      core::run_header(cfg, lora, res.tasks, base_name_of(res.base_path), digest, command_line));
  res.added = add_to_existing;
  return res;
}

// ---- export ---------------------------------------------------------------------------

void save_source_adapter(const AdapterSource& src, const std::string& ref, const std::string& dir) {
  nlohmann::json extra = src.info;
  extra.erase("run_file");
  extra["base_model"] = src.base_model;
  extra["base_model_digest"] = src.base_model_digest;
  extra["exported_from"] = ref;
  extra["lorascape_version"] = kVersion;
  core::save_peft_adapter(dir, src.adapter, src.lora, extra);
}

namespace {

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-./=:,+@") == std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

ExportResult export_run(const std::string& run_path, const std::string& out, bool force) {
  if (out.empty()) throw ConfigError("`out` (the folder to write) is required");
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) throw ConfigError("`out` " + out + " is a file; give a folder");
    if (!fs::is_empty(out, ec) && !force)
      throw ConfigError("`out` " + out +
                        " exists and is not empty; choose a new folder, or set `force` to write "
                        "into it (files of the same names are replaced)");
  }
  const store::RunFileData run = store::read_run_file(run_path);
  const core::LoraConfig root = core::run_lora(run, run_path);
  fs::create_directories(out, ec);
  if (ec) throw ConfigError("`out`: cannot create folder " + out + ": " + ec.message());

  // The run's configuration, for the import commands' --config.
  bool have_config = false;
  {
    const auto j = nlohmann::json::parse(run.config_json, nullptr, false);
    if (j.is_object()) {
      core::RunConfig cfg = core::config_from_json(j, run_path + ": /config_json");
      core::write_text_atomic((fs::path(out) / "config.toml").string(),
                              "# configuration of " + run_path + " (written by lorascape " +
                                  std::string(kVersion) + " export-run)\n" + cfg.to_toml());
      have_config = true;
    }
  }

  ExportResult res;
  nlohmann::json manifest = {{"format", "lorascape-export"},
                             {"format_version", 1},
                             {"lorascape_version", kVersion},
                             {"run_file", run_path},
                             {"tasks", run.tasks},
                             {"base_model", run.base_model},
                             {"base_model_digest", run.base_model_digest},
                             {"lora_rank", run.lora_rank},
                             {"lora_alpha", run.lora_alpha},
                             {"lora_targets", run.lora_targets},
                             {"config", have_config ? "config.toml" : ""},
                             {"methods", nlohmann::json::array()}};
  for (const auto& m : run.methods) {
    std::set<std::string> keys;
    for (const auto& st : m.stages)
      for (const auto& [key, a] : st.adapters) keys.insert(key);
    const bool several = keys.size() > 1;
    nlohmann::json jm = {{"name", m.name},
                         {"reported", m.reported},
                         {"keys", std::vector<std::string>(keys.begin(), keys.end())},
                         {"evaluated", !method_not_evaluated(m.config_json)},
                         {"stages", nlohmann::json::array()}};
    std::string cmd = "lorascape import-run";
    if (have_config) cmd += " --config config.toml";
    cmd += " --method " + shell_quote(m.name);
    if (several) cmd += " --reported " + shell_quote(m.reported);
    cmd += " --evaluate --out RUN.h5";
    for (const auto& st : m.stages) {
      char nn[32];
      std::snprintf(nn, sizeof nn, "stage-%02d-", st.stage + 1);
      nlohmann::json js = {
          {"stage", st.stage + 1}, {"task", st.task}, {"adapters", nlohmann::json::object()}};
      for (const auto& [key, a] : st.adapters) {
        std::string rel = m.name + "/" + nn + st.task;
        if (several) rel += "/" + key;
        AdapterSource src;
        src.adapter = core::from_store(a);
        src.lora = core::lora_config_of(root, src.adapter);
        src.base_model = run.base_model;
        src.base_model_digest = run.base_model_digest;
        src.info = {{"method", m.name}, {"stage", st.stage + 1}, {"task", st.task}, {"key", key}};
        const std::string ref =
            run_path + ":" + m.name + "/" + std::to_string(st.stage + 1) + "/" + key;
        save_source_adapter(src, ref, (fs::path(out) / rel).string());
        res.dirs.push_back(rel);
        js["adapters"][key] = rel;
        cmd += " " + shell_quote(st.task + (several ? "/" + key : "") + "=" + rel);
      }
      jm["stages"].push_back(js);
    }
    if (m.stages.size() == run.tasks.size()) {
      jm["import_command"] = cmd;
      res.commands.push_back(cmd);
    } else {
      jm["import_command"] = nullptr;  // import-run needs one stage per task
    }
    manifest["methods"].push_back(jm);
  }
  core::write_text_atomic((fs::path(out) / "stages.json").string(), manifest.dump(2) + "\n");
  std::string readme =
      "Stage adapters of " + run_path + " as PEFT folders (lorascape " + kVersion +
      " export-run).\n\nLayout: METHOD/stage-NN-TASK/ (METHOD/stage-NN-TASK/KEY/ for methods with "
      "several adapter keys,\ne.g. I-LoRA's fast and slow), each with adapter_model.safetensors "
      "and adapter_config.json;\nstages.json lists them"
      "; config.toml is the run's configuration.\n\n"
      "To recreate the run file (RUN.h5), run these commands in this folder (one per method;\n"
      "each adds its method to RUN.h5):\n\n";
  for (const auto& c : res.commands) readme += c + "\n\n";
  for (const auto& m : run.methods)
    if (m.stages.size() != run.tasks.size())
      readme += "(method " + m.name + " has " + std::to_string(m.stages.size()) + " stage(s) for " +
                std::to_string(run.tasks.size()) +
                " tasks; import-run needs one stage per task, so it has no command.)\n";
  core::write_text_atomic((fs::path(out) / "README.txt").string(), readme);
  return res;
}

namespace {

// The experiment's seed from a run's configuration (JSON text); "" when it has none.
std::string run_seed(const std::string& config_json) {
  const auto j = nlohmann::json::parse(config_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("seed")) return "";
  return j.at("seed").dump();
}

}  // namespace

store::RunFileData merge_runs(const std::vector<std::string>& inputs, const std::string& out,
                              bool force, const std::string& command_line) {
  if (inputs.size() < 2) throw ConfigError("merge-runs needs at least two run files");
  std::error_code ec;
  for (const auto& in : inputs)
    if (fs::exists(out, ec) && fs::equivalent(in, out, ec))
      throw ConfigError("--out " + out + " is one of the inputs; write the merged run elsewhere");
  if (fs::exists(out, ec) && !force)
    throw ConfigError("--out " + out + " exists; choose a new file or add --force to replace it");
  store::RunFileData merged = store::read_run_file(inputs[0]);
  const core::LoraConfig lora = core::run_lora(merged, inputs[0]);
  const std::string seed = run_seed(merged.config_json);
  for (size_t i = 1; i < inputs.size(); ++i) {
    const std::string& in = inputs[i];
    store::RunFileData r = store::read_run_file(in);
    // `how`: what differs, this input's first ("r 4 vs 8", "2 vs 1").
    const auto differs = [&](const std::string& what, const std::string& how) {
      throw ConfigError(in + ": " + what + " differs from " + inputs[0] + "'s (" + how +
                        "); only runs of one experiment can be merged");
    };
    if (r.tasks != merged.tasks) {
      std::string a, b;
      for (const auto& t : merged.tasks) a += (a.empty() ? "" : ",") + t;
      for (const auto& t : r.tasks) b += (b.empty() ? "" : ",") + t;
      differs("the task sequence", b + " vs " + a);
    }
    if (r.base_model_digest != merged.base_model_digest)
      differs("the base model", r.base_model_digest + " vs " + merged.base_model_digest);
    const std::string diff = lora_difference(core::run_lora(r, in), lora);
    if (!diff.empty()) differs("the LoRA setup", diff);
    const std::string s = run_seed(r.config_json);
    if (s != seed) differs("the seed", s + " vs " + seed);
    for (auto& m : r.methods) {
      if (merged.find_method(m.name))
        throw ConfigError(in + ": method '" + m.name + "' is already in " + inputs[0] +
                          " or an earlier input; merge runs of different methods");
      merged.methods.push_back(std::move(m));
    }
  }
  merged.command_line = command_line;
  merged.software_version = kVersion;
  merged.created = store::utc_now();
  store::write_run_file(out, merged);
  return merged;
}

}  // namespace lorascape::analysis
