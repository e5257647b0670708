// The renderers draw what the data preparation computed (plot/valley.h, landscape.h, …), figure
// export (plot/export.h), and `lorascape plot` (plot/plot_command.h), all on a bare QCustomPlot
// on Qt's offscreen platform: no widget with controls.
#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QImage>
#include <QPainter>
#include <QSvgRenderer>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "plot/export.h"
#include "plot/geometry.h"
#include "plot/landscape.h"
#include "plot/matrix.h"
#include "plot/plot_command.h"
#include "plot/plot_util.h"
#include "plot/stability.h"
#include "plot/valley.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/plot/plot_fixtures.h"
#include "tests/store/sample_run.h"

namespace fs = std::filesystem;
using namespace lorascape;
using namespace lorascape::plot;

namespace {

// The sample run file with a line, a plane and a geometry scan next to it (SampleFilesTest), and
// a fresh plot per test.
class PlotRender : public test::SampleFilesTest {
 protected:
  static void SetUpTestSuite() {
    test::plot_app();
    write_files("plot-render");
  }
  // A plot as every figure starts (init_plot), sized like an exported figure.
  void SetUp() override {
    init_plot(&plot);
    plot.resize(640, 480);
  }
  QCustomPlot plot;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// The message of the ConfigError that render_plot throws for `r` ("" when it throws none).
std::string config_error(const PlotRequest& r) {
  try {
    render_plot(r);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::shared_ptr<const store::ScanData> shared(store::ScanData d) {
  return std::make_shared<const store::ScanData>(std::move(d));
}

ValleyFigure sample_valley(const QString& filter) {
  ValleyOptions o;
  o.score = "loss";
  o.task_filter = filter;
  return prepare_valley({{"seq-1-2", shared(test::sample_line())}}, o);
}

}  // namespace

TEST_F(PlotRender, ValleyGraphKIsSeriesKWithTheBarrierAnnotated) {
  const ValleyFigure f = sample_valley(kAllTaskSets);
  draw_valley(&plot, f);
  ASSERT_EQ(plot.graphCount(), static_cast<int>(f.series.size()));
  for (int k = 0; k < plot.graphCount(); ++k) {
    const auto& sr = f.series[static_cast<size_t>(k)];
    QCPGraph* g = plot.graph(k);
    EXPECT_EQ(g->name(), sr.name);
    ASSERT_EQ(g->data()->size(), sr.t.size());
    for (int i = 0; i < sr.t.size(); ++i) {
      EXPECT_EQ(g->data()->at(i)->key, sr.t[i]);
      EXPECT_EQ(g->data()->at(i)->value, sr.v[i]);
    }
  }
  // The new task bold and solid, the old ones dashed.
  EXPECT_EQ(plot.graph(1)->pen().widthF(), 3.0);
  EXPECT_EQ(plot.graph(0)->pen().style(), Qt::DashLine);
  EXPECT_EQ(plot.yAxis->label(), "loss (nats per token)");
  EXPECT_EQ(plot.xAxis->label(), "t (line)");
  EXPECT_TRUE(plot.legend->visible());
  // No barrier on the (linear) union: the end markers only (a line and a label at each end).
  EXPECT_EQ(plot.itemCount(), 4);
  // Drawing again replaces everything: arith alone has a barrier (chord, arrow, label).
  draw_valley(&plot, sample_valley("arith"));
  EXPECT_EQ(plot.graphCount(), 1);
  ASSERT_EQ(plot.itemCount(), 7);
  auto* label = qobject_cast<QCPItemText*>(plot.item(6));
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(label->text(), "barrier 0.5 (arith (new))");
  // Log scale.
  ValleyOptions o;
  o.score = "token_acc";
  o.log_scale = true;
  draw_valley(&plot, prepare_valley({{"l", shared(test::sample_line())}}, o));
  EXPECT_EQ(plot.yAxis->scaleType(), QCPAxis::stLogarithmic);
  // Nothing to show: no graph, no legend.
  draw_valley(&plot, ValleyFigure());
  EXPECT_EQ(plot.graphCount(), 0);
  EXPECT_EQ(plot.itemCount(), 0);
  EXPECT_FALSE(plot.legend->visible());
}

TEST_F(PlotRender, LandscapeColourMapCellsEqualTheFigure) {
  LandscapeOptions o;
  o.task = "a";
  o.score = "loss";
  const LandscapeFigure f = prepare_landscape(test::sample_plane(), o);
  QCPColorMap* map = draw_landscape(&plot, f);
  ASSERT_NE(map, nullptr);
  ASSERT_EQ(map->data()->keySize(), 4);
  ASSERT_EQ(map->data()->valueSize(), 3);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) {
      const double z = f.z[static_cast<size_t>(i * 3 + j)], cell = map->data()->cell(i, j);
      if (std::isnan(z))
        EXPECT_TRUE(std::isnan(cell));
      else
        EXPECT_EQ(cell, z);
      double x = 0, y = 0;
      map->data()->cellToCoord(i, j, &x, &y);
      EXPECT_DOUBLE_EQ(x, f.xs[static_cast<size_t>(i)]);
      EXPECT_DOUBLE_EQ(y, f.ys[static_cast<size_t>(j)]);
    }
  // The colour scale to the right, over the figure's range; a curve per contour line and per
  // marker set, and a label per labelled marker.
  auto* scale = qobject_cast<QCPColorScale*>(plot.plotLayout()->element(0, 1));
  ASSERT_NE(scale, nullptr);
  EXPECT_TRUE(scale->visible());
  EXPECT_EQ(scale->dataRange(), QCPRange(f.lo, f.hi));
  EXPECT_EQ(scale->axis()->label(), "a loss (nats per token)");
  // The map, the contours, and per marker set a legend entry and a curve per method (anchors:
  // seq, er, ilora; projected: seq/1 in the plane, seq/2 off it, with its own legend entry).
  EXPECT_EQ(plot.plottableCount(), 1 + static_cast<int>(f.contours.size()) + (1 + 3) + (2 + 2));
  EXPECT_EQ(plot.itemCount(), f.marker_count());
  EXPECT_TRUE(plot.legend->visible());
  // Without labels, no items; drawn again, the colour scale is reused.
  o.labels = false;
  draw_landscape(&plot, prepare_landscape(test::sample_plane(), o));
  EXPECT_EQ(plot.itemCount(), 0);
  EXPECT_EQ(plot.plotLayout()->element(0, 1), scale);
  // An empty figure hides the scale.
  EXPECT_EQ(draw_landscape(&plot, LandscapeFigure()), nullptr);
  EXPECT_FALSE(scale->visible());
  EXPECT_EQ(plot.plottableCount(), 0);
}

TEST_F(PlotRender, StabilityLaysOutTwoPlotsOnceAndDrawsEveryLearner) {
  const store::RunFileData r = test::sample_run();
  const auto paths = trade_off_paths({{"seq-1-2", shared(test::sample_line())}});
  const StabilityFigure f = prepare_stability(&r, paths, {"exact_match"});
  draw_stability(&plot, f);
  draw_stability(&plot, f);  // the layout is made once
  EXPECT_EQ(plot.axisRectCount(), 2);
  // Per learner: the new task's R[t][t] and the earlier tasks' mean.
  ASSERT_EQ(plot.graphCount(), 6);
  EXPECT_EQ(plot.graph(0)->name(), "seq new task");
  EXPECT_EQ(plot.graph(1)->name(), "seq earlier tasks");
  EXPECT_EQ(plot.graph(0)->data()->at(2)->value, f.learners[0].plasticity[2]);
  EXPECT_EQ(plot.graph(1)->data()->at(1)->value, f.learners[0].earlier[1]);
  // The trade-off curve in the right-hand plot, labelled at both ends.
  QCPAxisRect* trade = plot.axisRect(1);
  ASSERT_EQ(trade->plottables().size(), 1);
  EXPECT_EQ(trade->plottables()[0]->name(), "seq-1-2");
  EXPECT_EQ(plot.itemCount(), 2);
  // Without paths: a note in the right-hand plot instead.
  draw_stability(&plot, prepare_stability(&r, {}, {"exact_match"}));
  EXPECT_TRUE(trade->plottables().isEmpty());
  ASSERT_EQ(plot.itemCount(), 1);
  EXPECT_TRUE(qobject_cast<QCPItemText*>(plot.item(0))->text().startsWith("trade-off"));
  draw_stability(&plot, prepare_stability(nullptr, {}, {"exact_match"}));
  EXPECT_EQ(plot.graphCount(), 0);
  EXPECT_FALSE(plot.legend->visible());
}

// Paths that start at one point (consecutive lines share their ends' scores): after the
// layout, no two shown end labels overlap, every path keeps its named start label, and a
// second layout puts them in the same places.
TEST_F(PlotRender, TradeOffEndLabelsDoNotOverlap) {
  const store::RunFileData r = test::sample_run();
  const auto line = shared(test::sample_line());
  const auto paths = trade_off_paths({{"seq-1-2", line}, {"seq-2-3", line}, {"er-1-2", line}});
  draw_stability(&plot, prepare_stability(&r, paths, {"exact_match"}));
  plot.replot();
  const auto boxes = [&] {
    std::vector<std::pair<QRectF, QString>> shown;
    for (int i = 0; i < plot.itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(plot.item(i))) {
        if (t->property("lorascape_end_label").toInt() == 1) {
          EXPECT_TRUE(t->visible()) << t->text().toStdString();
        }
        if (t->visible()) shown.emplace_back(label_box(t, t->positionAlignment()), t->text());
      }
    return shown;
  };
  const auto first = boxes();
  ASSERT_GE(first.size(), 3u);
  for (size_t i = 0; i < first.size(); ++i)
    for (size_t j = i + 1; j < first.size(); ++j)
      EXPECT_FALSE(first[i].first.intersects(first[j].first))
          << first[i].second.toStdString() << " / " << first[j].second.toStdString();
  plot.replot();
  const auto again = boxes();
  ASSERT_EQ(again.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_NEAR(again[i].first.x(), first[i].first.x(), 1e-6);
    EXPECT_NEAR(again[i].first.y(), first[i].first.y(), 1e-6);
  }
}

// Too many paths for the trade-off plot to name them all: the names that find no room are
// hidden, none covers another, and the first path keeps its name.
TEST_F(PlotRender, CrowdedTradeOffHidesNamesRatherThanOverlapping) {
  const store::RunFileData r = test::sample_run();
  const auto line = shared(test::sample_line());
  std::vector<NamedScan> named;
  for (int k = 1; k <= 30; ++k) named.push_back({QString("seq-%1-%2").arg(k).arg(k + 1), line});
  draw_stability(&plot, prepare_stability(&r, trade_off_paths(named), {"exact_match"}));
  plot.replot();
  std::vector<std::pair<QRectF, QString>> shown;
  int names = 0, names_shown = 0;
  QString first_name;
  for (int i = 0; i < plot.itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(plot.item(i))) {
      const bool name = t->property("lorascape_end_label").toInt() == 1;
      if (name && first_name.isEmpty()) first_name = t->text();
      names += name;
      if (!t->visible()) continue;
      names_shown += name;
      shown.emplace_back(label_box(t, t->positionAlignment()), t->text());
    }
  EXPECT_EQ(names, 30);
  EXPECT_GE(names_shown, 1);
  EXPECT_LT(names_shown, 30);  // 30 names around one point do not fit in a 640 x 480 figure
  EXPECT_TRUE(std::any_of(shown.begin(), shown.end(), [&](const auto& b) {
    return b.second == first_name;
  })) << first_name.toStdString();
  for (size_t i = 0; i < shown.size(); ++i)
    for (size_t j = i + 1; j < shown.size(); ++j)
      EXPECT_FALSE(shown[i].first.intersects(shown[j].first))
          << shown[i].second.toStdString() << " / " << shown[j].second.toStdString();
}

TEST_F(PlotRender, MatrixAndGeometryAreAnnotatedHeatMaps) {
  const store::RunFileData r = test::sample_run();
  const MatrixFigure m = prepare_matrix(r, {"seq", "exact_match"});
  draw_matrix(&plot, m);
  auto* map = qobject_cast<QCPColorMap*>(plot.plottable(0));
  ASSERT_NE(map, nullptr);
  // Cell (row t, column i) at x = i, y = t.
  EXPECT_EQ(map->data()->cell(2, 1), m.values[1 * 3 + 2]);
  EXPECT_EQ(plot.itemCount(), 9);  // one annotation per cell
  EXPECT_EQ(qobject_cast<QCPItemText*>(plot.item(5))->text(), QString::number(m.values[5], 'f', 2));
  draw_matrix(&plot, MatrixFigure());
  EXPECT_EQ(plot.plottableCount(), 0);
  EXPECT_EQ(plot.itemCount(), 0);

  store::ScanData d = test::sample_geometry();
  d.extras["angle_in"] = {{3, 3}, {0, 12.34, 30, 12.34, 0, 20, 30, 20, 0}};
  draw_geometry(&plot, prepare_geometry(d, {"angle_in", kAllModules}));
  ASSERT_EQ(plot.itemCount(), 9);
  EXPECT_EQ(qobject_cast<QCPItemText*>(plot.item(1))->text(), "12.3");  // degrees: one decimal
}

TEST_F(PlotRender, ExportWritesFiguresOfTheRequestedSize) {
  draw_valley(&plot, sample_valley(kAllTaskSets));
  const std::string png = tmp->file("fig.png"), pdf = tmp->file("fig.pdf"),
                    svg = tmp->file("fig.svg");
  export_plot(&plot, QString::fromStdString(png), 640, 480, 96);
  QImage img(QString::fromStdString(png));
  ASSERT_FALSE(img.isNull());
  EXPECT_EQ(img.size(), QSize(640, 480));
  // At 300 dpi: the same pixel count, and the DPI recorded.
  export_plot(&plot, QString::fromStdString(png), 900, 600, 300);
  img.load(QString::fromStdString(png));
  EXPECT_EQ(img.size(), QSize(900, 600));
  EXPECT_NEAR(img.dotsPerMeterX() * 0.0254, 300, 1);
  // PDF: a page of width/dpi x height/dpi inches = 640·72/96 x 480·72/96 points.
  export_plot(&plot, QString::fromStdString(pdf), 640, 480, 96);
  const std::string p = slurp(pdf);
  ASSERT_GT(p.size(), 1000u);
  EXPECT_EQ(p.substr(0, 5), "%PDF-");
  const auto box = p.find("/MediaBox [");
  ASSERT_NE(box, std::string::npos);
  double x0 = -1, y0 = -1, x1 = 0, y1 = 0;
  ASSERT_EQ(std::sscanf(p.c_str() + box, "/MediaBox [%lf %lf %lf %lf]", &x0, &y0, &x1, &y1), 4);
  EXPECT_EQ(x0, 0);
  EXPECT_EQ(y0, 0);
  EXPECT_NEAR(x1, 480, 0.01);
  EXPECT_NEAR(y1, 360, 0.01);
  export_plot(&plot, QString::fromStdString(svg), 640, 480, 96);
  const std::string s = slurp(svg);
  ASSERT_GT(s.size(), 1000u);
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("viewBox=\"0 0 640 480\""), std::string::npos);
  // Bad requests are refused with a message, and nothing is written.
  EXPECT_THROW(export_plot(&plot, QString::fromStdString(tmp->file("fig.bmp")), 640, 480),
               ConfigError);
  EXPECT_THROW(export_plot(&plot, QString::fromStdString(tmp->file("small.png")), 4, 4),
               ConfigError);
  EXPECT_THROW(export_plot(&plot, "/nonexistent/folder/fig.png", 640, 480), FormatError);
}

// How dark the figure is (0 white … 1 black) in each of cols × rows equal cells, averaged over
// the cell: a picture of the layout that does not depend on the resolution, or on font hinting.
std::vector<double> layout_of(const QImage& image, int cols, int rows) {
  const QImage img = image.convertToFormat(QImage::Format_ARGB32);
  std::vector<double> ink(static_cast<size_t>(cols) * rows, 0.0);
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const QColor c = QColor::fromRgba(img.pixel(x, y));
      const double dark = 1.0 - (c.alpha() < 255 ? 1.0 : c.lightnessF());
      ink[static_cast<size_t>(y * rows / img.height()) * cols + x * cols / img.width()] += dark;
    }
  const double cell = static_cast<double>(img.width()) * img.height() / (cols * rows);
  for (auto& v : ink) v /= cell;
  return ink;
}

