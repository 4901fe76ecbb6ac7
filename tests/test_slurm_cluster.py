"""Against a real Slurm (scripts/slurm/setup_slurm.sh starts a single-node one, as CI does):
sbatch, a job array, a sweep's dependent final job, scancel, re-queue, a task that raises,
a task killed with SIGKILL, a task past its time limit, and one that re-queues itself before it.

The time-limit task is submitted first and checked last, so its minute runs beside the
others (the CI node has two CPUs, each task takes one).
"""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from typer.testing import CliRunner

from lmctui.cli import app


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return False
    try:
        return all(subprocess.run(c, capture_output=True, timeout=15).returncode == 0
                   for c in (["sinfo", "-h"], ["sacct", "-n", "-X", "-S", "now"]))
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not slurm_answers(), reason="no Slurm here: sinfo/sacct absent or not answering "
                                "(scripts/slurm/setup_slurm.sh starts a single-node cluster)")]
runner = CliRunner()
LONG = ["--dataset", "digits", "--width", "64", "--depth", "1", "--seeds", "0,1"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("slurm") / "home"


@pytest.fixture(scope="module")
def cli(home):
    def invoke(*args, code=0):
        result = runner.invoke(app, [*map(str, args), "--home", str(home)])
        assert result.exit_code == code, result.stderr[-2000:]
        return json.loads(result.stdout) if "--json" in args and result.stdout.strip() else result

    return invoke


def job(cli, job_id) -> dict:
    return next(j for j in cli("jobs", "--json")["jobs"] if j["id"] == job_id)


def wait_until(what, seconds=60, every=0.5):
    deadline = time.monotonic() + seconds
    while not (found := what()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(every)
    return found


def runs_of(cli, job_doc) -> list[dict]:
    made = (job_doc.get("result") or {}).get("runs") or []
    return [r for r in cli("list", "--json", "--limit", "0")["runs"] if r["id"] in made]


def runs_by_task(home, job_doc) -> list[dict]:
    from lmctui.store import Registry

    return [r for r in Registry(home).all("runs")
            if (r.get("host"), r.get("pid")) == (job_doc["slurm_host"], job_doc["slurm_pid"])]


TIMED = {}


def test_submit_a_task_that_will_outlive_its_time_limit(cli, home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "cluster.json").write_text('{"auto_requeues": 0}')  # this one is to reach its limit, not go on
    out = cli("train", *LONG, "--epochs", "100000", "--executor", "slurm", "--time", "1", "--no-wait", "--json")
    (home / "cluster.json").unlink()
    [doc] = out["jobs"]
    assert doc["status"] == "pending" and doc["slurm_job_id"] and doc["cluster"]["time"] == 1
    TIMED["id"] = doc["id"]


def test_train_seeds_on_slurm_blocks_and_show_names_the_slurm_job(cli):
    runs = cli("train", "--width", "8", "--depth", "1", "--seeds", "0-3", "--epochs", "3", "--executor", "slurm",
               "--json")["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2, 3] and {r["status"] for r in runs} == {"done"}
    listed = {r["id"] for r in cli("list", "--json", "--limit", "0")["runs"]}
    assert {r["id"] for r in runs} <= listed
    shown = cli("show", runs[2]["id"], "--json")
    assert shown["job"]["executor"] == "slurm" and shown["job"]["slurm_state"] == "COMPLETED"
    assert shown["job"]["slurm_job_id"]


def test_a_transformer_trains_and_aligns_on_slurm_keeping_its_function(cli):
    runs = cli("train", "--arch", "vit", "--dataset", "digits", "--width", "1", "--depth", "1", "--heads", "2",
               "--optimizer", "adam", "--seeds", "0-1", "--epochs", "1", "--executor", "slurm", "--json")["runs"]
    assert [r["arch"] for r in runs] == ["vit", "vit"] and {r["status"] for r in runs} == {"done"}
    made = cli("align", runs[0]["id"], runs[1]["id"], "--method", "weight", "--executor", "slurm", "--json")
    copy = cli("show", made["alignment"]["aligned_run"], "--json")["run"]
    assert copy["test_loss"] == pytest.approx(runs[1]["test_loss"], abs=1e-5)  # a permutation keeps the function


def test_the_app_path_submits_through_jobs_and_a_background_thread_refreshes_states(home):
    import threading

    from lmctui.configs import TrainConfig
    from lmctui.service.jobs import Jobs
    from lmctui.service.slurm.placement import Slurm
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.service.requests import TrainRequest
    from lmctui.store import Registry

    changed = threading.Event()
    jobs = Jobs(Registry(home), on_change=changed.set)
    doc = jobs.submit(TrainRequest(width=4, depth=1, seeds=(5,), train=TrainConfig(epochs=1), device="cpu"),
                      Slurm(ClusterSettings(time=5), no_wait=True))
    assert doc["executor"] == "slurm" and doc["status"] == "pending"
    changed.clear()
    jobs.start_cluster_refresh(seconds=0.5)
    try:
        wait_until(lambda: jobs.resolve(doc["id"])["slurm_state"] == "COMPLETED", 60)
    finally:
        jobs.stop_workers()
    assert changed.is_set() and jobs.resolve(doc["id"])["status"] == "done"


def test_a_sweep_on_slurm_is_an_array_then_a_final_job_with_the_rows_of_a_local_sweep(cli, tmp_path):
    args = ["sweep", "--dataset", "digits", "--arch", "mlp", "--widths", "8,32,128", "--seeds", "2", "--epochs", "4",
            "--methods", "naive,weight", "--json"]
    on_slurm = cli(*args, "--executor", "slurm", "--array-parallelism", "2")
    local = json.loads(runner.invoke(app, [*args, "--home", str(tmp_path / "local")]).stdout)
    assert list(on_slurm) == list(local) == ["sweep", "rows", "summary"]
    assert [list(r) for r in on_slurm["rows"]] == [list(r) for r in local["rows"]]
    assert [list(s) for s in on_slurm["summary"]] == [list(s) for s in local["summary"]]
    same = lambda rows: [{k: v for k, v in r.items() if k not in ("run_a", "run_b")} for r in rows]  # noqa: E731
    assert same(on_slurm["rows"]) == same(local["rows"])  # same path, same numbers
    jobs = cli("jobs", "--json")["jobs"]
    tasks = [j for j in jobs if j["kind"] == "train" and j.get("slurm_array_index") is not None
             and j["params"]["data"]["name"] == "digits" and j["params"]["train"]["epochs"] == 4]
    assert sorted(t["slurm_array_index"] for t in tasks) == [0, 1, 2]
    array = tasks[0]["slurm_array_job_id"]
    states = subprocess.run(["sacct", "-j", array, "-X", "-n", "--parsable2", "-o", "JobID,State"],
                            capture_output=True, text=True).stdout.split()
    assert sorted(states) == [f"{array}_{i}|COMPLETED" for i in range(3)]
    runs = {r["id"] for r in cli("list", "--json", "--limit", "0")["runs"]}
    assert {r[k] for r in on_slurm["rows"] for k in ("run_a", "run_b")} <= runs
    sweep = next(s for s in cli("list", "sweeps", "--json")["sweeps"] if s["id"] == on_slurm["sweep"])
    assert sweep["status"] == "done"
    curves = cli("list", "curves", "--json", "--limit", "0")["curves"]
    assert {(c["run_a"], c["run_b"], c["method"]) for c in curves} >= \
        {(r["run_a"], r["run_b"], r["method"]) for r in on_slurm["rows"]}


def test_a_task_that_raises_fails_with_its_reason(cli, tmp_path):
    (tmp_path / "empty").mkdir()  # exists, so the submission is accepted; holds no MNIST, so the task raises
    result = cli("train", "--dataset", "mnist", "--data-dir", tmp_path / "empty", "--executor", "slurm", code=1)
    assert result.stderr.strip().splitlines()[-1].startswith("failed: job ")
    failed = [j for j in cli("jobs", "--json")["jobs"] if j["params"].get("data", {}).get("name") == "mnist"][-1]
    assert failed["status"] == "failed" and failed["slurm_state"] == "FAILED" and failed["error"]
    assert "Dataset not found" in cli("jobs", "--log", failed["id"]).stdout  # why, from the task's log


def test_scancel_of_a_running_task_then_requeue_finishes_it(cli, home):
    [doc] = cli("train", *LONG, "--epochs", "600", "--executor", "slurm", "--no-wait", "--json")["jobs"]
    wait_until(lambda: job(cli, doc["id"])["message"].startswith("epoch"), 90)
    cli("jobs", "--cancel", doc["id"])
    ended = wait_until(lambda: (j := job(cli, doc["id"]))["slurm_settled"] and j, 60)
    assert (ended["status"], ended["slurm_state"]) == ("cancelled", "CANCELLED")
    left = runs_by_task(home, ended)
    assert len(left) == 2 and {r["status"] for r in left} == {"interrupted"}
    assert all("CANCELLED" in r["error"] for r in left)
    cli("jobs", "--requeue", doc["id"])
    again = wait_until(lambda: (j := job(cli, doc["id"]))["slurm_settled"] and j, 120)
    assert (again["status"], again["slurm_state"], again["slurm_attempt"]) == ("done", "COMPLETED", 2)
    assert again["slurm_folder"] != ended["slurm_folder"]  # a fresh submitit folder per submission
    assert {r["status"] for r in runs_of(cli, again)} == {"done"}


def test_scancel_after_a_checkpoint_then_requeue_resumes_from_it_with_the_weights_of_an_uninterrupted_run(
        cli, home, tmp_path):
    """The oracle: the same request trained here without a stop, on one thread as the task (OMP_NUM_THREADS=1)."""
    import torch

    from lmctui.service.requests import TrainRequest
    from lmctui.service.training import train_runs
    from lmctui.store import Registry
    from lmctui.store.runfiles import WEIGHTS, load_weights

    registry = Registry(home)
    [doc] = cli("train", *LONG, "--epochs", "300", "--save-epochs", "2", "--executor", "slurm", "--no-wait",
                "--json")["jobs"]
    ours = lambda: [r for r in registry.all("runs") if r.get("job") == doc["id"]]  # noqa: E731
    wait_until(lambda: len(ours()) == 2 and all(r.get("resume_sha256") for r in ours()), 90)
    cli("jobs", "--cancel", doc["id"])
    ended = wait_until(lambda: (j := job(cli, doc["id"]))["slurm_settled"] and j, 60)
    assert (ended["status"], ended["slurm_state"]) == ("cancelled", "CANCELLED")
    stopped = sorted(ours(), key=lambda r: r["seed"])
    assert {r["status"] for r in stopped} == {"interrupted"} and all(r["epochs_done"] < 300 for r in stopped)
    newest = max(int(e) for e in stopped[0]["resume_sha256"])
    assert newest >= 2 and all(str(newest) in r["resume_sha256"] for r in stopped)

    cli("jobs", "--requeue", doc["id"])
    again = wait_until(lambda: (j := job(cli, doc["id"]))["slurm_settled"] and j, 180, every=1)
    assert (again["status"], again["slurm_attempt"]) == ("done", 2)
    assert f"resumed from epoch {newest}" in again["message"]
    resumed = sorted(ours(), key=lambda r: r["seed"])
    assert [r["id"] for r in resumed] == [r["id"] for r in stopped] == again["result"]["runs"]
    assert [r["resumed_from_epoch"] for r in resumed] == [newest, newest]
    assert cli("show", resumed[0]["id"], "--json")["run"]["epochs_done"] == 300

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = Registry(tmp_path / "local")
        uninterrupted = train_runs(local, TrainRequest.from_params({**again["params"], "device": "cpu"}))
    finally:
        torch.set_num_threads(threads)
    for run, other in zip(resumed, uninterrupted):
        # the same path (a listed run leaves its config in its folder: schema 3)
        assert registry.run_config(run["id"])["path"] == local.run_config(other["id"])["path"]
        a = load_weights(registry.run_dir(run["id"]) / WEIGHTS, run["weights_sha256"])
        b = load_weights(local.run_dir(other["id"]) / WEIGHTS)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_task_killed_with_sigkill_leaves_nothing_running(cli, home):
    [doc] = cli("train", *LONG, "--epochs", "5000", "--executor", "slurm", "--no-wait", "--json")["jobs"]
    running = wait_until(lambda: (j := job(cli, doc["id"]))["message"].startswith("epoch") and j, 90)
    os.kill(running["slurm_pid"], signal.SIGKILL)  # the single-node cluster runs its tasks on this host
    ended = wait_until(lambda: (j := job(cli, doc["id"]))["slurm_settled"] and j, 60)
    assert ended["status"] in ("failed", "interrupted") and ended["error"].startswith("Slurm:")
    left = runs_by_task(home, ended)
    assert left and all(r["status"] in ("failed", "interrupted") and "Slurm" in r["error"] for r in left)
    assert all(r["epochs_done"] for r in left)  # how far it got, from its metrics file


def test_the_task_past_its_time_limit_ends_timeout_and_its_runs_interrupted(cli, home):
    ended = wait_until(lambda: (j := job(cli, TIMED["id"]))["slurm_settled"] and j, 150, every=2)
    assert (ended["status"], ended["slurm_state"]) == ("interrupted", "TIMEOUT")
    assert "time limit 1 min" in ended["error"]
    left = runs_by_task(home, ended)
    assert len(left) == 2 and all(r["status"] == "interrupted" and "TIMEOUT" in r["error"] for r in left)
    assert all(r["epochs_done"] for r in left)
    assert not [r for r in cli("list", "--json", "--limit", "0")["runs"] if r["status"] == "running"]


def with_epochs(request, epochs: int):
    from dataclasses import replace

    return replace(request, train=replace(request.train, epochs=epochs))


def epochs_past_a_minute(request, train_runs, registry) -> int:
    """Epochs of `request` that take one core 90 s at this machine's best: well past the task's warning, which
    comes 25 to 55 s into its 1-minute limit (Slurm checks limits every 30 s). Timed at its best (the faster of
    two tries, the fixed cost taken out), since the load around may drop while the task runs (a task was seen
    a fifth faster than this timing); slower, the task only re-queues once more."""
    def seconds(epochs: int) -> float:
        started = time.monotonic()
        train_runs(registry, with_epochs(request, epochs))
        return time.monotonic() - started

    per_epoch = (min(seconds(40) for _ in range(2)) - min(seconds(10) for _ in range(2))) / 30
    return min(6000, max(600, int(90 / max(per_epoch, 1e-3))))


def test_a_task_longer_than_its_time_limit_requeues_itself_and_ends_with_the_weights_of_an_uninterrupted_run(
        tmp_path):
    """Warned a few seconds before its 1-minute limit, the task stops between batches, keeps that batch's state
    and re-queues itself; run again (after the test cluster's short requeue delay, setup_slurm.sh) it goes on
    from there, and ends with the weights of a run that never stopped, trained here meanwhile."""
    import torch

    from lmctui.configs import DataConfig, TrainConfig
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.service.requests import TrainRequest
    from lmctui.service.slurm.state import wait
    from lmctui.service.slurm.submit import submit
    from lmctui.service.training import train_runs
    from lmctui.store import Registry
    from lmctui.store.runfiles import WEIGHTS, load_weights

    request = TrainRequest(DataConfig("moons", n_samples=2000), "mlp", 32, 2, "none",
                           TrainConfig(epochs=1, batch_size=16), seeds=(0,), device="cpu")
    registry = Registry(tmp_path / "home")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the task trains (OMP_NUM_THREADS=1): the same floating-point path
    try:
        epochs = epochs_past_a_minute(request, train_runs, Registry(tmp_path / "calibration"))
        request = with_epochs(request, epochs)
        [doc] = submit(registry, request, ClusterSettings(time=1, signal_delay=5))
        [straight] = train_runs(Registry(tmp_path / "straight"), request)
    finally:
        torch.set_num_threads(threads)
    [ended] = wait(registry, [doc["id"]], poll_s=2)
    assert ended["status"] == "done" and ended["slurm_requeues"] >= 1, ended
    [run] = registry.all("runs")
    assert run["status"] == "done" and run["resumed_from_epoch"] > 0 and len(run["resumes"]) == ended["slurm_requeues"]
    a = load_weights(registry.run_dir(run["id"]) / WEIGHTS)
    b = load_weights(Registry(tmp_path / "straight").run_dir(straight["id"]) / WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)
