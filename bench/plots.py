"""PNG plots of the suite's tables: speedup per op and shape, step time vs catalog size.

The suite draws them from the tables its benchmarks just published (a JSON
record per table); `python -m bench.plots [bench/RESULTS.md]` redraws them
from the report's sections, after any single benchmark rewrote its own.
"""

import json
import os
import re
import sys


def _load(record):
    with open(record) as f:
        return [json.loads(line) for line in f if line.strip()]


def tables_of_report(path):
    """The tables of a RESULTS.md, as the suite's records: one
    {section, header, rows} per `<!-- name:begin -->` section's first table."""
    with open(path) as f:
        text = f.read()
    out = []
    for name, body in re.findall(r"<!-- (\w+):begin -->(.*?)<!-- \1:end -->", text, re.S):
        lines = [ln for ln in body.splitlines() if ln.startswith("|")]
        if len(lines) < 3:
            continue
        cells = [[c.strip().strip("*") for c in ln.strip().strip("|").split("|")] for ln in lines]
        out.append({"section": name, "header": cells[0], "rows": cells[2:]})
    return out


# Columns that name a row (op, shape, mode, size), as opposed to timings.
CATEGORIES = {"shape", "pass", "path", "sampler", "mode", "S", "unique", "V", "optimizer", "items"}


def _name(column, cell):
    if column in ("S", "V"):
        return f"{column}={cell}"
    if column == "unique":
        return "unique" if cell == "True" else "non-unique"
    return cell


def _speedups(table):
    """(label, speedup) for every speedup column of a table's fused rows."""
    header = table["header"]
    cols = [i for i, h in enumerate(header) if "speedup" in h.lower()]
    names = [i for i, h in enumerate(header) if h in CATEGORIES]
    out = []
    for row in table["rows"]:
        if any(c.startswith("stock") for c in row):
            continue  # a stock path's ratio to the best stock path
        for i in cols:
            try:
                value = float(row[i].rstrip("x"))
            except ValueError:
                continue
            what = header[i].split("(")[0].lower()
            for word in ("speedup", "vs best stock", "vs stock"):
                what = what.replace(word, "")
            label = [table["section"]] + [_name(header[j], row[j]) for j in names]
            label.append(what.strip())
            out.append((" ".join(x for x in label if x), value))
    return out


def draw(record, out_dir):
    """Draws the plots from the suite's JSON records (a path) or from a list of
    tables; returns the PNG paths.

    Raises:
        ImportError: matplotlib is missing (`make bench` installs it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            "the benchmark plots need matplotlib: pip install matplotlib (or run with --no-plots)"
        ) from e
    tables = _load(record) if isinstance(record, str) else record
    paths = []
    bars = [s for t in tables for s in _speedups(t)]
    if bars:
        fig, ax = plt.subplots(figsize=(9, 0.3 * len(bars) + 1.5))
        ax.barh([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("speedup over stock TF (x, log scale)")
        ax.invert_yaxis()
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "speedup.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    model = [t for t in tables if t["section"] == "model_train"]
    if model:
        rows = model[-1]["rows"]
        items = [int(r[0].replace(",", "")) for r in rows]
        fig, ax = plt.subplots(figsize=(6, 4))
        for col, label in ((1, "fused"), (2, "stock")):
            ms = [256e3 / float(r[col].replace(",", "")) for r in rows]
            ax.plot(items, ms, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("catalog size (items)")
        ax.set_ylabel("training step time, batch 256 (ms)")
        ax.legend()
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "step_time.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


if __name__ == "__main__":
    report = sys.argv[1] if len(sys.argv) > 1 else "bench/RESULTS.md"
    for png in draw(tables_of_report(report), os.path.dirname(report) or "."):
        print(f"wrote {png}")
