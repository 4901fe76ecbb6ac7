"""Adding things is local: a placement and an alignment method defined and registered here, in this file only,
are picked up by the CLI, the request checks, the job facade and the science use cases."""

import json

import pytest
from typer.testing import CliRunner

from lmctui.cli import app
from lmctui.configs import default_width, DEFAULT_SWEEP_SEEDS, DEFAULT_SWEEP_WIDTHS, InterpolationOptions, ModelConfig, TrainConfig
from lmctui.service import placements
from lmctui.service.methods import AlignMethod, DEFAULT_CURVE_METHODS, registered
from lmctui.service.requests import AlignRequest, InterpRequest, SweepRequest, TrainRequest
from lmctui.store import Registry

runner = CliRunner()


class Recorded:
    """A test-only placement: it keeps what it is given and answers as a queue would."""

    name = "recorded"
    submitted: list = []

    @classmethod
    def from_options(cls, home, no_wait=False, **options):
        return cls()

    def submit(self, registry, request, progress=None, watch=None):
        doc = registry.insert("jobs", {"kind": request.KIND, "params": request.to_params(), "title": request.title(),
                                       "status": "queued", "executor": self.name})
        Recorded.submitted.append(request)
        return {"job": doc}

    def cancel(self, jobs, job):
        jobs.registry.update("jobs", job["id"], {"status": "cancelled"})
        return jobs.registry.get("jobs", job["id"])

    def requeue(self, jobs, job):
        jobs.registry.update("jobs", job["id"], {"status": "queued"})
        return jobs.registry.get("jobs", job["id"])

    def state(self, registry):
        return []

    def wait(self, registry, job_ids, watch=None):
        return [registry.get("jobs", i) for i in job_ids]


def test_a_placement_registered_from_a_test_takes_work_from_the_cli_and_owns_its_jobs(tmp_path, monkeypatch):
    monkeypatch.setitem(placements.PLACEMENTS, Recorded.name, Recorded)
    Recorded.submitted = []
    home = str(tmp_path / "home")
    done = runner.invoke(app, ["train", "--seeds", "0,1", "--epochs", "1", "--executor", "recorded", "--home", home,
                               "--json"])
    assert done.exit_code == 0, done.output
    job = json.loads(done.stdout)["job"]
    assert job["executor"] == "recorded" and [r.seeds for r in Recorded.submitted] == [(0, 1)]
    assert Registry(home).all("runs") == []  # nothing ran here

    from lmctui.service.jobs import Jobs

    jobs = Jobs(Registry(home))
    assert jobs.cancel(job["id"])["status"] == "cancelled"  # the job's placement cancels it
    assert jobs.requeue(job["id"])["status"] == "queued"


def test_an_unknown_placement_is_refused_naming_the_registered_ones(tmp_path, monkeypatch):
    monkeypatch.setitem(placements.PLACEMENTS, Recorded.name, Recorded)
    done = runner.invoke(app, ["train", "--executor", "elsewhere", "--home", str(tmp_path / "home")])
    assert done.exit_code == 2 and "recorded" in done.output and "elsewhere" in done.output


def reversed_units(loaded, run_a, run_b, spec, how, on_step):
    """A test-only method: every permutation group reversed (a valid permutation, whatever A and B are)."""
    import torch

    sizes = {}
    for name, axes in spec.axes.items():
        for axis, group in enumerate(axes):
            if group is not None:
                sizes[group] = run_b.state[name].shape[axis]
    return {"perms": {g: torch.arange(n - 1, -1, -1) for g, n in sizes.items()}, "iterations": 0}


REVERSED = AlignMethod("reversed", reversed_units, columns=(("iterations", "iterations"),))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    home = tmp_path_factory.mktemp("pair") / "home"
    done = runner.invoke(app, ["train", "--seeds", "0,1", "--width", "8", "--depth", "1", "--epochs", "2",
                               "--device", "cpu", "--home", str(home), "--json"])
    assert done.exit_code == 0, done.output
    return home, [r["id"] for r in json.loads(done.stdout)["runs"]]


def test_a_method_registered_from_a_test_is_a_choice_everywhere(pair):
    home, (a, b) = pair
    with registered(REVERSED):
        AlignRequest(a, b, "reversed").validate()
        InterpRequest(a, b, ("naive", "reversed")).validate()
        aligned = runner.invoke(app, ["align", a, b, "--method", "reversed", "--device", "cpu", "--home", str(home),
                                      "--json"])
        assert aligned.exit_code == 0, aligned.output
        record = json.loads(aligned.stdout)["alignment"]
        assert record["method"] == "reversed"
        table = runner.invoke(app, ["align", a, b, "--method", "reversed", "--device", "cpu", "--home", str(home)])
        assert table.exit_code == 0 and "reused" in table.stdout  # align's table knows its columns
        curves = runner.invoke(app, ["interp", a, b, "--methods", "naive,reversed", "--points", "3", "--device",
                                     "cpu", "--home", str(home), "--json"])
        assert curves.exit_code == 0, curves.output
        assert [c["method"] for c in json.loads(curves.stdout)["curves"]] == ["naive", "reversed"]
        averaged = runner.invoke(app, ["average", a, b, "--method", "reversed", "--device", "cpu", "--home",
                                       str(home), "--json"])
        assert averaged.exit_code == 0, averaged.output
        basins = runner.invoke(app, ["basins", a, b, "--threshold", "100", "--method", "reversed", "--home",
                                     str(home), "--json"])
        assert basins.exit_code == 0, basins.output
    refused = runner.invoke(app, ["align", a, b, "--method", "reversed", "--home", str(home)])
    assert refused.exit_code == 2 and "weight, activation, ste" in refused.output  # gone with its registration


