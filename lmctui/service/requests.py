"""Typed, torch-free requests: one per job kind, the only schema of a job's parameters.

The CLI's options, the app's forms and a queued job all become one of these. Each
validates itself without torch (so bad input is refused in milliseconds), turns into
and back from the JSON a job stores (`to_params` / `from_params`) and names itself
(`title`). Defaults live in the dataclasses below and in `lmctui.configs`, once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar

from lmctui.choices import OPTIMIZERS
from lmctui.configs import (DEFAULT_SWEEP_WIDTHS, MAX_RESTARTS, MAX_SEED, DataConfig, InterpolationOptions, ModelConfig, STEOptions,
                            TrainConfig, check, check_choice, check_device, check_int, default_restarts)
from lmctui.errors import FieldError, UserError
from lmctui.parsing import parse_run_at_epoch
from lmctui.usermodel import short_arch
from lmctui.service.methods import (DEFAULT_CURVE_METHODS, DEFAULT_METHOD, NAIVE, align_methods, average_methods,
                                    curve_methods, methods_using)

MAX_SEEDS = 1024  # runs one request may train
MAX_AVERAGED = 256  # runs one average may take
MAX_TAG = 64  # characters in a tag


@dataclass(frozen=True)
class TrainRequest:
    """Train one run per seed: `lmctui-cli train`, the app's train form, a `train` job."""

    KIND: ClassVar[str] = "train"
    data: DataConfig = field(default_factory=DataConfig)
    arch: str = "mlp"  # a built-in, or your own: MODULE:FACTORY or PATH/TO/FILE.py:FACTORY
    width: int | None = ModelConfig.width  # None: your own factory's default (default_width)
    depth: int = ModelConfig.depth
    norm: str = "none"
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0,)
    heads: int = ModelConfig.heads  # transformers only
    patch: int | None = ModelConfig.patch  # vit only
    init_seed: int | None = None  # fixes the init seed for every run; else init = seed
    data_seed: int | None = None  # fixes the data-order seed for every run; else = seed
    init_from: str | None = None  # RUN or RUN@EPOCH: start from that checkpoint (spawning)
    device: str = "auto"
    tags: tuple[str, ...] = ()
    vectorize: bool = True  # train the seeds together (torch.func) when the model allows
    arch_args: dict = field(default_factory=dict)  # your own model's keyword arguments (--arch-arg KEY=VALUE)

    def validate(self) -> "TrainRequest":
        self.data.validate()
        self.model_config(self.data.known_input_shape or ((1, 1, 1) if self.data.images else (2,)), 2).validate()
        check(self.arch == "gpt" or not self.data.sequences, "arch",
              f"{self.arch} cannot read token sequences; {self.data.name} trains gpt")
        check(self.arch != "gpt" or self.data.sequences, "arch",
              f"gpt trains on token sequences (modadd), not on {self.data.name}")
        self.train.validate()
        check(0 < len(self.seeds) <= MAX_SEEDS, "seeds", f"must name 1 to {MAX_SEEDS} seeds, got {len(self.seeds)}")
        for seed in self.seeds:
            check_int(seed, "seeds", 0, MAX_SEED)
        for name in ("init_seed", "data_seed"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, 0, MAX_SEED)
        if self.init_from is not None:
            parse_run_at_epoch(self.init_from)
        check_device(self.device)
        for tag in self.tags:
            check(isinstance(tag, str) and 0 < len(tag.strip()) <= MAX_TAG and tag.isprintable(), "tag",
                  f"must be 1 to {MAX_TAG} printable characters, got {tag!r}")
        return self

    @classmethod
    def from_config(cls, config: dict, device: str = "auto", tags: tuple[str, ...] = ()) -> "TrainRequest":
        """The request that trains again the run a stored config (`config.json`) describes."""
        try:
            model, train = config["model"], TrainConfig.from_dict(config["train"])
            return cls(DataConfig.from_dict(config["data"]), model["arch"], model["width"], model["depth"],
                       model["norm"], train, seeds=(train.init_seed,), init_seed=train.init_seed,
                       heads=model.get("heads", ModelConfig.heads), patch=model.get("patch"),
                       data_seed=train.data_seed, init_from=config.get("init_from"), device=device, tags=tags,
                       vectorize=False, arch_args=dict(model.get("arch_args") or {}))
        except (KeyError, TypeError, AttributeError) as err:
            raise FieldError("config", f"is not a run's config.json (missing or malformed {err})") from None

    def model_config(self, input_shape: tuple[int, ...], num_classes: int) -> ModelConfig:
        return ModelConfig(self.arch, self.width, self.depth, self.norm, tuple(input_shape), num_classes,
                           dict(self.arch_args), heads=self.heads, patch=self.patch)

    @property
    def trains_together(self) -> bool:
        """Whether the seeds train as one vectorized computation (told without torch)."""
        return self.vectorize and len(self.seeds) > 1 and self.model_config((), 0).vectorizable

    def seed_config(self, seed: int) -> TrainConfig:
        """The training config of the run of `seed`: its own init and data order unless fixed."""
        return replace(self.train, init_seed=seed if self.init_seed is None else self.init_seed,
                       data_seed=seed if self.data_seed is None else self.data_seed)

    def check_used(self) -> None:
        """Every option of a training is read by it."""

    def named_runs(self) -> tuple[str, ...]:
        return ()  # init_from is checked on its own rules (checks.spawn_source)

    def title(self) -> str:
        width = "" if self.width is None else f" w{self.width}"
        return f"train {self.data.name} {short_arch(self.arch)}{width} seeds {_seeds_text(self.seeds)}"

    def to_params(self) -> dict:
        return {**asdict(self), "data": self.data.to_dict(), "train": _train_params(self.train),
                "seeds": list(self.seeds), "tags": list(self.tags)}

    @classmethod
    def from_params(cls, params: dict) -> "TrainRequest":
        return cls(**{**params, "data": DataConfig.from_dict(params["data"]),
                      "train": TrainConfig.from_dict(params["train"]), "seeds": tuple(params["seeds"]),
                      "tags": tuple(params.get("tags") or ())})


