// lorascape — command-line front end of core and analysis: the program, its global flags and
// the table of commands (each group in its own file, cli/cli.h).
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "analysis/mpi.h"
#include "cli/cli.h"
#include "core/device.h"
#include "core/progress.h"
#include "core/version.h"
#include "store/error.h"

using namespace lorascape;
using namespace lorascape::cli;

namespace {
// One line: the message's line breaks become "; " (CLI11 and some libraries use several).
std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::string out;
  for (char c : s) {
    if (c == '\n')
      out += "; ";
    else if (c != '\r')
      out += c;
  }
  return out;
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "lorascape: error: %s\n", one_line(message).c_str());
}

// The subcommand path given ("scan plane"), for messages that have no context of their own.
std::string command_name(const CLI::App& app) {
  std::string name;
  for (const CLI::App* a = &app; a;) {
    const auto subs = a->get_subcommands();
    a = subs.empty() ? nullptr : subs.front();
    if (a) name += (name.empty() ? "" : " ") + a->get_name();
  }
  return name.empty() ? "lorascape" : name;
}

std::string out_of_memory(const CLI::App& app) {
  return "out of memory in `lorascape " + command_name(app) +
         "` while allocating tensors (model, adapters, batches or scan values); use smaller "
         "settings (model sizes, lora.rank, train.batch, eval.batch, grid) or a machine with "
         "more memory";
}
}  // namespace

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
  add_sweep_commands(app, table);
  add_bench_commands(app, table);
  add_model_commands(app, table);
  add_demo_commands(app, table);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line with the prefix (CLI11's own printout takes two, without it).
    const std::string cmd = command_name(app);
    print_error(std::string(e.what()) + " (see `" +
                (cmd == "lorascape" ? cmd : "lorascape " + cmd) + " --help`)");
    return 2;
  }
  core::Progress::set_quiet(quiet);
  try {
    for (const Command& c : table)
      if (*c.app) return c.run();
  } catch (const lorascape::Error& e) {
    print_error(cli_message(e.what()));
    return 2;
  } catch (const c10::OutOfMemoryError& e) {
    print_error(std::string(e.what_without_backtrace()) + " (" + out_of_memory(app) + ")");
    return 2;
  } catch (const c10::Error& e) {
    print_error(e.what_without_backtrace());
    return 2;
  } catch (const std::bad_alloc&) {
    print_error(out_of_memory(app));
    return 2;
  } catch (const std::exception& e) {
    print_error(e.what());
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
  if (rc != 0) {
    // After a failed HDF5 write (a full disk) the library still holds ids it cannot close, and
    // its exit-time clean-up crashed; the error is reported and every file is either complete
    // or untouched (written to a temporary file), so nothing is left to clean up.
    std::fflush(nullptr);
    std::_Exit(rc);
  }
  return rc;
}
