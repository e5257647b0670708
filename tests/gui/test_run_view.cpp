// The run view shows exactly the file's series, and rejects a broken file without crashing.
#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QApplication>

#include "gui/run_view.h"
#include "tests/common/test_util.h"


namespace {
// Headless: Qt's offscreen platform unless the caller chose one.
const bool kOffscreen = [] {
  if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  return true;
}();
int argc_ = 1;
char arg0_[] = "test_run_view";
char* argv_[] = {arg0_, nullptr};

std::string write(const std::string& name, const std::string& text) {
  static const lorascape::test::TempDir dir("gui");
  return dir.write(name, text);
}
}  // namespace

TEST(RunView, PlotsOneSeriesPerTaskWithTheFilesValues) {
  QApplication app(argc_, argv_);
  lorascape::gui::RunView view;
  const auto path = write("ok.json", R"({"result": {"tasks": ["a", "b"], "R": [
      [{"exact_match": 0.9}, {"exact_match": 0.1}],
      [{"exact_match": 0.3}, {"exact_match": 0.8}]]}})");
  QString err;
  ASSERT_TRUE(view.load(QString::fromStdString(path), &err)) << err.toStdString();
  ASSERT_EQ(view.plot()->graphCount(), 2);
  EXPECT_EQ(view.plot()->graph(0)->name(), "a");
  auto* d = view.plot()->graph(1)->data().data();
  ASSERT_EQ(d->size(), 2);
  EXPECT_DOUBLE_EQ(d->at(0)->value, 0.1);
  EXPECT_DOUBLE_EQ(d->at(1)->value, 0.8);
  EXPECT_DOUBLE_EQ(d->at(1)->key, 2.0);
}

TEST(RunView, BrokenFilesGiveAnErrorNotACrash) {
  QApplication app(argc_, argv_);
  lorascape::gui::RunView view;
  QString err;
  const auto bad = write("bad.json", "{ not json");
  EXPECT_FALSE(view.load(QString::fromStdString(bad), &err));
  EXPECT_TRUE(err.contains("bad.json"));
  const auto wrong = write("wrong.json", R"({"result": {"tasks": ["a"], "R": [[{"loss": 1}]]}})");
  EXPECT_FALSE(view.load(QString::fromStdString(wrong), &err));
  EXPECT_FALSE(view.load("/nonexistent/results.json", &err));
}
