"""Registries with fixed contents for the app's tests and snapshots (no training needed)."""

import contextlib
import json

from lmctui.store import Registry

FIXED = "2026-01-01T00:00:00+00:00"


def run_doc(run_id, seed, width=16, dataset="moons", status="done", acc=0.95, **extra):
    return {"id": run_id, "kind": "trained", "status": status, "dataset": dataset, "arch": "mlp", "width": width,
            "depth": 1, "norm": "none", "seed": seed, "init_seed": seed, "data_seed": seed, "optimizer": "sgd",
            "lr": 0.05, "batch_size": 64, "epochs": 10, "epochs_done": 10, "test_acc": acc, "test_loss": 0.1,
            "train_loss": 0.08, "train_acc": acc, "tags": [], "created": f"2026-01-01T00:{width:02d}:{seed:02d}+00:00",
            "config": {"data": {"name": dataset}, "model": {"arch": "mlp", "width": width, "depth": 1,
                                                             "norm": "none", "input_shape": [2], "num_classes": 2},
                       "train": {"epochs": 10, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005,
                                 "batch_size": 64, "warmup": 0, "schedule": "cosine", "init_seed": seed,
                                 "data_seed": seed, "save_epochs": []}}, **extra}


def curve_doc(curve_id, run_a, run_b, method, barrier, width=16):
    alpha = [i / 4 for i in range(5)]
    bump = [0, barrier / 2, barrier, barrier / 2, 0]
    return {"id": curve_id, "run_a": run_a, "run_b": run_b, "method": method, "dataset": "moons", "arch": "mlp",
            "width": width, "depth": 1, "points": 5, "alpha": alpha, "train_loss": [0.1 + b for b in bump],
            "test_loss": [0.1 + b for b in bump], "train_acc": [0.95 - b / 4 for b in bump],
            "test_acc": [0.95 - b / 4 for b in bump], "loss_barrier_train": barrier, "loss_barrier_test": barrier,
            "error_barrier_train": barrier / 4, "error_barrier_test": barrier / 4, "created": FIXED}


def write_registry(home, runs=(), curves=(), jobs=()):
    """A registry holding exactly these documents, ids and timestamps included (snapshots need that)."""
    registry = Registry(home)
    for table, docs in (("runs", runs), ("curves", curves), ("jobs", jobs)):
        if docs:
            stored = registry.insert_many(table, [dict(d) for d in docs])
            registry.update_many(table, {s["id"]: dict(d) for s, d in zip(stored, docs)})
    for doc in runs:  # a run's config lives in its folder (schema 3), under the id the fixture gives it
        if "config" in doc:
            folder = registry.run_dir(doc["id"])
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "config.json").write_text(json.dumps(doc["config"]))
    return registry


def sample_registry(home, extra_jobs=()):
    """Two widths of two seeds each, their naive and weight curves, a done and a failed job."""
    runs = [run_doc("aaa222", 0, 16), run_doc("bbb333", 1, 16), run_doc("ccc444", 0, 64), run_doc("ddd555", 1, 64)]
    curves = [curve_doc("cuv222", "aaa222", "bbb333", "naive", 0.40), curve_doc("cuv333", "aaa222", "bbb333", "weight", 0.03),
              curve_doc("cuv444", "ccc444", "ddd555", "naive", 0.20, 64),
              curve_doc("cuv555", "ccc444", "ddd555", "weight", 0.01, 64)]
    jobs = [{"id": "jbb222", "kind": "train", "title": "train moons mlp w16 seeds [0, 1]", "status": "done",
             "progress": 1.0, "started": FIXED, "finished": "2026-01-01T00:00:42+00:00", "device_used": "cpu",
             "message": "epoch 10/10", "created": FIXED, "params": {}},
            {"id": "jbb333", "kind": "interp", "title": "interp aaa222 bbb333", "status": "failed", "progress": 0.0,
             "started": FIXED, "finished": FIXED, "device_used": "cpu", "error": "runs aaa222 and ccc444 differ in width: 16 vs 64",
             "created": "2026-01-01T00:00:01+00:00", "params": {}}]
    return write_registry(home, runs, curves, jobs + list(extra_jobs))


async def settled(pilot, seconds: float = 10.0):
    """Wait until the app has opened its registry and the main screen drew its first snapshot."""
    import time

    app = pilot.app
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.screen.__class__.__name__ == "RegistryErrorScreen":
            return
        if app.views is not None and any("shown" in vars(s) for s in app.screen_stack):
            return
        await pilot.pause(0.05)
    raise AssertionError("the app did not draw its first snapshot in time")


def run(coro):
    import asyncio

    asyncio.run(coro)


def scenario(home, body, size=(80, 24)):
    """Open the app (no job workers) on `home` at `size`, wait for its first snapshot, run `body(app, pilot)`."""
    from lmctui.tui.app import make_app

    async def go():
        app = make_app(home, run_jobs=False)
        async with app.run_test(size=size) as pilot:
            await settled(pilot)
            await body(app, pilot)
    run(go())


def text_of(app, selector):
    """What a Static shows, as plain text (str, rich Text or any rich renderable)."""
    from rich.console import Console
    from textual.widgets import Static

    content = app.screen.query_one(selector, Static).content
    if isinstance(content, str):
        return content
    with open("/dev/null", "w") as sink:
        console = Console(width=200, record=True, file=sink)
        console.print(content)
    return console.export_text()


def column_x(table, key):
    """Where a table's column starts, in cells from the table's left edge."""
    x = 0
    for column in table.ordered_columns:
        if column.key.value == key:
            return x
        x += column.get_render_width(table)
    raise KeyError(key)


async def wait_for(condition, pilot, seconds: float = 10.0) -> bool:
    """Pause until `condition()` holds (workers finish, messages land); False if it never does."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if condition():
            return True
    return False


async def refused(pilot, field_id: str, value: str, words: str) -> bool:
    """Type `value` into a form's field and submit: whether the form stays open saying `words`."""
    from textual.widgets import Input

    form = pilot.app.screen
    form.query_one(f"#{field_id}", Input).value = value
    await pilot.press("ctrl+s")
    await pilot.pause()
    return pilot.app.screen is form and words in text_of(pilot.app, "#form-error")


@contextlib.asynccontextmanager
async def train_form(home, size=(80, 40)):
    """The app on `home` (no job runs) with its train form open: yields (app, pilot)."""
    from lmctui.tui.app import make_app
    from lmctui.tui.screens.forms import TrainForm

    app = make_app(home, run_jobs=False)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TrainForm)
        yield app, pilot
