"""Averaging K networks: naive, aligned to a reference, or MergeMany.

MergeMany (Ainsworth et al. 2022, Algorithm 3): repeatedly weight-match each network
to the mean of the others (aligned), until no permutation changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from lmctui.core.calibration import channel_stats, fold_repair, has_batchnorm, mean_stats, recalibrate, repair_modules
from lmctui.core.consistency import best_responses
from lmctui.core.data import Dataset
from lmctui.core.evaluation import evaluate, loss_and_accuracy, predict_logits
from lmctui.core.interpolation import CALIBRATION_SAMPLES
from lmctui.core.matching import activation_matching, weight_matching
from lmctui.core.models import ModelConfig, build_model
from lmctui.core.permutation import apply_permutation, identity_perms
from lmctui.core.specs import spec_for
from lmctui.core.stopping import StopCheck, check_stop
from lmctui.core.weights import StateDict, mean_state


@dataclass
class AverageResult:
    state: StateDict  # the averaged network (BatchNorm statistics re-estimated; REPAIR written in)
    method: str
    rounds: int  # MergeMany rounds, or 1
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float


def load(config: ModelConfig, state: StateDict, device) -> torch.nn.Module:
    model = build_model(config).to(device)
    model.load_state_dict(state)
    return model.eval()


def align_all(config: ModelConfig, states: list[StateDict], method: str, data: Dataset,
              reference: int = 0, seed: int = 0, restarts: int = 1,
              should_stop: StopCheck | None = None) -> tuple[list[StateDict], int]:
    """Every network permuted to match by `method`; returns (aligned states, rounds).

    `restarts`: visiting orders tried by each weight matching to the reference;
    `should_stop` is asked between networks and inside each matching (`Cancelled`).
    """
    spec = spec_for(config)
    if method == "naive":
        return states, 1
    if method == "mergemany":
        return merge_many(config, states, seed, should_stop=should_stop)
    aligned = []
    for i, state in enumerate(states):
        check_stop(should_stop)
        if i == reference:
            aligned.append(state)
            continue
        if method == "weight":
            perms = weight_matching(spec, states[reference], state, seed=seed, restarts=restarts,
                                    should_stop=should_stop).perms
        else:
            device = data.x_train.device
            perms = activation_matching(spec, load(config, states[reference], device), load(config, state, device),
                                        data.x_train[:CALIBRATION_SAMPLES]).perms
        aligned.append(apply_permutation(spec, perms, state))
    return aligned, 1


def merge_many(config: ModelConfig, states: list[StateDict], seed: int = 0, max_rounds: int = 50,
               should_stop: StopCheck | None = None) -> tuple[list[StateDict], int]:
    spec = spec_for(config)
    perms, rounds = best_responses(spec, states, [identity_perms(spec, s) for s in states], seed, max_rounds,
                                   should_stop)
    return [apply_permutation(spec, p, s) for p, s in zip(perms, states)], rounds


def average(config: ModelConfig, states: list[StateDict], method: str, data: Dataset,
            reference: int = 0, seed: int = 0, restarts: int = 1, should_stop: StopCheck | None = None,
            repair: bool = False) -> AverageResult:
    """Align by `method`, average, re-estimate BatchNorm statistics, and evaluate.

    With `repair`, each unit's pre-activation mean and std are then set to the mean of the
    aligned networks' (REPAIR, written into the weights). It assumes aligned units (`method`
    naive on states aligned beforehand); the requests refuse it for a naive average.
    """
    aligned, rounds = align_all(config, states, method, data, reference, seed, restarts, should_stop)
    device, calibration = data.x_train.device, data.x_train[:CALIBRATION_SAMPLES]
    model = load(config, mean_state(aligned), device)
    if has_batchnorm(model):
        recalibrate(model, calibration)
    if repair:
        names = repair_modules(config)
        targets = mean_stats([channel_stats(load(config, s, device), names, calibration) for s in aligned])
        fold_repair(model, names, targets, calibration)
    train_loss, train_acc = evaluate(model, data.x_train, data.y_train)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return AverageResult(state, method, rounds, train_loss, train_acc, test_loss, test_acc)


@torch.no_grad()
def ensemble(config: ModelConfig, states: list[StateDict], x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(loss, accuracy) of the output ensemble: the mean of the networks' softmaxes."""
    probs = torch.stack([F.softmax(predict_logits(load(config, s, x.device), x), dim=1) for s in states]).mean(0)
    return loss_and_accuracy(probs.clamp_min(1e-12).log(), y)
