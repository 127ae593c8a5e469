"""PNG plots of the suite's tables: speedup per op and shape, step time vs catalog size."""

import json
import os


def _load(record):
    with open(record) as f:
        return [json.loads(line) for line in f if line.strip()]


def _is_number(cell):
    try:
        float(cell.replace(",", "").rstrip("x"))
        return True
    except ValueError:
        return False


def _speedups(table):
    """(label, speedup) for every speedup column of a table's rows."""
    cols = [i for i, h in enumerate(table["header"]) if "speedup" in h.lower()]
    out = []
    for row in table["rows"]:
        for i in cols:
            cell = row[i].rstrip("x")
            try:
                value = float(cell)
            except ValueError:
                continue
            what = table["header"][i].replace("speedup", "").strip() or "all"
            # The row's leading category cells (shape, mode), not its timings.
            keys = [c for c in row[1:3] if c and not _is_number(c)]
            out.append((" ".join([table["section"], row[0], *keys, what]), value))
    return out


def draw(record, out_dir):
    """Draws the plots from the suite's JSON records; returns the PNG paths.

    Raises:
        ImportError: matplotlib is missing (`make bench` installs it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("the benchmark plots need matplotlib: pip install matplotlib "
                          "(or run with --no-plots)") from e
    tables = _load(record)
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
