"""python -m benchmarks [--quick] [--registry | --slurm] [--json] [--out FILE]"""

import argparse
import json
import sys

from benchmarks.suite import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repetitions")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--registry", action="store_true", help="the registry's and the app's cost at 100 to "
                        "10,000 runs (--quick: to 1,000), as a markdown table")
    parser.add_argument("--slurm", action="store_true", help="Slurm through submitit against running here "
                        "(needs a reachable Slurm: scripts/slurm/setup_slurm.sh starts one)")
    args = parser.parse_args()
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if args.registry:
        from benchmarks import registry

        from benchmarks.app import bench_app

        results = registry.run(args.quick, log)
        sizes = tuple(int(size) for size in results["registry"])
        results["app"] = bench_app(args.quick, log, sizes=sizes)  # [] without tmux, saying so
        if not args.json:
            print(registry.markdown(results))
            print(app_markdown(results["app"], sizes))
    elif args.slurm:
        from benchmarks import slurm

        results = slurm.run(args.quick, log)
    else:
        results = run(args.quick, log=log)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    if args.json:
        print(json.dumps(results))


def app_markdown(rows: list[dict], sizes: tuple[int, ...]) -> str:
    """The app's rows of the registry table: first runs on screen, idle CPU, another process's run."""
    if not rows:
        return ""
    by_size = {row["runs"]: row for row in rows}
    lines = []
    for label, key, cell in (("app: first runs on screen (tmux 80x24)", "first_frame_s", "{:.2f} s"),
                             ("app: idle CPU over 10 s", "idle_cpu_fraction", "{:.1%}"),
                             ("app: a run from another process on screen", "new_run_shown_s", "{:.2f} s")):
        values = [by_size.get(size, {}).get(key) for size in sizes]
        lines.append(f"| {label} | " + " | ".join("-" if v is None else cell.format(v) for v in values) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
