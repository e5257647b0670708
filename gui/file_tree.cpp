#include "gui/file_tree.h"

#include <QHeaderView>
#include <map>

namespace lorascape::gui {

namespace {
QTreeWidgetItem* node(QTreeWidgetItem* parent, const QString& text, const QString& kind, int file,
                      const QString& ref = QString()) {
  auto* it = new QTreeWidgetItem(parent, QStringList{text});
  it->setData(0, FileTree::kNodeRole, kind);
  it->setData(0, FileTree::kFileRole, file);
  it->setData(0, FileTree::kRefRole, ref);
  return it;
}

QString stage_name(const store::StageData& s) {
  return QString("%1 %2").arg(s.stage + 1).arg(QString::fromStdString(s.task));
}

void walk(QTreeWidgetItem* it, const std::function<void(QTreeWidgetItem*)>& f) {
  f(it);
  for (int k = 0; k < it->childCount(); ++k) walk(it->child(k), f);
}
}  // namespace

FileTree::FileTree(QWidget* parent) : QTreeWidget(parent) {
  setHeaderLabels({"files"});
  header()->setVisible(false);
  setSelectionMode(QAbstractItemView::ExtendedSelection);
  setUniformRowHeights(true);
  setMinimumWidth(220);
}

void FileTree::rebuild(const std::vector<plot::OpenedFile>& files,
                       const std::vector<std::vector<int>>& scans_of,
                       const std::vector<std::pair<std::string, std::string>>& broken) {
  clear();
  std::vector<bool> nested(files.size(), false);
  for (const auto& list : scans_of)
    for (int k : list) nested[static_cast<size_t>(k)] = true;
  auto add_scans = [&](QTreeWidgetItem* parent, const std::vector<int>& which) {
    // One group per kind, in name order.
    std::map<std::string, QTreeWidgetItem*> kinds;
    for (int k : which) kinds[files[static_cast<size_t>(k)].scan->spec.kind] = nullptr;
    for (auto& [kind, item] : kinds) item = node(parent, QString::fromStdString(kind), "group", -1);
    for (int k : which) {
      const plot::OpenedFile& f = files[static_cast<size_t>(k)];
      const std::string kind = f.scan->spec.kind;
      auto* it = node(kinds[kind], QString::fromStdString(f.label()), "scan", k);
      it->setToolTip(0, QString::fromStdString(f.path + "\n" + f.scan->command_line));
    }
  };
  for (size_t i = 0; i < files.size(); ++i) {
    const plot::OpenedFile& f = files[i];
    if (f.type == plot::OpenedFile::Type::Scan) {
      if (nested[i]) continue;
      auto* it =
          node(invisibleRootItem(), QString::fromStdString(f.label()), "scan", static_cast<int>(i));
      it->setToolTip(0, QString::fromStdString(f.path + "\n" + f.scan->command_line));
      continue;
    }
    const QString path = QString::fromStdString(f.path);
    auto* top =
        node(invisibleRootItem(), QString::fromStdString(f.label()), "run", static_cast<int>(i));
    top->setToolTip(0, path + "\n" + QString::fromStdString(f.run->command_line));
    auto* methods = node(top, "methods", "group", static_cast<int>(i));
    for (const auto& m : f.run->methods) {
      const QString mname = QString::fromStdString(m.name);
      auto* mi = node(methods, mname, "method", static_cast<int>(i), mname);
      QString tip;
      if (m.metrics.count("exact_match"))
        for (const auto& [k, v] : m.metrics.at("exact_match"))
          tip += QString("%1 %2  ").arg(QString::fromStdString(k)).arg(v, 0, 'f', 3);
      mi->setToolTip(0, "exact match: " + tip);
      for (const auto& s : m.stages) {
        const QString stage = QString::number(s.stage + 1);
        const QString reported =
            path + ":" + mname + "/" + stage + "/" + QString::fromStdString(m.reported);
        auto* si = node(mi, stage_name(s), "stage", static_cast<int>(i), reported);
        for (const auto& kv : s.adapters) {
          const std::string& key = kv.first;
          const QString ref = path + ":" + mname + "/" + stage + "/" + QString::fromStdString(key);
          auto* ai = node(si,
                          QString::fromStdString(key) +
                              (key == m.reported && s.adapters.size() > 1 ? " (reported)" : ""),
                          "adapter", static_cast<int>(i), ref);
          ai->setToolTip(0, ref);
        }
      }
    }
    if (i < scans_of.size() && !scans_of[i].empty())
      add_scans(node(top, "scans", "group", static_cast<int>(i)), scans_of[i]);
    top->setExpanded(true);
    methods->setExpanded(true);
  }
  for (const auto& [path, err] : broken) {
    auto* it = node(invisibleRootItem(),
                    QString::fromStdString(plot::file_name(path)) + " (unreadable)", "error", -1);
    it->setToolTip(0, QString::fromStdString(err));
    it->setForeground(0, QBrush(Qt::gray));
  }
  for (int k = 0; k < topLevelItemCount(); ++k)
    walk(topLevelItem(k), [](QTreeWidgetItem* it) {
      if (it->data(0, kNodeRole).toString() == "group" && it->text(0) == "scans")
        it->setExpanded(true);
      if (it->data(0, kNodeRole).toString() == "group" && it->parent() &&
          it->parent()->text(0) == "scans")
        it->setExpanded(true);
    });
}

QStringList FileTree::selected_adapters() const {
  QStringList out;
  for (auto* it : selectedItems()) {
    const QString kind = it->data(0, kNodeRole).toString();
    if (kind == "adapter" || kind == "stage") out << it->data(0, kRefRole).toString();
  }
  return out;
}

QStringList FileTree::all_adapters() const {
  QStringList out;
  for (int k = 0; k < topLevelItemCount(); ++k)
    walk(topLevelItem(k), [&](QTreeWidgetItem* it) {
      if (it->data(0, kNodeRole).toString() == "adapter") out << it->data(0, kRefRole).toString();
    });
  return out;
}

std::vector<int> FileTree::selected_files() const {
  std::vector<int> out;
  for (auto* it : selectedItems())
    if (it->data(0, kNodeRole).toString() == "scan") out.push_back(it->data(0, kFileRole).toInt());
  return out;
}

QTreeWidgetItem* FileTree::item_of_file(int index) const {
  QTreeWidgetItem* found = nullptr;
  for (int k = 0; k < topLevelItemCount() && !found; ++k)
    walk(topLevelItem(k), [&](QTreeWidgetItem* it) {
      const QString kind = it->data(0, kNodeRole).toString();
      if (!found && (kind == "run" || kind == "scan") && it->data(0, kFileRole).toInt() == index)
        found = it;
    });
  return found;
}

int FileTree::count_items() const {
  int n = 0;
  for (int k = 0; k < topLevelItemCount(); ++k)
    walk(topLevelItem(k), [&](QTreeWidgetItem*) { ++n; });
  return n;
}

}  // namespace lorascape::gui
