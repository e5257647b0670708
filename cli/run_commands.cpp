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
#include "core/stats.h"
#include "core/strategies.h"
#include "core/tasks.h"
#include "core/text_codec.h"
#include "core/version.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/sweep_file.h"

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
  auto print_task = [&](const std::string& name) {
    Task t = make_builtin_task(name, static_cast<uint64_t>(seed), sizes);
    std::printf("%-16s %-7s %s\n", t.name.c_str(), to_string(t.kind), t.description.c_str());
    std::printf("                 e.g. \"%s\" -> \"%s\"\n", t.train[0].prompt.c_str(),
                t.train[0].answer.c_str());
  };
  for (const auto& name : builtin_task_names()) print_task(name);
  std::printf(
      "\nVariants (not in the default sequence; name them in tasks.names): the same tag, rule "
      "and answers in a shifted domain, for transfer studies (data/configs/revisit.toml).\n\n");
  for (const auto& name : builtin_variant_names()) print_task(name);
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
  std::string cmp_baseline;
  std::string exp_ref;
  std::string exp_out;
};

}  // namespace

namespace {
bool many_files(const std::vector<std::string>& paths) {
  return paths.size() > 1;
}
}  // namespace

namespace {
std::string fmt(const char* f, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
}  // namespace

// One row per method (its reported learner), then one per other learner ("ilora/fast").
// Several run files (e.g. one per seed, same tasks): mean ± sample standard deviation and the
// 95 % Student-t confidence interval of the mean; with a baseline, the difference to it paired
// by file (or, for a method in a file without the baseline, with the baseline's file of the same
// seed), its confidence interval and the two-sided paired t-test.
int compare_runs(const std::vector<std::string>& paths, const std::string& score,
                 const std::string& csv, const std::string& baseline) {
  check_text_output(csv, paths, "csv");  // before any work; never over a run file
  const auto& names = metric_names();
  std::vector<std::string> labels;  // first-seen order
  // label -> entry -> metric values; an entry is a run file, or a row (run) of a sweep file
  std::map<std::string, std::map<size_t, std::vector<double>>> values;
  std::vector<std::string> tasks;
  std::vector<std::string> not_evaluated;  // "file: method" imported without evaluation
  std::vector<int64_t> seeds;              // each entry's seed (-1 when unknown)
  auto add = [&](const std::string& label, size_t entry, std::vector<double> row) {
    if (!values.count(label)) labels.push_back(label);
    values[label][entry] = std::move(row);
  };
  for (const std::string& path : paths) {
    if (store::read_file_format(path) == store::kSweepFileFormat) {
      // A sweep: each row is one run (method, grid point, seed) on the sweep's split.
      const store::SweepData sw = store::read_sweep_file(path);
      if (sw.spec.score != score)
        throw ConfigError(path + ": a sweep's metrics are on " + sw.spec.score +
                          "; compare it with --score " + sw.spec.score + ", or compare its runs' " +
                          "run files (sweep --runs DIR: DIR/row-K/run.h5) with --score " + score);
      for (const auto& r : sw.rows) {
        std::string label = r.method;
        if (sw.spec.num_points() > 1) {  // which grid point: METHOD[KEY=V;…]
          std::string point;
          for (const auto& [key, value] : sw.spec.point_settings(r.point))
            point += (point.empty() ? "" : ";") + key + "=" + value;
          label += "[" + point + "]";
        }
        std::vector<double> row;
        for (const auto& n : names) {
          const auto it = std::find(sw.spec.metrics.begin(), sw.spec.metrics.end(), n);
          row.push_back(it == sw.spec.metrics.end()
                            ? std::nan("")
                            : r.metrics.at(static_cast<size_t>(it - sw.spec.metrics.begin())));
        }
        seeds.push_back(r.seed);
        add(label, seeds.size() - 1, std::move(row));
      }
      continue;
    }
    const store::RunFileData run = store::read_run_file(path, store::TensorSelection::none());
    const auto cfg = nlohmann::json::parse(run.config_json, nullptr, false);
    seeds.push_back(cfg.is_object() && cfg.value("seed", nlohmann::json()).is_number_integer()
                        ? cfg["seed"].get<int64_t>()
                        : -1);
    const size_t entry = seeds.size() - 1;
    if (tasks.empty())
      tasks = run.tasks;
    else if (run.tasks != tasks)
      throw ConfigError(path + ": its tasks differ from " + paths.front() +
                        "'s (compare runs of one task sequence)");
    auto add_metrics = [&](const std::string& label,
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
      add(label, entry, std::move(row));
    };
    for (const auto& m : run.methods) {
      if (analysis::method_not_evaluated(m.config_json))
        not_evaluated.push_back((many_files(paths) ? path + ": " : "") + m.name);
      add_metrics(m.name, m.metrics);
      for (const auto& [key, l] : m.learners) add_metrics(m.name + "/" + key, l.metrics);
    }
  }
  if (!baseline.empty() && !values.count(baseline)) {
    std::string known;
    for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
    throw ConfigError("--baseline " + baseline + ": no such method in the run file(s) (" + known +
                      ")");
  }
  auto column = [&](const std::string& label, size_t j) {
    std::vector<double> x;
    for (const auto& [file, row] : values[label]) x.push_back(row[j]);
    return x;
  };
  // The baseline's row paired with `file`'s: the same file's, else (methods trained into files
  // of their own, e.g. by `sweep`) that of the one file of the same seed that holds it.
  auto baseline_row = [&](size_t file) -> const std::vector<double>* {
    const auto& b = values[baseline];
    if (auto it = b.find(file); it != b.end()) return &it->second;
    const std::vector<double>* found = nullptr;
    for (const auto& [g, row] : b)
      if (seeds[file] >= 0 && seeds[g] == seeds[file]) {
        if (found) return nullptr;  // two files of that seed: which one is ambiguous
        found = &row;
      }
    return found;
  };
  // The pairs (label, baseline), metric j.
  auto paired = [&](const std::string& label, size_t j) {
    std::vector<double> a, b;
    for (const auto& [file, row] : values[label]) {
      const std::vector<double>* base = baseline_row(file);
      if (!base) continue;
      a.push_back(row[j]);
      b.push_back((*base)[j]);
    }
    return paired_t_test(a, b);
  };
  const bool many = seeds.size() > 1;  // several runs: several files, or a sweep's rows
  const std::string what =
      seeds.size() == paths.size()
          ? std::to_string(paths.size()) + " run files"
          : std::to_string(paths.size()) + " files, " + std::to_string(seeds.size()) + " runs";
  // (sweep files do not list their tasks)
  const std::string task_text = tasks.empty() ? std::string()
                                              : std::to_string(tasks.size()) + " tasks (" +
                                                    tasks.front() + " … " + tasks.back() + "), ";
  // The label column as wide as the longest label (sweep rows: "er[train.lr=0.002]").
  int lw = 12;
  for (const auto& label : labels) lw = std::max(lw, static_cast<int>(label.size()) + 1);
  std::printf("%s: %smetrics on %s%s\n\n%-*s", many ? what.c_str() : paths[0].c_str(),
              task_text.c_str(), score.c_str(),
              many ? ", mean ± sd over the runs (n = runs of the method)" : "", lw, "method");
  for (const auto& n : names) std::printf(many ? "%17s" : "%12s", n.c_str());
  std::printf(many ? "   n\n" : "\n");
  // CSV: one file: method,<metric>…; several files or a baseline: per metric its mean, sd and
  // confidence interval, and the paired difference to the baseline.
  const bool long_csv = many || !baseline.empty();
  std::string table = long_csv ? "method,n" : "method";
  for (const auto& n : names) {
    table += "," + n;
    if (long_csv) table += "," + n + "_sd," + n + "_ci_low," + n + "_ci_high";
    if (!baseline.empty())
      table += "," + n + "_diff," + n + "_diff_ci_low," + n + "_diff_ci_high," + n + "_p";
  }
  if (!baseline.empty()) table += ",n_pairs";
  table += "\n";
  for (const auto& label : labels) {
    std::printf("%-*s", lw, label.c_str());
    table += label;
    if (long_csv) table += "," + std::to_string(values[label].size());
    size_t pairs = 0;
    for (size_t j = 0; j < names.size(); ++j) {
      const MeanCi m = mean_ci(column(label, j));
      if (many)
        std::printf("%9.4f ±%6.4f", m.mean, m.n > 1 ? m.sd : 0.0);
      else
        std::printf("%12.4f", m.mean);
      table += fmt(",%.6g", m.mean);
      if (long_csv) table += fmt(",%.6g", m.sd) + fmt(",%.6g", m.ci_low) + fmt(",%.6g", m.ci_high);
      if (!baseline.empty()) {
        const PairedT d = paired(label, j);
        pairs = d.diff.n;
        table += fmt(",%.6g", d.diff.mean) + fmt(",%.6g", d.diff.ci_low) +
                 fmt(",%.6g", d.diff.ci_high) + fmt(",%.6g", d.p);
      }
    }
    if (!baseline.empty()) table += "," + std::to_string(pairs);
    if (many) std::printf("%4zu", values[label].size());
    std::printf("\n");
    table += "\n";
  }
  if (many) {
    std::printf(
        "\n95%% confidence interval of the mean (Student t, n − 1 degrees of freedom; n < 2: "
        "nan)\n%-*s",
        lw, "method");
    for (const auto& n : names) std::printf("%21s", n.c_str());
    std::printf("\n");
    for (const auto& label : labels) {
      std::printf("%-*s", lw, label.c_str());
      for (size_t j = 0; j < names.size(); ++j) {
        const MeanCi m = mean_ci(column(label, j));
        std::printf("   [%7.4f, %7.4f]", m.ci_low, m.ci_high);
      }
      std::printf("\n");
    }
  }
  if (!baseline.empty()) {
    std::printf(
        "\ndifference to %s (method − %s), paired by run file (or by seed across files): mean, "
        "95%% CI (Student t, n − 1 df), two-sided paired t-test p\n%-*s %-11s %9s %21s %9s "
        "%4s\n",
        baseline.c_str(), baseline.c_str(), lw - 1, "method", "metric", "diff", "95% CI", "p", "n");
    for (const auto& label : labels) {
      if (label == baseline) continue;
      for (size_t j = 0; j < names.size(); ++j) {
        const PairedT d = paired(label, j);
        std::printf("%-*s %-11s %+9.4f   [%+7.4f, %+7.4f] %9.4g %4zu\n", lw - 1, label.c_str(),
                    names[j].c_str(), d.diff.mean, d.diff.ci_low, d.diff.ci_high, d.p, d.diff.n);
      }
    }
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
    const std::string what =
        !long_csv ? ""
                  : std::string(" (mean, sd, CI per metric") +
                        (baseline.empty() ? "" : ", paired difference to " + baseline) + ")";
    std::printf("\nwrote %s%s\n", csv.c_str(), what.c_str());
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
                         "(e.g. seeds) or sweep files: mean ± sd, 95% CI, paired tests with "
                         "--baseline");
  compare
      ->add_option("run", s->cmp_paths,
                   "run file(s) (OUT/run.h5) or sweep file(s) (`lorascape sweep`: each row "
                   "a run; METHOD[KEY=V;…] per grid point of a sweep of several)")
      ->required()
      ->check(CLI::ExistingFile);
  compare->add_option("--score", s->cmp_score, "exact_match | token_acc | loss (lower is better)")
      ->capture_default_str();
  compare->add_option("--csv", s->cmp_csv,
                      "also write the table as CSV (one file: method,OP,BWT,FWT,forgetting,"
                      "plasticity,stability; several files or --baseline: method,n and per "
                      "metric its mean, _sd, _ci_low, _ci_high and with --baseline _diff, "
                      "_diff_ci_low, _diff_ci_high, _p; docs/metrics.md)");
  compare->add_option("--baseline", s->cmp_baseline,
                      "method (row label) to compare every other with: the difference per run "
                      "file (paired by file), its mean, 95% CI and paired t-test p-value");

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
  table.push_back({compare, [s] {
                     return compare_runs(s->cmp_paths, s->cmp_score, s->cmp_csv, s->cmp_baseline);
                   }});
  table.push_back({export_adapter, [s] { return cmd_export_adapter(s->exp_ref, s->exp_out); }});
}

}  // namespace lorascape::cli
