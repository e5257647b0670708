#include "core/run.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/base_model.h"
#include "core/checkpoint.h"
#include "core/device.h"
#include "core/run_file_io.h"
#include "core/strategies.h"
#include "core/text_codec.h"
#include "core/version.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;

std::vector<Task> load_tasks(const RunConfig& cfg) {
  if (cfg.tasks.source == "builtin") {
    SplitSizes sizes;
    sizes.train = static_cast<int>(cfg.tasks.train);
    sizes.eval = static_cast<int>(cfg.tasks.eval);
    sizes.test = static_cast<int>(cfg.tasks.test);
    return builtin_suite(static_cast<uint64_t>(cfg.seed), sizes, cfg.tasks.names);
  }
  return load_trace_tasks(cfg.tasks.source, cfg.tasks.names);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw FormatError("cannot write " + tmp + " (check the folder exists and is writable)");
    f << text;
    f.flush();
    if (!f) throw FormatError("cannot write " + tmp + " (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw FormatError("cannot rename " + tmp + " to " + path + " (check permissions)");
  }
}

void check_text_output(const std::string& path, const std::vector<std::string>& inputs,
                       const std::string& setting) {
  if (path.empty()) return;
  const std::string hint = " (write the " + setting + " to a new path)";
  auto refuse = [&](const std::string& why) {
    throw ConfigError("`" + setting + "` " + path + ": " + why + "; not overwriting it" + hint);
  };
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  const bool exists = !ec && fs::exists(st);
  if (exists && !fs::is_regular_file(st)) refuse("exists and is not a regular file");
  for (const std::string& in : inputs) {
    // The input itself and, for a reference FILE:METHOD/STAGE, every prefix before a ':'.
    for (size_t cut = 0; cut != std::string::npos;) {
      cut = in.find(':', cut + 1);
      const std::string file = cut == std::string::npos ? in : in.substr(0, cut);
      std::error_code e2;
      if (fs::exists(file, e2) && fs::equivalent(file, path, e2))
        refuse("is an input of this command (" + file + ")");
    }
  }
  const std::string ext = fs::path(path).extension().string();
  for (const char* bad : {".h5", ".hdf5", ".safetensors"})
    if (ext == bad) refuse(std::string("a text output must not be named *") + bad);
  if (!exists) return;
  std::ifstream f(path, std::ios::binary);
  char head[4096];
  f.read(head, sizeof head);
  const std::string bytes(head, static_cast<size_t>(f.gcount()));
  if (bytes.rfind("\x89HDF\r\n\x1a\n", 0) == 0) refuse("is an HDF5 file");
  if (bytes.find('\0') != std::string::npos) refuse("is a binary file");
}

namespace {
nlohmann::json metrics_json(const ClMetrics& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, v] : named(m))
    j[name] = std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
  return j;
}
}  // namespace

