"""Cluster settings and the CLI's refusals of cluster options: no Slurm needed, no torch imported."""

import json
import subprocess
import sys

import pytest

from lmctui.errors import FieldError, UserError
from lmctui.service.slurm.settings import ClusterSettings, load_settings, parse_option, parse_time, settings_for


@pytest.mark.parametrize("text, minutes", [("90", 90), ("30:00", 30), ("30:01", 31), ("1:30:00", 90),
                                           ("2-0", 2880), ("1-12:00:00", 2160), ("0:00:30", 1)])
def test_slurm_time_formats_become_minutes(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "0", "1.5", "-5", "1:2:3:4", "99999999", "٣"])
def test_bad_times_are_refused_naming_the_field(text):
    with pytest.raises(FieldError) as err:
        parse_time(text)
    assert err.value.field == "time"


def test_slurm_options_are_key_value_and_lmctui_keeps_its_own():
    assert parse_option("--constraint=a100") == ("constraint", "a100")
    for bad in ("constraint", "=x", "array=0-3", "dependency=afterok:1", "output=/tmp/x", "Bad Key=1", "x="):
        with pytest.raises(FieldError):
            parse_option(bad)


def test_the_home_settings_file_gives_defaults_that_options_override(tmp_path):
    assert load_settings(tmp_path) == ClusterSettings()
    (tmp_path / "cluster.json").write_text(json.dumps({"partition": "gpu", "time": "2:00:00", "mem": "4G",
                                                       "slurm_options": [["constraint", "a100"]]}))
    base = load_settings(tmp_path)
    assert (base.partition, base.time, base.mem, base.slurm_options) == ("gpu", 120, "4G", (("constraint", "a100"),))
    given = settings_for(tmp_path, time="10", partition="debug", slurm_option=["exclude=node1"])
    assert (given.partition, given.time, given.mem) == ("debug", 10, "4G")
    assert dict(given.slurm_options) == {"constraint": "a100", "exclude": "node1"}


@pytest.mark.parametrize("content", ["{", "[]", '{"colour": "red"}', '{"time": 0}', '{"mem": "lots"}'])
def test_a_bad_settings_file_is_refused_in_one_line_naming_it(tmp_path, content):
    (tmp_path / "cluster.json").write_text(content)
    with pytest.raises(UserError) as err:
        load_settings(tmp_path)
    assert "cluster.json" in str(err.value) and "\n" not in str(err.value)


def test_the_warning_signal_comes_before_the_time_limit():
    # submitit's default (90 s) is longer than a 1-minute limit: the task would die at once
    for minutes in (1, 2, 5, 60, 600):
        delay = ClusterSettings(time=minutes).signal_delay_s
        assert 0 < delay < minutes * 60 and delay <= 90


def run_cli(tmp_path, *args):
    code = ("import sys, json\nfrom lmctui.cli import main\ntry:\n    main()\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code, *args, "--home", str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


REFUSALS = [
    ["train", "--executor", "pbs"],
    ["train", "--partition", "gpu"],  # a cluster option without --executor slurm
    ["train", "--no-wait"],
    ["train", "--executor", "slurm", "--queue"],
    ["train", "--executor", "slurm", "--time", "abc"],
    ["train", "--executor", "slurm", "--time", "0"],
    ["train", "--executor", "slurm", "--cpus-per-task", "0"],
    ["train", "--executor", "slurm", "--mem", "lots"],
    ["train", "--executor", "slurm", "--partition", "a b"],
    ["train", "--executor", "slurm", "--slurm-option", "array=0-9"],
    ["train", "--executor", "slurm", "--slurm-option", "novalue"],
    ["train", "--executor", "slurm", "--array-parallelism", "0"],
    ["train", "--executor", "slurm", "--epochs", "0"],
    ["sweep", "--executor", "slurm", "--widths", "0,4"],
    ["align", "a", "b", "--executor", "slurm", "--gpus-per-task", "-1"],
    ["interp", "a", "b", "--executor", "slurm"],  # unknown runs
    ["average", "a", "--executor", "slurm"],
    ["jobs", "--log", "qqqqqq"],
    ["cluster", "check", "--timeout", "0"],
]


@pytest.mark.parametrize("args", REFUSALS, ids=[" ".join(a) for a in REFUSALS])
def test_cluster_refusals_exit_2_in_one_line_without_torch_or_submission(tmp_path, args):
    result, stderr = run_cli(tmp_path, *args)
    assert result["code"] == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert result["torch"] is False
    assert not (tmp_path / "home" / "slurm").exists() and not (tmp_path / "home" / "runs").exists()
