"""How each CLI command draws its result as tables (with `--json` the command prints the document instead).

One function per result shape; the columns of `align`'s table come from the method
registry, so a new alignment method shows without an edit here.
"""

from __future__ import annotations

import sys

from lmctui.cli_output import emit_json, message, print_table, table_fits
from lmctui.records import LISTINGS, RUN_FIELDS, SWEEP_SUMMARY_FIELDS


def runs(found: dict, as_json: bool) -> None:
    if as_json:
        emit_json(found)
    else:
        print_table(found["runs"], list(LISTINGS["runs"].columns), drop=LISTINGS["runs"].drop, wrap=("error",))


# align's table, (field, short label) as INTERP_COLUMNS, so that every method's fits 80 columns: the pair, then
# what each method's record says of its search (its title says what the labels mean), then the time taken.
ALIGN_PAIR_COLUMNS = (("id", "id"), ("run_a", "A"), ("run_b", "B"), ("method", "method"), ("aligned_run", "aligned"))


def alignment(found: dict, as_json: bool) -> None:
    from lmctui.service.methods import METHODS

    if as_json:
        emit_json(found)
        return
    record = found["alignment"]
    method = METHODS[record["method"]]
    columns = (*ALIGN_PAIR_COLUMNS, *method.columns, ("seconds", "seconds"), ("reused", "reused"))
    print_table([{label: record.get(key) for key, label in columns}], [label for _, label in columns],
                method.title.format(**record), drop=("seconds", "iterations", "reused"))
    objectives = record.get("restart_objectives") or []
    if len(objectives) > 1:
        message(f"objectives of the {len(objectives)} restarts: {min(objectives):.6g} to {max(objectives):.6g} "
                f"(spread {max(objectives) - min(objectives):.3g}); kept restart {record.get('best_restart')}")


# interp's table, (field, short label) as RUN_COLUMNS: each test barrier of the grid beside its refined value and
# the alpha of the maximum (an 80-column terminal keeps the loss's), then the train barriers.
INTERP_COLUMNS = (("method", "method"), ("loss_barrier_test", "loss"), ("loss_barrier_test_refined", "loss refined"),
                  ("loss_barrier_test_alpha", "loss alpha"), ("error_barrier_test", "error"),
                  ("error_barrier_test_refined", "error refined"), ("error_barrier_test_alpha", "error alpha"),
                  ("loss_barrier_train", "loss train"), ("error_barrier_train", "error train"),
                  ("mid_acc_test", "mid acc"))
INTERP_DROP = ("error train", "loss train", "mid acc", "error alpha", "error refined")
INTERP_REFINED = ("loss_barrier_test_refined", "loss_barrier_test_alpha", "error_barrier_test_refined",
                  "error_barrier_test_alpha")


def curves(found: dict, as_json: bool, refine: bool, plot: bool) -> None:
    curves = found["curves"]
    stored = [c["method"] for c in curves if c.get("reused")]
    if stored:
        message(f"{', '.join(stored)}: stored with the same settings, shown as measured then "
                "(--recompute measures again)")
    if as_json:
        emit_json(found)
    else:
        columns = INTERP_COLUMNS if refine else [c for c in INTERP_COLUMNS if c[0] not in INTERP_REFINED]
        print_table([{label: c.get(key) for key, label in columns} for c in curves], [label for _, label in columns],
                    f"{curves[0]['run_a']} -> {curves[0]['run_b']}: test barriers on the grid, "
                    + ("refined, and the alpha of the maximum" if refine else "not refined (--no-refine)"),
                    drop=INTERP_DROP)
    if plot:
        from lmctui.plots import curves_plot

        stream = sys.stderr if as_json else sys.stdout  # --json keeps stdout for the document
        for metric in ("test_loss", "test_acc"):
            print(curves_plot(curves, metric, color=stream.isatty()), file=stream)


def average(found: dict, as_json: bool) -> None:
    if as_json:
        emit_json(found)
        return
    result = found["average"]
    rows = [{"network": f"average ({result['method']})", "test_acc": result["test_acc"],
             "test_loss": result["test_loss"]},
            {"network": "ensemble", **result["ensemble"]},
            *({"network": e["id"], **e} for e in result["endpoints"])]
    reset = [c for c in ("test_acc_reset", "test_loss_reset") if any(c in e for e in result["endpoints"])]
    print_table(rows, ["network", "test_acc", "test_loss", *reset],
                f"average {result['id']} -> run {result['averaged_run']}")
    if reset:
        message("BatchNorm: the average is evaluated after its statistics are re-estimated; *_reset: the endpoints "
                "after the same reset (like with like)")


