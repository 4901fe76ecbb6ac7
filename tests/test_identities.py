"""Curve, alignment and average identities: what counts as the same measurement."""

import itertools
import random

import pytest

from lmctui.identities import (alignment_identity, average_identity, curve_identity, interp_identity,
                               matching_settings, newest_per_identity)

WEIGHT = {"id": "al1", "run_a": "a", "run_b": "b", "method": "weight", "seed": 0, "restarts": 8}
STE = {"id": "al2", "run_a": "a", "run_b": "b", "method": "ste", "seed": 0, "restarts": 1,
       "ste": {"steps": 300, "batch_size": 256, "lr": 1e-3, "seed": 0, "eval_samples": 2048}}


def curve(method="weight", run_a="a", run_b="b", **extra):
    return {"run_a": run_a, "run_b": run_b, "method": method, "points": 25, "dataset": "moons", "reset_bn": True,
            "repair": False, "alignment": None if method == "naive" else "al1", **extra}


@pytest.mark.parametrize("method", ["naive", "activation"])
def test_symmetric_methods_ignore_the_order_of_the_pair(method):
    assert curve_identity(curve(method)) == curve_identity(curve(method, "b", "a"))


@pytest.mark.parametrize("method, alignment", [("weight", WEIGHT), ("ste", STE)])
def test_asymmetric_methods_keep_the_order(method, alignment):
    swapped = {**alignment, "run_a": "b", "run_b": "a"}
    assert curve_identity(curve(method), alignment) != curve_identity(curve(method, "b", "a"), swapped)


@pytest.mark.parametrize("change", [{"points": 13}, {"reset_bn": False}, {"repair": True}, {"dataset": "blobs"},
                                    {"method": "activation"}, {"run_b": "c"}, {"split": "500/1000"}])
def test_every_field_of_the_measurement_tells_curves_apart(change):
    assert curve_identity(curve(), WEIGHT) != curve_identity(curve(**change), WEIGHT)


@pytest.mark.parametrize("alignment, change", [(WEIGHT, {"seed": 1}), (WEIGHT, {"restarts": 1}),
                                               (STE, {"restarts": 4}), (STE, {"ste": {**STE["ste"], "lr": 0.01}})])
def test_every_matching_setting_tells_curves_apart(alignment, change):
    method = alignment["method"]
    assert curve_identity(curve(method), alignment) != curve_identity(curve(method), {**alignment, **change})
    assert alignment_identity(alignment) != alignment_identity({**alignment, **change})


def test_the_same_measurement_from_a_request_and_from_its_document():
    stored = curve_identity(curve("ste", extra_field="ignored", created="t"), {**STE, "id": "other", "seconds": 3})
    asked = interp_identity("a", "b", "ste", 25, "moons", True, False, matching_settings("ste", STE))
    assert stored == asked


def test_a_curve_whose_alignment_is_gone_is_only_the_same_as_itself():
    assert curve_identity(curve(alignment="al1")) != curve_identity(curve(alignment="al9"))
    assert curve_identity(curve(alignment="al1")) == curve_identity(curve(alignment="al1"))


def test_older_documents_without_restarts_made_one():
    old = {k: v for k, v in WEIGHT.items() if k != "restarts"}
    assert alignment_identity(old) == alignment_identity({**WEIGHT, "restarts": 1})


def test_averages_are_the_same_whatever_the_order_of_their_runs():
    doc = {"method": "weight", "runs": ["a", "b", "c"], "reference": "a", "restarts": 8}
    assert average_identity(doc) == average_identity({**doc, "runs": ["c", "a", "b"]})
    assert average_identity(doc) != average_identity({**doc, "reference": "b"})
    assert average_identity(doc) != average_identity({**doc, "repair": True})
    naive = {**doc, "method": "naive"}
    assert average_identity(naive) == average_identity({**naive, "reference": "b"})


def test_newest_per_identity_against_a_brute_force():
    rng = random.Random(0)
    docs = [{"id": str(i), "key": rng.randrange(5), "created": f"2026-01-{rng.randrange(1, 29):02d}"}
            for i in range(60)]
    kept, dropped = newest_per_identity(docs, lambda d: d["key"])
    groups = {k: list(g) for k, g in itertools.groupby(sorted(docs, key=lambda d: d["key"]), lambda d: d["key"])}
    assert len(kept) == len(groups) and dropped == len(docs) - len(groups)
    for doc in kept:
        assert doc["created"] == max(d["created"] for d in groups[doc["key"]])
    assert [docs.index(d) for d in kept] == sorted(docs.index(d) for d in kept), "kept in the order given"
    ties = [{"id": "x", "created": "t"}, {"id": "y", "created": "t"}]
    assert newest_per_identity(ties, lambda d: 0) == ([ties[1]], 1), "a tie goes to the later document"
