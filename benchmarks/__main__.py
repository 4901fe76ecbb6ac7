"""python -m benchmarks [--quick] [--registry [--sizes 100,10000,100000] | --slurm] [--json] [--out FILE]"""

import argparse
import json
import sys

from lmctui.bench.suite import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repetitions")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--registry", action="store_true", help="the registry's and the app's cost at 100 to "
                        "10,000 runs (--quick: to 1,000), as a markdown table")
    parser.add_argument("--sizes", default=None, help="with --registry: the numbers of runs, e.g. 100,10000,100000")
    parser.add_argument("--slurm", action="store_true", help="Slurm through submitit against running here "
                        "(needs a reachable Slurm: scripts/slurm/setup_slurm.sh starts one)")
    args = parser.parse_args()
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if args.registry:
        from benchmarks import registry

        from benchmarks.app import bench_app, markdown as app_markdown

        sizes = tuple(int(size) for size in args.sizes.split(",")) if args.sizes else None
        results = registry.run(args.quick, log, sizes)
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


if __name__ == "__main__":
    main()
