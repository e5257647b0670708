#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "analysis/adapter_ref.h"
#include "analysis/import_run.h"
#include "cli/cli.h"
#include "cli/doctor.h"
#include "core/adapter.h"
#include "core/base_model.h"
#include "core/device.h"
#include "core/evaluate.h"
#include "core/metrics.h"
#include "core/run_file_io.h"
#include "core/strategies.h"
#include "core/tasks.h"
#include "core/text_codec.h"
#include "core/version.h"
#include "store/error.h"
#include "store/run_file.h"

namespace fs = std::filesystem;

namespace lorascape::cli {

using namespace lorascape::core;

namespace {

int cmd_tasks(int64_t seed) {
  SplitSizes sizes;
  sizes.train = 1;
  sizes.eval = 1;
  sizes.test = 1;
  std::printf(
      "Built-in task suite (seed %lld). Each task: train/eval/test splits generated from the "
      "seed.\n\n",
      static_cast<long long>(seed));
  for (const auto& name : builtin_task_names()) {
    Task t = make_builtin_task(name, static_cast<uint64_t>(seed), sizes);
    std::printf("%-10s %-7s %s\n", t.name.c_str(), to_string(t.kind), t.description.c_str());
    std::printf("           e.g. \"%s\" -> \"%s\"\n", t.train[0].prompt.c_str(),
                t.train[0].answer.c_str());
  }
  std::printf(
      "\nUser data: set tasks.source to a folder <root>/<task>/{train,eval,test}.json[l] "
      "of {\"prompt\", \"answer\"} records.\n");
  return 0;
}

int cmd_config() {
  std::printf(
      "Configuration keys (TOML sections by prefix; defaults shown). Override with --set "
      "key=value.\n\n");
  for (const auto& f : config_fields())
    std::printf("%-22s %-16s %-28s %s\n", f.key.c_str(), f.type.c_str(), f.default_value.c_str(),
                f.help.c_str());
  return 0;
}

int cmd_pretrain(const ConfigOptions& co, const std::string& out) {
  RunConfig cfg = co.resolve();
  set_threads(cfg.threads);
  const auto device = resolve_device(cfg.device);
  if (out.empty()) {
    cfg.base = "auto";
    const std::string path = ensure_base_model(cfg, device);
    std::printf("base model: %s\n", path.c_str());
    return 0;
  }
  PretrainReport rep;
  Transformer m = pretrain_base_model(cfg.model, cfg.pretrain, cfg.seed, device, &rep);
  nlohmann::json info = {{"config", cfg.to_json()},
                         {"first_loss", rep.first_loss},
                         {"final_loss", rep.final_loss},
                         {"command_line", command_line()}};
  save_base_model(out, *m, info);
  std::printf("base model: %s (loss %.3f -> %.3f in %lld steps, %.1f s)\n", out.c_str(),
              rep.first_loss, rep.final_loss, static_cast<long long>(rep.steps), rep.seconds);
  return 0;
}

int cmd_train(const ConfigOptions& co, const std::string& method) {
  RunConfig cfg = co.resolve();
  if (!method.empty()) cfg.train.method = method;
  RunOutput out = run_training(cfg, command_line());
  print_result(out);
  std::printf("\nresults: %s/results.json   adapters: %s/adapters/\n", out.out_dir.c_str(),
              out.out_dir.c_str());
  return 0;
}

int cmd_eval(const ConfigOptions& co, const std::string& adapter, const std::string& base,
             const std::vector<std::string>& task_names, bool greedy) {
  RunConfig cfg = co.resolve();
  if (!task_names.empty()) cfg.tasks.names = task_names;
  set_threads(cfg.threads);
  const auto dev = resolve_device(cfg.device);
  Transformer m = model_with_adapter(adapter, base, dev);
  set_prompt_template(*m, cfg.tasks.prompt_template);
  const auto tasks = load_tasks(cfg);
  check_tasks_fit(m->codec(), tasks, m->config().max_seq);
  std::printf("%-12s %8s %10s %12s%s\n", "task", "loss", "token_acc", "exact_match",
              greedy ? "  greedy_em" : "");
  for (const auto& t : tasks) {
    Scores s = evaluate_examples(*m, eval_split(t, cfg), cfg.eval.max_examples, cfg.eval.batch);
    std::printf("%-12s %8.4f %10.3f %12.3f", t.name.c_str(), s.loss, s.token_acc, s.exact_match);
    if (greedy)
      std::printf("  %9.3f", greedy_exact_match(*m, eval_split(t, cfg), cfg.eval.max_examples));
    std::printf("\n");
  }
  return 0;
}

int cmd_generate(const std::string& adapter, const std::string& base, const std::string& prompt,
                 int64_t max_new, const std::string& device) {
  Transformer m = model_with_adapter(adapter, base, resolve_device(device));
  std::printf("%s\n", greedy_generate(*m, prompt, max_new).c_str());
  return 0;
}

int cmd_export_adapter(const std::string& ref, const std::string& out) {
  if (ref.rfind(".h5:") == std::string::npos)
    throw ConfigError(
        "'" + ref + "': expected RUN.h5:METHOD/STAGE[/KEY], e.g. run.h5:seq/2 or run.h5:seq/arith");
  const analysis::AdapterSource src = analysis::load_adapter_ref(ref);
  analysis::save_source_adapter(src, ref, out);
  std::printf("wrote %s (method %s, stage %d: %s, adapter %s)\n", out.c_str(),
              src.info["method"].get<std::string>().c_str(), src.info["stage"].get<int>(),
              src.info["task"].get<std::string>().c_str(),
              src.info["key"].get<std::string>().c_str());
  return 0;
}

// The options of this file's commands, kept alive by the command table.
struct RunState {
  int64_t task_seed = 1;
  ConfigOptions pre_co;
  std::string pre_out;
  ConfigOptions train_co;
  std::string method;
  ConfigOptions eval_co;
  std::string eval_adapter;
  std::string eval_base;
  std::vector<std::string> eval_tasks;
  bool greedy = false;
  std::string gen_adapter;
  std::string gen_base;
  std::string gen_prompt;
  std::string gen_device = "auto";
  int64_t gen_max = 32;
  std::vector<std::string> cmp_paths;
  std::string cmp_score = "exact_match";
  std::string cmp_csv;
  std::string exp_ref;
  std::string exp_out;
};

}  // namespace

namespace {
bool many_files(const std::vector<std::string>& paths) {
  return paths.size() > 1;
}
}  // namespace

// One row per method (its reported learner), then one per other learner ("ilora/fast").
// Several run files (e.g. one per seed, same tasks): mean ± sample standard deviation.
int compare_runs(const std::vector<std::string>& paths, const std::string& score,
                 const std::string& csv) {
  check_text_output(csv, paths, "csv");  // before any work; never over a run file
  const auto& names = metric_names();
  std::vector<std::string> labels;                                 // first-seen order
  std::map<std::string, std::vector<std::vector<double>>> values;  // label -> per file -> metric
  std::vector<std::string> tasks;
  std::vector<std::string> not_evaluated;  // "file: method" imported without evaluation
  for (const auto& path : paths) {
    const store::RunFileData run = store::read_run_file(path);
    if (tasks.empty())
      tasks = run.tasks;
    else if (run.tasks != tasks)
      throw ConfigError(path + ": its tasks differ from " + paths.front() +
                        "'s (compare runs of one task sequence)");
    auto add = [&](const std::string& label,
                   const std::map<std::string, std::map<std::string, double>>& metrics) {
      auto it = metrics.find(score);
      if (it == metrics.end())
        throw ConfigError(path + ": method '" + label + "' has no metrics for score '" + score +
                          "' (use --score exact_match, token_acc or loss)");
      std::vector<double> row;
      for (const auto& n : names) {
        auto v = it->second.find(n);
        row.push_back(v == it->second.end() ? std::nan("") : v->second);
      }
      if (!values.count(label)) labels.push_back(label);
      values[label].push_back(std::move(row));
    };
    for (const auto& m : run.methods) {
      if (analysis::method_not_evaluated(m.config_json))
        not_evaluated.push_back((many_files(paths) ? path + ": " : "") + m.name);
      add(m.name, m.metrics);
      for (const auto& [key, l] : m.learners) add(m.name + "/" + key, l.metrics);
    }
  }
  const bool many = paths.size() > 1;
  std::printf("%s: %zu tasks (%s), metrics on %s%s\n\n%-12s",
              many ? (std::to_string(paths.size()) + " run files").c_str() : paths[0].c_str(),
              tasks.size(), tasks.empty() ? "" : (tasks.front() + " … " + tasks.back()).c_str(),
              score.c_str(),
              many ? ", mean ± sd over the files (n = files holding the method)" : "", "method");
  for (const auto& n : names) std::printf(many ? "%17s" : "%12s", n.c_str());
  std::printf(many ? "   n\n" : "\n");
  std::string table = "method";
  for (const auto& n : names) table += "," + n;
  table += "\n";
  for (const auto& label : labels) {
    const auto& rows = values[label];
    std::printf("%-12s", label.c_str());
    table += label;
    for (size_t j = 0; j < names.size(); ++j) {
      double sum = 0, sq = 0;
      for (const auto& r : rows) sum += r[j];
      const double mean = sum / static_cast<double>(rows.size());
      for (const auto& r : rows) sq += (r[j] - mean) * (r[j] - mean);
      if (many)
        std::printf("%9.4f ±%6.4f", mean,
                    rows.size() > 1 ? std::sqrt(sq / static_cast<double>(rows.size() - 1)) : 0.0);
      else
        std::printf("%12.4f", mean);
      char buf[32];
      std::snprintf(buf, sizeof buf, ",%.6g", mean);
      table += buf;
    }
    if (many) std::printf("%4zu", rows.size());
    std::printf("\n");
    table += "\n";
  }
  if (!not_evaluated.empty()) {
    std::string list;
    for (const auto& n : not_evaluated) list += (list.empty() ? "" : ", ") + n;
    std::printf(
        "\nnot evaluated (imported without --evaluate; their R and metrics are NaN): %s\n"
        "score them with `lorascape import-run --evaluate` and the task data\n",
        list.c_str());
  }
  if (!csv.empty()) {
    write_text_atomic(csv, table);
    std::printf("\nwrote %s%s\n", csv.c_str(), many ? " (means)" : "");
  }
  return 0;
}

void add_run_commands(CLI::App& app, CommandTable& table) {
  auto* doctor =
      app.add_subcommand("doctor", "versions, threads, device, matmul GFLOP/s, BLAS check");
  table.push_back({doctor, [] { return run_doctor(); }});

  auto s = std::make_shared<RunState>();
  auto* tasks = app.add_subcommand("tasks", "list the built-in task suite with an example each");
  tasks->add_option("--seed", s->task_seed, "data seed")->capture_default_str();

  auto* config = app.add_subcommand("config", "list every configuration key with its default");

  auto* pretrain = app.add_subcommand("pretrain", "pretrain the base model on the generic corpus");
  s->pre_co.add(pretrain, false);
  pretrain->add_option("--out,-o", s->pre_out,
                       "write the base model here (default: the cache used by base = \"auto\")");

  auto* train = app.add_subcommand(
      "train", "LoRA fine-tuning over a task sequence (adapters + results.json)");
  s->train_co.add(train, true);
  std::string methods;
  for (const auto& m : method_names()) methods += (methods.empty() ? "" : " | ") + m;
  train->add_option(
      "--method,-m", s->method,
      "continual-learning method (overrides train.method): " + methods + " (docs/methods.md)");

  auto* eval = app.add_subcommand("eval", "evaluate a saved adapter (or a base model) on tasks");
  s->eval_co.add(eval, false);
  eval->add_option("--adapter,-a", s->eval_adapter,
                   "PEFT adapter folder (adapter_model.safetensors + adapter_config.json)");
  eval->add_option("--base,-b", s->eval_base,
                   "base model .safetensors (default: the one recorded in the adapter)");
  eval->add_option("--tasks,-t", s->eval_tasks, "tasks to evaluate (default: the config's)")
      ->delimiter(',');
  eval->add_flag("--greedy", s->greedy, "also compute exact match by greedy decoding (slow)");

  auto* generate = app.add_subcommand("generate", "greedy decoding of one prompt");
  generate->add_option("--prompt,-p", s->gen_prompt, "prompt text")->required();
  generate->add_option("--adapter,-a", s->gen_adapter, "PEFT adapter folder");
  generate->add_option("--base,-b", s->gen_base, "base model .safetensors");
  generate
      ->add_option("--max-new", s->gen_max, "maximum tokens to generate (bytes for a byte model)")
      ->capture_default_str();
  generate->add_option("--device", s->gen_device, "cpu | cuda | auto")->capture_default_str();

  auto* compare =
      app.add_subcommand("compare",
                         "metrics of every method in a run file (RUN.h5); several files "
                         "(e.g. seeds): mean ± sd");
  compare->add_option("run", s->cmp_paths, "run file(s) (OUT/run.h5)")
      ->required()
      ->check(CLI::ExistingFile);
  compare->add_option("--score", s->cmp_score, "exact_match | token_acc | loss (lower is better)")
      ->capture_default_str();
  compare->add_option(
      "--csv", s->cmp_csv,
      "also write the table as CSV (method,OP,BWT,FWT,forgetting,plasticity,stability)");

  auto* export_adapter =
      app.add_subcommand("export-adapter", "write a stage adapter of a run file as a PEFT folder");
  export_adapter
      ->add_option("ref", s->exp_ref,
                   "RUN.h5:METHOD/STAGE[/KEY] (STAGE: 1-based number or task name)")
      ->required();
  export_adapter->add_option("--out,-o", s->exp_out, "PEFT folder to write")->required();

  table.push_back({tasks, [s] { return cmd_tasks(s->task_seed); }});
  table.push_back({config, [] { return cmd_config(); }});
  table.push_back({pretrain, [s] { return cmd_pretrain(s->pre_co, s->pre_out); }});
  table.push_back({train, [s] { return cmd_train(s->train_co, s->method); }});
  table.push_back({eval, [s] {
                     return cmd_eval(s->eval_co, s->eval_adapter, s->eval_base, s->eval_tasks,
                                     s->greedy);
                   }});
  table.push_back({generate, [s] {
                     return cmd_generate(s->gen_adapter, s->gen_base, s->gen_prompt, s->gen_max,
                                         s->gen_device);
                   }});
  table.push_back({compare, [s] { return compare_runs(s->cmp_paths, s->cmp_score, s->cmp_csv); }});
  table.push_back({export_adapter, [s] { return cmd_export_adapter(s->exp_ref, s->exp_out); }});
}

}  // namespace lorascape::cli
