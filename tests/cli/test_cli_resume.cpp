// `lorascape train` resumes after a kill (docs/user-guide.md, "Resuming"): a training killed
// (SIGKILL, sent by this test) in its third stage and rerun with the same command finishes with
// the R matrices, stage adapters and snapshots of an uninterrupted run, bit for bit (threads = 1);
// a changed configuration or a damaged checkpoint trains afresh, as documented.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "store/run_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
namespace store = lorascape::store;
using lorascape::test::run_cli;
using lorascape::test::slurp;

namespace {

// Three tasks (the third stage must exist), dropout so that torch's generator is in play,
// snapshots, small memories: a few seconds per run.
std::string resume_toml() {
  std::string t = lorascape::test::tiny_run_toml(
      "snapshot_every = 2\n",
      "[lora]\ndropout = 0.1\n[replay]\nbuffer = 16\n[ewc]\nfisher_examples = 8\n"
      "[gem]\nmemory = 8\n");
  const std::string from = "names = [\"weekday\", \"arith\"]";
  t.replace(t.find(from), from.size(), "names = [\"weekday\", \"arith\", \"compare\"]");
  return t;
}

struct Stopped {
  bool stopped = false;  // the process stopped itself (the test hook) and was then killed
  std::string out;
};

// Runs the CLI as a child of this process with LORASCAPE_TEST_STOP_AT_STAGE=stage; once it has
// stopped itself there, kills it with SIGKILL.
Stopped run_and_kill_in_stage(const std::vector<std::string>& args, const std::string& cache,
                              int stage, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::setenv("LORASCAPE_CACHE", cache.c_str(), 1);
    ::setenv("LORASCAPE_TEST_STOP_AT_STAGE", std::to_string(stage).c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(LORASCAPE_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(LORASCAPE_CLI, argv.data());
    ::_exit(127);
  }
  Stopped r;
  int status = 0;
  if (::waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    r.stopped = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  r.out = slurp(log);
  return r;
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += " '" + a + "'";
  return s;
}

bool same_adapter(const store::AdapterData& a, const store::AdapterData& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto &x = a.tensors[i], &y = b.tensors[i];
    if (x.name != y.name || x.shape != y.shape || x.values.size() != y.values.size() ||
        std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

// The method's scores, stage adapters and snapshots in two run folders agree bit for bit, and
// so do the PEFT adapter files.
void expect_same_run(const std::string& a, const std::string& b, const std::string& method) {
  const store::RunFileData ra = store::read_run_file(a + "/run.h5"),
                           rb = store::read_run_file(b + "/run.h5");
  const store::MethodData *ma = ra.find_method(method), *mb = rb.find_method(method);
  ASSERT_TRUE(ma && mb) << method;
  ASSERT_EQ(ma->R.size(), 3u);
  for (const auto& [score, R] : ma->R) {
    ASSERT_EQ(R.size(), 3u) << score;
    for (size_t t = 0; t < R.size(); ++t)
      EXPECT_TRUE(lorascape::test::same_bits(R[t], mb->R.at(score).at(t)))
          << method << " R[" << t << "] of " << score;
    EXPECT_TRUE(lorascape::test::same_bits(ma->base.at(score), mb->base.at(score))) << score;
  }
  for (const auto& [key, l] : ma->learners)
    for (const auto& [score, R] : l.R)
      for (size_t t = 0; t < R.size(); ++t)
        EXPECT_TRUE(lorascape::test::same_bits(R[t], mb->learners.at(key).R.at(score).at(t)))
            << method << "/" << key << " R[" << t << "] of " << score;
  ASSERT_EQ(ma->stages.size(), 3u);
  ASSERT_EQ(mb->stages.size(), 3u);
  for (size_t s = 0; s < 3; ++s)
    for (const auto& [key, ad] : ma->stages[s].adapters)
      EXPECT_TRUE(same_adapter(ad, mb->stages[s].adapters.at(key)))
          << method << " stage " << s << " " << key;
  ASSERT_EQ(ma->snapshots.size(), mb->snapshots.size());
  EXPECT_EQ(ma->snapshots.size(), 4u);  // 9 steps, one every 2
  for (size_t s = 0; s < ma->snapshots.size(); ++s) {
    EXPECT_EQ(ma->snapshots[s].step, mb->snapshots[s].step);
    EXPECT_TRUE(same_adapter(ma->snapshots[s].adapter, mb->snapshots[s].adapter))
        << method << " snapshot " << s;
  }
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(a) / "adapters" / method)) {
    if (e.path().filename() != "adapter_model.safetensors") continue;
    const fs::path rel = fs::relative(e.path(), a);
    EXPECT_EQ(slurp(e.path().string()), slurp((fs::path(b) / rel).string())) << rel;
    ++files;
  }
  EXPECT_GE(files, 3u);
}

class Resume : public ::testing::TestWithParam<std::string> {
 protected:
  lorascape::test::TempDir tmp{"resume-" + GetParam()};
  const std::string cache = tmp.file("cache");
  const std::string cfg = tmp.write("resume.toml", resume_toml());
};

}  // namespace

TEST_P(Resume, KilledInTheThirdStageFinishesAsAnUninterruptedRun) {
  const std::string method = GetParam();
  const std::string whole = tmp.file("whole"), killed = tmp.file("killed");
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"train", "--config", cfg,         "--method",
                                    method,  "--set",    "out=" + out};
  };
  auto r = run_cli(join(args(whole)), cache);
  ASSERT_EQ(r.code, 0) << r.out;

