// lorascape — command-line front end of core and analysis: the program, its global flags and
// the table of commands (each group in its own file, cli/cli.h).
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "analysis/mpi.h"
#include "cli/cli.h"
#include "core/device.h"
#include "core/progress.h"
#include "core/version.h"
#include "store/error.h"

using namespace lorascape;
using namespace lorascape::cli;

int run(int argc, char** argv) {
  set_command_line(argc, argv);
  CLI::App app{"lorascape " + std::string(kVersion) +
               " — mode-connectivity analysis of continual LoRA fine-tuning.\n"
               "Train LoRA adapters over task sequences, evaluate them, and study forgetting."};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string("lorascape ") + kVersion + " (" + kGitDescribe + ")");
  bool quiet = false;
  app.add_flag("--quiet,-q", quiet, "no progress bars");

  CommandTable table;
  add_run_commands(app, table);
  add_import_commands(app, table);
  add_scan_commands(app, table);
  add_bench_commands(app, table);
  add_model_commands(app, table);
  add_demo_commands(app, table);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  core::Progress::set_quiet(quiet);
  try {
    for (const Command& c : table)
      if (*c.app) return c.run();
  } catch (const lorascape::Error& e) {
    std::fprintf(stderr, "lorascape: error: %s\n", cli_message(e.what()).c_str());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "lorascape: error: %s\n", e.what_without_backtrace());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lorascape: error: %s\n", e.what());
    return 2;
  }
  return 0;
}

int main(int argc, char** argv) {
  core::keep_freed_memory();
  analysis::Mpi::init(&argc, &argv);
  const int rc = run(argc, argv);
  if (rc != 0 && analysis::Mpi::instance().size() > 1)
    analysis::Mpi::abort(rc);  // never leave ranks waiting
  analysis::Mpi::finalize();
  return rc;
}