def test_the_permuted_run_of_a_registered_method_computes_the_same_function(pair):
    """The invariant every method keeps: the aligned B is B with its hidden units reordered."""
    import torch

    from lmctui.service.loaded import LoadedRuns

    home, (a, b) = pair
    with registered(REVERSED):
        record = json.loads(runner.invoke(app, ["align", a, b, "--method", "reversed", "--device", "cpu", "--home",
                                                str(home), "--json"]).stdout)["alignment"]
    loaded = LoadedRuns.load(Registry(home), [b, record["aligned_run"]], "cpu")
    from lmctui.core.averaging import load

    x = loaded.data.x_test[:64]
    original, permuted = (load(r.model, r.state, loaded.device) for r in loaded.runs)
    torch.testing.assert_close(original(x), permuted(x))
    first = next(k for k in loaded.runs[0].state if k.endswith("weight"))
    assert not torch.equal(loaded.runs[0].state[first], loaded.runs[1].state[first])


def test_the_cli_and_the_requests_read_one_set_of_defaults():
    """Each default is stated once: the CLI's option defaults, the requests' and the configs' agree (the app's
    forms: the next test)."""
    import inspect

    from lmctui import cli

    sweep = inspect.signature(cli.sweep).parameters
    assert sweep["widths"].default == ",".join(map(str, DEFAULT_SWEEP_WIDTHS)) == \
        ",".join(map(str, SweepRequest().values))
    assert sweep["seeds"].default == DEFAULT_SWEEP_SEEDS == len(SweepRequest().base.seeds)
    assert sweep["methods"].default == ",".join(DEFAULT_CURVE_METHODS) == ",".join(SweepRequest().methods)
    assert inspect.signature(cli.interp).parameters["methods"].default == ",".join(InterpRequest("a", "b").methods)
    assert inspect.signature(cli.interp).parameters["points"].default == InterpolationOptions.points
    assert sweep["epochs"].default == TrainConfig.epochs and sweep["depth"].default == ModelConfig.depth
    train = inspect.signature(cli.train).parameters
    assert train["width"].default is None  # None: the arch's own default, from one place
    assert (default_width("mlp"), train["depth"].default) == (ModelConfig.width, ModelConfig.depth) == \
        (TrainRequest().width, TrainRequest().depth)
    assert train["epochs"].default == TrainConfig.epochs and train["batch_size"].default == TrainConfig.batch_size
    assert inspect.signature(cli.align).parameters["method"].default == AlignRequest("a", "b").method


def test_the_app_sweep_form_opens_with_the_cli_defaults(tmp_path):
    """The form's fields as the user sees them, read back through the same request the CLI builds."""
    from textual.widgets import Input

    from lmctui import cli
    from lmctui.tui.screens.forms import SweepForm
    from tui_helpers import sample_registry, scenario

    import inspect

    home = tmp_path / "home"
    sample_registry(home)
    sweep = inspect.signature(cli.sweep).parameters

    async def body(app, pilot):
        await pilot.press("w")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, SweepForm)
        value = lambda field: form.query_one(f"#{field}", Input).value  # noqa: E731
        assert value("widths") == sweep["widths"].default
        assert int(value("seeds")) == sweep["seeds"].default
        assert value("methods") == sweep["methods"].default
        assert int(value("epochs")) == sweep["epochs"].default and int(value("depth")) == sweep["depth"].default
        [request] = form.build()
        assert request == SweepRequest(request.base, methods=SweepRequest().methods, matching=request.matching)

    scenario(home, body)


def test_the_seed_form_says_the_bounds_it_checks(tmp_path):
    from textual.widgets import Input

    from lmctui.tui.screens.forms import SweepForm
    from tui_helpers import refused, sample_registry, scenario

    home = tmp_path / "home"
    sample_registry(home)

    async def body(app, pilot):
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, SweepForm)
        for bad in ("1", "0", "-1", "1025"):
            assert await refused(pilot, "seeds", bad, "from 2 to 1024"), bad
        app.screen.query_one("#seeds", Input).value = "2"

    scenario(home, body)
