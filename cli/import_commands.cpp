// import-run and export-run: run files from and to adapters trained elsewhere
// (analysis/import_run.h; docs/user-guide.md, "Analyse adapters trained elsewhere").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "analysis/import_run.h"
#include "cli/cli.h"
#include "store/error.h"
#include "store/run_file.h"

namespace lorascape::cli {

namespace {

struct ImportState {
  ConfigOptions co;
  std::vector<std::string> stages;
  std::vector<std::string> layout;  // NAME DIR
  std::vector<std::string> order;
  std::string key = "adapter";
  analysis::ImportOptions opt;
  std::vector<std::string> merge_inputs;
  std::string merge_out;
  bool merge_force = false;
  std::string exp_run;
  std::string exp_out;
  bool exp_force = false;
};

int cmd_import_run(ImportState& s) {
  analysis::ImportOptions opt = s.opt;
  std::string note;
  if (!s.layout.empty()) {
    opt.stages = analysis::layout_stages(s.layout[0], s.layout[1], s.order, s.key, &note);
    opt.source = {{"layout", s.layout[0]}, {"folder", s.layout[1]}, {"order", note}};
  } else if (!s.order.empty()) {
    throw ConfigError("--order goes with --layout (give the stages in training order instead)");
  }
  for (const auto& spec : s.stages) opt.stages.push_back(analysis::parse_import_stage(spec, s.key));
  const core::RunConfig data = s.co.resolve();
  const analysis::ImportResult r = analysis::import_run(opt, data, command_line());
  std::string tasks, keys;
  for (const auto& t : r.tasks) tasks += (tasks.empty() ? "" : ", ") + t;
  for (const auto& k : r.keys) keys += (keys.empty() ? "" : ", ") + k;
  if (!note.empty()) std::printf("%s: %s\n", s.layout[1].c_str(), note.c_str());
  std::printf("%s %s: method %s, %zu tasks (%s), adapter keys %s (reported: %s), base model %s\n",
              r.added ? "added to" : "wrote", opt.out.c_str(), opt.method.c_str(), r.tasks.size(),
              tasks.c_str(), keys.c_str(), r.reported.c_str(), r.base_path.c_str());
  if (opt.evaluate) {
    print_result({r.result, r.result.metrics("exact_match"), ""});
  } else {
    std::printf(
        "not evaluated: R and the metrics are NaN (add --evaluate and the task data to score "
        "every stage on every task)\n");
  }
  return 0;
}

int cmd_export_run(const ImportState& s) {
  const analysis::ExportResult r = analysis::export_run(s.exp_run, s.exp_out, s.exp_force);
  std::printf("wrote %zu adapter folders, stages.json and README.txt to %s\n", r.dirs.size(),
              s.exp_out.c_str());
  if (!r.commands.empty()) {
    std::printf("to recreate the run file, in %s:\n", s.exp_out.c_str());
    for (const auto& c : r.commands) std::printf("  %s\n", c.c_str());
  }
  return 0;
}

int cmd_merge_runs(const ImportState& s) {
  const store::RunFileData r =
      analysis::merge_runs(s.merge_inputs, s.merge_out, s.merge_force, command_line());
  std::string methods;
  for (const auto& m : r.methods) methods += (methods.empty() ? "" : ", ") + m.name;
  std::printf("wrote %s: %zu methods (%s) over %zu tasks\n", s.merge_out.c_str(), r.methods.size(),
              methods.c_str(), r.tasks.size());
  return 0;
}

}  // namespace

void add_import_commands(CLI::App& app, CommandTable& table) {
  auto s = std::make_shared<ImportState>();
  auto* imp = app.add_subcommand(
      "import-run",
      "build a run file (RUN.h5) from LoRA adapters trained elsewhere (PEFT folders, LLMCL "
      "output); --evaluate fills R as training does");
  imp->add_option("stages", s->stages,
                  "TASK=DIR or TASK/KEY=DIR, one PEFT adapter folder per task (and adapter key), "
                  "in training order");
  imp->add_option("--out,-o", s->opt.out,
                  "run file to write; an existing one gets the method added (same base model, "
                  "tasks and LoRA setup)")
      ->required();
  imp->add_option("--method,-m", s->opt.method, "the method's name in the run file")
      ->capture_default_str();
  imp->add_option("--key,-k", s->key,
                  "adapter key of stages given as TASK=DIR and of the layout's adapters (e.g. "
                  "fast, slow)")
      ->capture_default_str();
  imp->add_option("--reported", s->opt.reported,
                  "adapter key reported as the method's model (default: the only key, or slow)");
  imp->add_option("--layout", s->layout,
                  "NAME DIR: the stages of another program's output folder (llmcl)")
      ->expected(2)
      ->allow_extra_args(false);
  imp->add_option("--order", s->order,
                  "with --layout: the tasks in training order, e.g. LLMCL's --dataset_names "
                  "(default: read from the folder)")
      ->delimiter(',');
  imp->add_option("--base,-b", s->opt.base,
                  "base model file or Hugging Face model folder (default: the config's base, "
                  "else the cached model the adapters name)");
  imp->add_flag("--evaluate,-e", s->opt.evaluate,
                "evaluate every stage on every task (and the base model) to fill R");
  imp->add_flag("--force", s->opt.force, "replace a method of the same name in --out");
  s->co.add(imp, false);

  auto* exp = app.add_subcommand(
      "export-run",
      "write every stage adapter of a run file as PEFT folders, with a manifest and the "
      "import-run commands that recreate it");
  exp->add_option("run", s->exp_run, "run file (RUN.h5)")->required()->check(CLI::ExistingFile);
  exp->add_option("--out,-o", s->exp_out, "folder to write (new or empty)")->required();
  exp->add_flag("--force", s->exp_force,
                "write into a non-empty folder, replacing same-named files");

  auto* merge = app.add_subcommand(
      "merge-runs",
      "one run file holding the methods of several runs of one experiment (same tasks, base "
      "model, LoRA setup and seed; e.g. one `train` or `sweep` row per method), for analyses "
      "and reports across methods");
  merge->add_option("runs", s->merge_inputs, "run files (RUN.h5), two or more")
      ->required()
      ->check(CLI::ExistingFile);
  merge->add_option("--out,-o", s->merge_out, "the run file to write")->required();
  merge->add_flag("--force", s->merge_force, "replace an existing --out");

  table.push_back({imp, [s] { return cmd_import_run(*s); }});
  table.push_back({merge, [s] { return cmd_merge_runs(*s); }});
  table.push_back({exp, [s] { return cmd_export_run(*s); }});
}

}  // namespace lorascape::cli