// The figure as exported to `path` (PNG, or SVG drawn at the width × height of its viewBox).
QImage load_figure(const std::string& path, int width, int height) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".svg") {
    QImage img(width, height, QImage::Format_ARGB32);
    img.fill(Qt::white);
    QSvgRenderer svg(QString::fromStdString(path));
    QPainter p(&img);
    svg.render(&p, QRectF(0, 0, width, height));
    return img;
  }
  return QImage(QString::fromStdString(path));
}

TEST_F(PlotRender, ExportAtAnyDpiHasTheLayoutOfTheFigureAt96Dpi) {
  // The same 5 × 3⅓ inch figure at 96, 150 and 300 DPI: the same layout (fonts in points, so
  // three times the pixels at 300 DPI), only more pixels per inch. When the DPI was applied twice
  // the text came out dpi/96 times too large, covering the plot and clipped at the edges.
  const int cols = 24, rows = 16;
  struct Figure {
    const char* name;
    std::function<void()> draw;
  };
  const store::RunFileData run = test::sample_run();
  const std::vector<Figure> figures{
      {"valley", [&] { draw_valley(&plot, sample_valley(kAllTaskSets)); }},
      {"matrix", [&] {
         draw_matrix(&plot, prepare_matrix(run, {"seq", "exact_match"}));
       }}};
  for (const auto& f : figures)
    for (const char* suffix : {".png", ".svg"}) {
      f.draw();
      const std::string at96 = tmp->file(std::string(f.name) + "-96" + suffix);
      export_plot(&plot, QString::fromStdString(at96), 480, 320, 96);
      const QImage base = load_figure(at96, 480, 320);
      ASSERT_FALSE(base.isNull()) << at96;
      const std::vector<double> want = layout_of(base, cols, rows);
      double want_ink = 0;
      for (double v : want) want_ink += v;
      for (const double dpi : {150.0, 300.0}) {
        const int w = static_cast<int>(480 * dpi / 96), h = static_cast<int>(320 * dpi / 96);
        const std::string out =
            tmp->file(std::string(f.name) + "-" + std::to_string(int(dpi)) + suffix);
        export_plot(&plot, QString::fromStdString(out), w, h, dpi);
        const QImage img = load_figure(out, w, h);
        ASSERT_EQ(img.size(), QSize(w, h)) << out;
        const std::vector<double> got = layout_of(img, cols, rows);
        double ink = 0, diff = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          ink += got[i];
          diff += std::abs(got[i] - want[i]);
        }
        // As much ink, in the same places (up to antialiasing and hinting: 0.16 at most here;
        // with the DPI applied twice the valley gave 0.34 at 150 DPI and 1.2 at 300).
        EXPECT_NEAR(ink / want_ink, 1.0, 0.1) << out;
        EXPECT_LT(diff / want_ink, 0.22) << out;
      }
    }
  // The PDF is drawn by the same code: its page keeps width/dpi inches.
  const std::string pdf = tmp->file("fig-300.pdf");
  export_plot(&plot, QString::fromStdString(pdf), 1500, 1000, 300);
  const std::string p = slurp(pdf);
  const auto box = p.find("/MediaBox [");
  ASSERT_NE(box, std::string::npos);
  double x0 = -1, y0 = -1, x1 = 0, y1 = 0;
  ASSERT_EQ(std::sscanf(p.c_str() + box, "/MediaBox [%lf %lf %lf %lf]", &x0, &y0, &x1, &y1), 4);
  EXPECT_NEAR(x1, 360, 0.01);
  EXPECT_NEAR(y1, 240, 0.01);
}

