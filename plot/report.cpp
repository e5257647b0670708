#include "plot/report.h"

#include <qcustomplot.h>

#include <QDir>
#include <QFileInfo>
#include <QPdfWriter>
#include <QSaveFile>
#include <QTextDocument>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "plot/document.h"
#include "plot/export.h"
#include "plot/geometry.h"
#include "plot/landscape.h"
#include "plot/matrix.h"
#include "plot/plot_command.h"
#include "plot/plot_util.h"
#include "plot/stability.h"
#include "plot/valley.h"
#include "store/error.h"

namespace lorascape::plot {

namespace fs = std::filesystem;

std::string ReportResult::message() const {
  std::string s = "wrote " + out + " (";
  if (pages > 0) s += std::to_string(pages) + " pages: ";
  s += std::to_string(sections.size()) + " sections";
  if (!figures.empty()) s += ", " + std::to_string(figures.size()) + " figures";
  if (!skipped.empty())
    s += ", " + std::to_string(skipped.size()) + (skipped.size() == 1 ? " file" : " files") +
         " skipped";
  return s + ")";
}

namespace {

// One piece of a section: a block of HTML text, or a figure drawn by one of the views'
// renderers (draw != nullptr) at aspect = height / width of the text width.
struct Item {
  Item(QString h) : html(std::move(h)) {}  // NOLINT: text items are written as {html}
  Item(QString h, std::function<void(QCustomPlot*)> d, double a, QString n, int layout = 0)
      : html(std::move(h)), draw(std::move(d)), aspect(a), name(std::move(n)), layout(layout) {}
  QString html;
  std::function<void(QCustomPlot*)> draw;
  double aspect = 0.6;
  QString name;    // the figure's file name stem (HTML)
  int layout = 0;  // lay the figure out this many pixels wide and scale it to the text width
                   // (a figure with several panels); 0: at the text width
};

struct Section {
  QString title;
  std::vector<Item> items;
};

QString esc(const std::string& s) {
  return QString::fromStdString(s).toHtmlEscaped();
}

QString num(double v, int decimals = 3) {
  if (std::isnan(v)) return "–";
  return QString::number(v, 'f', decimals);
}

QString table(const QStringList& header, const std::vector<QStringList>& rows) {
  QString h = "<table border='1' cellspacing='0' cellpadding='3'><tr>";
  for (const auto& c : header) h += "<th>" + c.toHtmlEscaped() + "</th>";
  h += "</tr>";
  for (const auto& r : rows) {
    h += "<tr>";
    for (const auto& c : r) h += "<td>" + c.toHtmlEscaped() + "</td>";
    h += "</tr>";
  }
  return h + "</table>";
}

QString pre(const std::string& text) {
  return "<pre style='font-size:7pt'>" + esc(text) + "</pre>";
}

QString caption(const QString& text) {
  return "<p><i>" + text + "</i></p>";
}

QString text_of(const store::ScanData& d, const char* key) {
  const auto it = d.text.find(key);
  return it == d.text.end() ? QString() : QString::fromStdString(it->second);
}

// ---------------------------------------------------------------------------------------------
// The run: configuration and versions, metrics, matrices, plasticity/stability.

Section run_section(const std::string& path, const store::RunFileData& run,
                    const std::string& generator) {
  Section s{"Run " + QString::fromStdString(file_name(path)), {}};
  QStringList tasks;
  for (size_t i = 0; i < run.tasks.size(); ++i)
    tasks << QString::number(i + 1) + " " + QString::fromStdString(run.tasks[i]);
  QStringList methods;
  for (const auto& m : run.methods) {
    QString e = QString::fromStdString(m.name);
    if (!m.learners.empty()) {
      QStringList others;
      for (const auto& [key, l] : m.learners) others << QString::fromStdString(key);
      e += " (reports " + QString::fromStdString(m.reported) + "; also " + others.join(", ") + ")";
    }
    methods << e;
  }
  QString lora = "rank " + QString::number(run.lora_rank) + ", alpha " +
                 QString::number(run.lora_alpha) + ", on " + QString::fromStdString([&] {
                   std::string t;
                   for (const auto& x : run.lora_targets) t += (t.empty() ? "" : ", ") + x;
                   return t;
                 }());
  if (!run.lora_config.empty()) lora += "; PEFT configuration " + esc(run.lora_config);
  const std::vector<QStringList> rows{
      {"run file", QString::fromStdString(path)},
      {"written by", "lorascape " + QString::fromStdString(run.software_version) + ", " +
                         QString::fromStdString(run.created)},
      {"command", QString::fromStdString(run.command_line)},
      {"base model", QString::fromStdString(run.base_model) +
                         (run.base_model_digest.empty()
                              ? QString()
                              : " (" + QString::fromStdString(run.base_model_digest) + ")")},
      {"tasks", tasks.isEmpty() ? "none" : tasks.join(", ")},
      {"LoRA", lora},
      {"methods", methods.isEmpty() ? "none yet" : methods.join("; ")},
      {"report",
       QString::fromStdString(generator) + ", " + QString::fromStdString(store::utc_now())},
  };
  s.items.push_back({table({"", ""}, rows)});
  const auto cfg = nlohmann::json::parse(run.config_json, nullptr, false);
  s.items.push_back({"<p><b>Configuration</b> (as resolved and recorded in the run file)</p>" +
                     pre(cfg.is_discarded() ? run.config_json : cfg.dump(2))});
  return s;
}

Section metrics_section(const store::RunFileData& run) {
  Section s{"Metrics", {}};
  if (run.methods.empty()) {
    s.items.push_back({"<p>The run file holds no method yet.</p>"});
    return s;
  }
  for (const auto& score : run_scores(run)) {
    StabilityOptions o;
    o.score = score;
    const MetricTable t = prepare_stability(&run, {}, o).metrics;
    QStringList header{"method"};
    header << t.columns;
    std::vector<QStringList> rows;
    for (int r = 0; r < t.rows.size(); ++r)
      rows.push_back(QStringList{t.rows[r]} << t.cells[static_cast<size_t>(r)]);
    s.items.push_back({"<p><b>" + score.toHtmlEscaped() + "</b></p>" + table(header, rows)});
  }
  s.items.push_back(
      {caption("R[t][i] is the score on task i after training through task t. OP: mean of the "
               "last row; BWT: mean over i &lt; T of R[T][i] − R[i][i]; FWT: mean over i &gt; 1 "
               "of R[i−1][i] − the base model's score; forgetting: mean drop from the best score "
               "of each earlier task; plasticity: mean of R[t][t]; stability: mean over t of "
               "the mean old-task score relative to its learned value (docs/metrics.md). A "
               "method's other learners (ilora/fast) are scored the same way.")});
  return s;
}

Section matrix_section(const store::RunFileData& run, const QString& method, const QString& score) {
  Section s{"Accuracy matrix: " + method, {}};
  MatrixOptions o;
  o.method = method;
  o.score = score;
  auto f = std::make_shared<MatrixFigure>(prepare_matrix(run, o));
  if (f->empty()) {
    s.items.push_back({"<p>No matrix of " + score.toHtmlEscaped() + ".</p>"});
    return s;
  }
  const double aspect = std::min(0.9, 0.35 + 0.06 * f->tasks.size());
  s.items.push_back({QString(), [f](QCustomPlot* p) { draw_matrix(p, *f); }, aspect,
                     "matrix-" + QString(method).replace('/', '-')});
  // The metrics of this learner for the caption.
  const std::string name = method.toStdString();
  const auto slash = name.find('/');
  const store::MethodData* m = run.find_method(name.substr(0, slash));
  const std::map<std::string, std::map<std::string, double>>* metrics = m ? &m->metrics : nullptr;
  if (m && slash != std::string::npos) {
    const auto it = m->learners.find(name.substr(slash + 1));
    metrics = it == m->learners.end() ? nullptr : &it->second.metrics;
  }
  QString text = "The " + score.toHtmlEscaped() + " of " + method.toHtmlEscaped() +
                 " on each task (column) after training through each task (row).";
  if (metrics && metrics->count(score.toStdString())) {
    const auto& mm = metrics->at(score.toStdString());
    auto get = [&](const char* k) { return mm.count(k) ? mm.at(k) : NAN; };
    text += " OP " + num(get("OP")) + ", BWT " + num(get("BWT")) + ", plasticity " +
            num(get("plasticity")) + ", stability " + num(get("stability")) + ".";
  }
  s.items.push_back({caption(text)});
  return s;
}

Section stability_section(const store::RunFileData& run, const std::vector<NamedScan>& scans,
                          const QString& score) {
  Section s{"Plasticity and stability", {}};
  StabilityOptions o;
  o.score = score;
  auto f = std::make_shared<StabilityFigure>(prepare_stability(&run, trade_off_paths(scans), o));
  // Two panels and a legend: laid out wider than the text, as on a screen, and scaled down.
  s.items.push_back(
      {QString(), [f](QCustomPlot* p) { draw_stability(p, *f); }, 0.75, "stability", 720});
  QString text = "Left: " + score.toHtmlEscaped() +
                 " of the task just learned (R[t][t], solid) and the mean over the earlier tasks "
                 "(dashed), per method and learner, across the stages.";
  text += f->paths.empty()
              ? " Right: no line scan between consecutive stages was found (lorascape "
                "analyse-run writes them)."
              : " Right: along " + QString::number(f->paths.size()) +
                    " line scan(s) between consecutive stages, the new task's score against the "
                    "old tasks' mean as t moves from the earlier stage to the later one.";
  s.items.push_back({caption(text)});
  return s;
}

// ---------------------------------------------------------------------------------------------
// Scans: one section each, the figure of its kind and a caption generated from the file.

QString where(const store::ScanData& d) {
  QString w;
  const QString space = text_of(d, "space");
  if (!space.isEmpty()) w += " in " + space.toHtmlEscaped() + " space";
  return w;
}

QString task_sets(const store::ScanData& d, int new_task) {
  QStringList sets;
  for (size_t i = 0; i < d.spec.tasks.size(); ++i) {
    QString t = QString::fromStdString(d.spec.tasks[i]);
    if (static_cast<int>(i) == new_task) t += " (new)";
    sets << t.toHtmlEscaped();
  }
  return sets.join(", ");
}

QString done_note(const store::ScanData& d) {
  if (d.complete()) return QString();
  return " Only " + QString::number(d.num_done()) + " of " + QString::number(d.num_points()) +
         " points are done (rerun the scan's command to finish it).";
}

// The lowest value of a series in the interior (0 < t < 1) against both ends: what the paper's
// mode-connectivity claim is about.
QString interior_note(const ValleySeries& sr, bool lower_is_better) {
  double v0 = NAN, v1 = NAN, best = NAN, best_t = NAN;
  for (int k = 0; k < sr.t.size(); ++k) {
    const double t = sr.t[k], v = sr.v[k];
    if (!std::isfinite(v)) continue;
    if (t == 0) v0 = v;
    if (t == 1) v1 = v;
    if (t > 0 && t < 1 && (std::isnan(best) || (lower_is_better ? v < best : v > best))) {
      best = v;
      best_t = t;
    }
  }
  if (std::isnan(v0) || std::isnan(v1) || std::isnan(best)) return QString();
  const double ends = lower_is_better ? std::min(v0, v1) : std::max(v0, v1);
  const double gain = lower_is_better ? ends - best : best - ends;
  QString s = "the " + sr.task_set.toHtmlEscaped() + " value is " + num(v0, 4) + " at t = 0 and " +
              num(v1, 4) + " at t = 1; its best interior value is " + num(best, 4) +
              " at t* = " + num(best_t, 3);
  s += gain > 0 ? ", better than both ends by " + num(gain, 4) + "."
                : ": no interior point is better than both ends.";
  return s;
}

void path_section(Section& s, const NamedScan& scan) {
  const store::ScanData& d = *scan.scan;
  const bool sharp = d.spec.kind == "sharpness";
  const int new_task = new_task_index(d);
  const QString from = QString::fromStdString(short_ref(text_of(d, "from").toStdString())),
                to = QString::fromStdString(short_ref(text_of(d, "to").toStdString()));
  if (sharp && d.spec.axes[0].size() <= 1) {
    // Sharpness at one adapter: a table, no figure.
    std::vector<QStringList> rows;
    for (size_t t = 0; t < d.spec.tasks.size(); ++t) {
      QStringList r{QString::fromStdString(d.spec.tasks[t])};
      for (size_t k = 0; k < d.spec.scores.size(); ++k)
        r << num(d.values[d.value_index(0, t, k)], 4);
      rows.push_back(r);
    }
    QStringList header{"task set"};
    for (const auto& sc : d.spec.scores) header << QString::fromStdString(sc);
    s.items.push_back({table(header, rows)});
    s.items.push_back(
        {caption("The top eigenvalues of the Hessian of the loss at " +
                 QString::fromStdString(short_ref(text_of(d, "at").toStdString())).toHtmlEscaped() +
                 where(d) + ", by power iteration, per task set." + done_note(d))});
    return;
  }
  ValleyOptions o;
  o.score = sharp ? "lambda_1" : "loss";
  o.score = choose(valley_scores({scan}), o.score);
  auto f = std::make_shared<ValleyFigure>(prepare_valley({scan}, o));
  if (f->series.empty()) {
    s.items.push_back({"<p>Nothing to draw: no point of the scan is done yet.</p>"});
    return;
  }
  s.items.push_back(
      {QString(), [f](QCustomPlot* p) { draw_valley(p, *f); }, 0.6, "scan-" + scan.label});
  const auto& ts = d.spec.axes[0];
  QString text = (sharp ? "The top Hessian eigenvalue (" + o.score + ") along the line"
                        : o.score + " along the " + QString::fromStdString(d.spec.kind)) +
                 (from.isEmpty() ? QString() : " from " + from.toHtmlEscaped()) +
                 (to.isEmpty() ? QString() : " to " + to.toHtmlEscaped()) + where(d) + ", " +
                 QString::number(ts.size()) + " points over t in [" + num(ts.front(), 2) + ", " +
                 num(ts.back(), 2) + "]; task sets " + task_sets(d, new_task) + ".";
  if (!sharp && !std::isnan(f->barrier.value) && f->barrier.series >= 0)
    text += " Barrier of " + f->series[f->barrier.series].task_set.toHtmlEscaped() + ": " +
            num(f->barrier.value, 4) + " above the chord at t = " + num(f->barrier.t, 3) + ".";
  else if (!sharp)
    text += " No barrier: the path nowhere rises above the chord between its ends.";
  if (!sharp) {
    // The old+new average ("mean" of the tasks) and the pooled union, as in the paper.
    for (const char* role : {"mean", "union"})
      for (const auto& sr : f->series)
        if (sr.role == role) {
          const QString n = interior_note(sr, o.score == "loss");
          if (!n.isEmpty()) text += " Along it " + n;
        }
  }
  s.items.push_back({caption(text + done_note(d))});
}

void plane_section(Section& s, const NamedScan& scan) {
  const store::ScanData& d = *scan.scan;
  LandscapeOptions o;
  o.task = choose(landscape_tasks(d), "union", "mean");
  o.score = choose(landscape_scores(d), "loss");
  auto f = std::make_shared<LandscapeFigure>(prepare_landscape(d, o));
  if (f->empty() || std::isnan(f->lo)) {
    s.items.push_back({"<p>Nothing to draw: no point of the scan is done yet.</p>"});
    return;
  }
  s.items.push_back(
      {QString(), [f](QCustomPlot* p) { draw_landscape(p, *f); }, 0.75, "scan-" + scan.label});
  const size_t ny = f->ys.size();
  size_t best = 0;
  for (size_t k = 0; k < f->z.size(); ++k)
    if (std::isfinite(f->z[k]) &&
        (!std::isfinite(f->z[best]) || (f->inverted ? f->z[k] > f->z[best] : f->z[k] < f->z[best])))
      best = k;
  QString text = o.score.toHtmlEscaped() + " of " + o.task.toHtmlEscaped() + " on the " +
                 QString::fromStdString(d.spec.kind) + where(d) + ", a " +
                 QString::number(f->xs.size()) + " × " + QString::number(ny) + " grid; " +
                 (f->inverted ? "highest " : "lowest ") + num(f->z[best], 4) + " at (" +
                 num(f->xs[best / ny], 3) + ", " + num(f->ys[best % ny], 3) + "), range " +
                 num(f->lo, 4) + " … " + num(f->hi, 4) + ".";
  for (const auto& m : f->markers) {
    QStringList labels;
    for (const auto& l : m.labels)
      if (!l.isEmpty()) labels << l.toHtmlEscaped();
    if (m.x.isEmpty()) continue;
    text += " " + m.name.toHtmlEscaped() + ": " + QString::number(m.x.size()) +
            (labels.isEmpty() ? QString() : " (" + labels.join(", ") + ")") + ".";
  }
  s.items.push_back({caption(text + done_note(d))});
}

void geometry_section(Section& s, const NamedScan& scan) {
  const store::ScanData& d = *scan.scan;
  GeometryOptions o;
  o.metric = choose(geometry_metrics(d), "delta_cosine");
  auto f = std::make_shared<GeometryFigure>(prepare_geometry(d, o));
  if (!f->empty()) {
    const double aspect = std::min(0.9, 0.35 + 0.06 * f->labels.size());
    s.items.push_back(
        {QString(), [f](QCustomPlot* p) { draw_geometry(p, *f); }, aspect, "scan-" + scan.label});
  }
  s.items.push_back(
      {caption("Pairwise " + o.metric.toHtmlEscaped() + " of " + QString::number(f->labels.size()) +
               " adapters (" + f->labels.join(", ").toHtmlEscaped() + ") over all modules.")});
}

Section scan_section(const std::string& path, const std::shared_ptr<const store::ScanData>& d) {
  const NamedScan scan{QString::fromStdString(fs::path(path).stem().string()), d};
  Section s{"Scan " + QString::fromStdString(file_name(path)) + " (" +
                QString::fromStdString(d->spec.kind) + ")",
            {}};
  if (d->spec.kind == "geometry")
    geometry_section(s, scan);
  else if (is_plane_kind(*d))
    plane_section(s, scan);
  else if (is_path_kind(*d))
    path_section(s, scan);
  else
    s.items.push_back(
        {"<p>A scan of kind " + esc(d->spec.kind) + " with no figure in this version.</p>"});
  if (d->text.count("summary") && !d->text.at("summary").empty())
    s.items.push_back({"<p>The scan's own summary:</p>" + pre(d->text.at("summary"))});
  s.items.push_back({"<p style='font-size:7pt'>" + esc(path) + ", written by lorascape " +
                     esc(d->software_version) + " on " + esc(d->created) + ": " +
                     esc(d->command_line) + "</p>"});
  return s;
}

// ---------------------------------------------------------------------------------------------
// Output: the same sections as PDF pages or as HTML with PNG figures.

// A figure drawn into a fresh plot of `w` × `h` layout pixels, in the light theme.
void draw_into(QCustomPlot* plot, const Item& item, int w, int h) {
  init_plot(plot);
  item.draw(plot);
  plot->resize(w, h);
  apply_plot_theme(plot, false);
}

QString page_style() {
  return "body { font-family: sans-serif; font-size: 9pt; } th { background: #eee; } "
         "td, th { font-size: 8pt; }";
}

// A4 pages with 18 mm margins, at the resolution the plots are laid out with, so that a figure
// of the text width has the layout the app gives it on a screen of that width.
class Pdf {
 public:
  explicit Pdf(QIODevice* dev) : pdf_(dev) {
    pdf_.setCreator("lorascape");
    pdf_.setResolution(layout_dpi());
    pdf_.setPageSize(QPageSize(QPageSize::A4));
    pdf_.setPageMargins(QMarginsF(18, 18, 18, 18), QPageLayout::Millimeter);
    const QRect r = pdf_.pageLayout().paintRectPixels(pdf_.resolution());
    w_ = r.width();
    h_ = r.height();
  }
  void set_title(const QString& t) { pdf_.setTitle(t); }
  bool begin() {
    if (!painter_.begin(&pdf_)) return false;
    painter_.setMode(QCPPainter::pmVectorized);
    painter_.setMode(QCPPainter::pmNoCaching);
    return true;
  }
  bool end() { return painter_.end(); }
  int pages() const { return pages_; }