STE_FIELDS = {"ste_steps": "steps", "ste_batch": "batch_size", "ste_lr": "lr"}  # request field -> STEOptions'


@dataclass(frozen=True)
class Matching:
    """How the aligning methods search: weight matching's restarts and STE's optimization."""

    restarts: int | None = None  # visiting orders tried, the best kept; None: configs.DEFAULT_RESTARTS by arch
    ste: STEOptions = field(default_factory=STEOptions)

    def validate(self) -> "Matching":
        if self.restarts is not None:
            check_int(self.restarts, "restarts", 1, MAX_RESTARTS)
        self.ste.validate()
        return self

    def check_used(self, methods: tuple[str, ...], field: str, allowed: tuple[str, ...]) -> None:
        """Refuse an option set away from its default that none of `methods` reads: typed on a command
        line, a setting that changes nothing is a mistake worth saying (a form shows every field, so
        the app does not ask). `field` names the request's methods, `allowed` those it could name."""
        default = STEOptions()
        given = [name for name, key in STE_FIELDS.items() if getattr(self.ste, key) != getattr(default, key)]
        for option, fields, what in (("ste", given, "STE matching"),
                                     ("restarts", ["restarts"] if self.restarts is not None else [], "weight matching")):
            users = [m for m in methods_using(option) if m in allowed]
            if fields and not set(methods) & set(users):
                raise FieldError(fields[0], f"applies to {what} only ({field} {' or '.join(users)}), not to "
                                            f"{', '.join(methods)}")

    def restarts_for(self, arch: str) -> int:
        return self.restarts if self.restarts is not None else default_restarts(arch)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Matching":
        d = d or {}
        return cls(d.get("restarts"), STEOptions(**d.get("ste", {})))


@dataclass(frozen=True)
class AlignRequest:
    """Permute B's hidden units to match A and register the permuted B."""

    KIND: ClassVar[str] = "align"
    run_a: str
    run_b: str
    method: str = DEFAULT_METHOD
    seed: int = 0  # weight matching's visiting order (seed, seed + 1, ... per restart); STE's batch order
    device: str = "auto"
    matching: Matching = field(default_factory=lambda: Matching())

    def validate(self) -> "AlignRequest":
        _check_run_ids((self.run_a, self.run_b))
        check_choice(self.method, "method", align_methods())
        check_int(self.seed, "seed", 0, MAX_SEED)
        check_device(self.device)
        self.matching.validate()
        return self

    def check_used(self) -> None:
        self.matching.check_used((self.method,), "method", align_methods())

    def named_runs(self) -> tuple[str, ...]:
        return self.run_a, self.run_b

    def title(self) -> str:
        return f"align {self.run_a} {self.run_b} ({self.method})"

    def to_params(self) -> dict:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict) -> "AlignRequest":
        return cls(**{**params, "matching": Matching.from_dict(params.get("matching"))})


