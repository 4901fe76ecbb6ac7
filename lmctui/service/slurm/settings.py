"""The Slurm settings of a submission: the resources of each task.

Torch-free and submitit-free, so a bad `--time` or `--slurm-option` is refused in
milliseconds. The defaults of a home live in `HOME/cluster.json` (any subset of the
fields below); options on the command line or in a form override them one by one.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from lmctui.bounded_files import read_json_file
from lmctui.errors import FieldError, UserError

SETTINGS_FILE = "cluster.json"
MAX_MINUTES = 366 * 24 * 60  # longer than any partition allows: a typo, not a request
# Slurm options that lmctui sets itself: passing them through --slurm-option would break
# the job array, the log paths or the dependency of a sweep's final job.
RESERVED_OPTIONS = ("array", "output", "error", "dependency", "job-name", "open-mode", "signal", "wrap", "requeue",
                    "no-requeue")
# sbatch options a --slurm-option may set: resources and scheduling. Left out on purpose: what
# lmctui sets itself (RESERVED_OPTIONS), and whatever would run code or read files that the
# command line did not name: export, export-file, get-user-env (the task's environment, so
# LD_PRELOAD), chdir (python -m imports from the working folder), container, bbf, nodefile,
# input, propagate, uid, gid, and the sbatch flags that change what sbatch itself does.
SBATCH_OPTIONS = frozenset({
    "acctg-freq", "begin", "clusters", "cluster-constraint", "comment", "constraint", "contiguous", "core-spec",
    "cores-per-socket", "cpu-freq", "cpus-per-gpu", "deadline", "delay-boot", "distribution", "exclude",
    "exclusive", "extra-node-info", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node", "gpus-per-socket", "gres",
    "gres-flags", "hint", "kill-on-invalid-dep", "licenses", "mail-type", "mail-user", "mcs-label", "mem-bind",
    "mem-per-cpu", "mem-per-gpu", "mincpus", "network", "nice", "nodelist", "nodes", "ntasks", "ntasks-per-core",
    "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "overcommit", "oversubscribe", "prefer", "priority",
    "profile", "reservation", "sockets-per-node", "spread-job", "switches", "thread-spec", "threads-per-core",
    "time-min", "tmp", "tres-per-task", "use-min-nodes", "wckey"})
# sbatch options that are settings of their own: given as --slurm-option they meet that setting's
# check (time=abc as --time abc) and become it.
OPTION_FIELDS = {"time": "time", "partition": "partition", "account": "account", "qos": "qos", "mem": "mem",
                 "cpus-per-task": "cpus_per_task", "gpus-per-task": "gpus_per_task"}
# One #SBATCH line's value: no space, quote, backslash, $, `, ; or # (sbatch splits the line on
# spaces, so a space would add an option), and nothing non-printable (a newline would add a line).
OPTION_VALUE = re.compile(r"[A-Za-z0-9_.,:=@+/%&|*!()\[\]{}^~-]{1,200}")
MAX_AUTO_REQUEUES = 20


@dataclass(frozen=True)
class ClusterSettings:
    """The resources of each Slurm task of a submission."""

    partition: str | None = None  # None: the cluster's default partition
    time: int = 60  # minutes per task; short enough to start soon on a busy cluster
    gpus_per_task: int = 0  # 0: a CPU task (the data sets here fit a CPU)
    cpus_per_task: int = 1  # also torch's thread count inside the task
    mem: str | None = None  # "4G", "500M"; None: the partition's default
    account: str | None = None
    qos: str | None = None
    array_parallelism: int = 64  # array tasks running at once, per submission
    slurm_options: tuple[tuple[str, str], ...] = ()  # --slurm-option KEY=VALUE, passed to sbatch as --KEY=VALUE
    signal_delay: int | None = None  # seconds before the time limit that the task is warned; None: from `time`
    auto_requeues: int = 3  # times a task warned of its time limit (or pre-empted) re-queues itself to go on

    def validate(self) -> "ClusterSettings":
        for name in ("partition", "account", "qos"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", value)):
                raise FieldError(name, f"must be a Slurm name (letters, digits, _ . + -), got {value!r}")
        _check_int(self.time, "time", 1, MAX_MINUTES)
        _check_int(self.gpus_per_task, "gpus_per_task", 0, 64)
        _check_int(self.cpus_per_task, "cpus_per_task", 1, 1024)
        _check_int(self.array_parallelism, "array_parallelism", 1, 10000)
        if self.mem is not None and not (isinstance(self.mem, str) and re.fullmatch(r"[1-9][0-9]{0,8}[KMGT]?", self.mem)):
            raise FieldError("mem", f"must be a size like 4G or 500M, got {self.mem!r}")
        if not isinstance(self.slurm_options, tuple) or not all(
                isinstance(kv, tuple) and len(kv) == 2 and all(isinstance(x, str) for x in kv)
                for kv in self.slurm_options):
            raise FieldError("slurm_options", f"must be [KEY, VALUE] pairs of strings, got {self.slurm_options!r}")
        for key, value in self.slurm_options:
            check_option(key, value)
            if key in OPTION_FIELDS:
                raise FieldError("slurm_option", f"{key} is a setting of its own: give it as --{key}")
        if self.signal_delay is not None:
            _check_int(self.signal_delay, "signal_delay", 5, max(5, self.time * 60 // 2))
        _check_int(self.auto_requeues, "auto_requeues", 0, MAX_AUTO_REQUEUES)
        return self

    @property
    def signal_delay_s(self) -> int:
        """Seconds before the time limit that the task's warning signal comes (`signal_delay`). By
        default a sixth of the limit, from 5 s to 90 s: submitit's own 90 s is longer than a 1-minute
        limit, and a signal before the task starts kills it at once."""
        return self.signal_delay if self.signal_delay is not None else max(5, min(90, self.time * 60 // 6))

    def to_dict(self) -> dict:
        return {**asdict(self), "slurm_options": [list(kv) for kv in self.slurm_options]}

    @classmethod
    def from_dict(cls, d) -> "ClusterSettings":
        """Settings stored by hand or in a job: refused (UserError naming the key) unless well-formed.
        Call `validate()` before they are used."""
        if not isinstance(d, dict):
            raise UserError(f"cluster settings must be one JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"cluster settings name unknown fields: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
        raw = d.get("slurm_options") or ()
        if not isinstance(raw, (list, tuple)) or not all(
                isinstance(kv, (list, tuple)) and len(kv) == 2 and all(isinstance(x, str) for x in kv) for kv in raw):
            raise FieldError("slurm_options", f"must be a list of [KEY, VALUE] pairs of strings, got {raw!r}")
        if isinstance(d.get("time"), str):
            d = {**d, "time": parse_time(d["time"])}
        return cls(**{**d, "slurm_options": ()}).merged(slurm_options=tuple(tuple(kv) for kv in raw))

    def merged(self, **overrides) -> "ClusterSettings":
        """These settings with every override that is not None (slurm_options are added; one that is
        a setting of its own, like time=90, becomes that setting, with its check)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "slurm_options" in given:
            mine = dict(self.slurm_options)
            for key, value in given["slurm_options"]:
                if key in OPTION_FIELDS:
                    given.setdefault(OPTION_FIELDS[key], _option_field(key, value))
                else:
                    mine[key] = value
            given["slurm_options"] = tuple(mine.items())
        return replace(self, **given)


