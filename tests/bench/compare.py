#!/usr/bin/python3
"""lorascape against the PyTorch-eager reference (tests/bench/reference.py), side by side.

Runs `lorascape bench gemm` for the machine's float32 GEMM peak, then for every model size
alternates lorascape and the reference (--repeats times each, medians reported) on the
scan and the training workload, and prints Markdown tables for docs/performance.md: the
ratios, the achieved GFLOP/s as a fraction of the peak, the rate of each size's projection
GEMMs alone run as a scan runs them (`bench gemm`'s model_gemm_gflops: the ceiling of a scan
before attention and element-wise work), and the cost of 11/21/41 points and of 11×11/21×21
planes with the peak memory of each.

  /usr/bin/python3 tests/bench/compare.py [--lorascape build/cli/lorascape] [--repeats 3]
                                          [--sizes 128,256,512] [--threads N] [--quick]
                                          [--gemm auto|blas]
(./lorascape.sh bench installs python3-torch and runs this.)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Model shapes per d_model: the defaults at 256, ffn ≈ 2.69·d elsewhere.
SHAPES = {128: dict(heads=4, ffn=344), 256: dict(heads=4, ffn=688), 512: dict(heads=8, ffn=1376)}


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def flags(d, extra):
    f = ["--d-model", str(d), "--heads", str(SHAPES[d]["heads"]), "--ffn", str(SHAPES[d]["ffn"])]
    for k, v in extra.items():
        f += ["--" + k, str(v)]
    return f


def medians(runs, keys):
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lorascape", default=os.path.join(HERE, "..", "..", "build", "cli", "lorascape"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="128,256,512")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--quick", action="store_true", help="fewer sequences and steps (a smoke test, not a record)")
    p.add_argument("--gemm", default="auto", help="lorascape's --gemm: auto (its own GEMM on AVX-512 CPUs) | blas")
    a = p.parse_args()
    ls = [a.lorascape]
    ls_gemm = ["--gemm", a.gemm]
    ref = [sys.executable, os.path.join(HERE, "reference.py")]
    common = {"threads": a.threads}
    scan_args = dict(common, **({"eval-seqs": 64, "points": 5} if a.quick else {}))
    train_args = dict(common, steps=5 if a.quick else 20)

    gemm = run_json(ls + ["bench", "gemm", "--threads", str(a.threads)] + ls_gemm)
    peak = gemm["gemm_peak_gflops"]
    print(f"machine: {os.cpu_count()} cores, {a.threads} threads, BLAS {gemm['blas'].split(',')[0]}")
    shapes = ", ".join("%dx%dx%d (%s)" % (s["m"], s["k"], s["n"], s["gemm"]) for s in gemm["shapes"])
    print(f"float32 GEMM peak (best of {shapes}): {peak:.1f} GFLOP/s\n")

    print("| d_model | workload | lorascape | PyTorch eager | ratio | lorascape % of peak | reference % of peak "
          "| the model's GEMMs alone, % of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for d in [int(x) for x in a.sizes.split(",")]:
        model_gemm = run_json(ls + ["bench", "gemm", "--threads", str(a.threads)] + flags(d, {}) + ls_gemm)[
            "model_gemm_gflops"]
        runs = {"ls": [], "ref": []}
        for _ in range(a.repeats):  # alternate, so both see the same machine state
            runs["ls"].append(run_json(ls + ["bench", "scan"] + flags(d, scan_args) + ls_gemm))
            runs["ref"].append(run_json(ref + ["scan"] + flags(d, scan_args)))
        m_ls, m_ref = (medians(runs[k], ["points_per_s", "gflops"]) for k in ("ls", "ref"))
        print(f"| {d} | scan (points/s) | {m_ls['points_per_s']:.3f} | {m_ref['points_per_s']:.3f} | "
              f"**{m_ls['points_per_s'] / m_ref['points_per_s']:.2f}×** | {100 * m_ls['gflops'] / peak:.0f}% "
              f"({m_ls['gflops']:.1f} GFLOP/s) | {100 * m_ref['gflops'] / peak:.0f}% ({m_ref['gflops']:.1f}) | "
              f"{100 * model_gemm / peak:.0f}% ({model_gemm:.1f}) |")
        runs = {"ls": [], "ref": []}
        for _ in range(a.repeats):
            runs["ls"].append(run_json(ls + ["bench", "train"] + flags(d, train_args) + ls_gemm))
            runs["ref"].append(run_json(ref + ["train"] + flags(d, train_args)))
        t_ls, t_ref = (medians(runs[k], ["train_tokens_per_s"]) for k in ("ls", "ref"))
        print(f"| {d} | train (tokens/s) | {t_ls['train_tokens_per_s']:.0f} | {t_ref['train_tokens_per_s']:.0f} | "
              f"**{t_ls['train_tokens_per_s'] / t_ref['train_tokens_per_s']:.2f}×** | | | |")

    print("\nCost against size (lorascape, d_model 256):\n")
    print("| scan | points | seconds | seconds / point | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for label, extra in [("line", {"points": 11}), ("line", {"points": 21}), ("line", {"points": 41}),
                         ("plane 11×11", {"grid": 11}), ("plane 21×21", {"grid": 21})]:
        if a.quick and "grid" in extra:
            extra = {"grid": extra["grid"] // 4}
        r = run_json(ls + ["bench", "scan"] + flags(256, dict(scan_args, **extra)) + ls_gemm)
        print(f"| {label} | {r['points']} | {r['seconds']:.1f} | {r['seconds'] / r['points']:.3f} | "
              f"{r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