  void section(const Section& s, bool first) {
    if (!first) new_page();
    text("<h2>" + s.title.toHtmlEscaped() + "</h2>");
    for (const auto& item : s.items) {
      if (item.draw)
        figure(item);
      else
        text(item.html);
    }
  }

 private:
  void new_page() {
    pdf_.newPage();
    ++pages_;
    y_ = 0;
  }
  void text(const QString& html) {
    QTextDocument doc;
    doc.setDefaultStyleSheet(page_style());
    doc.setHtml("<html><body>" + html + "</body></html>");
    doc.setTextWidth(w_);
    const double h = doc.size().height();
    if (h <= h_ - y_) {
      draw_doc(doc, 0, h);
      y_ += h;
      return;
    }
    if (y_ > 0) new_page();
    if (h <= h_) {
      draw_doc(doc, 0, h);
      y_ = h;
      return;
    }
    // Longer than a page: laid out in pages, so that no line is cut.
    doc.setPageSize(QSizeF(w_, h_));
    for (int p = 0; p < doc.pageCount(); ++p) {
      if (p > 0) new_page();
      draw_doc(doc, p * h_, h_);
    }
    y_ = h_;
  }
  void draw_doc(QTextDocument& doc, double from, double height) {
    painter_.save();
    painter_.translate(0, y_ - from);
    doc.drawContents(&painter_, QRectF(0, from, w_, height));
    painter_.restore();
  }
  void figure(const Item& item) {
    const int h = static_cast<int>(std::lround(std::min<double>(h_, w_ * item.aspect)));
    if (y_ + h > h_ && y_ > 0) new_page();
    const int lw = item.layout > 0 ? item.layout : w_;
    const int lh = static_cast<int>(std::lround(h * static_cast<double>(lw) / w_));
    QCustomPlot plot;
    draw_into(&plot, item, lw, lh);
    painter_.save();
    painter_.translate(0, y_);
    painter_.scale(static_cast<double>(w_) / lw, static_cast<double>(w_) / lw);
    plot.toPainter(&painter_, lw, lh);
    painter_.restore();
    y_ += h + 6;
  }