def _option_field(key: str, value: str):
    """The setting a field-like --slurm-option gives, checked as that setting is (time=abc as --time abc)."""
    field = OPTION_FIELDS[key]
    if field == "time":
        return parse_time(value)
    if field in ("cpus_per_task", "gpus_per_task"):
        if not value.isdigit() or not value.isascii():
            raise FieldError(field, f"must be a whole number, got {value!r}")
        return int(value)
    return value  # partition, account, qos, mem: checked by validate()


def _check_int(value, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(name, f"must be a whole number from {low} to {high}, got {value!r}")


def check_option(key: str, value: str) -> None:
    """An sbatch option lmctui passes through: a known one, with a value that stays one #SBATCH line."""
    if key in RESERVED_OPTIONS:
        raise FieldError("slurm_option", f"{key} is set by lmctui itself and cannot be given")
    if key not in SBATCH_OPTIONS and key not in OPTION_FIELDS:
        raise FieldError("slurm_option", f"takes KEY=VALUE with KEY an sbatch resource or scheduling option "
                                         f"(such as constraint, gres, nodelist), got {key!r}")
    if not isinstance(value, str) or not OPTION_VALUE.fullmatch(value):
        raise FieldError("slurm_option", f"{key}= needs a value of 1 to 200 letters, digits and _.,:=@+/%&|*!()[]{{}}^~- "
                                         f"(no spaces, quotes or control characters), got {value!r}")


def parse_option(text: str) -> tuple[str, str]:
    """'constraint=a100' -> ('constraint', 'a100'); a leading '--' is allowed."""
    key, sep, value = text.partition("=")
    key = key.strip().removeprefix("--")
    if not sep:
        raise FieldError("slurm_option", f"takes KEY=VALUE, got {text!r}")
    check_option(key, value.strip())
    if key in OPTION_FIELDS:
        _option_field(key, value.strip())
    return key, value.strip()


def parse_time(text: str) -> int:
    """Slurm's time formats ('90', '30:00', '1:30:00', '2-0', '1-12:00:00') as whole minutes."""
    text = str(text).strip()
    match = re.fullmatch(r"(?:(\d{1,3})-)?(\d{1,6})(?::(\d{1,2}))?(?::(\d{1,2}))?", text, re.ASCII)
    if not match:
        raise FieldError("time", f"must be minutes or Slurm's [D-]HH:MM:SS, got {text!r}")
    days, first, second, third = match.groups()
    numbers = [int(first)] + [int(x) for x in (second, third) if x is not None]
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = (numbers + [0, 0])[:3]
        total = int(days) * 1440 + hours * 60 + minutes + (seconds > 0)
    elif len(numbers) == 1:  # MM
        total = numbers[0]
    elif len(numbers) == 2:  # MM:SS
        total = numbers[0] + (numbers[1] > 0)
    else:  # HH:MM:SS
        total = numbers[0] * 60 + numbers[1] + (numbers[2] > 0)
    _check_int(total, "time", 1, MAX_MINUTES)
    return total


def settings_path(home: str | Path) -> Path:
    return Path(home) / SETTINGS_FILE


def load_settings(home: str | Path) -> ClusterSettings:
    """The home's default cluster settings (`HOME/cluster.json`), or the built-in ones."""
    path = settings_path(home)
    if not os.path.lexists(path):
        return ClusterSettings()
    raw = read_json_file(path, "cluster settings")  # a FIFO, a link to /dev/zero, a 10 GB file: refused
    if not isinstance(raw, dict):
        raise UserError(f"cluster settings {path} must hold one JSON object")
    try:
        return ClusterSettings.from_dict(raw).validate()
    except (UserError, TypeError, ValueError) as err:
        raise UserError(f"cluster settings {path}: {err}") from None


def settings_for(home: str | Path, time: str | None = None, slurm_option: list[str] | tuple = (),
                 **overrides) -> ClusterSettings:
    """The home's settings with the options given on a command line or in a form laid over them
    (None: not given). `time` takes Slurm's formats; `slurm_option` KEY=VALUE strings."""
    extra = {"time": parse_time(time) if time is not None else None,
             "slurm_options": tuple(parse_option(o) for o in slurm_option) if slurm_option else None}
    return load_settings(home).merged(**overrides, **extra).validate()
