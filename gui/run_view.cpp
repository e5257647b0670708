#include "gui/run_view.h"

#include <qcustomplot.h>

#include <QVBoxLayout>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lorascape::gui {

RunView::RunView(QWidget* parent) : QWidget(parent), plot_(new QCustomPlot(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(plot_);
  plot_->xAxis->setLabel("stage (tasks trained so far)");
  plot_->yAxis->setLabel("exact match");
  plot_->yAxis->setRange(0, 1.05);
  plot_->legend->setVisible(true);
}

bool RunView::load(const QString& path, QString* error) {
  nlohmann::json j;
  try {
    std::ifstream f(path.toStdString());
    if (!f) {
      *error = path + ": cannot open (check the path)";
      return false;
    }
    j = nlohmann::json::parse(f);
    const auto& res = j.at("result");
    const auto tasks = res.at("tasks").get<std::vector<std::string>>();
    const auto& R = res.at("R");
    plot_->clearGraphs();
    for (size_t i = 0; i < tasks.size(); ++i) {
      QVector<double> x, y;
      for (size_t t = 0; t < R.size(); ++t) {
        x.push_back(static_cast<double>(t + 1));
        y.push_back(R.at(t).at(i).at("exact_match").get<double>());
      }
      auto* g = plot_->addGraph();
      g->setName(QString::fromStdString(tasks[i]));
      g->setData(x, y);
      g->setPen(QPen(QColor::fromHsv(static_cast<int>(360 * i / std::max<size_t>(tasks.size(), 1)), 200, 200), 2));
      g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    }
    plot_->xAxis->setRange(0.5, static_cast<double>(R.size()) + 0.5);
    plot_->replot();
  } catch (const nlohmann::json::exception& e) {
    *error = path + ": not a lorascape results.json (" + QString::fromUtf8(e.what()) + ")";
    return false;
  }
  return true;
}

}  // namespace lorascape::gui