  const Stopped s = run_and_kill_in_stage(args(killed), cache, 3, tmp.file("killed.log"));
  ASSERT_TRUE(s.stopped) << s.out;
  EXPECT_NE(s.out.find("stopping in stage 3"), std::string::npos) << s.out;
  const fs::path checkpoint = fs::path(killed) / ".resume" / (method + ".h5");
  ASSERT_TRUE(fs::exists(checkpoint)) << s.out;
  EXPECT_FALSE(fs::exists(fs::path(killed) / "run.h5"));
  EXPECT_FALSE(fs::exists(fs::path(killed) / "results.json"));
  // Stages 1 and 2 are done: their adapters are in place, the third stage's are not.
  EXPECT_FALSE(fs::exists(fs::path(killed) / "adapters" / method / "stage-03-compare"));
  std::vector<std::pair<fs::path, fs::file_time_type>> done;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(killed) / "adapters" / method))
    if (e.path().filename() == "adapter_model.safetensors")
      done.emplace_back(e.path(), fs::last_write_time(e.path()));
  ASSERT_FALSE(done.empty());

  r = run_cli(join(args(killed)), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming " + method + " from stage 3 of 3"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("not resuming"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(checkpoint));
  EXPECT_FALSE(fs::exists(fs::path(killed) / ".resume"));
  // Stages 1 and 2 were not trained again: their adapter files are the ones written before.
  for (const auto& [path, time] : done) EXPECT_EQ(fs::last_write_time(path), time) << path;
  expect_same_run(whole, killed, method);
}

INSTANTIATE_TEST_SUITE_P(Methods, Resume,
                         ::testing::Values("seq", "er", "ilora", "ewc", "olora", "one", "gem",
                                           "agem", "mtl", "pp", "l2p"),
                         [](const auto& info) { return info.param; });

// A changed configuration does not resume: one line says what differs and training starts from
// stage 1 (the result is that of a fresh run); `threads` may change and still resume. A damaged
// checkpoint trains afresh too.
TEST(ResumeKey, ChangedConfigurationTrainsAfreshAndDamageIsNoCrash) {
  lorascape::test::TempDir tmp("resume-key");
  const std::string cache = tmp.file("cache"), cfg = tmp.write("resume.toml", resume_toml());
  const std::string out = tmp.file("run"), fresh = tmp.file("fresh");
  auto args = [&](const std::string& o, const std::string& extra) {
    std::vector<std::string> a{"train", "--config", cfg, "--set", "out=" + o};
    if (!extra.empty()) a.insert(a.end(), {"--set", extra});
    return a;
  };
  Stopped s = run_and_kill_in_stage(args(out, ""), cache, 3, tmp.file("log"));
  ASSERT_TRUE(s.stopped) << s.out;
  const fs::path checkpoint = fs::path(out) / ".resume" / "seq.h5";
  ASSERT_TRUE(fs::exists(checkpoint));

  auto r = run_cli(join(args(out, "train.lr=0.002")), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not resuming seq from " + checkpoint.string() +
                       ": it was made with train.lr = 0.003 (now 0.002); training from stage 1"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("resuming seq from stage"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(checkpoint));
  r = run_cli(join(args(fresh, "train.lr=0.002")), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  expect_same_run(fresh, out, "seq");

  // Other thread counts resume (not part of the key).
  s = run_and_kill_in_stage(args(out, ""), cache, 2, tmp.file("log"));
  ASSERT_TRUE(s.stopped) << s.out;
  r = run_cli(join(args(out, "threads=2")), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming seq from stage 2 of 3"), std::string::npos) << r.out;

  // A damaged checkpoint: one line, then a fresh training.
  s = run_and_kill_in_stage(args(out, ""), cache, 3, tmp.file("log"));
  ASSERT_TRUE(s.stopped) << s.out;
  std::ofstream(checkpoint, std::ios::trunc) << "not a checkpoint";
  r = run_cli(join(args(out, "")), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not resuming seq from " + checkpoint.string() + ": "), std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(checkpoint));
}
