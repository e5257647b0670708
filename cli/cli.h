// The lorascape command line. Each group of commands lives in its own file, which adds its
// subcommands and their options to the program and registers what each runs in one table
// (Command); cli/main.cpp parses the command line, runs the command given and maps errors to
// one line and exit code 2.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/adapter.h"
#include "core/config.h"
#include "core/model.h"
#include "core/run.h"

namespace lorascape::cli {

// One subcommand and what runs when it is given; run returns the exit code.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
using CommandTable = std::vector<Command>;

// The groups, in the order `lorascape --help` lists them (cli/main.cpp).
void add_run_commands(CLI::App& app, CommandTable& table);     // doctor, tasks, config, pretrain,
                                                               // train, eval, generate, compare,
                                                               // export-adapter
void add_import_commands(CLI::App& app, CommandTable& table);  // import-run, export-run
void add_scan_commands(CLI::App& app, CommandTable& table);    // scan …, geometry, sharpness,
                                                               // analyse-run, merge
void add_bench_commands(CLI::App& app, CommandTable& table);   // bench scan|train|gemm
void add_model_commands(CLI::App& app, CommandTable& table);   // tokenize, inspect, export-hf
void add_demo_commands(CLI::App& app, CommandTable& table);    // plot, demo
void add_sweep_commands(CLI::App& app, CommandTable& table);   // sweep, sweep-merge

// The whole command line as typed, recorded in every file a command writes.
const std::string& command_line();
void set_command_line(int argc, char** argv);

// A library message with its settings (`max_iter`, store/error.h) named as this program's
// flags (--max-iter).
std::string cli_message(const std::string& message);

// --grid NxM (also N for a square grid); ConfigError naming --grid otherwise.
std::pair<int, int> parse_grid(const std::string& text);

// --config FILE and --set key=value, shared by every command that takes a core::RunConfig.
struct ConfigOptions {
  std::string file;
  std::vector<std::string> sets;
  std::string device;
  void add(CLI::App* app, bool config_required) {
    auto* o = app->add_option("--config,-c", file,
                              "TOML configuration (see `lorascape config` and data/configs/)");
    if (config_required) o->required();
    o->check(CLI::ExistingFile);
    app->add_option("--set,-s", sets, "override one key, e.g. --set train.lr=0.001 (repeatable)");
    app->add_option("--device", device, "cpu | cuda | auto (same as --set device=...)");
  }
  core::RunConfig resolve() const {
    core::RunConfig cfg = file.empty() ? core::RunConfig{} : core::load_config(file);
    for (const auto& s : sets) core::apply_override(cfg, s);
    if (!device.empty()) cfg.device = device;
    cfg.validate();
    return cfg;
  }
};

// Each learner's exact-match matrix R and metrics of a finished training, the reported one first.
void print_result(const core::RunOutput& out);

// The base model an adapter was trained on: `base` when given, else the cached lorascape base
// model its adapter_config.json names (digest checked).
std::string base_for_adapter(const core::PeftAdapter& pa, const std::string& base,
                             const std::string& adapter_path);
// The base model (`base`) with the adapter at `adapter_path` (none when empty), on `dev`.
core::Transformer model_with_adapter(const std::string& adapter_path, const std::string& base,
                                     const c10::Device& dev);

// `lorascape compare`: the metrics table of the run files (mean ± sd and the 95 % t confidence
// interval over several), optionally as CSV; with `baseline` (a row label) every other row's
// difference to it, paired by file, with its confidence interval and paired t-test p-value.
int compare_runs(const std::vector<std::string>& paths, const std::string& score,
                 const std::string& csv, const std::string& baseline = "");

}  // namespace lorascape::cli