TEST_F(PlotRender, PlotCommandDrawsEveryViewHeadless) {
  struct Case {
    std::vector<std::string> files;
    std::string view, scan, out;
  };
  const std::vector<Case> cases{
      {{line}, "valley", "", "valley.png"},        {{run}, "valley", "seq-1-2", "valley-by-id.svg"},
      {{plane}, "landscape", "", "landscape.pdf"}, {{run}, "stability", "", "stability.png"},
      {{run}, "matrix", "", "matrix.png"},         {{geo}, "geometry", "", "geometry.png"}};
  for (const auto& c : cases) {
    PlotRequest r;
    r.files = c.files;
    r.view = c.view;
    r.scan = c.scan;
    r.out = tmp->file(c.out);
    // (the stability figure at its smallest readable size: 6 x 4 in)
    r.width = c.view == "stability" ? 576 : 500;
    r.height = c.view == "stability" ? 384 : 300;
    const std::string said = render_plot(r);
    EXPECT_NE(said.find("wrote"), std::string::npos) << said;
    ASSERT_TRUE(fs::exists(r.out)) << c.out;
    EXPECT_GT(fs::file_size(r.out), 500u) << c.out;
  }
  QImage img(QString::fromStdString(tmp->file("matrix.png")));
  EXPECT_EQ(img.size(), QSize(500, 300));
  // Wrong inputs: a message naming what to give.
  PlotRequest r;
  r.files = {line};
  r.view = "landscape";
  r.out = tmp->file("x.png");
  EXPECT_THROW(render_plot(r), ConfigError);
  r.view = "contour";
  EXPECT_THROW(render_plot(r), ConfigError);
  r.view = "valley";
  r.files = {run};
  r.scan = "nonexistent";
  EXPECT_NE(config_error(r).find("seq-1-2"), std::string::npos);  // lists the known scans
}

