"""The suite's output: the workload table, the results table (text or
Markdown), the notes, the JSON file and the bar chart of speed-ups."""
import dataclasses
import json

import numpy as np

from .runners import BASELINE
from .timing import OWN_START, TOO_SHORT


def _fmt_rate(x):
    return f"{x:,.0f}" if np.isfinite(x) else "-"


def _fmt(x, spec):
    return format(x, spec) if np.isfinite(x) else "-"


def _ratio_cell(r):
    if not np.isfinite(r.ratio):
        return "-"
    return f"{r.ratio:.2f}x" if r.judged else TOO_SHORT


HEAD = ["workload", "backend", "samples/s (median)", "spread", "vs numpy", "final loss", "loss rel. diff vs numpy",
        "GFLOP/s", "% of 1-core peak"]


def _body(rows, workloads):
    by_id = {w.id: w for w in workloads}
    body = []
    for r in rows:
        label = f"{r.workload} {by_id[r.workload].description}"
        if not r.measured:
            body.append([label, r.backend, r.status, "", "", "", "", "", ""])
            continue
        body.append([
            label, r.backend, _fmt_rate(r.samples_per_second),
            _fmt(100 * r.spread, ".0f") + "%" if r.runs > 1 else "-",
            _ratio_cell(r),
            _fmt(r.final_loss, ".8g"),
            "(baseline)" if r.backend == BASELINE else _fmt(r.loss_rel_diff, ".1e"),
            _fmt(r.gflops, ".1f"),
            _fmt(100 * r.peak_share, ".0f") + "%" if np.isfinite(r.peak_share) else "-",
        ])
    return body


def table(rows, workloads, markdown):
    """The results, one line per workload and column."""
    body = _body(rows, workloads)
    if markdown:
        out = ["| " + " | ".join(HEAD) + " |",
               "|" + "|".join(["---", "---"] + ["---:"] * 7) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return out
    failed = {i for i, r in enumerate(rows) if not r.measured}
    widths = [max([len(h)] + [len(row[i]) for k, row in enumerate(body) if i < 2 or k not in failed])
              for i, h in enumerate(HEAD)]

    def line(k, cells):
        if k in failed:
            return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]), cells[2]])
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(-1, HEAD), "  ".join("-" * w for w in widths)]
    prev = None
    for k, (row, r) in enumerate(zip(body, rows)):
        if prev is not None and r.workload != prev:
            out.append("")
        prev = r.workload
        out.append(line(k, row))
    return out


def notes(rows, workloads):
    out = []
    for r in rows:
        if r.status and r.measured:
            out.append(f"{r.workload} {r.backend}: {r.status}")
    if any(r.backend in OWN_START and r.measured for r in rows):
        out.append("sklearn: scikit-learn's MLP starts from its own random weights; its final loss is not compared")
    if any(r.measured and np.isfinite(r.ratio) and not r.judged for r in rows):
        out.append(f"{TOO_SHORT}: a run shorter than the timer and fixed costs allow to compare; "
                   "run without --smoke")
    if any(r.measured and np.isfinite(r.peak_share) and r.peak_share > 1 for r in rows):
        out.append("a share of peak over 100%: the peak is NumPy's BLAS kernel on one core (see the BLAS line); "
                   "gradfit's ISA path can be wider, or the machine was busier while the peak was measured")
    for w in workloads:
        if w.note:
            out.append(f"{w.id}: {w.note}")
    return out


def workload_table(workloads, sizes, markdown):
    """The workloads as run: `sizes` maps id -> N."""
    head = ["id", "model", "data", "N", "batch", "lr", "epochs", "dtype", "loss"]
    body = [[w.id, w.description, w.data_description, f"{sizes[w.id]:,}", str(w.batch_size), f"{w.lr:g}",
             str(w.epochs), w.dtype, w.loss] for w in workloads]
    if markdown:
        return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head] + body]


def _clean(v):
    return None if isinstance(v, float) and not np.isfinite(v) else v


def write_json(path, *, header, mode, repeats, workloads, sizes, rows, peak, seconds):
    """The header lines, the workloads and the result rows, as JSON (NaN as null)."""
    data = {"header": header, "mode": mode, "repeats": repeats,
            "workloads": [dict(id=w.id, model=w.description, n=sizes[w.id], batch_size=w.batch_size, lr=w.lr,
                               epochs=w.epochs, dtype=w.dtype, loss=w.loss) for w in workloads],
            "rows": [{k: _clean(v) for k, v in dataclasses.asdict(r).items()} for r in rows],
            "peak_gflops": peak, "total_seconds": seconds}
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


def plot(path, rows, workloads, header):
    """A bar chart of each column's speed-up over the NumPy baseline, per
    workload (log scale), with the spread as error bars; a hatched bar marks
    a ratio too short to judge. Needs matplotlib (imported here)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    backends = [b for b in dict.fromkeys(r.backend for r in rows) if b != BASELINE]
    ids = [w.id for w in workloads]
    cell = {(r.workload, r.backend): r for r in rows}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(ids) + 2), 4.5))
    width = 0.8 / max(1, len(backends))
    for j, b in enumerate(backends):
        xs, hs, errs, hatch = [], [], [], []
        for i, wid in enumerate(ids):
            r = cell.get((wid, b))
            if r is None or not r.measured or not np.isfinite(r.ratio):
                continue
            base = cell[(wid, BASELINE)]
            xs.append(i + (j - (len(backends) - 1) / 2) * width)
            hs.append(r.ratio)
            errs.append(r.ratio * (np.nan_to_num(r.spread) + np.nan_to_num(base.spread)) / 2)
            hatch.append(not r.judged)
        bars = ax.bar(xs, hs, width, yerr=errs, capsize=2, label=b)
        for bar, h in zip(bars, hatch):
            if h:
                bar.set_hatch("//")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(ids)), ids)
    ax.set_yscale("log")
    ax.set_ylabel("speed-up over the NumPy baseline (samples/s ratio)")
    def line(start):
        return next((h for h in header if h.startswith(start)), "").split(";")[0]
    ax.set_title(f"gradfit bench: {line('CPU:')}\n{line('gradfit:')}, {line('date:')}\n"
                 "hatched: too short to judge; bars: median, whiskers: spread", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
