#!/usr/bin/env python3
"""The tables of docs/results.md, from the files scripts/study-results.sh writes.

    scripts/results-tables.py [STUDY]                 print every table (markdown)
    scripts/results-tables.py [STUDY] --write DOC     replace the generated blocks of DOC
    scripts/results-tables.py [STUDY] --check DOC     exit 1 if a generated block of DOC differs

STUDY (default docs/study) holds tune/METHOD.csv (each method's tuning sweep on `eval`),
test-vs-er.csv and test-vs-seq.csv (`lorascape compare … --baseline M --csv`, the `compare`
phase), lambda/ilora-L-learners.csv (I-LoRA's two learners across lambda) and
test-transfer-token_acc.csv, test-transfer-loss.csv (the metrics on token accuracy and loss
of the test runs, paired against seq: the `transfer` phase) and revisit-vs-seq.csv (the test
runs on the revisit sequence, paired against seq: the `revisit` phase, then `compare`) with
revisit-zero-shot.csv (their zero-shot scores task by task). In DOC
every table sits between `<!-- generated: results-tables NAME -->` and `<!-- end generated -->`
(NAME: test, vs-er, vs-seq, lambda, tune, transfer, revisit, revisit-tasks); --write replaces what is between them and leaves
the prose alone; --check (ctest's ResultsTablesMatchStudy) names every block that is not what
the files give. Standard library only.
"""
import csv
import math
import os
import re
import sys

ORDER = ["er", "ilora", "seq", "mtl", "one", "ewc", "olora", "agem", "gem", "pp", "l2p"]
LAMBDAS = ["0.9", "0.99", "0.999", "0.9999"]
NOTES = {
    "mtl": "; joint training, the upper reference — its BWT, FWT and plasticity describe the "
           "joint model's progress",
    "one": "; an adapter per task, chosen by the task's identity at test time: no forgetting "
           "by construction",
    "ewc": "; λ of the penalty with the per-example Fisher",
    "olora": "; λ₁ of the orthogonality penalty",
    "agem": "; the optimiser and its learning rate (SGD: the papers' setting)",
    "gem": "; margin × optimiser",
    "ilora": "; λ of the slow learner's average × γ of the consistency loss, target `slow`",
}
def fail(msg):
    """Bad input: one line on stderr, exit code 2 (the project's convention)."""
    print(f"results-tables: {msg}", file=sys.stderr)
    sys.exit(2)


TIE_NOTE = "; every point has OP {op}, and a tie goes to the first grid point"


def num(x, sign=False):
    """Three decimals, a real minus sign, and no "−0.000"."""
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if abs(x) < 0.0005:
        x = 0.0
    return (f"{x:+.3f}" if sign else f"{x:.3f}").replace("-", "−")