def sweep(result: dict, as_json: bool, axis: str, plot: bool) -> None:
    if as_json:
        emit_json(result)
    else:
        print_table(result["summary"], list(SWEEP_SUMMARY_FIELDS), f"sweep {result['sweep']} over {axis}")
    if plot:
        from lmctui.plots import sweep_plot

        stream = sys.stderr if as_json else sys.stdout
        print(sweep_plot(result["summary"], axis, color=stream.isatty()), file=stream)


def run_shown(shown: dict) -> None:
    """A run's record, config, weight files, metrics and the Slurm job that trained it."""
    print_table([{"field": k, "value": shown["run"][k]} for k in RUN_FIELDS], ["field", "value"],
                f"run {shown['run']['id']}")
    config = shown.get("config") or {}
    print_table([{"part": part, "field": k, "value": v} for part in ("data", "model", "train")
                 for k, v in (config.get(part) or {}).items()], ["part", "field", "value"], "config")
    print_table([{"file": f, "state": s} for f, s in shown["files"].items()], ["file", "state"], "weight files")
    print_table(shown["metrics"], ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"], "metrics")
    if shown.get("job") is not None:
        print_table([{"field": k, "value": v} for k, v in shown["job"].items()], ["field", "value"], "Slurm job")
    if shown.get("source"):
        print_table([{"field": k, "value": shown[k]} for k in ("source", "source_file", "source_file_sha256")
                     if k in shown], ["field", "value"], "weights from outside")
    for note in shown.get("notes") or []:
        message(note)
    damaged = [f for f, s in shown["files"].items() if s != "ok"]
    if damaged:
        message(f"warning: {', '.join(damaged)} of run {shown['run']['id']}: {shown['files'][damaged[0]]}")


def alignment_shown(shown: dict) -> None:
    """An alignment's fields, its restarts (objective, gap to the best, which was kept) and its permutation."""
    record = shown["alignment"]
    fields = [{"field": k, "value": v} for k, v in record.items() if v is not None and not isinstance(v, (list, dict))]
    fields += [{"field": f"ste {k}", "value": v} for k, v in (record.get("ste") or {}).items()]
    print_table(fields, ["field", "value"], f"alignment {record['id']}")
    objectives = record.get("restart_objectives") or []
    if objectives:
        best = max(objectives)
        rows = [{"restart": i, "seed": (record.get("seed") or 0) + i, "objective": o, "below_best": best - o,
                 "kept": "yes" if i == record.get("best_restart") else ""} for i, o in enumerate(objectives)]
        print_table(rows, ["restart", "seed", "objective", "below_best", "kept"],
                    f"{len(objectives)} restart(s): objectives {min(objectives):.6g} to {best:.6g}, "
                    f"spread {best - min(objectives):.3g}")
    permutation = shown.get("permutation")
    if permutation:
        print_table([{"group": group, "units": len(p), "moved": sum(int(u != i) for i, u in enumerate(p))}
                     for group, p in permutation.items()], ["group", "units", "moved"], "permutation applied to B")


def consistency(found: dict) -> None:
    print_table([{"group": g, "consistent": v} for g, v in found["per_group"].items()], ["group", "consistent"],
                f"cycle consistency of {len(found['runs'])} runs: {found['overall']:.4f} of units agree around "
                f"{len(found['triangles'])} triangle(s)")
    print_table([{"runs a b c": " ".join(t["runs"]), "consistent": t["consistent"],
                  **{label: t[f"barrier_{label}"] for label in ("direct", "composed", "shared")}}
                 for t in found["triangles"]], ["runs a b c", "consistent", "direct", "composed", "shared"],
                "triangles: the test loss barrier from a to c with c mapped directly, through b (composed), "
                "through the shared frame")
    print_table([{"runs": " ".join(p["runs"]), **{label: p[f"barrier_{label}"]
                                                 for label in ("direct", "shared", "mergemany")}}
                 for p in found["pairs"]], ["runs", "direct", "shared", "mergemany"],
                "pairs: the test loss barrier along the direct map, the shared frame's and MergeMany's")
    message(f"frames of all {len(found['runs'])} runs (sum of pairwise <U_i W_i, U_j W_j>): shared "
            f"{found['shared_frame']['objective']:.6g} (from {found['shared_frame']['start_objective']:.6g}), "
            f"MergeMany {found['mergemany']['objective']:.6g}")


def basins(found: dict, metric: str, threshold: float, method: str, linkage: str) -> None:
    print_table(found["rows"], ["run", "basin", "basin_size", "within_mean", "nearest_other", "seed", "kind"],
                f"{found['count']} basin(s) at {metric} <= {threshold:g} ({method}, {linkage} linkage)",
                drop=("kind", "seed"))
    matrix = [{"run": a, **dict(zip(found["runs"], row))} for a, row in zip(found["runs"], found["matrix"])]
    if table_fits(matrix, ["run", *found["runs"]]):
        print_table(matrix, ["run", *found["runs"]], f"{metric} ({method})")
    else:
        message(f"(the {len(found['runs'])} x {len(found['runs'])} barrier matrix is wider than the terminal; "
                "--json has it)")


def jobs(listed: list[dict]) -> None:
    """The queue; the Slurm columns when a job went to Slurm."""
    slurm = ["slurm_job_id", "slurm_state"] if any("slurm_job_id" in j for j in listed) else []
    print_table(listed, ["id", "kind", "title", "status", *slurm, "progress", "device_used", "message", "error"],
                drop=("device_used", "kind", "progress"), wrap=("title", "message", "error"))


def pair_curves(made: dict, as_json: bool) -> None:
    """What `interp --all-pairs` did: the curves made (or the jobs queued), the pairs already stored."""
    if as_json:
        emit_json(made)
        return
    if made["curves"]:
        print_table([{"pair": f"{c['run_a']}-{c['run_b']}", "method": c["method"], "loss": c["loss_barrier_test"],
                      "error": c["error_barrier_test"], "stored": "yes" if c.get("reused") else ""}
                     for c in made["curves"]], ["pair", "method", "loss", "error", "stored"],
                    f"{len(made['curves'])} curve(s): test barriers on the grid")
    for job in made["jobs"]:
        message(f"queued job {job['id']}: {job.get('title')}")
    if made["already_stored"]:
        message(f"{made['already_stored']} pair(s) already had every curve (--recompute measures them again)")


def curve_shown(shown: dict) -> None:
    """A curve's barriers and settings, then every alpha with train/test loss and accuracy."""
    record = shown["curve"]
    fields = [{"field": k, "value": v} for k, v in {**record, **shown["settings"]}.items()
              if v is not None and not isinstance(v, (list, dict))]
    print_table(fields, ["field", "value"], f"curve {record['id']}: {record['method']}, {record['run_a']} -> "
                                            f"{record['run_b']}")
    print_table(shown["points"], ["alpha", "train_loss", "test_loss", "train_acc", "test_acc"],
                f"{len(shown['points'])} alphas")


def spec(report: dict, as_json: bool) -> None:
    """A permutation spec: one row per group, the pinned units with why, then the verdict."""
    if as_json:
        emit_json(report)
        return
    rows = [{"group": g["name"], "size": g["size"], "blocks": g["blocks"],
             "acts on": ", ".join(f"{key}:{axis}" for key, axis in g["axes"])} for g in report["groups"]]
    print_table(rows, ["group", "size", "blocks", "acts on"], f"permutation groups ({report['source']})",
                drop=("blocks",), wrap=("acts on",))
    if report["pinned"]:
        print_table([{"units of": name, "pinned because": why} for name, why in report["pinned"].items()],
                    ["units of", "pinned because"], "not permuted", wrap=("pinned because",))
    print_table([{"hidden units": report["hidden_units"], "permutable": f"{report['permutable_share']:.1%}",
                  "verified": "yes" if report["verified"] else f"no: {report['first_bad']}",
                  "max rel error": report["max_rel_error"]}],
                ["hidden units", "permutable", "verified", "max rel error"], "check (float64, random permutation)")
