#!/usr/bin/env python3
"""The tables of docs/landscape.md over seeds, from the files scripts/study-landscape.sh writes.

    scripts/landscape-tables.py OUT DOC

OUT/seed-S/ holds one seed's analysis/{factors,delta}/summary.csv (analyse-run), curves/*.txt
(scan curve's output), sharpness/*.txt (sharpness's table). Writes DOC/paths.csv, curves.csv and
sharpness.csv (every seed's rows, with a seed column) and prints the markdown tables (mean ± sd
over seeds; sd with n − 1). Standard library, and `h5dump` (Debian's hdf5-tools, installed by
lorascape.sh) to read the curve files' union losses.
"""
import csv
import glob
import math
import os
import re
import subprocess
import sys


def h5_dataset(path, name):
    """(shape, flat values) of one dataset of an HDF5 file, via h5dump: numbers or strings."""
    text = subprocess.run(["h5dump", "-y", "-w", "0", "-d", name, path], check=True,
                          capture_output=True, text=True).stdout
    dims = re.search(r"DATASPACE\s+SIMPLE \{ \( ([\d, ]+) \)", text)
    shape = [int(x) for x in dims.group(1).split(",")] if dims else []
    body = text.split("DATA {", 1)[1].rsplit("}", 2)[0]
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    if strings:
        return shape, strings
    return shape, [float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)", body)]


def union_along(path):
    """The union task set's (loss, exact match) at every point of a curve file: curve, line."""
    _, tasks = h5_dataset(path, "/tasks")
    _, scores = h5_dataset(path, "/scores")
    u, L, E = tasks.index("union"), scores.index("loss"), scores.index("exact_match")
    out = []
    for name in ("/values", "/extras/line_values"):
        shape, v = h5_dataset(path, name)
        T, S = shape[1], shape[2]
        out.append([(v[(p * T + u) * S + L], v[(p * T + u) * S + E]) for p in range(shape[0])])
    return out