@dataclass(frozen=True)
class InterpRequest:
    """Loss and accuracy along the line from A to B, naive and after each alignment."""

    KIND: ClassVar[str] = "interp"
    run_a: str
    run_b: str
    methods: tuple[str, ...] = DEFAULT_CURVE_METHODS
    options: InterpolationOptions = field(default_factory=InterpolationOptions)
    seed: int = 0
    device: str = "auto"
    matching: Matching = field(default_factory=lambda: Matching())
    recompute: bool = False  # measure again a curve already stored with the same identity (and keep the new one)

    def validate(self) -> "InterpRequest":
        _check_run_ids((self.run_a, self.run_b))
        _check_methods(self.methods)
        self.options.validate()
        check_int(self.seed, "seed", 0, MAX_SEED)
        check_device(self.device)
        self.matching.validate()
        return self

    def check_used(self) -> None:
        self.matching.check_used(self.methods, "methods", curve_methods())

    def named_runs(self) -> tuple[str, ...]:
        return self.run_a, self.run_b

    def title(self) -> str:
        return f"interp {self.run_a} {self.run_b} ({','.join(self.methods)})"

    def to_params(self) -> dict:
        return {**asdict(self), "methods": list(self.methods)}

    @classmethod
    def from_params(cls, params: dict) -> "InterpRequest":
        return cls(**{**params, "methods": tuple(params["methods"]),
                      "options": InterpolationOptions(**params.get("options", {})),
                      "matching": Matching.from_dict(params.get("matching"))})


@dataclass(frozen=True)
class AverageRequest:
    """Average K >= 2 runs' weights; compare with the endpoints and the ensemble."""

    KIND: ClassVar[str] = "average"
    runs: tuple[str, ...]
    method: str = DEFAULT_METHOD
    reference: str | None = None  # the run the others are aligned to; None: the first
    seed: int = 0
    device: str = "auto"
    matching: Matching = field(default_factory=lambda: Matching())
    repair: bool = False  # REPAIR: each unit's statistics set to the mean of the aligned runs'

    def validate(self) -> "AverageRequest":
        check(2 <= len(self.runs) <= MAX_AVERAGED, "runs",
              f"must name at least 2 runs to average (at most {MAX_AVERAGED}), got {len(self.runs)}")
        _check_run_ids(self.runs)
        check_choice(self.method, "method", average_methods())
        if self.reference is not None:
            _check_run_ids((self.reference,), "reference")
            check(any(r.startswith(self.reference) or self.reference.startswith(r) for r in self.runs),
                  "reference", f"{self.reference} is not one of the runs being averaged")
        check_int(self.seed, "seed", 0, MAX_SEED)
        check_device(self.device)
        self.matching.validate()
        check(not (self.repair and self.method == NAIVE), "repair",
              "does not apply to a naive average: REPAIR restores the statistics of aligned units, and a naive "
              "average aligns none (choose another --method)")
        return self

    def check_used(self) -> None:
        self.matching.check_used((self.method,), "method", average_methods())

    def named_runs(self) -> tuple[str, ...]:
        return self.runs

    def title(self) -> str:
        return f"average {' '.join(self.runs)} ({self.method})"

    def to_params(self) -> dict:
        return {**asdict(self), "runs": list(self.runs)}

    @classmethod
    def from_params(cls, params: dict) -> "AverageRequest":
        return cls(**{**params, "runs": tuple(params["runs"]), "matching": Matching.from_dict(params.get("matching"))})


SWEEP_AXES = {"width": int, "depth": int, "heads": int, "lr": float, "batch_size": int, "epochs": int, "optimizer": str}
MAX_SWEEP_VALUES = 64


