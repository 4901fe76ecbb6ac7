"""Study 2: digits MLPs of depth 2 and 3 across widths: barriers, and averaging K networks.

    .venv/bin/python experiments/digits_averaging.py [--quick]

For K = 2, 4 and 8 networks: the naive average, the weight-matched average (aligned to
the first), MergeMany, and the output ensemble, against the mean endpoint.
"""

from common import figure, parse_args, pyplot, registry, sweep_request, write_rows

from lmctui.figures import plot_sweep

from lmctui.service.science import average
from lmctui.service.requests import AverageRequest
from lmctui.service.sweeps import run_sweep


def main() -> None:
    args = parse_args(__doc__)
    reg = registry(args.home)
    widths = [16, 64] if args.quick else [16, 64, 256]
    seeds = 4 if args.quick else 8
    ks = [2, 4] if args.quick else [2, 4, 8]
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    barrier_rows, average_rows = [], []
    for depth in (2, 3):
        request = sweep_request("digits", depth, "width", widths, seeds, ["naive", "weight"],
                                {"epochs": 10 if args.quick else 30}, args.device)
        result = run_sweep(reg, request, on_progress=lambda f, m: print(f"  [{f:4.0%}] depth {depth} {m}"))
        barrier_rows += [{"depth": depth, **r} for r in result["summary"]]
        plot_sweep(axes[0], result["summary"], log_x=True, label=f"depth {depth} ")
        for width in widths:
            runs = list(dict.fromkeys(x for r in result["rows"] if r["value"] == width for x in (r["run_a"], r["run_b"])))
            for k in ks:
                for method in ("naive", "weight", "mergemany"):
                    avg = average(reg, AverageRequest(tuple(runs[:k]), method, device=args.device), register=False)
                    average_rows.append({
                        "depth": depth, "width": width, "k": k, "method": method, "test_acc": avg["test_acc"],
                        "test_loss": avg["test_loss"], "ensemble_test_acc": avg["ensemble"]["test_acc"],
                        "endpoint_test_acc_mean": sum(e["test_acc"] for e in avg["endpoints"]) / k})
    axes[0].set_xlabel("width")
    axes[0].set_title("digits: test loss barrier")
    for ax, k in zip(axes[1:], (4, ks[-1])):
        for method, color in (("naive", "tab:red"), ("weight", "tab:blue"), ("mergemany", "tab:purple")):
            rows = [r for r in average_rows if r["k"] == k and r["method"] == method and r["depth"] == 2]
            ax.plot([r["width"] for r in rows], [r["test_acc"] for r in rows], marker="o", color=color, label=method)
        rows = [r for r in average_rows if r["k"] == k and r["method"] == "naive" and r["depth"] == 2]
        ax.plot([r["width"] for r in rows], [r["ensemble_test_acc"] for r in rows], "k--", label="ensemble")
        ax.plot([r["width"] for r in rows], [r["endpoint_test_acc_mean"] for r in rows], "k:", label="mean endpoint")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"average of {k} (depth 2)")
        ax.legend()
    write_rows("study2_digits_barriers", barrier_rows)
    write_rows("study2_digits_averaging", average_rows)
    figure("study2_digits", fig)


if __name__ == "__main__":
    main()
