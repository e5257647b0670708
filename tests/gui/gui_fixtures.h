// Shared by the GUI tests: the QApplication of the plot/ tests (Qt's offscreen platform) with
// QSettings in a temporary folder, and the small run/scan files of tests/plot/plot_fixtures.h.
#pragma once

#include <QApplication>
#include <QSettings>

#include "tests/common/test_util.h"
#include "tests/plot/plot_fixtures.h"

namespace lorascape::test {

// The application every GUI test uses (created on first use, headless unless the caller chose a
// platform; settings go to a temporary folder, not the user's).
inline QApplication* gui_app() {
  static QApplication* app = [] {
    QApplication* a = plot_app();
    QApplication::setOrganizationName("lorascape-test");
    QApplication::setApplicationName("lorascape-gui-test");
    static TempDir settings("gui-settings");
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                       QString::fromStdString(settings.path().string()));
    QSettings().clear();
    return a;
  }();
  return app;
}

}  // namespace lorascape::test