  QPdfWriter pdf_;
  QCPPainter painter_;
  int w_ = 0, h_ = 0;
  double y_ = 0;
  int pages_ = 1;
};

QString slug(QString s) {
  for (auto& c : s)
    if (!c.isLetterOrNumber() && c != '-' && c != '_') c = '-';
  return s;
}

// The HTML page; the figures are written into `dir` (REPORT_files/) as PNG at twice the layout
// resolution.
QString html_of(const std::vector<Section>& sections, const QString& title, const QString& dir,
                ReportResult& result) {
  QString h = "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" + title.toHtmlEscaped() +
              "</title><style>" + page_style() +
              " body { max-width: 60em; margin: 2em auto; } img { max-width: 100%; }"
              " table { border-collapse: collapse; }</style></head><body>\n";
  const int w = 700;
  int n = 0;
  for (const auto& s : sections) {
    h += "<h2>" + s.title.toHtmlEscaped() + "</h2>\n";
    for (const auto& item : s.items) {
      if (!item.draw) {
        h += item.html + "\n";
        continue;
      }
      const int fh = static_cast<int>(std::lround(w * item.aspect));
      const int lw = item.layout > 0 ? item.layout : w;
      QCustomPlot plot;
      draw_into(&plot, item, lw, static_cast<int>(std::lround(lw * item.aspect)));
      const QString name = QString("%1-%2.png").arg(++n, 2, 10, QChar('0')).arg(slug(item.name));
      const QString path = QDir(dir).filePath(name);
      // Twice the pixels of the page's width, the figure's layout kept (export_plot).
      export_plot(&plot, path, 2 * w, 2 * fh, 2.0 * w / lw * layout_dpi());
      result.figures.push_back(path.toStdString());
      h += "<p><img src='" + (QFileInfo(dir).fileName() + "/" + name).toHtmlEscaped() +
           "' width='" + QString::number(w) + "' alt='" + s.title.toHtmlEscaped() + "'></p>\n";
    }
  }
  return h + "</body></html>\n";
}

// Refuses an output that would replace an input or a file of another kind.
void check_out(const ReportRequest& r, const std::string& suffix) {
  if (suffix != "pdf" && suffix != "html")
    throw ConfigError("--out " + r.out + ": unknown report format; end the name in .pdf or .html");
  std::error_code ec;
  if (fs::exists(r.out, ec)) {
    if (!fs::is_regular_file(r.out, ec))
      throw ConfigError("--out " + r.out + ": exists and is not a regular file; give a new path");
    std::vector<std::string> inputs = r.scans;
    inputs.push_back(r.run);
    for (const auto& in : inputs)
      if (fs::exists(in, ec) && fs::equivalent(in, r.out, ec))
        throw ConfigError("--out " + r.out + ": is an input of this command; give a new path");
    std::string head(8, '\0');
    if (FILE* f = std::fopen(r.out.c_str(), "rb")) {
      head.resize(std::fread(head.data(), 1, head.size(), f));
      std::fclose(f);
    }
    if (head.rfind("\x89HDF\r\n\x1a\n", 0) == 0)
      throw ConfigError("--out " + r.out + ": is an HDF5 file; not overwriting it");
  }
}

}  // namespace

ReportResult write_report(const ReportRequest& r) {
  const std::string suffix =
      QFileInfo(QString::fromStdString(r.out)).suffix().toLower().toStdString();
  check_out(r, suffix);
  const OpenedFile run = open_file(r.run);
  if (run.type != OpenedFile::Type::Run)
    throw ConfigError(r.run + ": is a scan file, not a run file; give the run file (OUT/run.h5)");
  ensure_application();
  const QString score =
      choose(run_scores(*run.run), QString::fromStdString(r.score), "exact_match");
  if (!r.score.empty() && score != QString::fromStdString(r.score))
    throw ConfigError("--score " + r.score + ": not a score of the run file");

  ReportResult result;
  result.out = r.out;
  std::vector<Section> sections;
  sections.push_back(run_section(r.run, *run.run, r.generator));
  sections.push_back(metrics_section(*run.run));
  for (const auto& m : matrix_methods(*run.run))
    sections.push_back(matrix_section(*run.run, m, score));

  // The scans: read each; one that cannot be read gets its section saying why.
  std::vector<std::string> scan_paths = r.scans.empty() ? scans_near(r.run) : r.scans;
  std::vector<NamedScan> scans;
  std::vector<Section> scan_sections;
  for (const auto& path : scan_paths) {
    try {
      const OpenedFile f = open_file(path);
      if (f.type != OpenedFile::Type::Scan) {
        if (!r.scans.empty()) throw FormatError(path + ": is a run file, not a scan file");
        continue;  // another run next to this one
      }
      scans.push_back({QString::fromStdString(fs::path(path).stem().string()), f.scan});
      scan_sections.push_back(scan_section(path, f.scan));
    } catch (const std::exception& e) {
      result.skipped.push_back(path + ": " + e.what());
      scan_sections.push_back(
          {"Skipped: " + QString::fromStdString(file_name(path)),
           {{"<p>" + esc(path) + " could not be read and is left out of this report:</p><p>" +
             esc(e.what()) + "</p>"}}});
    }
  }
  if (!run.run->methods.empty()) sections.push_back(stability_section(*run.run, scans, score));
  if (scan_sections.empty())
    scan_sections.push_back({"Scans",
                             {{"<p>No scan file was given or found next to the run (in " +
                               esc(fs::path(r.run).parent_path().string()) +
                               "/analysis/). lorascape analyse-run, lorascape scan and "
                               "lorascape report --analyse write them.</p>"}}});
  for (auto& s : scan_sections) sections.push_back(std::move(s));
  for (const auto& s : sections) result.sections.push_back(s.title.toStdString());

  const QString title = "lorascape report: " + QString::fromStdString(r.run);
  const QString out = QString::fromStdString(r.out);
  QSaveFile file(out);
  if (!file.open(QIODevice::WriteOnly))
    throw FormatError(r.out + ": cannot write the report (" + file.errorString().toStdString() +
                      "); check that the folder exists and is writable");
  if (suffix == "pdf") {
    Pdf pdf(&file);
    pdf.set_title(title);
    if (!pdf.begin()) throw FormatError(r.out + ": cannot start the PDF");
    for (size_t k = 0; k < sections.size(); ++k) pdf.section(sections[k], k == 0);
    if (!pdf.end()) throw FormatError(r.out + ": cannot finish the PDF");
    result.pages = pdf.pages();
  } else {
    const QFileInfo info(out);
    const QString dir = info.absoluteDir().filePath(info.completeBaseName() + "_files");
    QDir(dir).removeRecursively();  // figures of an earlier report of this name
    if (!QDir().mkpath(dir))
      throw FormatError(dir.toStdString() + ": cannot create the figures' folder");
    file.write(html_of(sections, title, dir, result).toUtf8());
  }
  if (!file.commit())
    throw FormatError(r.out + ": cannot write the report (" + file.errorString().toStdString() +
                      "); check the free space and that the folder is writable");
  return result;
}

}  // namespace lorascape::plot