RunOutput run_training(const RunConfig& requested, const std::string& command_line,
                       const RunOptions& options) {
  requested.validate();
  RunConfig cfg = requested;
  set_threads(cfg.threads);
  const c10::Device device = resolve_device(cfg.device);
  std::vector<Task> tasks = load_tasks(cfg);
  (void)make_strategy(cfg);  // fail on a bad method before any long work

  std::error_code ec;
  fs::create_directories(cfg.out, ec);
  if (ec) throw ConfigError("out: cannot create folder '" + cfg.out + "': " + ec.message());

  const std::string base_path = ensure_base_model(cfg, device);
  Transformer model = load_base_model(base_path);
  set_training_threads(cfg.threads, model->config().d_model);
  set_prompt_template(*model, cfg.tasks.prompt_template);
  check_tasks_fit(model->codec(), tasks, model->config().max_seq);
  if (cfg.base != "auto")
    cfg.model =
        model->config();  // a given base model file defines the model: record its dimensions
  else if (!(model->config() == cfg.model))
    throw Error("cached base model does not match model config (delete the cache: " + cache_dir() +
                ")");
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  model->add_lora(cfg.lora);
  model->to(device);

  nlohmann::json identity = {{"base_model", fs::path(base_path).filename().string()},
                             {"base_model_digest", file_digest(base_path)},
                             {"lorascape_version", kVersion}};
  std::cerr << "[lorascape] training " << cfg.train.method << " over " << tasks.size()
            << " tasks on " << device.str()
            << (device.is_cpu() ? ", " + std::to_string(at::get_num_threads()) + " thread" +
                                      (at::get_num_threads() == 1 ? "" : "s") +
                                      (cfg.threads == 0 ? " (auto)" : "")
                                : std::string())
            << " ("
            << (cfg.train.method == "pp"
                    ? "soft prompts of " + std::to_string(cfg.pp.length) + " tokens per task"
                : cfg.train.method == "l2p"
                    ? "a pool of " + std::to_string(cfg.l2p.pool_size) + " prompts of " +
                          std::to_string(cfg.l2p.length) + " tokens, top " +
                          std::to_string(cfg.l2p.top_n)
                    : std::to_string(model->lora_parameters().size()) + " LoRA tensors, rank " +
                          std::to_string(cfg.lora.rank))
            << ")\n";
  RunOutput out;
  out.out_dir = cfg.out;
  Checkpointing checkpoint;
  checkpoint.path = checkpoint_path(cfg.out, cfg.train.method);
  checkpoint.key = resume_key(cfg, identity["base_model_digest"].get<std::string>(), tasks);
  // Test hook (docs/user-guide.md, "Resuming"): stop in this stage so that a test can kill it.
  if (const char* stop = std::getenv("LORASCAPE_TEST_STOP_AT_STAGE"); stop && *stop)
    checkpoint.stop_at_stage = std::atoll(stop);
  out.result = train_continual(cfg, *model, tasks, cfg.out, identity, checkpoint);
  out.metrics = out.result.metrics("exact_match");

  nlohmann::json j;
  j["format"] = "lorascape-run-json";
  j["format_version"] = 1;
  j["lorascape_version"] = kVersion;
  j["git"] = kGitDescribe;
  j["created"] = store::utc_now();
  j["command_line"] = command_line;
  j["config"] = cfg.to_json();
  j["base_model"] = identity;
  j["device"] = device.str();
  j["result"] = out.result.to_json();
  j["metrics_exact_match"] = metrics_json(out.metrics);
  j["metrics_token_acc"] = metrics_json(out.result.metrics("token_acc"));
  j["metrics_loss"] = metrics_json(out.result.metrics("loss"));
  // The run file first: a failed write (a full disk) leaves results.json and config.toml
  // describing what run.h5 holds; config.toml only now, so that a killed training leaves the
  // previous one, which agrees with results.json.
  record_run(cfg.out + "/run.h5", cfg, out.result, identity, command_line);
  write_text_atomic(cfg.out + "/config.toml", "# resolved configuration of this run (lorascape " +
                                                  std::string(kVersion) + ")\n" + cfg.to_toml());
  write_text_atomic(cfg.out + "/results.json", j.dump(2) + "\n");
  if (!options.keep_checkpoint) remove_checkpoint(cfg.out, cfg.train.method);
  return out;
}

std::string format_matrix(const RunResult& r, const std::string& score,
                          const std::string& learner) {
  std::ostringstream s;
  const std::string key = learner.empty() ? r.reported : learner;
  const auto m = r.matrix(score, key);
  const auto b = r.base_row(score);
  char buf[64];
  s << "R[t][i] = " << score << " on task i (columns) after training through task t (rows)";
  if (r.learners.size() > 1) s << ", learner " << key << (key == r.reported ? " (reported)" : "");
  s << "\n";
  std::snprintf(buf, sizeof buf, "%-14s", "after \\ on");
  s << buf;
  for (const auto& t : r.tasks) {
    std::snprintf(buf, sizeof buf, "%10.9s", t.c_str());
    s << buf;
  }
  s << "\n";
  auto row = [&](const std::string& label, const std::vector<double>& v) {
    std::snprintf(buf, sizeof buf, "%-14.14s", label.c_str());
    s << buf;
    for (double x : v) {
      std::snprintf(buf, sizeof buf, "%10.3f", x);
      s << buf;
    }
    s << "\n";
  };
  row("base", b);
  for (size_t t = 0; t < m.size(); ++t) row(std::to_string(t + 1) + " " + r.tasks[t], m[t]);
  return s.str();
}

std::string format_metrics(const ClMetrics& m) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "OP %.3f  BWT %+.3f  FWT %+.3f  forgetting %.3f  plasticity %.3f  stability %.3f",
                m.op, m.bwt, m.fwt, m.forgetting, m.plasticity, m.stability);
  return buf;
}

}  // namespace lorascape::core
