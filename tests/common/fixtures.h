// Fixtures shared by test processes: ctest runs every test case in its own process, so a
// fixture made in SetUpTestSuite would be made again for each case. These are made once in the
// build tree (LORASCAPE_TEST_CACHE/fixtures), under a file lock, and reused by every process:
//
//   shared_cli_run()       a tiny run with seq and er (snapshots every step), for the CLI tests
//   training_base_model()  the small pretrained base model of the training tests
//
// ctest makes them first (tests/fixtures/make_fixtures.cpp, FIXTURES_SETUP in
// tests/CMakeLists.txt); a test binary run by hand makes them itself when they are absent.
// A fixture folder is keyed by the lorascape binary's modification time, so a rebuilt binary
// gets a fresh one.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

#include "core/base_model.h"
#include "core/config.h"
#include "tests/common/cli_util.h"

namespace lorascape::test {

// The folder of fixture `name`, made by make(dir) once across processes: the first process
// holds the lock while it makes it; the others wait and then find it done (marker file
// `.done`). Folders of the same name made for an older build are removed.
inline std::string shared_fixture(const std::string& name,
                                  const std::function<void(const std::string&)>& make) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(LORASCAPE_TEST_CACHE) / "fixtures";
  fs::create_directories(root);
  const auto stamp = fs::last_write_time(LORASCAPE_CLI).time_since_epoch().count();
  const fs::path dir = root / (name + "-" + std::to_string(stamp));
  const int fd = ::open((root / (name + ".lock")).c_str(), O_CREAT | O_RDWR, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0)
    throw std::runtime_error("cannot lock the test fixture " + name + " in " + root.string());
  if (!fs::exists(dir / ".done")) {
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && e.path().filename().string().rfind(name + "-", 0) == 0)
        fs::remove_all(e.path());
    fs::create_directories(dir);
    try {
      make(dir.string());
    } catch (...) {
      ::close(fd);  // releases the lock; the next process tries again
      throw;
    }
    std::ofstream(dir / ".done") << "made by process " << ::getpid() << "\n";
  }
  ::close(fd);
  return dir.string();
}

// A tiny run (tiny_run_toml) trained with seq and er, snapshots every step and a replay
// buffer of 16: `h5` is its run file, `cache` the cache folder holding its base model (give it
// to run_cli), `config` its TOML. Read it, never write next to it: other processes share it.
struct SharedRun {
  std::string h5, cache, config;
};
inline const SharedRun& shared_cli_run() {
  static const SharedRun run = [] {
    SharedRun r;
    const std::string dir = shared_fixture("cli-run", [](const std::string& d) {
      std::ofstream(d + "/tiny.toml")
          << tiny_run_toml("snapshot_every = 1\n", "[replay]\nbuffer = 16\n");
      for (const char* m : {"seq", "er"}) {
        const auto res = run_cli(
            "-q train --config " + d + "/tiny.toml --method " + m + " --set out=" + d + "/run",
            d + "/cache");
        if (res.code != 0)
          throw std::runtime_error(std::string("the shared run failed to train ") + m + ":\n" +
                                   res.out);
      }
    });
    r.h5 = dir + "/run/run.h5";
    r.cache = dir + "/cache";
    r.config = dir + "/tiny.toml";
    return r;
  }();
  return run;
}

// The training tests' configuration: a two-layer model pretrained for 300 steps, tasks of 300
// training and 100 test examples, one thread.
inline core::RunConfig training_config() {
  core::RunConfig c;
  c.model.n_layers = 2;
  c.model.max_seq = 56;
  c.pretrain.steps = 300;
  c.pretrain.corpus_lines = 4000;
  c.device = "cpu";
  c.threads = 1;
  c.tasks.train = 300;
  c.tasks.test = 100;
  c.eval.max_examples = 100;
  return c;
}

// The path of training_config()'s pretrained base model; LORASCAPE_CACHE is set to the
// fixture's folder, so commands of this process find it there.
inline std::string training_base_model() {
  const auto cfg = training_config();
  const std::string dir = shared_fixture("training-base", [&](const std::string& d) {
    setenv("LORASCAPE_CACHE", d.c_str(), 1);
    (void)core::ensure_base_model(cfg, at::kCPU);
  });
  setenv("LORASCAPE_CACHE", dir.c_str(), 1);
  return core::ensure_base_model(cfg, at::kCPU);
}

}  // namespace lorascape::test
