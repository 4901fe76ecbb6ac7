"""Fuzzing the CLI with malformed invocations: each exits 2 with exactly one line on stderr,
no traceback, and every file under the home byte-identical; none of them imports torch.

The invocations are generated from a fixed seed (so a failure reproduces) across every
subcommand: wrong types, out-of-range and non-finite numbers, unicode digits, empty
strings, huge counts, path tricks, ids of the wrong kind, mismatched runs, matching options
(restarts, STE) out of bounds or given to a method that does not use them, consistency and
basins refused, hostile files where JSON is read (a FIFO, a link to /dev/zero, 100,000 levels
deep, wrong types, 20 MB), cluster options that would run code or break the batch script. They all run
in one fresh interpreter (`fuzz_driver.py`), which also reports whether torch was loaded.
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).with_name("fuzz_driver.py")
COUNT = 800
SEED = 20261128

BAD_INTS = ["abc", "1.5", "", " ", "-1", "99999999999999999999999", "nan", "inf", "٣", "²", "1e3", "0x10", "+-1"]
BAD_COUNTS = BAD_INTS + ["0"]  # for what must be at least 1
BAD_FLOATS = ["nan", "inf", "-inf", "-1", "1e308", "1e300", "abc", "", "٣", "1e-400x"]
BAD_WORDS = ["", " ", "mnsit", "MLP", "none;rm", "\u202e", "x" * 300, "batch\n", "ADAM"]
BAD_SEEDS = ["", ",", "a", "1-", "-1", "5-2", "٣", "²", "1,,x", "0-99999999", "99999999999999999999", "1.5"]
BAD_PATH_NAMES = ["{home}/registry.json", "{home}", "{home}/runs/x.csv", "/nonexistent/folder/out.csv",
                  "{tmp}/" + "n" * 5000 + ".csv", "{tmp}"]
BAD_RESTARTS = BAD_COUNTS + ["257"]
BAD_STE = [("--ste-steps", BAD_COUNTS + ["100001"]), ("--ste-batch", BAD_COUNTS + ["2000000"]),
           ("--ste-lr", BAD_FLOATS + ["0", "11"])]
BAD_THRESHOLDS = ["nan", "inf", "-inf", "-1", "-1e-9", "abc", "", "٣", "1e-400x"]  # not 1e308: a finite barrier
# --slurm-option values that would break the batch script's lines, run code, read files or dodge a check
BAD_SLURM_OPTIONS = ["constraint=a\nb", "constraint=a\x00b", "export=LD_PRELOAD=/tmp/x.so", "chdir=/tmp",
                     "get-user-env=1", "time=abc", "time=0", "mem=lots", "cpus-per-task=0", "constraint=a b",
                     "comment=$(id)", "comment=`id`", "bogus-option=1", "wrap=id", "constraint=a;id", "=x",
                     "constraint=", "partition=a/b"]
# files given where lmctui reads JSON: made by the test (a FIFO, a link to /dev/zero, 100,000 levels deep,
# wrong types, 20 MB of spaces)
HOSTILE_JSON = ["{tmp}/fifo.json", "{tmp}/zero.json", "{tmp}/deep.json", "{tmp}/types.json", "{tmp}/dir_type.json",
                "{tmp}/huge.json"]


def invocations(ids: dict, rng: random.Random) -> list[list[str]]:
    """COUNT malformed argument lists (without --home), drawn from per-command generators."""
    a, b, digits, job, sweep = ids["a"], ids["b"], ids["digits"], ids["job"], ids["sweep"]
    wrong_ids = ["", " ", "qqqqqq", "../../victim", "/etc/passwd", job, sweep, "x" * 2000, "\x00"]
    pick = rng.choice

    def train():
        option, values = pick([("--width", BAD_COUNTS), ("--depth", BAD_COUNTS + ["100000000"]), ("--epochs", BAD_COUNTS),
                               ("--batch-size", BAD_COUNTS), ("--n-samples", BAD_COUNTS + ["10000000000"]),
                               ("--lr", BAD_FLOATS + ["0"]), ("--momentum", BAD_FLOATS + ["1", "2"]),
                               ("--weight-decay", BAD_FLOATS), ("--warmup", BAD_FLOATS),
                               ("--noise", BAD_FLOATS), ("--seeds", BAD_SEEDS), ("--init-seed", BAD_INTS),
                               ("--data-seed", BAD_INTS), ("--dataset", BAD_WORDS), ("--arch", BAD_WORDS),
                               ("--norm", BAD_WORDS + ["batch", "layer"]), ("--optimizer", BAD_WORDS),
                               ("--schedule", BAD_WORDS), ("--device", BAD_WORDS + ["tpu", "cuda:x"]),
                               ("--init-from", wrong_ids + [f"{a}@99", f"{a}@x", f"{digits}", "@1"]),
                               ("--save-epochs", ["", "a", "99", "-1", "1-", "٣"]), ("--tag", ["", " ", "\n"])])
        extra = pick([[], ["--json"], ["--queue"], ["--epochs", "1"], ["--no-vectorize"]])
        if option == "--epochs" and "--epochs" in extra:
            extra = []
        return ["train", option, pick(values), *extra]

    def pair(command):
        runs = pick([[a, pick(wrong_ids)], [pick(wrong_ids), b], [a, digits], [a, a], [a]])
        if runs in ([a, b],):
            runs = [a]
        options = pick([[], ["--seed", pick(BAD_INTS)], ["--device", pick(BAD_WORDS)]])
        if command == "align":
            options += pick([[], ["--method", pick(BAD_WORDS + ["naive", "mergemany"])]])
        else:
            options += pick([[], ["--methods", pick(BAD_WORDS + ["naive,magic", ","])],
                             ["--points", pick(BAD_COUNTS + ["1", "100000"])]])
        return [command, *runs, *options]

    def pair_with_a_bad_option(command):
        options = pick([["--seed", pick(BAD_INTS)], ["--device", pick(BAD_WORDS)]])
        if command == "align":
            options = pick([options, ["--method", pick(BAD_WORDS + ["naive"])]])
        else:
            options = pick([options, ["--methods", pick(BAD_WORDS)], ["--points", pick(BAD_COUNTS + ["1", "100000"])]])
        return [command, a, b, *options, *pick([[], ["--json"], ["--queue"]])]

    def average():
        return pick([["average", a], ["average", a, a], ["average", a, digits], ["average", a, pick(wrong_ids)],
                     ["average", a, b, "--method", pick(BAD_WORDS)], ["average", a, b, "--reference", digits],
                     ["average", a, b, "--reference", pick(wrong_ids[2:])], ["average", a, b, "--seed", pick(BAD_INTS)]])

    def sweep_command():
        option, values = pick([("--widths", BAD_SEEDS + ["0,4"]), ("--seeds", BAD_COUNTS + ["1", "99999999999"]),
                               ("--sweep", ["colour=red", "lr=fast", "width", "=1", "optimizer=sgd,rmsprop",
                                            "epochs=0", "lr=nan"]),
                               ("--methods", BAD_WORDS + ["naive,magic"]), ("--points", BAD_COUNTS + ["1"]),
                               ("--epochs", BAD_COUNTS), ("--lr", BAD_FLOATS), ("--width", ["-1", "0", "abc"]),
                               ("--depth", BAD_INTS), ("--dataset", BAD_WORDS), ("--batch-size", BAD_COUNTS)])
        return ["sweep", option, pick(values), *pick([[], ["--json"], ["--queue"]])]

    def matching_options():
        """align/interp/average/sweep on valid runs with a malformed --restarts or --ste-*, or one that no
        method given uses."""
        command = pick(["align", "interp", "average", "sweep"])
        runs = {"align": [a, b], "interp": [a, b], "average": [a, b], "sweep": []}[command]
        many = command in ("interp", "sweep")
        kind = pick(["restarts", "ste", "unused ste", "unused restarts"])
        if kind == "restarts":
            options = ["--restarts", pick(BAD_RESTARTS)]
        elif kind == "ste":
            option, values = pick(BAD_STE)
            options = ["--methods" if many else "--method", pick(["ste", "naive,ste"]) if many else "ste", option,
                       pick(values)]
        elif kind == "unused ste":
            options = [pick(["--ste-steps", "--ste-batch", "--ste-lr"]), "1"]
        else:
            unused = pick(["naive", "naive,activation", "activation"]) if many else \
                pick(["activation"] + (["naive", "mergemany"] if command == "average" else []))  # STE reads --restarts
            options = ["--methods" if many else "--method", unused, "--restarts", "2"]
        return [command, *runs, *options, *pick([[], ["--json"], ["--queue"]])]

    def consistency():
        runs = pick([[a], [a, b], [a, b, pick(wrong_ids)], [pick(wrong_ids), a, b], [a, b, digits], [a, a, b],
                     [a, b, b]])
        options = pick([[], ["--points", pick(BAD_COUNTS + ["1", "100000"])], ["--restarts", pick(BAD_RESTARTS)],
                        ["--seed", pick(BAD_INTS)], ["--device", pick(BAD_WORDS)],
                        ["--executor", pick(["slurm", "", "ray"])]])
        return ["consistency", *runs, *options, *pick([[], ["--json"]])]

    def basins():
        threshold = ["--threshold", "0.1"]
        return pick([["basins", a, b, "--threshold", pick(BAD_THRESHOLDS)], ["basins", a, b],
                     ["basins", *pick([[a], [a, a], [a, digits], [a, pick(wrong_ids)], [pick(wrong_ids), b]]),
                      *threshold],
                     ["basins", a, b, *threshold, *pick([["--method", pick(BAD_WORDS + ["activation", "ste"])],
                                                         ["--metric", pick(BAD_WORDS + ["mid_acc_test"])],
                                                         ["--linkage", pick(BAD_WORDS + ["single", "ward"])]])],
                     ["export", "basins", a, b, *threshold, "--out", pick(BAD_PATH_NAMES)],
                     ["export", "basins", a, b, "--threshold", pick(BAD_THRESHOLDS), "--out", "{tmp}/ok.csv"],
                     ["export", "basins", a, digits, *threshold, "--out", "{tmp}/ok.csv"]])

    def export():
        path = pick(BAD_PATH_NAMES)
        return pick([["export", "runs", "--out", path], ["export", "barriers", "--out", path],
                     ["export", "alignments", "--out", path],
                     ["export", "alignments", "--out", "{tmp}/ok.csv", "--filter", pick(["novalue", "=1", "zzz=1"])],
                     ["export", "sweep", sweep, "--out", path], ["export", "sweep", pick(wrong_ids[:6]), "--out",
                                                                 "{tmp}/ok.csv"],
                     ["export", "runs", "--out", "{tmp}/ok.csv", "--filter", pick(["novalue", "=1", "zzz=1"])],
                     ["export", "runs"], ["export", "nothing", "--out", "{tmp}/ok.csv"]])

    def lookup():
        return [pick(["show", "rm"]), pick(wrong_ids)]

    def queue_commands():
        return pick([["jobs", "--cancel", pick(wrong_ids[:5] + [a])], ["jobs", "--requeue", pick([job, a, ""])],
                     ["jobs", "--cancel", job, "--requeue", "qqqqqq"], ["worker", "--cpu-slots", pick(BAD_COUNTS)],
                     ["list", "--filter", pick(["novalue", "=1", "zzz=1", ""])], ["list", "--bogus"],
                     ["bench", "--out", pick(["{tmp}", "/nonexistent/folder/b.json"])], ["frobnicate"]])

    def hostile():
        """Inputs from files and cluster options: a job's settings are data, never a command."""
        slurm = [pick(["train", "sweep"]), "--executor", "slurm"]
        return pick([["train", "--config", pick(HOSTILE_JSON)],
                     [*slurm, "--slurm-option", pick(BAD_SLURM_OPTIONS)],
                     [*slurm, "--signal-delay", pick(BAD_COUNTS + ["100000"])],
                     [*slurm, "--time", pick(["abc", "0", "1:2:3:4", "1\n", "-5"])],
                     ["export", "runs", "--out", pick(["{home}/exports/../registry.json", "{tmp}/fifo.json",
                                                       "{tmp}/zero.json", "{home}/tables/../exports/../.lock"])],
                     ["train", "--dataset", "mnist", "--data-dir", pick(["/nonexistent", "{tmp}/fifo.json", ""])]])

    makers = [train, lambda: pair("align"), lambda: pair("interp"), lambda: pair_with_a_bad_option("align"),
              lambda: pair_with_a_bad_option("interp"), average, sweep_command, export, lookup, queue_commands,
              matching_options, consistency, basins, hostile]
    seen, out = set(), []
    while len(out) < COUNT:
        args = rng.choice(makers)()
        key = json.dumps(args)
        if key not in seen:
            seen.add(key)
            out.append(args)
    return out


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A home with runs of two data sets, curves, an alignment, a sweep and a queued job."""
    from typer.testing import CliRunner

    from lmctui.cli import app

    home = tmp_path_factory.mktemp("fuzz") / "home"
    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(app, [*map(str, args), "--home", str(home)])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout) if "--json" in args else None

    a, b = (r["id"] for r in cli("train", "--width", "8", "--depth", "1", "--seeds", "0,1", "--epochs", "2",
                                 "--save-epochs", "1", "--json")["runs"])
    [digits] = cli("train", "--dataset", "digits", "--width", "8", "--epochs", "1", "--json")["runs"]
    cli("interp", a, b, "--points", "3")
    sweep = cli("sweep", "--widths", "4", "--seeds", "2", "--epochs", "1", "--points", "3", "--methods", "naive",
                "--json")["sweep"]
    job = cli("train", "--epochs", "1", "--queue", "--json")["job"]["id"]
    return home, {"a": a, "b": b, "digits": digits["id"], "job": job, "sweep": sweep}


def make_hostile_files(folder: Path) -> None:
    import os

    os.mkfifo(folder / "fifo.json")
    (folder / "zero.json").symlink_to("/dev/zero")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    config = {"data": {"name": "moons"}, "model": {"arch": "mlp", "width": 8, "depth": 1, "norm": "none"},
              "train": {"epochs": "many"}}
    (folder / "types.json").write_text(json.dumps(config))
    config["train"] = {"epochs": 1}
    config["data"] = {"name": "mnist", "data_dir": 5}
    (folder / "dir_type.json").write_text(json.dumps(config))
    with open(folder / "huge.json", "wb") as f:
        f.truncate(20 * 1024**2)


def test_malformed_invocations_exit_2_with_one_line_and_change_nothing(populated, tmp_path):
    home, ids = populated
    cases = invocations(ids, random.Random(SEED))
    assert len(cases) >= 500
    cases = [[arg.format(home=home, tmp=tmp_path) if "{" in arg else arg for arg in args] + ["--home", str(home)]
             for args in cases]
    make_hostile_files(tmp_path)
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps({"home": str(home), "cases": cases}))
    done = subprocess.run([sys.executable, str(DRIVER), str(spec)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    bad = [r for r in report["results"] if r["code"] != 2 or len(r["stderr"].strip().splitlines()) != 1
           or "Traceback" in r["stderr"] or r["changed"]]
    assert bad == [], "\n".join(json.dumps(r, ensure_ascii=False)[:400] for r in bad[:15])
    assert report["torch_imported"] is False
    assert not (home.parent / "victim").exists()
