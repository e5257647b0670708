// lorascape-gui [RESULTS.json]: the desktop app. This first version shows how the exact match
// of every task evolves across the stages of a run (forgetting at a glance).
#include <QApplication>
#include <QFileDialog>
#include <QMainWindow>
#include <QMenuBar>
#include <QMessageBox>

#include "gui/run_view.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("lorascape");
  QMainWindow win;
  auto* view = new lorascape::gui::RunView(&win);
  win.setCentralWidget(view);
  win.resize(900, 600);
  auto open = [&](const QString& path) {
    QString err;
    if (!view->load(path, &err)) QMessageBox::critical(&win, "lorascape", err);
    else win.setWindowTitle("lorascape — " + path);
  };
  auto* file = win.menuBar()->addMenu("&File");
  file->addAction("&Open results.json…", QKeySequence::Open, [&] {
    const QString p = QFileDialog::getOpenFileName(&win, "Open run results", {}, "Run results (results.json *.json)");
    if (!p.isEmpty()) open(p);
  });
  file->addAction("&Quit", QKeySequence::Quit, &app, &QApplication::quit);
  win.setWindowTitle("lorascape");
  win.show();
  if (argc > 1) open(QString::fromLocal8Bit(argv[1]));
  return app.exec();
}
