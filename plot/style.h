// The look of a figure that does not depend on its data: the colour of each method (fixed by its
// name, from a colour-blind-safe palette, so a method has one colour in every view and after a
// reload), the colour maps of the landscape, the figure styles ("screen", and "paper": serif
// fonts at 8–10 pt, the column widths of common venues), a title, and where the legend goes.
#pragma once

#include <QColor>
#include <QFont>
#include <QString>
#include <QStringList>
#include <string>
#include <utility>
#include <vector>

class QCustomPlot;
class QCPColorGradient;

namespace lorascape::plot {

// The colour of a method ("seq", "ilora") or of one of its learners ("ilora/fast" lighter,
// "ilora/slow" darker than "ilora"): the methods of lorascape have fixed colours of Paul Tol's
// colour-blind-safe "muted" and "bright" palettes; any other name gets one of them by a hash of
// the name (the same on every machine and in every session).
QColor method_color(const QString& method);

// The method of an adapter reference's short form ("seq/2" -> "seq", "ilora/2/fast" ->
// "ilora/fast"); empty when it has no method (a PEFT folder).
QString method_of(const QString& short_ref);

// A score with its unit, for axis labels: "loss (nats per token)", "token_acc (fraction)",
// "exact_match (fraction)"; other scores as they are.
QString score_label(const QString& score);

// The colour maps a landscape can use ("viridis", "cividis", "magma", "gray"): perceptually
// uniform, readable in grey; NaN transparent.
QStringList color_map_names();
// The named map; ConfigError naming the valid ones for another name.
QCPColorGradient color_map(const QString& name);

// A colour range "LO:HI" (LO < HI, finite): ConfigError for another text.
std::pair<double, double> parse_range(const std::string& text);

// A figure style: the fonts of the figure's text.
struct PlotStyle {
  QString name = "screen";  // "screen" or "paper"
  QString family;           // "" = the application's font
  double label_pt = 10;     // axis labels, title
  double tick_pt = 9;       // tick labels, legend, labels on the plot
  double line_scale = 1;    // line widths are multiplied by it
};
PlotStyle screen_style();
PlotStyle paper_style();  // serif (DejaVu Serif / Nimbus Roman), 9 pt labels, 8 pt ticks
// "screen" or "paper"; ConfigError otherwise.
PlotStyle style_named(const std::string& name);

// A figure width by name: "column" 3.3 in, "double" 6.9 in (one and two columns of NeurIPS,
// ICML, ACL and IEEE papers); 0 for any other text.
double named_width_inches(const std::string& name);

// The fonts of every text of the plot (axes, tick labels, legend, text items, text elements such
// as the title) set to the style's; line widths scaled by its line_scale.
void apply_style(QCustomPlot* plot, const PlotStyle& style);

// The fonts and pen widths of a plot, to put back after an export in another style.
class StyleSnapshot {
 public:
  explicit StyleSnapshot(QCustomPlot* plot);
  void restore() const;

 private:
  QCustomPlot* plot_;
  std::vector<std::pair<QObject*, QFont>> fonts_;
  std::vector<std::pair<QObject*, double>> widths_;
  QFont legend_font_;
};

// A title above the figure: a text element in a new top row spanning the figure (a layout of
// several columns moves into a grid of its own under it). Call it once, after the figure is
// drawn (the views find their colour scale or second plot at fixed places of the layout); an
// empty title adds nothing.
void set_title(QCustomPlot* plot, const QString& title);

// Where the legend goes: "top-right" (default), "top-left", "bottom-right", "bottom-left",
// "none"; ConfigError otherwise. Only for figures whose legend lies inside the plot.
void place_legend(QCustomPlot* plot, const std::string& where);
QStringList legend_places();

}  // namespace lorascape::plot