@dataclass(frozen=True)
class SweepRequest:
    """Train `base.seeds` at each value of one axis; barriers of every seed pair; averages."""

    KIND: ClassVar[str] = "sweep"
    base: TrainRequest = field(default_factory=lambda: TrainRequest(seeds=(0, 1)))
    axis: str = "width"
    values: tuple = DEFAULT_SWEEP_WIDTHS
    methods: tuple[str, ...] = DEFAULT_CURVE_METHODS
    points: int = InterpolationOptions.points
    matching: Matching = field(default_factory=lambda: Matching())

    def validate(self) -> "SweepRequest":
        check(self.axis in SWEEP_AXES, "sweep", f"axis must be one of {', '.join(SWEEP_AXES)}, got {self.axis!r}")
        check(0 < len(self.values) <= MAX_SWEEP_VALUES, "sweep",
              f"must name 1 to {MAX_SWEEP_VALUES} values, got {len(self.values)}")
        if self.axis == "optimizer":
            for value in self.values:
                check_choice(value, "sweep", OPTIMIZERS)
        check(len(self.base.seeds) >= 2, "seeds", f"must be at least 2 for barriers between seeds, "
                                                   f"got {len(self.base.seeds)}")
        _check_methods(self.methods)
        InterpolationOptions(self.points).validate()
        self.matching.validate()
        self.base.validate()
        for value in self.values:
            try:
                self.request_for(value).validate()
            except FieldError as err:
                if err.field != self.axis:
                    raise
                raise FieldError("widths" if self.axis == "width" else "sweep", err.problem) from None
        return self

    def request_for(self, value) -> TrainRequest:
        """The training request of one swept value."""
        if self.axis in ("width", "depth", "heads"):
            return replace(self.base, **{self.axis: value})
        return replace(self.base, train=replace(self.base.train, **{self.axis: value}))

    def check_used(self) -> None:
        self.matching.check_used(self.methods, "methods", curve_methods())

    def named_runs(self) -> tuple[str, ...]:
        return ()

    def title(self) -> str:
        return f"sweep {self.base.data.name} {self.axis} {','.join(map(str, self.values))}"

    def to_params(self) -> dict:
        return {"base": self.base.to_params(), "axis": self.axis, "values": list(self.values),
                "methods": list(self.methods), "points": self.points, "matching": asdict(self.matching)}

    @classmethod
    def from_params(cls, params: dict) -> "SweepRequest":
        return cls(TrainRequest.from_params(params["base"]), params["axis"], tuple(params["values"]),
                   tuple(params["methods"]), params["points"], Matching.from_dict(params.get("matching")))


def sweep_values(axis: str, raw: list[str]) -> tuple:
    """Read the swept values as the axis' type ('8' -> 8 for width)."""
    check(axis in SWEEP_AXES, "sweep", f"axis must be one of {', '.join(SWEEP_AXES)}, got {axis!r}")
    kind = SWEEP_AXES[axis]
    try:
        return tuple(kind(v) for v in raw)
    except ValueError:
        raise FieldError("sweep", f"{axis}: cannot read {', '.join(raw)} as {kind.__name__}") from None


def sweep_seeds(count: int) -> tuple[int, ...]:
    """The seeds of a sweep of `count` seeds per value: 0 .. count - 1, at least 2 (barriers are between seeds)."""
    return tuple(range(check_int(count, "seeds", 2, MAX_SEEDS)))


def _check_methods(methods: tuple[str, ...]) -> None:
    check(len(methods) > 0, "methods", f"must name at least one of {', '.join(curve_methods())}")
    for method in methods:
        check_choice(method, "methods", curve_methods())


def _train_params(train: TrainConfig) -> dict:
    """An unset learning rate stays unset in a job, so a swept optimizer gets its own default."""
    return {**train.to_dict(), "lr": train.lr}


def _check_run_ids(ids, name: str = "runs") -> None:
    for run in ids:
        check(isinstance(run, str) and 0 < len(run.strip()) <= 64 and run.isprintable(), name,
              f"must be run ids or unique prefixes, got {run!r}")


def _seeds_text(seeds: tuple[int, ...]) -> str:
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def request_device(request) -> str:
    """The device a request asks for (a sweep's trainings carry it)."""
    return request.base.device if isinstance(request, SweepRequest) else request.device


def with_device(request, device: str):
    """`request` to run on `device`."""
    if isinstance(request, SweepRequest):
        return replace(request, base=replace(request.base, device=device))
    return replace(request, device=device)


REQUESTS = {r.KIND: r for r in (TrainRequest, AlignRequest, InterpRequest, AverageRequest, SweepRequest)}


def request_from_job(job: dict):
    """The typed request a job stores, checked as the command line checks it: a job document is
    data that anyone who can write the home may have edited (a worker taking it up, a re-queue)."""
    kind = job.get("kind")
    if kind not in REQUESTS:
        raise FieldError("kind", f"must be one of {', '.join(REQUESTS)}, got {kind!r}")
    try:
        request = REQUESTS[kind].from_params(job["params"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UserError(f"job {job.get('id')}: its stored request is malformed ({type(err).__name__}: {err}); "
                        "the registry was changed by hand") from None
    return request.validate()
