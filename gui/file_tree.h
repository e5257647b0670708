// FileTree: the left pane. Per run file: methods → stages → adapters (fast/slow for I-LoRA),
// and the scans next to it grouped by kind; per scan file opened on its own: the file under
// its kind. Items carry what the window needs to show them (roles below).
#pragma once

#include <QStringList>
#include <QTreeWidget>
#include <vector>

#include "plot/document.h"

namespace lorascape::gui {

class FileTree : public QTreeWidget {
  Q_OBJECT
 public:
  enum Role {
    kFileRole = Qt::UserRole,  // int: index into the window's files (-1: a grouping node)
    kNodeRole,  // QString: "run", "method", "stage", "adapter", "scan", "group", "error"
    kRefRole,   // QString: adapter reference RUN.h5:METHOD/STAGE/KEY, or method name
  };
  explicit FileTree(QWidget* parent = nullptr);

  // Rebuilds the tree from the open files. `scans_of[k]` lists, for a run file k, the indices of
  // the scan files that belong to it (shown under it); other scans are top-level items.
  // `broken` lists files next to runs that could not be read (shown greyed, with the error).
  void rebuild(const std::vector<plot::OpenedFile>& files,
               const std::vector<std::vector<int>>& scans_of,
               const std::vector<std::pair<std::string, std::string>>& broken);

  // Adapter references of the selected adapter items (stage items give their reported adapter).
  QStringList selected_adapters() const;
  // Every adapter reference of every open run file.
  QStringList all_adapters() const;
  // Indices of the selected scan files, in selection order.
  std::vector<int> selected_files() const;
  // The item of file `index` (nullptr when not shown).
  QTreeWidgetItem* item_of_file(int index) const;
  // Total number of items (for tests).
  int count_items() const;
};

}  // namespace lorascape::gui
