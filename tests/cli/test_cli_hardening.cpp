// Issue 18 (hardening), end to end: the command-line inputs the independent test found
// breaking lorascape, fed exactly. Each is refused with one line `lorascape: error: …`, exit
// code 2, quickly, and no file is lost.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>
#include <string>

#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

using namespace lorascape;
namespace fs = std::filesystem;

namespace {

class CliHardening : public ::testing::Test {
 protected:
  test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const test::SharedRun& shared = test::shared_cli_run();

  // A private copy of the shared run file (never write next to the shared one).
  std::string run_copy() const {
    const std::string h5 = tmp.file("run.h5");
    fs::copy_file(shared.h5, h5, fs::copy_options::overwrite_existing);
    return h5;
  }

  // Runs `args`; expects exit code 2 and one line starting "lorascape: error:" holding `part`.
  void expect_refused(const std::string& args, const std::string& part) const {
    const auto r = test::run_cli(args, shared.cache);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out.substr(0, 2000);
    EXPECT_EQ(test::count_lines(r.out), 1u) << args << "\n" << r.out.substr(0, 2000);
    EXPECT_EQ(r.out.rfind("lorascape: error: ", 0), 0u) << args << "\n" << r.out.substr(0, 2000);
    EXPECT_NE(r.out.find(part), std::string::npos) << args << "\n" << r.out.substr(0, 2000);
  }
};

}  // namespace

TEST_F(CliHardening, CsvNeverOverwritesAnInputOrAFileOfAnotherKind) {
  const std::string h5 = run_copy();
  const std::string before = test::slurp(h5);
  expect_refused("compare " + h5 + " --csv " + h5, "is an input of this command");
  expect_refused("geometry " + h5 + ":seq/1 " + h5 + ":seq/2 --csv " + h5,
                 "is an input of this command");
  EXPECT_EQ(test::slurp(h5), before);  // the run file, adapters included, is intact

  // Another HDF5 file, whatever its name; a name a reader would take for a run file; a folder.
  const std::string other = tmp.file("other.csv");
  fs::copy_file(h5, other);
  expect_refused("compare " + h5 + " --csv " + other, "is an HDF5 file");
  EXPECT_EQ(test::slurp(other), before);
  expect_refused("compare " + h5 + " --csv " + tmp.file("table.h5"), "must not be named *.h5");
  expect_refused("compare " + h5 + " --csv " + tmp.path().string(), "not a regular file");

  // A CSV is written (atomically: no temporary file left) and may be replaced.
  const std::string csv = tmp.file("table.csv");
  for (int i = 0; i < 2; ++i) {
    const auto r = test::run_cli("compare " + h5 + " --csv " + csv, shared.cache);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  EXPECT_EQ(test::slurp(csv).rfind("method,", 0), 0u);
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(CliHardening, CommandLineErrorsAreOneLineWithThePrefix) {
  expect_refused("compare", "required");  // a missing required argument
  expect_refused("train --config " + shared.config + " --no-such-flag", "--no-such-flag");
  expect_refused("--no-such-flag", "subcommand is required");
  expect_refused("no-such-command", "subcommand is required");
  expect_refused("scan line --from a", "--to is required");
  expect_refused("eval --config", "--config");  // an option without its value
  expect_refused("compare " + shared.h5 + " --score", "--score");
  expect_refused("train --config /no/such/file.toml", "/no/such/file.toml");
}

TEST_F(CliHardening, BadSettingsAreRefusedBeforeAnyWork) {
  const std::string cfg = " --config " + shared.config + " --set out=" + tmp.file("out");
  expect_refused("train --config /dev/zero", "not a regular file");
  std::string key = "a";
  for (int i = 0; i < 30000; ++i) key += ".a";  // 60 KB: fits one argument
  const std::string deep = tmp.write("deep.toml", key + " = 1\n");
  expect_refused("train --config " + deep, "dotted parts");
  expect_refused("train" + cfg + " --set " + key + "=1", "unknown key");
  expect_refused("train" + cfg + " --set 'train.lr={" + key + "=1}'", "must be a number");
  expect_refused("train" + cfg + " --set train.lr=inf", "must be a finite number");
  expect_refused("train" + cfg + " --set lora.alpha=inf", "must be a finite number");
  expect_refused("train" + cfg + " --set threads=1000", "must be in 0..256");
  expect_refused("train" + cfg + " --set tasks.train=1000000000000", "is 1000000000000");
  EXPECT_FALSE(fs::exists(tmp.file("out") + "/config.toml"));  // nothing written
}

TEST_F(CliHardening, HugeGridsAreRefusedBeforeAllocating) {
  const std::string h5 = run_copy();
  expect_refused("scan plane --config " + shared.config + " --through " + h5 + ":seq/1," + h5 +
                     ":seq/2," + h5 + ":er/2 --grid 100000x100000 --out " + tmp.file("p.h5"),
                 "more than the limit of 1000000");
  EXPECT_FALSE(fs::exists(tmp.file("p.h5")));
}

// A full disk during an HDF5 write: the error line, exit code 2, no crash in HDF5's exit-time
// clean-up. Needs root to mount a 12 KB tmpfs; skipped otherwise.
TEST_F(CliHardening, FullDiskDuringAnHdf5WriteExitsWithTheErrorNotACrash) {
  const std::string mnt = tmp.file("small");
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=12k") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs (not root?)";
  tmp.write("small/fill", std::string(4096, 'x'));
  const std::string h5 = run_copy();
  const auto r = test::run_cli("-q scan line --config " + shared.config + " --from " + h5 +
                                   ":seq/1 --to " + h5 + ":seq/2 -n 200 --out " + mnt + "/l.h5",
                               shared.cache);
  ::umount(mnt.c_str());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("lorascape: error: "), std::string::npos) << r.out;
}
