"""The Slurm settings of a submission: the resources of each task.

Torch-free and submitit-free, so a bad `--time` or `--slurm-option` is refused in
milliseconds. The defaults of a home live in `HOME/cluster.json` (any subset of the
fields below); options on the command line or in a form override them one by one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from lmctui.errors import FieldError, UserError

SETTINGS_FILE = "cluster.json"
MAX_MINUTES = 366 * 24 * 60  # longer than any partition allows: a typo, not a request
# Slurm options that lmctui sets itself: passing them through --slurm-option would break
# the job array, the log paths or the dependency of a sweep's final job.
RESERVED_OPTIONS = ("array", "output", "error", "dependency", "job-name", "open-mode", "signal", "wrap")


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

    def validate(self) -> "ClusterSettings":
        for name in ("partition", "account", "qos"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", value):
                raise FieldError(name, f"must be a Slurm name (letters, digits, _ . + -), got {value!r}")
        _check_int(self.time, "time", 1, MAX_MINUTES)
        _check_int(self.gpus_per_task, "gpus_per_task", 0, 64)
        _check_int(self.cpus_per_task, "cpus_per_task", 1, 1024)
        _check_int(self.array_parallelism, "array_parallelism", 1, 10000)
        if self.mem is not None and not re.fullmatch(r"[1-9][0-9]{0,8}[KMGT]?", self.mem):
            raise FieldError("mem", f"must be a size like 4G or 500M, got {self.mem!r}")
        for key, value in self.slurm_options:
            check_option(key, value)
        return self

    @property
    def signal_delay_s(self) -> int:
        """Seconds before the time limit that submitit's warning signal comes. Its default (90 s)
        is longer than a 1-minute limit, and a signal before the task starts kills it at once."""
        return max(5, min(90, self.time * 60 // 6))

    def to_dict(self) -> dict:
        return {**asdict(self), "slurm_options": [list(kv) for kv in self.slurm_options]}

    @classmethod
    def from_dict(cls, d: dict) -> "ClusterSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"cluster settings name unknown fields: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
        options = tuple((str(k), str(v)) for k, v in d.get("slurm_options") or ())
        if isinstance(d.get("time"), str):
            d = {**d, "time": parse_time(d["time"])}
        return cls(**{**d, "slurm_options": options})

    def merged(self, **overrides) -> "ClusterSettings":
        """These settings with every override that is not None (slurm_options are added)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "slurm_options" in given:
            mine = dict(self.slurm_options)
            mine.update(dict(given["slurm_options"]))
            given["slurm_options"] = tuple(mine.items())
        return replace(self, **given)


def _check_int(value, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(name, f"must be a whole number from {low} to {high}, got {value!r}")


def check_option(key: str, value: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", key or ""):
        raise FieldError("slurm_option", f"takes KEY=VALUE with an sbatch option name as KEY, got {key!r}")
    if key in RESERVED_OPTIONS:
        raise FieldError("slurm_option", f"{key} is set by lmctui itself and cannot be given")
    if not value.isprintable() or len(value) > 200 or not value.strip():
        raise FieldError("slurm_option", f"{key}= needs a printable value of 1 to 200 characters")


def parse_option(text: str) -> tuple[str, str]:
    """'constraint=a100' -> ('constraint', 'a100'); a leading '--' is allowed."""
    key, sep, value = text.partition("=")
    key = key.strip().removeprefix("--")
    if not sep:
        raise FieldError("slurm_option", f"takes KEY=VALUE, got {text!r}")
    check_option(key, value.strip())
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
    if not path.is_file():
        return ClusterSettings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"cluster settings {path}: cannot read it as JSON ({err})") from None
    if not isinstance(raw, dict):
        raise UserError(f"cluster settings {path} must hold one JSON object")
    try:
        return ClusterSettings.from_dict(raw).validate()
    except (UserError, TypeError) as err:
        raise UserError(f"cluster settings {path}: {err}") from None


def settings_for(home: str | Path, time: str | None = None, slurm_option: list[str] | tuple = (),
                 **overrides) -> ClusterSettings:
    """The home's settings with the options given on a command line or in a form laid over them
    (None: not given). `time` takes Slurm's formats; `slurm_option` KEY=VALUE strings."""
    extra = {"time": parse_time(time) if time is not None else None,
             "slurm_options": tuple(parse_option(o) for o in slurm_option) if slurm_option else None}
    return load_settings(home).merged(**overrides, **extra).validate()
