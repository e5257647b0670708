#include "analysis/mpi.h"

#include <cstdlib>
#include <string>

#include "store/error.h"

#ifdef LORASCAPE_WITH_MPI
#include <mpi.h>
#endif

namespace lorascape::analysis {

Mpi& Mpi::instance() {
  static Mpi m;
  return m;
}

bool Mpi::built_with_mpi() {
#ifdef LORASCAPE_WITH_MPI
  return true;
#else
  return false;
#endif
}

void Mpi::init(int* argc, char*** argv) {
#ifdef LORASCAPE_WITH_MPI
  // Only under a launcher: a plain `lorascape …` never touches MPI (no startup cost, no
  // dependence on a working MPI runtime).
  const char* launched = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!launched || std::atoi(launched) < 2) return;
  Mpi& m = instance();
  MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &m.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &m.size_);
  if (const char* lr = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) m.local_rank_ = std::atoi(lr);
  m.active_ = true;
#else
  (void)argc;
  (void)argv;
#endif
}

void Mpi::finalize() {
#ifdef LORASCAPE_WITH_MPI
  if (instance().active_) MPI_Finalize();
  instance().active_ = false;
#endif
}

void Mpi::abort(int code) {
#ifdef LORASCAPE_WITH_MPI
  if (instance().active_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

int64_t Mpi::max_over_ranks(int64_t v) const {
#ifdef LORASCAPE_WITH_MPI
  if (active_) {
    int64_t out = 0;
    MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return out;
  }
#endif
  return v;
}

int64_t Mpi::sum_over_ranks(int64_t v) const {
#ifdef LORASCAPE_WITH_MPI
  if (active_) {
    int64_t out = 0;
    MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    return out;
  }
#endif
  return v;
}

void Mpi::barrier() const {
#ifdef LORASCAPE_WITH_MPI
  if (active_) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void Mpi::gather_to_root(const std::vector<int64_t>& points, const std::vector<double>& values,
                         std::vector<int64_t>& all_points, std::vector<double>& all_values) const {
  if (!active_) {
    all_points = points;
    all_values = values;
    return;
  }
#ifdef LORASCAPE_WITH_MPI
  const int n = static_cast<int>(points.size());
  const int width = n > 0 ? static_cast<int>(values.size()) / n : 0;
  std::vector<int> counts(static_cast<size_t>(size_)), widths(static_cast<size_t>(size_));
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Gather(&width, 1, MPI_INT, widths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> displs(static_cast<size_t>(size_)), vcounts(static_cast<size_t>(size_)),
      vdispls(static_cast<size_t>(size_));
  int total = 0, vtotal = 0, w = 0;
  if (rank_ == 0) {
    for (int r = 0; r < size_; ++r)
      if (counts[static_cast<size_t>(r)] > 0) w = widths[static_cast<size_t>(r)];
    for (int r = 0; r < size_; ++r) {
      const auto i = static_cast<size_t>(r);
      displs[i] = total;
      total += counts[i];
      vcounts[i] = counts[i] * w;
      vdispls[i] = vtotal;
      vtotal += vcounts[i];
    }
  }
  all_points.assign(static_cast<size_t>(total), 0);
  all_values.assign(static_cast<size_t>(vtotal), 0.0);
  MPI_Gatherv(points.data(), n, MPI_INT64_T, all_points.data(), counts.data(), displs.data(),
              MPI_INT64_T, 0, MPI_COMM_WORLD);
  MPI_Gatherv(values.data(), static_cast<int>(values.size()), MPI_DOUBLE, all_values.data(),
              vcounts.data(), vdispls.data(), MPI_DOUBLE, 0, MPI_COMM_WORLD);
#endif
}

store::ScanData Mpi::broadcast_scan(const store::ScanData& d, const std::string& path) const {
  barrier();
  if (rank_ == 0 || !active_) return d;
  return store::read_scan_file(path);
}

}  // namespace lorascape::analysis
