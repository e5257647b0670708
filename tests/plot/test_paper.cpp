// Figures for papers: every view at 96, 150 and 300 DPI in PNG, PDF and SVG with its text on the
// page, unclipped, and scaled with the DPI; the landscape's paper options (equal scale, colour
// map and range, contour labels, adapters off the plane, labels apart); method colours; the
// paper style; the 3-D surface; VTK export; the seed band.
#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QImage>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "plot/export.h"
#include "plot/landscape.h"
#include "plot/plot_command.h"
#include "plot/plot_util.h"
#include "plot/stability.h"
#include "plot/style.h"
#include "plot/surface.h"
#include "plot/valley.h"
#include "plot/vtk.h"
#include "store/error.h"
#include "tests/plot/plot_fixtures.h"

namespace fs = std::filesystem;
using namespace lorascape;
using namespace lorascape::plot;

namespace {

class PlotPaper : public test::SampleFilesTest {
 protected:
  static void SetUpTestSuite() {
    test::plot_app();
    write_files("plot-paper");
    // A second seed of the line: another run's seq/1 -> seq/2, values shifted by 0.5.
    fs::create_directories(tmp->file("B/analysis"));
    store::ScanData d = test::sample_line(tmp->file("B/run.h5"));
    for (auto& v : d.values) v += 0.5;
    line_b = tmp->file("B/analysis/seq-1-2.h5");
    store::write_scan_file(line_b, d);
  }
  static inline std::string line_b;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

std::string texts_of(const std::vector<FigureText>& t) {
  std::string out;
  for (const auto& x : t)
    out += "'" + x.text.toStdString() + "' at " + std::to_string(int(x.box.x())) + "," +
           std::to_string(int(x.box.y())) + " " + std::to_string(int(x.box.width())) + "x" +
           std::to_string(int(x.box.height())) + (x.clipped ? " CLIPPED" : "") + "\n";
  return out;
}

// What makes the text of a figure unreadable: a text box off the page, truncated by its clip
// region, or on top of another (up to `slack` pixels); empty when there is nothing.
std::string problems(const std::vector<FigureText>& texts, int w, int h, double slack) {
  std::string out;
  if (texts.empty()) return "no text at all";
  const QRectF page(-slack, -slack, w + 2 * slack, h + 2 * slack);
  for (const auto& t : texts) {
    if (!page.contains(t.box)) out += "'" + t.text.toStdString() + "' leaves the page\n";
    if (t.clipped) out += "'" + t.text.toStdString() + "' is truncated\n";
  }
  for (size_t a = 0; a < texts.size(); ++a)
    for (size_t b = a + 1; b < texts.size(); ++b) {
      const QRectF i = texts[a]
                           .box.adjusted(slack, slack, -slack, -slack)
                           .intersected(texts[b].box.adjusted(slack, slack, -slack, -slack));
      if (!i.isEmpty())
        out += "'" + texts[a].text.toStdString() + "' overlaps '" + texts[b].text.toStdString() +
               "'\n";
    }
  return out.empty() ? out : out + texts_of(texts);
}

void expect_readable(const std::vector<FigureText>& texts, int w, int h, double slack,
                     const std::string& what) {
  EXPECT_EQ(problems(texts, w, h, slack), "") << what;
}

}  // namespace

TEST_F(PlotPaper, EveryViewAtEveryDpiAndFormatHasItsTextOnThePageScaledWithTheDpi) {
  struct View {
    std::string name;
    PlotRequest r;
  };
  std::vector<View> views;
  const auto view = [&](const std::string& name, std::vector<std::string> files,
                        const std::string& v) {
    View x{name, {}};
    x.r.files = std::move(files);
    x.r.view = v;
    views.push_back(x);
    return &views.back().r;
  };
  view("valley", {line}, "valley");
  view("landscape", {plane}, "landscape");
  view("surface", {plane}, "surface");
  view("stability", {run}, "stability");
  view("matrix", {run}, "matrix");
  view("geometry", {geo}, "geometry");
  view("band", {line, line_b}, "valley")->band = true;
  view("paper-landscape", {plane}, "landscape")->style = "paper";
  for (auto& v : views) {
    // A 6¼ × 4⅙ inch figure at three resolutions: the same layout, text scaled with the DPI.
    std::vector<FigureText> base;
    for (const double dpi : {96.0, 150.0, 300.0}) {
      const int w = static_cast<int>(std::lround(600 * dpi / 96)),
                h = static_cast<int>(std::lround(400 * dpi / 96));
      PlotRequest r = v.r;
      r.width = w, r.height = h, r.dpi = dpi;
      const std::string tag = v.name + "-" + std::to_string(int(dpi));
      QCustomPlot plot;
      r.out = tmp->file(tag + ".png");
      draw_plot(&plot, r);
      const std::vector<FigureText> texts = figure_texts(&plot, w, h, dpi);
      expect_readable(texts, w, h, dpi / 96, tag);
      for (const auto& t : texts)
        EXPECT_GE(t.point_size, 6.5) << tag << " " << t.text.toStdString();
      if (dpi == 96) {
        base = texts;
      } else if (texts.size() == base.size()) {
        const double k = dpi / 96;
        for (size_t i = 0; i < texts.size(); ++i) {
          EXPECT_EQ(texts[i].text, base[i].text) << tag;
          EXPECT_NEAR(texts[i].box.center().x() / k, base[i].box.center().x(), 600 * 0.02)
              << tag << " " << texts[i].text.toStdString();
          EXPECT_NEAR(texts[i].box.center().y() / k, base[i].box.center().y(), 400 * 0.02)
              << tag << " " << texts[i].text.toStdString();
          EXPECT_NEAR(texts[i].box.height() / k / base[i].box.height(), 1.0, 0.2)
              << tag << " " << texts[i].text.toStdString();
        }
      } else {
        ADD_FAILURE() << tag << ": " << texts.size() << " texts, at 96 DPI " << base.size() << "\n"
                      << texts_of(texts) << "---\n"
                      << texts_of(base);
      }
      // The files: PNG of exactly w × h pixels with the DPI recorded; PDF of w/dpi × h/dpi
      // inches; SVG whose text lies in its viewBox and scales with the DPI too.
      for (const char* suffix : {".png", ".pdf", ".svg"}) {
        const std::string out = tmp->file(tag + suffix);
        export_plot(&plot, QString::fromStdString(out), w, h, dpi);
        ASSERT_TRUE(fs::exists(out)) << out;
        if (std::string(suffix) == ".png") {
          const QImage img(QString::fromStdString(out));
          EXPECT_EQ(img.size(), QSize(w, h)) << out;
          EXPECT_NEAR(img.dotsPerMeterX() * 0.0254, dpi, 1) << out;
        } else if (std::string(suffix) == ".pdf") {
          const std::string p = slurp(out);
          const auto box = p.find("/MediaBox [");
          ASSERT_NE(box, std::string::npos) << out;
          double x0, y0, x1 = 0, y1 = 0;
          ASSERT_EQ(std::sscanf(p.c_str() + box, "/MediaBox [%lf %lf %lf %lf]", &x0, &y0, &x1, &y1),
                    4);
          // (Qt writes whole points.)
          EXPECT_NEAR(x1, w * 72.0 / dpi, 0.5) << out;
          EXPECT_NEAR(y1, h * 72.0 / dpi, 0.5) << out;
        } else {
          const std::vector<FigureText> svg = svg_texts(QString::fromStdString(out));
          ASSERT_FALSE(svg.empty()) << out;
          const QRectF page(-2 * dpi / 96, -2 * dpi / 96, w + 4 * dpi / 96, h + 4 * dpi / 96);
          for (const auto& t : svg)
            EXPECT_TRUE(page.contains(t.box)) << out << ": '" << t.text.toStdString() << "'";
          // Same text at the same places as the painted figure (a tenth of an inch).
          if (svg.size() == texts.size()) {
            for (size_t i = 0; i < svg.size(); ++i) {
              EXPECT_NEAR(svg[i].box.center().x(), texts[i].box.center().x(), dpi / 10)
                  << out << " '" << svg[i].text.toStdString() << "'";
            }
          }
        }
      }
    }
  }
  // A stability figure smaller than it can be drawn readably is refused, naming the size.
  {
    PlotRequest r = views[3].r;
    ASSERT_EQ(r.view, "stability");
    r.width = 1200, r.height = 800, r.dpi = 300;
    r.out = tmp->file("small-stability.png");
    try {
      render_plot(r);
      ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("at least 6 x 4 inches"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("1800 x 1200 px at 300 DPI"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(fs::exists(r.out));
  }
  // The check finds text that does not fit: the valley squeezed into 2 x 1⅓ inches.
  {
    PlotRequest r = views[0].r;
    r.width = 192, r.height = 128, r.dpi = 96;
    r.out = tmp->file("tiny.png");
    QCustomPlot plot;
    draw_plot(&plot, r);
    EXPECT_NE(problems(figure_texts(&plot, 192, 128, 96), 192, 128, 1), "");
  }
  // The sizes the issue found cramped or truncated: a wide stability figure, a small valley.
  for (const auto& [name, w, h] : std::vector<std::tuple<std::string, int, int>>{
           {"stability", 2400, 1200},
           {"valley", 1200, 800},
           {"band", 1200, 800},
           {"landscape", 1200, 800},
           {"paper-landscape", 1200, 800},
           {"paper-landscape", 990, 743}}) {  // one column, 3.3 in
    for (auto& v : views)
      if (v.name == name) {
        PlotRequest r = v.r;
        r.width = w, r.height = h, r.dpi = 300;
        r.out = tmp->file("x.png");
        QCustomPlot plot;
        draw_plot(&plot, r);
        expect_readable(figure_texts(&plot, w, h, 300), w, h, 3,
                        name + " " + std::to_string(w) + "x" + std::to_string(h) + " @300");
      }
  }
}

TEST_F(PlotPaper, LandscapeHasEqualScaleColourRangeContourLabelsAndMarksAdaptersOffThePlane) {
  const store::ScanData d = test::sample_plane();
  LandscapeOptions o;
  o.task = "a";
  o.score = "loss";
  o.cmap = "magma";
  o.range_lo = 0;
  o.range_hi = 20;
  const LandscapeFigure f = prepare_landscape(d, o);
  EXPECT_TRUE(f.equal_aspect);
  // seq/2 lies 0.2 off the plane, more than 5% of the grid's diagonal (0.05·√13 = 0.18): its
  // label says so; seq/1 (0.01 off) is on the plane.
  const MarkerSet* projected = nullptr;
  for (const auto& m : f.markers)
    if (m.kind == MarkerSet::Kind::Projected) projected = &m;
  ASSERT_NE(projected, nullptr);
  EXPECT_EQ(projected->labels, QStringList({"seq/1", "seq/2 (0.2 off)"}));
  EXPECT_EQ(projected->far, QVector<bool>({false, true}));
  EXPECT_NEAR(projected->off[1], 0.2, 1e-12);

  QCustomPlot plot;
  init_plot(&plot);
  plot.resize(900, 400);  // wide: equal scale widens x
  QCPColorMap* map = draw_landscape(&plot, f);
  ASSERT_NE(map, nullptr);
  EXPECT_DOUBLE_EQ(map->colorScale()->dataRange().lower, 0);
  EXPECT_DOUBLE_EQ(map->colorScale()->dataRange().upper, 20);
  EXPECT_EQ(map->colorScale()->gradient().color(0, QCPRange(0, 1)),
            color_map("magma").color(0, QCPRange(0, 1)));
  const auto units_per_pixel = [&](QCPAxis* a, int pixels) { return a->range().size() / pixels; };
  EXPECT_NEAR(units_per_pixel(plot.xAxis, plot.axisRect()->width()),
              units_per_pixel(plot.yAxis, plot.axisRect()->height()), 1e-9);
  // At an export's size too (laid out again for it).
  const auto texts = figure_texts(&plot, 1200, 1200, 150);
  EXPECT_NEAR(units_per_pixel(plot.xAxis, plot.axisRect()->width()),
              units_per_pixel(plot.yAxis, plot.axisRect()->height()), 1e-9);
  // The hollow marker of the adapter off the plane has a legend entry of its own.
  bool hollow = false;
  for (int i = 0; i < plot.plottableCount(); ++i)
    if (plot.plottable(i)->name() == "off the plane") hollow = true;
  EXPECT_TRUE(hollow);
  // Contour labels: numbers on the plot; the labels of markers and contours apart.
  int numbers = 0;
  for (const auto& t : texts) {
    bool ok = false;
    t.text.toDouble(&ok);
    if (ok && t.box.width() < 60) ++numbers;
  }
  EXPECT_GT(numbers, 8);  // ticks and at least one contour label
  std::vector<QRectF> labels;
  for (int i = 0; i < plot.itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(plot.item(i)))
      if (t->visible()) labels.push_back(QRectF());
  EXPECT_GE(labels.size(), 5u);  // 3 anchors, 2 projected (and contour labels)
  for (size_t a = 0; a < texts.size(); ++a)
    for (size_t b = a + 1; b < texts.size(); ++b)
      EXPECT_FALSE(
          texts[a].box.adjusted(1, 1, -1, -1).intersects(texts[b].box.adjusted(1, 1, -1, -1)))
          << texts[a].text.toStdString() << " / " << texts[b].text.toStdString();
  // Not for a random plane, and off when not asked for.
  o.equal_aspect = false;
  EXPECT_FALSE(prepare_landscape(d, o).equal_aspect);
  EXPECT_THROW(color_map("jet"), ConfigError);
  EXPECT_EQ(parse_range("-1.5:2"), std::make_pair(-1.5, 2.0));
  for (const char* bad : {"1", "2:1", "a:b", "1:2x", ":"})
    EXPECT_THROW(parse_range(bad), ConfigError) << bad;
}

TEST_F(PlotPaper, AMethodHasOneColourInEveryViewFromAColourBlindSafePalette) {
  // Fixed by name, not by order: the same after a reload, and for names lorascape does not know.
  EXPECT_EQ(method_color("seq"), QColor(0x00, 0x72, 0xB2));
  EXPECT_EQ(method_color("ilora"), QColor(0xD5, 0x5E, 0x00));
  EXPECT_NE(method_color("ilora/fast"), method_color("ilora"));
  EXPECT_EQ(method_color("my-method"), method_color("my-method"));
  EXPECT_EQ(method_of("seq/2"), "seq");
  EXPECT_EQ(method_of("ilora/2/fast"), "ilora/fast");
  EXPECT_EQ(method_of("adapter-folder"), "");
  // The stability view draws each learner in its method's colour, whatever the order.
  const store::RunFileData r = test::sample_run();
  QCustomPlot plot;
  init_plot(&plot);
  draw_stability(&plot, prepare_stability(&r, {}, {"exact_match"}));
  for (int i = 0; i < plot.graphCount(); ++i) {
    const QString learner = plot.graph(i)->name().section(' ', 0, 0);
    EXPECT_EQ(plot.graph(i)->pen().color(), method_color(learner)) << learner.toStdString();
  }
  // Two overlaid scans of different methods: each in its method's colour.
  store::ScanData ilora = test::sample_line();
  ilora.text["from"] = "run.h5:ilora/1";
  ilora.text["to"] = "run.h5:ilora/2";
  ValleyOptions o;
  o.score = "loss";
  o.task_filter = "union";
  const auto seq = std::make_shared<const store::ScanData>(test::sample_line());
  const auto il = std::make_shared<const store::ScanData>(ilora);
  QCustomPlot v;
  init_plot(&v);
  draw_valley(&v, prepare_valley({{"i", il}, {"s", seq}}, o));
  ASSERT_EQ(v.graphCount(), 2);
  EXPECT_EQ(v.graph(0)->pen().color(), method_color("ilora"));
  EXPECT_EQ(v.graph(1)->pen().color(), method_color("seq"));
  // The landscape's anchors (seq/3, er/3, ilora/3) and projected adapters (seq/1, seq/2) are
  // filled (or, off the plane, outlined) with their method's colour.
  LandscapeOptions lo;
  lo.score = "loss";
  QCustomPlot land;
  init_plot(&land);
  draw_landscape(&land, prepare_landscape(test::sample_plane(), lo));
  std::map<QString, QColor> marker;  // curve name -> its marker's fill (outline when hollow)
  for (int i = 0; i < land.plottableCount(); ++i)
    if (auto* c = qobject_cast<QCPCurve*>(land.plottable(i)); c && c->dataCount() > 0) {
      const QCPScatterStyle st = c->scatterStyle();
      marker[c->name()] = st.brush().style() == Qt::NoBrush ? st.pen().color() : st.brush().color();
    }
  for (const char* method : {"seq", "er", "ilora"})
    EXPECT_EQ(marker["anchors: " + QString(method)], method_color(method)) << method;
  // seq/1 lies in the plane, seq/2 off it: both in seq's colour.
  int seq_projected = 0;
  for (int i = 0; i < land.plottableCount(); ++i)
    if (auto* c = qobject_cast<QCPCurve*>(land.plottable(i));
        c && c->name() == "projected adapters: seq") {
      ++seq_projected;
      const QCPScatterStyle st = c->scatterStyle();
      EXPECT_EQ(st.brush().style() == Qt::NoBrush ? st.pen().color() : st.brush().color(),
                method_color("seq"));
    }
  EXPECT_EQ(seq_projected, 2);
}

TEST_F(PlotPaper, PaperStyleIsSerifAt8To10PointAndColumnWide) {
  PlotRequest r;
  r.files = {plane};
  r.view = "landscape";
  r.style = "paper";
  r.title = "Loss landscape";
  r.width = static_cast<int>(std::lround(named_width_inches("column") * 300));
  r.height = 750;
  r.dpi = 300;
  r.out = tmp->file("paper.pdf");
  QCustomPlot plot;
  draw_plot(&plot, r);
  const auto texts = figure_texts(&plot, r.width, r.height, r.dpi);
  bool title = false;
  for (const auto& t : texts) {
    EXPECT_GE(t.point_size, 7) << t.text.toStdString();
    EXPECT_LE(t.point_size, 10) << t.text.toStdString();
    title = title || t.text == "Loss landscape";
  }
  EXPECT_TRUE(title);
  EXPECT_EQ(plot.xAxis->labelFont().family(), paper_style().family);
  EXPECT_NE(paper_style().family, QApplication::font().family());
  EXPECT_NEAR(named_width_inches("column"), 3.3, 1e-12);
  EXPECT_NEAR(named_width_inches("double"), 6.9, 1e-12);
  EXPECT_THROW(style_named("poster"), ConfigError);
  // Through render_plot: a PDF of 3.3 x 2.5 inches.
  EXPECT_NE(render_plot(r).find("wrote"), std::string::npos);
  const std::string p = slurp(r.out);
  const auto box = p.find("/MediaBox [");
  ASSERT_NE(box, std::string::npos);
  double x0, y0, x1 = 0, y1 = 0;
  ASSERT_EQ(std::sscanf(p.c_str() + box, "/MediaBox [%lf %lf %lf %lf]", &x0, &y0, &x1, &y1), 4);
  EXPECT_NEAR(x1, 3.3 * 72, 0.5);  // (Qt writes whole points)
  EXPECT_NEAR(y1, 2.5 * 72, 0.5);
  // Options the view has no use for, or values it does not know, are refused.
  r.cmap = "jet";
  EXPECT_THROW(render_plot(r), ConfigError);
  r.cmap = "";
  r.legend = "middle";
  EXPECT_THROW(render_plot(r), ConfigError);
  r.legend = "";
  r.view = "matrix";
  r.files = {run};
  r.range = "0:1";
  EXPECT_THROW(render_plot(r), ConfigError);
}

TEST_F(PlotPaper, StabilityExportHasTheMetricTableAndGeometryItsModule) {
  PlotRequest r;
  r.files = {run};
  r.view = "stability";
  r.width = 1200, r.height = 800;
  r.out = tmp->file("st.png");
  QCustomPlot plot;
  draw_plot(&plot, r);
  QStringList seen;
  for (const auto& t : figure_texts(&plot, 1200, 800, 96)) seen << t.text;
  for (const char* want : {"method", "OP", "BWT", "forgetting", "stability", "ilora/fast"})
    EXPECT_TRUE(seen.contains(want)) << want;
  r.files = {geo};
  r.view = "geometry";
  QCustomPlot g;
  draw_plot(&g, r);
  seen.clear();
  for (const auto& t : figure_texts(&g, 1200, 800, 96)) seen << t.text;
  EXPECT_TRUE(seen.contains("delta_cosine, all modules")) << seen.join("|").toStdString();
  // A module the scan has, but without per-module matrices; one it does not have.
  r.module = "model.layers.0.self_attn.q_proj";
  EXPECT_THROW(render_plot(r), ConfigError);
  r.module = "model.layers.9.mlp";
  try {
    render_plot(r);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--module model.layers.9.mlp: not in the file"),
              std::string::npos)
        << e.what();
  }
}

// The stage axis names every task under its stage number: in one row where the names fit, in
// two alternating rows where they do not (the eight built-in tasks on a 6.9-inch paper figure),
// turned where even that is too tight; never on top of each other, never off the page.
TEST_F(PlotPaper, StabilityStageNamesNeverOverlap) {
  const auto run_with = [](const std::vector<std::string>& tasks) {
    store::RunFileData d = test::sample_header();
    d.tasks = tasks;
    d.methods.push_back(test::sample_method("seq", tasks, {"adapter"}, 1));
    return d;
  };
  const std::vector<std::string> suite{"topic",   "arith",     "upper",   "brackets",
                                       "extract", "translate", "compare", "weekday"};
  std::vector<std::string> many;
  for (int i = 0; i < 16; ++i) many.push_back("meeting-bank-" + std::to_string(i));
  struct Case {
    std::vector<std::string> tasks;
    int w, h;
    double dpi;
    std::string style;
    int rows, every;  // rows -1: any (a case close to the threshold, font-dependent)
  };
  for (const Case& c : std::vector<Case>{{suite, 1200, 800, 96, "screen", 1, 1},
                                         {suite, 2070, 1553, 300, "paper", 2, 1},
                                         {suite, 1800, 1200, 300, "screen", -1, 1},
                                         {many, 1200, 800, 96, "screen", 0, 1},
                                         {many, 576, 384, 96, "screen", 0, 2}}) {
    const std::string tag = std::to_string(c.tasks.size()) + " tasks " + std::to_string(c.w) + "x" +
                            std::to_string(c.h) + "@" + std::to_string(int(c.dpi)) + " " + c.style;
    const store::RunFileData r = run_with(c.tasks);
    QCustomPlot plot;
    apply_style(&plot, style_named(c.style));
    draw_stability(&plot, prepare_stability(&r, {}, {"exact_match"}));
    const std::vector<FigureText> texts = figure_texts(&plot, c.w, c.h, c.dpi);
    const QCPAxis* x = plot.axisRect(0)->axis(QCPAxis::atBottom);
    const int rows = x->property("lorascape_stage_rows").toInt();
    if (c.rows >= 0) {
      EXPECT_EQ(rows, c.rows) << tag;
    }
    const int every = x->property("lorascape_stage_every").toInt();
    EXPECT_EQ(every, c.every) << tag;
    // The task names in stage order (a line of their own under the stage number, or "N name"
    // turned upright on every `every`-th stage), each on the page and whole.
    std::vector<QRectF> boxes;
    for (size_t t = 0; t < c.tasks.size(); t += static_cast<size_t>(std::max(every, 1)))
      for (const auto& x : texts) {
        const QString name = QString::fromStdString(c.tasks[t]);
        if (x.text == name || x.text == QString::number(t + 1) + " " + name) {
          boxes.push_back(x.box);
          EXPECT_TRUE(QRectF(-1, -1, c.w + 2, c.h + 2).contains(x.box))
              << tag << " '" << x.text.toStdString() << "' leaves the page";
          EXPECT_FALSE(x.clipped) << tag << " '" << x.text.toStdString() << "'";
        }
      }
    ASSERT_EQ(boxes.size(), (c.tasks.size() + every - 1) / every) << tag << "\n" << texts_of(texts);
    // In one row: neighbours apart; in two rows: every second one; upright: every shown one.
    const size_t apart = rows == 2 ? 2 : 1;
    for (size_t t = 0; t + apart < boxes.size(); ++t)
      EXPECT_LT(boxes[t].right(), boxes[t + apart].left()) << tag << " label " << t;
    expect_readable(texts, c.w, c.h, c.dpi / 96, tag);  // no text on another at all
  }
}

TEST_F(PlotPaper, SurfaceProjectsTheGridBackToFront) {
  LandscapeOptions o;
  o.task = "a";
  o.score = "loss";
  const LandscapeFigure f = prepare_landscape(test::sample_plane(), o);
  const QRectF area(0, 0, 400, 300);
  const auto quads = surface_quads(f, {}, area);
  // 3 x 2 cells, one of which has the point not done.
  ASSERT_EQ(quads.size(), 5u);
  for (size_t k = 0; k < quads.size(); ++k) {
    EXPECT_EQ(quads[k].polygon.size(), 4);
    for (const QPointF& p : quads[k].polygon)
      EXPECT_TRUE(area.adjusted(-1e-6, -1e-6, 1e-6, 1e-6).contains(p));
    if (k) {
      EXPECT_GE(quads[k - 1].depth, quads[k].depth);
    }
  }
  // Higher values are drawn higher (smaller y): the same cells, every value raised by 5 in a
  // fixed colour range, all move up.
  LandscapeFigure raised = f, fixed = f;
  fixed.range_lo = raised.range_lo = 0;
  fixed.range_hi = raised.range_hi = 30;
  for (auto& v : raised.z) v += 5;
  const auto before = surface_quads(fixed, {}, area), after = surface_quads(raised, {}, area);
  ASSERT_EQ(before.size(), after.size());
  const auto mean_y = [](const SurfaceQuad& q) {
    double y = 0;
    for (const QPointF& p : q.polygon) y += p.y() / 4;
    return y;
  };
  for (size_t k = 0; k < before.size(); ++k) EXPECT_LT(mean_y(after[k]), mean_y(before[k]) - 1);
  // Seen from the other side, the order of the cells reverses.
  const auto back = surface_quads(f, {120, 30}, area);
  EXPECT_NE(back.front().value, quads.front().value);
}

TEST_F(PlotPaper, VtkExportHoldsEveryFieldOfThePlaneInVtkOrder) {
  store::ScanData d = test::sample_plane();
  // Not all done: refused, saying how to finish it.
  EXPECT_THROW(plane_vtk(d, "plane.h5"), ConfigError);
  d.values[d.value_index(11, 0, 0)] = 3 * 3 + 1;
  d.values[d.value_index(11, 1, 0)] = 2 * 3 + 1 + 10;
  d.done[11] = 1;
  const std::string path = tmp->file("plane.vtk");
  write_plane_vtk(path, d, "plane.h5");
  std::istringstream in(slurp(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "# vtk DataFile Version 3.0");
  std::getline(in, line);
  EXPECT_EQ(line.rfind("lorascape ", 0), 0u) << line;
  std::getline(in, line);
  EXPECT_EQ(line, "ASCII");
  std::string word;
  int nx = 0, ny = 0, nz = 0;
  in >> word >> word;  // DATASET RECTILINEAR_GRID
  EXPECT_EQ(word, "RECTILINEAR_GRID");
  in >> word >> nx >> ny >> nz;
  EXPECT_EQ(word, "DIMENSIONS");
  ASSERT_EQ(nx, 4);
  ASSERT_EQ(ny, 3);
  EXPECT_EQ(nz, 1);
  std::vector<double> coords[3];
  for (auto& c : coords) {
    int n = 0;
    in >> word >> n >> word;
    c.resize(static_cast<size_t>(n));
    for (auto& v : c) in >> v;
  }
  EXPECT_EQ(coords[0], d.spec.axes[0]);
  EXPECT_EQ(coords[1], d.spec.axes[1]);
  EXPECT_EQ(coords[2], std::vector<double>{0});
  int points = 0;
  in >> word >> points;
  EXPECT_EQ(word, "POINT_DATA");
  EXPECT_EQ(points, 12);
  for (size_t t = 0; t < 2; ++t) {
    std::string name, type;
    int comps = 0;
    in >> word >> name >> type >> comps;
    EXPECT_EQ(word, "SCALARS");
    EXPECT_EQ(name, (t == 0 ? "a_loss" : "b_loss"));
    in >> word >> word;  // LOOKUP_TABLE default
    for (int j = 0; j < ny; ++j)
      for (int i = 0; i < nx; ++i) {
        double v = NAN;
        in >> v;
        const double x = d.spec.axes[0][static_cast<size_t>(i)],
                     y = d.spec.axes[1][static_cast<size_t>(j)];
        EXPECT_DOUBLE_EQ(v, t == 0 ? x * x + y * y : 2 * x + y + 10) << i << "," << j;
      }
  }
  EXPECT_FALSE(in >> word);  // nothing more
  EXPECT_THROW(plane_vtk(test::sample_line(), "line.h5"), ConfigError);
  // Through `lorascape plot --format vtk`.
  PlotRequest r;
  r.files = {plane};
  r.view = "landscape";
  r.format = "vtk";
  r.out = tmp->file("cli.vtk");
  EXPECT_THROW(render_plot(r), ConfigError);  // the sample plane file is not complete
  r.out = tmp->file("cli.png");
  EXPECT_THROW(render_plot(r), ConfigError);  // --out does not end in .vtk
}

TEST_F(PlotPaper, SeedBandIsTheMeanAndSdOfScansOfOneConfiguration) {
  const auto a = std::make_shared<const store::ScanData>(test::sample_line("A/run.h5"));
  store::ScanData bd = test::sample_line("B/run.h5");
  for (auto& v : bd.values) v += 0.5;
  const auto b = std::make_shared<const store::ScanData>(bd);
  ValleyOptions o;
  o.score = "loss";
  o.band = true;
  const ValleyFigure f = prepare_valley({{"A", a}, {"B", b}}, o);
  EXPECT_EQ(f.band, 2);
  EXPECT_FALSE(f.overlay);
  ASSERT_EQ(f.series.size(), 4u);  // weekday, arith, union, mean
  for (const auto& s : f.series) {
    ASSERT_EQ(s.sd.size(), 5);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(s.sd[i], 0.5 / std::sqrt(2.0), 1e-12);
  }
  EXPECT_NEAR(f.series[0].v[0], test::line_value(0, 0, 0) + 0.25, 1e-12);
  EXPECT_TRUE(f.series[0].name.contains("mean ± sd of 2"));
  QCustomPlot plot;
  init_plot(&plot);
  draw_valley(&plot, f);
  EXPECT_EQ(plot.graphCount(), 4 + 8);  // the means, then an upper and a lower edge each
  EXPECT_EQ(plot.graph(5)->channelFillGraph(), plot.graph(4));
  // Another path is refused, naming the scan and the difference.
  store::ScanData other = test::sample_line("C/run.h5");
  other.text["to"] = "C/run.h5:seq/3";
  try {
    prepare_valley({{"A", a}, {"C", std::make_shared<const store::ScanData>(other)}}, o);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "seed band: C is not the same configuration as A (its path is seq/1 -> seq/3, not "
              "seq/1 -> seq/2); give scans of one path and configuration");
  }
  // Through the command: the run files' scans by name.
  PlotRequest r;
  r.files = {run, tmp->file("B/run.h5")};
  r.view = "valley";
  r.band = true;
  r.scan = "seq-1-2";
  r.out = tmp->file("band.png");
  store::write_run_file(tmp->file("B/run.h5"), test::sample_run());
  EXPECT_NE(render_plot(r).find("mean ± sd"), std::string::npos);
}