TEST_F(PlotRender, PlotCommandOptionsAreTheFilesChoicesOrRefused) {
  PlotRequest r;
  r.out = tmp->file("options.png");
  r.width = 320;
  r.height = 240;
  // None given: the figure's defaults (loss, every task set and the mean).
  r.files = {line};
  r.view = "valley";
  EXPECT_NE(render_plot(r).find("1 scan(s), 4 series"), std::string::npos);
  // A typo is refused, naming the option, the value and the valid ones (not the default view).
  r.score = "los";
  EXPECT_EQ(config_error(r),
            "--score los: not in the file; use one of loss, token_acc, exact_match");
  r.score = "";
  r.task = "arth";
  EXPECT_NE(config_error(r).find("--task arth: not in the file; use one of 'all task sets', "),
            std::string::npos)
      << config_error(r);
  r.task = "arith";
  EXPECT_NE(render_plot(r).find("1 scan(s), 1 series"), std::string::npos);
  // Matrix: a learner by name; an unknown method is refused, naming it.
  r.files = {run};
  r.view = "matrix";
  r.score = r.task = "";
  r.method = "ilora/fast";
  EXPECT_NE(render_plot(r).find("R of ilora/fast"), std::string::npos);
  r.method = "ewc";
  EXPECT_NE(config_error(r).find("--method ewc: not in the run file"), std::string::npos)
      << config_error(r);
  // A learner without that score's matrix.
  r.method = "ilora/fast";
  r.score = "token_acc";
  EXPECT_THROW(render_plot(r), ConfigError);
  // Stability: the line scans next to the run whose new task is known.
  r.view = "stability";
  r.score = r.method = "";
  r.width = 576, r.height = 384;  // its smallest size (6 x 4 in); smaller is refused
  EXPECT_NE(render_plot(r).find("2 methods, 1 paths"), std::string::npos);
  r.score = "exact_matc";
  EXPECT_NE(config_error(r).find("--score exact_matc: not in the file; use one of "),
            std::string::npos)
      << config_error(r);
  r.score = "";
  // An option the view does not use is refused too.
  r.task = "arith";
  EXPECT_EQ(config_error(r),
            "--task arith: the stability view has no such choice; it is for --view valley or "
            "landscape or surface");
  r.task = "";
  r.height = 383;
  EXPECT_NE(config_error(r).find("the stability figure needs at least 6 x 4 inches"),
            std::string::npos);
  r.width = 320, r.height = 240;
  // Geometry: the metrics the file has; one it lacks is refused, naming those it has.
  r.files = {geo};
  r.view = "geometry";
  EXPECT_NE(render_plot(r).find("geometry of 3 adapters"), std::string::npos);
  r.metric = "angle_in";
  EXPECT_NE(config_error(r).find("--metric angle_in: not in the file; use one of delta_cosine"),
            std::string::npos)
      << config_error(r);
  // Landscape: a task or score the plane lacks.
  r.files = {plane};
  r.view = "landscape";
  r.metric = "";
  r.task = "nope";
  EXPECT_NE(config_error(r).find("--task nope: not in the file; use one of "), std::string::npos)
      << config_error(r);
  r.task = "";
  r.score = "nope";
  EXPECT_NE(config_error(r).find("--score nope: not in the file; use one of "), std::string::npos)
      << config_error(r);
}
