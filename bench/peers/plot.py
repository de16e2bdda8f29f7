# SPDX-License-Identifier: Apache-2.0
"""bench/results/peers.png from bench/results/peers.json (bench/peers/run.py): CPU and PSS
per client as bars (hatched where the runs were not real time), and the library's latency
figures (uplink, downlink, barge-in; p50 and p99).

usage: plot.py PEERS.json OUT.png   (matplotlib, Agg backend; the bench venv has it)"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SHORT = {"player": "player\n(C, WAV)", "c-external": "C external\naudio",
         "py-bindings": "Python +\nbindings", "py-minimal": "minimal\nPython",
         "layercode-gym": "layercode-\ngym 0.9.1", "c-external-muted": "C muted"}


def main() -> int:
    json_path, png = sys.argv[1:3]
    with open(json_path) as f:
        result = json.load(f)
    med = {k: v for k, v in result["medians"].items() if v.get("cpu_percent") is not None}
    names = list(med)
    lat = result.get("latency")
    fig, axes = plt.subplots(1, 3 if lat else 2, figsize=(15 if lat else 10, 4.5))
    ours = {"player", "c-external", "py-bindings"}
    for ax, key, title in ((axes[0], "cpu_percent", "CPU, % of one core"),
                           (axes[1], "pss_mib", "PSS, MiB")):
        values = [med[n][key] for n in names]
        bars = ax.bar([SHORT.get(n, n) for n in names], values,
                      color=["#1f77b4" if n in ours else "#999999" for n in names])
        for bar, n, v in zip(bars, names, values):
            if not med[n]["valid"]:
                bar.set_hatch("//")
            ax.annotate(f"{v:.2f}" if key == "cpu_percent" else f"{v:.1f}",
                        (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom",
                        fontsize=8)
        ax.set_title(title)
        ax.tick_params(axis="x", labelsize=8)
    if lat:
        ax = axes[2]
        kinds = ("uplink", "downlink", "barge_in")
        xs = range(len(kinds))
        p50 = [lat[k + "_p50_us"] / 1000 for k in kinds]
        p99 = [lat[k + "_p99_us"] / 1000 for k in kinds]
        ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99")
        ax.set_xticks(list(xs), ["uplink", "downlink", "barge-in"])
        ax.set_title(f"our latency, ms (latency_bench, {lat['seconds']:g} s)")
        ax.legend()
    fig.suptitle(f"liblayercode beside the alternatives: medians of {result['rounds']} "
                 f"rounds, {result['window_s']:g} s windows (hatched: not real time)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