def pvalue(p):
    p = float(p)
    if math.isnan(p):
        return "n/a"
    if p >= 0.01:
        return f"{p:.2f}"
    if p >= 0.001:
        return f"{p:.3f}"
    mant, exp = f"{p:.0e}".split("e")
    return f"{mant} × 10" + str(int(exp)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def mean_sd(r, k, sign=False):
    """Column k of a compare CSV row as "mean ± sd"."""
    return f"{num(r[k], sign)} ± {num(r[k + '_sd'])}"


def paired(r, k):
    """Column k's paired difference of a `compare --baseline` CSV row: mean [CI], p."""
    return (f"{num(r[k + '_diff'], True)} [{num(r[k + '_diff_ci_low'], True)}, "
            f"{num(r[k + '_diff_ci_high'], True)}], p = {pvalue(r[k + '_p'])}")


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def setting_keys(row):
    return [k for k in row if "." in k]  # the grid's settings: section.key


def point(row):
    return ", ".join(f"{k}={row[k]}" for k in setting_keys(row))


def is_best(row):
    return row.get("best", "").strip() in ("1", "yes", "true", "*")


def best_point(study, method):
    best = [r for r in rows(f"{study}/tune/{method}.csv") if is_best(r)]
    return point(best[0]) if best else ""


def tune_tables(study):
    out = []
    for m in ORDER:
        rr = rows(f"{study}/tune/{m}.csv")
        if not rr:
            out += [f"`{m}`: not run.", ""]
            continue
        ops = {num(r["OP"]) for r in rr}
        note = TIE_NOTE.format(op=ops.pop()) if len(ops) == 1 and len(rr) > 1 else NOTES.get(m, "")
        out += [f"`{m}` ({len(rr)} points{note}):", "",
                "| point | OP | BWT | FWT | forgetting | plasticity | stability |",
                "|---|---|---|---|---|---|---|"]
        for r in rr:
            best = " **best**" if is_best(r) else ""
            out.append(f"| `{point(r)}`{best} | {num(r['OP'])} | {num(r['BWT'], True)} | "
                       f"{num(r['FWT'], True)} | {num(r['forgetting'])} | {num(r['plasticity'])} | "
                       f"{num(r['stability'])} |")
        out.append("")
    return "\n".join(out).strip()


def test_table(study):
    by = {r["method"]: r for r in rows(f"{study}/test-vs-er.csv")}
    out = ["| method | best point | OP | 95 % CI | BWT | FWT | forgetting | plasticity | stability | seeds |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for m in ORDER:
        bp = best_point(study, m)
        bp = f"`{bp}`" if bp else "—"
        if m not in by:
            out.append(f"| `{m}` | {bp} | not run | | | | | | | 0 |")
            continue
        r = by[m]
        out.append(f"| `{m}` | {bp} | {mean_sd(r, 'OP')} | [{num(r['OP_ci_low'])}, {num(r['OP_ci_high'])}] | "
                   f"{mean_sd(r, 'BWT', True)} | {mean_sd(r, 'FWT', True)} | {mean_sd(r, 'forgetting')} | "
                   f"{mean_sd(r, 'plasticity')} | {mean_sd(r, 'stability')} | {r['n']} |")
    return "\n".join(out)


def paired_table(study, base):
    by = {r["method"]: r for r in rows(f"{study}/test-vs-{base}.csv")}
    out = [f"| method − `{base}` | OP | BWT | forgetting | plasticity | pairs |",
           "|---|---|---|---|---|---|"]
    for m in ORDER:
        if m == base or m not in by:
            continue
        r = by[m]
        out.append(f"| `{m}` | {paired(r, 'OP')} | {paired(r, 'BWT')} | {paired(r, 'forgetting')} | "
                   f"{paired(r, 'plasticity')} | {r['n_pairs']} |")
    return "\n".join(out)


def lambda_table(study):
    out = ["| λ | ~steps averaged | slow OP | fast OP | slow BWT | fast BWT | slow forgetting | "
           "fast forgetting | slow plasticity | fast plasticity |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for lam in LAMBDAS:
        steps = round(1 / (1 - float(lam)))
        by = {r["method"]: r for r in rows(f"{study}/lambda/ilora-{lam}-learners.csv")}
        if "ilora" not in by or "ilora/fast" not in by:
            out.append(f"| {lam} | {steps} | not run | | | | | | | |")
            continue
        s, f = by["ilora"], by["ilora/fast"]
        out.append(f"| {lam} | {steps} | {num(s['OP'])} | {num(f['OP'])} | {num(s['BWT'], True)} | "
                   f"{num(f['BWT'], True)} | {num(s['forgetting'])} | {num(f['forgetting'])} | "
                   f"{num(s['plasticity'])} | {num(f['plasticity'])} |")
    return "\n".join(out)


def transfer_table(study):
    em = {r["method"]: r for r in rows(f"{study}/test-vs-er.csv")}
    by = {s: {r["method"]: r for r in rows(f"{study}/test-transfer-{s}.csv")}
          for s in ("token_acc", "loss")}
    out = ["| method | FWT exact match | FWT token accuracy | − `seq`, paired | FWT loss (nats) | "
           "− `seq`, paired | seeds |",
           "|---|---|---|---|---|---|---|"]
    for m in ORDER:
        cells = [mean_sd(em[m], "FWT", True) if m in em else "not run"]
        n = "0"
        for s in ("token_acc", "loss"):
            r = by[s].get(m)
            if r is None:
                cells += ["not run", ""]
                continue
            cells += [mean_sd(r, "FWT", True), "—" if m == "seq" else paired(r, "FWT")]
            n = r["n"]
        out.append(f"| `{m}` | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(out)


def revisit_table(study):
    by = {r["method"]: r for r in rows(f"{study}/revisit-vs-seq.csv")}
    out = ["| method | FWT exact match | − `seq`, paired | OP | BWT | forgetting | plasticity | seeds |",
           "|---|---|---|---|---|---|---|---|"]
    for m in ORDER:
        if m not in by:
            continue
        r = by[m]
        out.append(f"| `{m}` | {mean_sd(r, 'FWT', True)} | {'—' if m == 'seq' else paired(r, 'FWT')} | "
                   f"{mean_sd(r, 'OP')} | {mean_sd(r, 'BWT', True)} | {mean_sd(r, 'forgetting')} | "
                   f"{mean_sd(r, 'plasticity')} | {r['n']} |")
    return "\n".join(out)


def revisit_tasks_table(study):
    """Mean zero-shot exact match on each task of the revisit sequence (R[i-1][i]), per method."""
    rr = rows(f"{study}/revisit-zero-shot.csv")
    methods = [m for m in ORDER if any(r["method"] == m for r in rr)]
    tasks = list(dict.fromkeys(r["task"] for r in rr))
    out = ["| task (zero-shot) | " + " | ".join(f"`{m}`" for m in methods) + " |",
           "|---|" + "---|" * len(methods)]
    for t in tasks:
        cells = []
        for m in methods:
            v = [float(r["zero_shot"]) for r in rr if r["method"] == m and r["task"] == t]
            cells.append(num(sum(v) / len(v)) if v else "—")
        out.append(f"| `{t}` | " + " | ".join(cells) + " |")
    return "\n".join(out)


def tables(study):
    return {"test": test_table(study), "vs-er": paired_table(study, "er"),
            "vs-seq": paired_table(study, "seq"), "lambda": lambda_table(study),
            "tune": tune_tables(study), "transfer": transfer_table(study),
            "revisit": revisit_table(study), "revisit-tasks": revisit_tasks_table(study)}


BLOCK = re.compile(r"(<!-- generated: results-tables ([\w-]+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def regenerate(doc, tabs):
    """DOC's text with every generated block replaced, and the names of the blocks that changed."""
    if not os.path.isfile(doc):
        fail(f"{doc}: no such file")
    with open(doc) as f:
        text = f.read()
    seen, changed = set(), []

    def replace(m):
        name = m.group(2)
        if name not in tabs:
            fail(f"{doc}: unknown generated block '{name}' (known: {', '.join(tabs)})")
        seen.add(name)
        if m.group(3) != tabs[name] + "\n":
            changed.append(name)
        return f"{m.group(1)}{tabs[name]}\n{m.group(4)}"
    text = BLOCK.sub(replace, text)
    missing = set(tabs) - seen
    if missing:
        fail(f"{doc}: no generated block for {', '.join(sorted(missing))}")
    return text, changed


def write(doc, text):
    tmp = doc + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, doc)


def main(argv):
    args, mode, doc = list(argv), None, None
    for flag in ("--write", "--check"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                fail(f"{flag} needs the markdown file, e.g. {flag} docs/results.md")
            mode, doc = flag, args[i + 1]
            del args[i:i + 2]
    if len(args) > 1:
        fail(f"unexpected arguments {' '.join(args[1:])} (usage: [STUDY] [--write|--check DOC])")
    study = args[0] if args else "docs/study"
    if not os.path.isdir(study):
        fail(f"{study}: no study folder (run scripts/study-results.sh first)")
    tabs = tables(study)
    if mode is None:
        for name, table in tabs.items():
            print(f"## {name}\n\n{table}\n")
        return
    text, changed = regenerate(doc, tabs)
    if mode == "--write":
        write(doc, text)
    elif changed:
        print(f"{doc}: generated tables differ from {study}: {', '.join(changed)} "
              f"(run scripts/results-tables.py {study} --write {doc})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
