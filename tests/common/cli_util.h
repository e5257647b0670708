// Helpers for the end-to-end tests that run the `lorascape` binary.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace lorascape::test {

struct CliResult {
  int code;
  std::string out;  // stdout and stderr
};

// Runs the CLI (LORASCAPE_CLI) with `args`, stdout+stderr captured, in the cache folder
// `cache`; `env` is prepended to the command (e.g. "OMP_NUM_THREADS=1 ").
inline CliResult run_cli(const std::string& args, const std::string& cache,
                         const std::string& prefix = "") {
  const std::string cmd = "LORASCAPE_CACHE='" + cache + "' " + prefix + "'" +
                          std::string(LORASCAPE_CLI) + "' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = p ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The configuration of a tiny run: a one-layer model, two short tasks (weekday, arith), three
// steps per task, one thread: seconds per run. `train_extra` goes into its [train] section,
// `more` after it (further sections).
inline std::string tiny_run_toml(const std::string& train_extra = "",
                                 const std::string& more = "") {
  return "threads = 1\ndevice = \"cpu\"\n"
         "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\nd_ff = 64\n"
         "[pretrain]\nsteps = 5\ncorpus_lines = 100\n"
         "[tasks]\nnames = [\"weekday\", \"arith\"]\ntrain = 40\neval = 10\ntest = 20\n"
         "[train]\nsteps = 3\n" +
         train_extra + more;
}

inline size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace lorascape::test
