// Task roles (store/task_roles.h) and stored adapter references (store/references.h): the
// vocabulary a scan file uses to say what its task sets are to its adapters, and references
// that stay valid when a folder of run and scan files moves.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/references.h"
#include "store/task_roles.h"

namespace store = lorascape::store;
namespace fs = std::filesystem;

namespace {
const std::vector<std::string> kSeq{"a", "b", "c", "d"};
using Roles = std::vector<std::string>;
}  // namespace

TEST(TaskRoles, APathBetweenStagesNamesOldNewFutureAndNotSeen) {
  // seq/1 -> seq/2 over every task of the sequence, another task of the data, and the union.
  const auto from = store::learned_at_stage("seq", 1, kSeq),
             to = store::learned_at_stage("seq", 2, kSeq);
  EXPECT_EQ(from.learned, (Roles{"a"}));
  EXPECT_EQ(to.own, "b");
  EXPECT_EQ(store::task_roles({"a", "b", "c", "d", "x", "union"}, {from, to}),
            (Roles{"old", "new", "future", "future", "not-seen", "union"}));
  // Two stages apart: both tasks learned on the way are new.
  EXPECT_EQ(
      store::task_roles({"a", "b", "c", "d"}, {from, store::learned_at_stage("seq", 3, kSeq)}),
      (Roles{"old", "new", "new", "future"}));
  // "one" trains a fresh adapter per task: its stage 2 learned only b.
  EXPECT_EQ(store::task_roles({"a", "b", "c"}, {store::learned_at_stage("one", 1, kSeq),
                                                store::learned_at_stage("one", 2, kSeq)}),
            (Roles{"old", "new", "future"}));
  EXPECT_EQ(store::learned_at_stage("one", 3, kSeq).learned, (Roles{"c"}));
}

TEST(TaskRoles, OneAdapterIsTheToEndOfItsStage) {
  EXPECT_EQ(store::task_roles({"a", "b", "c", "union"}, {store::learned_at_stage("seq", 2, kSeq)}),
            (Roles{"old", "new", "future", "union"}));
  EXPECT_EQ(store::task_roles({"a", "b"}, {store::learned_at_stage("seq", 1, kSeq)}),
            (Roles{"new", "future"}));
}

TEST(TaskRoles, AnAdapterThatDoesNotSayMakesEveryTaskUnknown) {
  const store::LearnedTasks peft;  // a PEFT folder from elsewhere
  EXPECT_FALSE(peft.known);
  EXPECT_EQ(store::task_roles({"a", "union"}, {store::learned_at_stage("seq", 1, kSeq), peft}),
            (Roles{"unknown", "union"}));
  EXPECT_EQ(store::task_roles({"a"}, {}), (Roles{"unknown"}));
  EXPECT_FALSE(store::learned_at_stage("seq", 5, kSeq).known);
  EXPECT_FALSE(store::learned_at_stage("seq", 0, kSeq).known);
}

TEST(TaskRoles, LinesRoundTripAndCaptions) {
  const Roles r{"old", "new", "not-seen"};
  EXPECT_EQ(store::join_lines(r), "old\nnew\nnot-seen\n");
  EXPECT_EQ(store::split_lines(store::join_lines(r)), r);
  EXPECT_EQ(store::split_lines("old\nnew"), (Roles{"old", "new"}));
  EXPECT_TRUE(store::split_lines("").empty());
  EXPECT_EQ(store::role_caption("not-seen"), "not seen");
  EXPECT_EQ(store::role_caption("future"), "future");
}

TEST(StoredReferences, AreRelativeToTheScanFileWhateverTheSpelling) {
  const fs::path cwd = fs::current_path();
  // "run.h5", "./run.h5" and the absolute path store alike.
  EXPECT_EQ(store::ref_for_scan("run.h5:seq/1", "line.h5"), "run.h5:seq/1");
  EXPECT_EQ(store::ref_for_scan("./run.h5:seq/1", "line.h5"), "run.h5:seq/1");
  EXPECT_EQ(store::ref_for_scan((cwd / "run.h5").string() + ":seq/1", "./line.h5"), "run.h5:seq/1");
  // A scan in analysis/ refers to the run one folder up; a PEFT folder keeps no trailing slash.
  EXPECT_EQ(store::ref_for_scan("run.h5:ilora/2/fast", "analysis/l.h5"), "../run.h5:ilora/2/fast");
  EXPECT_EQ(store::ref_for_scan("peft/seq-1/", "analysis/l.h5"), "../peft/seq-1");
  EXPECT_EQ(store::ref_for_scan("/elsewhere/run.h5:seq/1", "/elsewhere/x/l.h5"), "../run.h5:seq/1");
  // Nothing in common below the root: absolute.
  EXPECT_EQ(store::ref_for_scan("/work/run.h5:seq/1", "/tmp/x/l.h5"), "/work/run.h5:seq/1");
}

TEST(StoredReferences, ResolveAgainstTheScanFolderThenTheWorkingDirectory) {
  const fs::path dir = fs::temp_directory_path() / "lorascape-test-refs";
  fs::remove_all(dir);
  fs::create_directories(dir / "analysis");
  std::ofstream((dir / "run.h5").string()) << "x";
  const std::string scan = (dir / "analysis" / "l.h5").string();
  EXPECT_EQ(store::resolve_ref("../run.h5:seq/1", scan), (dir / "run.h5").string() + ":seq/1");
  EXPECT_EQ(store::resolve_ref("/abs/run.h5:seq/1", scan), "/abs/run.h5:seq/1");
  // An older file's reference, relative to the working directory it was made in.
  const fs::path before = fs::current_path();
  fs::current_path(dir);
  EXPECT_EQ(store::resolve_ref("run.h5:seq/1", "analysis/l.h5"), "run.h5:seq/1");
  // Missing everywhere: the scan folder's reading, so the error names where it was looked for.
  EXPECT_EQ(store::resolve_ref("gone.h5:seq/1", "analysis/l.h5"), "analysis/gone.h5:seq/1");
  fs::current_path(before);
  // Rebasing into another folder (a merge writing elsewhere).
  EXPECT_EQ(store::rebase_ref("../run.h5:seq/1", scan, (dir / "out.h5").string()), "run.h5:seq/1");
  std::map<std::string, std::string> text{{"from", "../run.h5:seq/1"},
                                          {"anchor_labels", "../run.h5:seq/1\n../run.h5:seq/2\n"},
                                          {"summary", "../run.h5 untouched"}};
  store::rebase_reference_text(text, scan, (dir / "out.h5").string());
  EXPECT_EQ(text["from"], "run.h5:seq/1");
  EXPECT_EQ(text["anchor_labels"], "run.h5:seq/1\nrun.h5:seq/2\n");
  EXPECT_EQ(text["summary"], "../run.h5 untouched");
  fs::remove_all(dir);
}
