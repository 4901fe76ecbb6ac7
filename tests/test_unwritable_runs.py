"""A run whose folder cannot be made or written (a full disk, a read-only home) ends `failed` with
that reason, and its job too: never `running`, never a traceback.

The tests run as root, whom permissions do not stop: a regular file where a folder must go, or a
folder where a file must go, refuses the write as a full or read-only disk would."""

from conftest import registry_bytes

SMALL = ["--dataset", "moons", "--width", "4", "--depth", "1", "--epochs", "1"]


def runs_folder_made_a_file(cli, home):
    assert cli("train", *SMALL, "--json").code == 0  # a home with one finished run
    for run in (home / "runs").iterdir():
        for path in run.iterdir():
            path.unlink()
        run.rmdir()
    (home / "runs").rmdir()
    (home / "runs").write_text("not a folder")


def test_a_run_whose_folder_cannot_be_made_fails_in_one_line_and_records_nothing_running(cli, home):
    runs_folder_made_a_file(cli, home)
    before = registry_bytes(home)
    result = cli("train", *SMALL, "--seeds", "0,1")
    lines = result.stderr.strip().splitlines()
    assert result.code == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot write a run's folder" in lines[-1] and "Not a directory" in lines[-1], lines
    assert registry_bytes(home) == before  # no run half recorded


def test_a_queued_job_whose_run_folder_cannot_be_made_ends_failed_with_the_reason(cli, home):
    from lmctui.store import Registry

    runs_folder_made_a_file(cli, home)
    queued = cli("train", *SMALL, "--queue", "--json").json["job"]["id"]
    worker = cli("worker", "--once")
    assert "Traceback" not in worker.stderr, worker.stderr
    job = Registry(home).get("jobs", queued)
    assert job["status"] == "failed" and "cannot write a run's folder" in job["error"], job
    assert [r["status"] for r in Registry(home).all("runs")] == ["done"]  # only the run made before


def test_runs_whose_weights_cannot_be_written_end_failed_with_the_reason(tmp_path):
    """Two seeds training together; where each one's weights must go there is a folder, planted
    while they train: both end `failed` saying so, neither stays `running`."""
    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.service.requests import TrainRequest
    from lmctui.service.training import train_runs
    from lmctui.store import Registry
    from lmctui.store.runfiles import WEIGHTS

    registry = Registry(tmp_path / "home")

    def plant(run_id, event):
        (registry.run_dir(run_id) / WEIGHTS).mkdir(exist_ok=True)

    request = TrainRequest(DataConfig("moons"), "mlp", 4, 1, "none", TrainConfig(epochs=2), seeds=(0, 1),
                           device="cpu")
    records = train_runs(registry, request, on_event=plant)
    stored = registry.all("runs")
    assert len(records) == len(stored) == 2
    for run in stored:
        assert run["status"] == "failed" and "cannot write the run's weights" in run["error"], run
        assert run["epochs_done"] == 2 and run["finished"]