def mean_sd(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    if not xs:
        return float("nan"), float("nan"), 0
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
    return m, sd, len(xs)


def fmt(xs, digits=3, signed=False):
    m, sd, n = mean_sd(xs)
    if n == 0:
        return "—"
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f.format(m) + ("" if math.isnan(sd) else f" ± {sd:.{digits}f}")


def seeds(out):
    found = []
    for d in sorted(glob.glob(os.path.join(out, "seed-*"))):
        try:
            found.append((int(d.rsplit("-", 1)[1]), d))
        except ValueError:
            pass
    return found


def read_paths(out):
    rows = []
    for seed, d in seeds(out):
        for space in ("factors", "delta"):
            f = os.path.join(d, "analysis", space, "summary.csv")
            if not os.path.exists(f):
                continue
            for r in csv.DictReader(open(f)):
                r["seed"] = seed
                rows.append(r)
    return rows


CURVE = re.compile(r"^(\S+)\s+loss barrier: straight line ([-+]?[\d.]+(?:e[-+]?\d+)?), "
                   r"curve ([-+]?[\d.]+(?:e[-+]?\d+)?): (.*)$")


def read_curves(out):
    rows = []
    for seed, d in seeds(out):
        for f in sorted(glob.glob(os.path.join(d, "curves", "curve-*.txt"))):
            m = re.match(r"curve-(.+)-(\d+)-(\d+)\.txt$", os.path.basename(f))
            if not m:
                continue
            for line in open(f):
                c = CURVE.match(line.strip())
                if c:
                    rows.append({"seed": seed, "method": m.group(1), "pair": f"{m.group(2)}→{m.group(3)}",
                                 "task_set": c.group(1), "line_barrier": float(c.group(2)),
                                 "curve_barrier": float(c.group(3)), "verdict": c.group(4)})
            h5 = f[:-len(".txt")] + ".h5"
            if rows and rows[-1]["task_set"] == "union" and os.path.exists(h5):
                curve, line = union_along(h5)
                rows[-1].update({"loss_from": line[0][0], "loss_to": line[-1][0],
                                 "line_lowest_loss": min(x[0] for x in line),
                                 "curve_lowest_loss": min(x[0] for x in curve),
                                 "line_best_exact": max(x[1] for x in line),
                                 "curve_best_exact": max(x[1] for x in curve)})
    return rows


NUM = r"[-+]?(?:[\d.]+(?:e[-+]?\d+)?|nan|inf)"
# "TASKSET LOSS LAMBDA ITERS" (at an adapter) or "T TASKSET LOSS LAMBDA ITERS" (along a line).
SHARP = re.compile(rf"^(?:({NUM})\s+)?([A-Za-z]\S*)\s+({NUM})\s+({NUM})\*?\s+(\d+)$")


def read_sharpness(out):
    rows = []
    for seed, d in seeds(out):
        for f in sorted(glob.glob(os.path.join(d, "sharpness", "*.txt"))):
            name = os.path.basename(f)[:-4]
            for line in open(f):
                s = SHARP.match(line.strip())
                if s and s.group(2) not in ("task", "t"):
                    rows.append({"seed": seed, "at": name,
                                 "t": float(s.group(1)) if s.group(1) else None,
                                 "task_set": s.group(2), "loss": float(s.group(3)),
                                 "lambda_1": float(s.group(4))})
    return rows


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, doc = sys.argv[1], sys.argv[2]
    os.makedirs(doc, exist_ok=True)
    paths, curves, sharp = read_paths(out), read_curves(out), read_sharpness(out)
    if paths:
        write_csv(os.path.join(doc, "paths.csv"), paths,
                  ["seed"] + [k for k in paths[0] if k not in ("seed", "file")])
    if curves:
        fields = []
        for r in curves:
            fields += [k for k in r if k not in fields]
        write_csv(os.path.join(doc, "curves.csv"), curves, fields)
    if sharp:
        write_csv(os.path.join(doc, "sharpness.csv"), sharp, list(sharp[0]))
    n_seeds = len(seeds(out))
    f = lambda r, k: float(r[k])

    labels = []
    for r in paths:
        if r["path"] not in labels:
            labels.append(r["path"])
    print(f"Seeds: {', '.join(str(s) for s, _ in seeds(out))} ({n_seeds}).\n")
    print("### Every path over its pairs and seeds\n")
    print("interior = the old+new exact-match average peaks strictly inside (0, 1) and beats the "
          "better end; gain = how much (exact match); loss gain = the same for the average loss "
          "(better end's loss − best point's); barriers: loss barriers of the old tasks' union and "
          "of the new task. mean ± sd over every pair and seed.\n")
    def path_table(best_t, gain, extra):  # extra: (header, key, digits) columns after t*
        print("| path | space | paths | interior | exact gain | t* (interior) | "
              + " | ".join(h for h, _, _ in extra) + " |")
        print("|---|---|---|---|---|---|" + "---|" * len(extra))
        for space in ("factors", "delta"):
            for lab in labels:
                rs = [r for r in paths if r["path"] == lab and r["space"] == space]
                if not rs:
                    continue
                inner = [r for r in rs if 0 < f(r, best_t) < 1 and f(r, gain) > 0]
                cells = [fmt([f(r, k) for r in rs], d) for _, k, d in extra]
                print(f"| {lab} | {space} | {len(rs)} | {len(inner)} | {fmt([f(r, gain) for r in rs])} | "
                      f"{fmt([f(r, best_t) for r in inner], 2)} | " + " | ".join(cells) + " |")

    path_table("best_t_exact", "exact_gain", [("loss gain", "loss_gain", 3), ("old barrier", "old_barrier", 4),
                                              ("new barrier", "new_barrier", 4)])
    if "prev_gain" in paths[0]:
        print("\n### The previous task and the new one (old = task t−1 alone: the paper's two-task view)\n")
        print("interior, gain and t* as above, for the average of task t−1's and task t's exact match. "
              "mean ± sd over every pair and seed.\n")
        path_table("best_t_prev", "prev_gain", [("t−1 at θ_{t−1}", "exact_prev_from", 3),
                                                ("t−1 at θ_t", "exact_prev_to", 3), ("new at θ_t", "exact_new_to", 3)])

    for key, title, digits in (("exact_gain", "Exact-match gain of the best point over the better end", 3),
                               ("prev_gain", "The same gain for the previous task and the new one", 3),
                               ("best_t_exact", "Where the old+new exact-match average is best (t*)", 2),
                               ("old_barrier", "Loss barrier of the old tasks' union", 4)):
        if key not in paths[0]:
            continue
        print(f"\n### {title}, per pair (factors space, mean ± sd over seeds)\n")
        ts = sorted({int(r["t"]) for r in paths})
        print("| pair | " + " | ".join(labels) + " |")
        print("|---|" + "---|" * len(labels))
        for t in ts:
            cells = []
            for lab in labels:
                rs = [r for r in paths if r["path"] == lab and r["space"] == "factors" and int(r["t"]) == t]
                cells.append(fmt([f(r, key) for r in rs], digits))
            new = next((r["new_task"] for r in paths if int(r["t"]) == t), "")
            print(f"| {t - 1}→{t} ({new}) | " + " | ".join(cells) + " |")

    if curves:
        print("\n### Bézier curve (one bend) against the line: loss barrier of the old tasks' union\n")
        print("| method | pair | line barrier | curve barrier | seeds where the curve removed the line's barrier |")
        print("|---|---|---|---|---|")
        keys = []
        for r in curves:
            if (r["method"], r["pair"]) not in keys:
                keys.append((r["method"], r["pair"]))
        for m, p in keys:
            rs = [r for r in curves if r["method"] == m and r["pair"] == p and r["task_set"] == "union"]
            removed = sum(1 for r in rs if r["line_barrier"] > 1e-3 and r["curve_barrier"] < 0.1 * r["line_barrier"])
            had = sum(1 for r in rs if r["line_barrier"] > 1e-3)
            print(f"| {m} | {p} | {fmt([r['line_barrier'] for r in rs], 4)} | {fmt([r['curve_barrier'] for r in rs], 4)} | "
                  f"{removed} of {had} with a barrier (> 0.001) |")
        rows = [r for r in curves if r["task_set"] == "union" and "curve_lowest_loss" in r]
        if rows:
            print("\n### Along the line and the curve: the old tasks' union loss and exact match (mean ± sd over seeds)\n")
            print("The curve's bend is trained on the train split of every task up to the pair's second "
                  "(tasks 1…t), the line is not trained: a lower curve shows that a low path exists through "
                  "parameters that old and new data agree on.\n")
            print("| method | pair | loss at θ_{t−1} | loss at θ_t | lowest on the line | lowest on the curve | "
                  "best exact match on the line | on the curve |")
            print("|---|---|---|---|---|---|---|---|")
            for m, p in keys:
                rs = [r for r in rows if r["method"] == m and r["pair"] == p]
                if rs:
                    print(f"| {m} | {p} | " + " | ".join(fmt([r[k] for r in rs], d) for k, d in (
                        ("loss_from", 3), ("loss_to", 3), ("line_lowest_loss", 3), ("curve_lowest_loss", 3),
                        ("line_best_exact", 3), ("curve_best_exact", 3))) + " |")

    if sharp:
        finals = [r for r in sharp if r["at"].startswith("final-")]
        if finals:
            print("\n### Sharpness at the final adapter: top Hessian eigenvalue λ₁ (mean ± sd over seeds)\n")
            sets = []
            for r in finals:
                if r["task_set"] not in sets:
                    sets.append(r["task_set"])
            ats = []
            for r in finals:
                if r["at"] not in ats:
                    ats.append(r["at"])
            print("| learner | " + " | ".join(sets) + " |")
            print("|---|" + "---|" * len(sets))
            for a in ats:
                cells = [fmt([r["lambda_1"] for r in finals if r["at"] == a and r["task_set"] == s], 1) for s in sets]
                print(f"| {a[len('final-'):].replace('-', '/')} | " + " | ".join(cells) + " |")
            union = [r for r in finals if r["task_set"] == "union"]
            if union:
                ss = sorted({r["seed"] for r in union})
                print("\n### λ₁ of the union of all tasks at the final adapter, per seed\n")
                print("| learner | " + " | ".join(f"seed {x}" for x in ss) + " |")
                print("|---|" + "---|" * len(ss))
                for a in ats:
                    cells = [fmt([r["lambda_1"] for r in union if r["at"] == a and r["seed"] == x], 1) for x in ss]
                    print(f"| {a[len('final-'):].replace('-', '/')} | " + " | ".join(cells) + " |")
        along = [r for r in sharp if r["at"].startswith("along-") and r["task_set"] == "union"]
        if along:
            print("\n### Sharpness along seq's line 7→8 (union of the old tasks), λ₁ mean ± sd over seeds\n")
            ts = sorted({r["t"] for r in along if r["t"] is not None})
            print("| t | " + " | ".join(f"{t:.1f}" for t in ts) + " |")
            print("|---|" + "---|" * len(ts))
            print("| λ₁ | " + " | ".join(fmt([r["lambda_1"] for r in along if r["t"] == t], 1) for t in ts) + " |")


if __name__ == "__main__":
    main()
