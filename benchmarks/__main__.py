"""python -m benchmarks [--quick] [--json] [--out FILE]"""

import argparse
import json
import sys

from benchmarks.suite import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repetitions")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    results = run(args.quick, log=lambda text: print(text, file=sys.stderr, flush=True))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
