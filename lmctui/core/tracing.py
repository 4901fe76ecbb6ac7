"""Permutation specs traced from a model's graph: any `nn.Module`, no hand-written spec.

`trace_spec(model, example)` exports the model with `torch.export` (an ATen graph with
every parameter and buffer named), walks the graph once in order, and lets one rule per
operation (trace_rules.py) say how channels flow through it: where units are created
(a Linear's outputs), where they must share a permutation (a residual addition), where
they are only carried (an activation, a pooling) and where they are lost to view. An
operation without a rule pins the units it touches: a traced spec may be conservative,
never wrong, and `pinned` records what was pinned and why. `spec_check.verify_spec`
checks any spec against the model itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from lmctui.core.channel_slots import Layout, Segment, Slots
from lmctui.core.permutation import ActivationPoint, BlockGroup, Joined, PermutationSpec
from lmctui.core.trace_rules import op_name, rule_for
from lmctui.errors import UserError

UNSET = object()  # a weight axis no operation has spoken for yet
# Modules whose forward output is the one operation their weight takes part in: their
# output is where activation matching and REPAIR can observe the units.
OBSERVABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


class UntraceableModel(UserError):
    """torch.export cannot trace the model (data-dependent control flow, unsupported Python)."""


@dataclass(frozen=True)
class TracedSpec:
    spec: PermutationSpec
    pinned: dict[str, str]  # the units left unpermuted (named by the weight that makes them) -> why
    hidden_units: int  # units of every slot except the model's outputs
    permutable_units: int

    @property
    def permutable_share(self) -> float:
        """The share of hidden units the spec permutes (1.0 for a model without hidden units)."""
        return self.permutable_units / self.hidden_units if self.hidden_units else 1.0


def trace_spec(model: nn.Module, example: torch.Tensor) -> TracedSpec:
    """The permutation spec of `model`, traced on `example` (a batch of its inputs)."""
    program = export_program(model, example)
    tracer = Tracer(program, model)
    tracer.walk()
    return tracer.emit()


def export_program(model: nn.Module, example: torch.Tensor):
    """The model's exported program, in eval mode (dropout off, BatchNorm on running statistics)."""
    was_training = model.training
    model.eval()
    try:
        return torch.export.export(model, (example,))
    except Exception as error:  # torch.export raises many types; each means "cannot trace"
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UntraceableModel(f"cannot trace {type(model).__name__} with torch.export: {first[:200]}") from None
    finally:
        model.train(was_training)


class Tracer:
    """The state of one walk: each node's layout, the slots, what each weight axis carries."""

    def __init__(self, program, model: nn.Module):
        self.graph: fx.Graph = program.graph
        self.model = model
        signature = program.graph_signature
        state = model.state_dict(keep_vars=True)
        self.state_keys = list(state)
        names = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
        self.keys = {node: names[node.name] for node in self.graph.nodes
                     if node.op == "placeholder" and names.get(node.name) in state}
        self.aliases = {key: [k for k in state if state[k] is state[key] and k != key] for key in state}
        self.buffers = frozenset(signature.inputs_to_buffers.values()) & set(state)
        self.layouts: dict[fx.Node, object] = {}
        self.slots = Slots()
        self.weight_axes: dict[str, list] = {k: [UNSET] * state[k].dim() for k in state}
        self.producers: list[tuple[fx.Node, str]] = []  # (node, module) where units can be observed
        # Nodes holding a weight's values: node -> (key, the weight's axis behind each of the
        # node's axes, None for an axis that is not one of them whole: broadcast, sliced).
        self.sources: dict[fx.Node, tuple[str, tuple[int | None, ...]]] = {
            node: (key, tuple(range(len(node.meta["val"].shape)))) for node, key in self.keys.items()}
        self.claimed: set[str] = set()  # weights the current node's rule spoke for

    # -- what rules use ---------------------------------------------------------------------

    def layout(self, arg) -> Layout | None:
        value = self.layouts.get(arg) if isinstance(arg, fx.Node) else None
        return value if isinstance(value, Layout) else None

    def param(self, arg) -> str | None:
        """The state-dict key of a weight or buffer argument, None for anything else."""
        return self.keys.get(arg) if isinstance(arg, fx.Node) else None

    def source(self, arg) -> tuple[str, tuple[int | None, ...]] | None:
        """(key, weight axis per axis) when `arg` holds a weight's values (itself, expanded, sliced)."""
        return self.sources.get(arg) if isinstance(arg, fx.Node) else None

    def derive(self, node: fx.Node, arg, axes: tuple[int | None, ...]) -> None:
        """`node` holds the values of the weight behind `arg`, its axes being `axes` of that weight."""
        key, inner = self.sources[arg]
        self.sources[node] = (key, tuple(inner[a] if a is not None else None for a in axes))
        self.claimed.add(key)

    def assign_source(self, arg, axis: int, layout: Layout | None) -> None:
        """The weight behind `arg` carries `layout` on the weight axis behind `arg`'s `axis`."""
        key, axes = self.sources[arg]
        if layout is not None and axes[axis] is None:
            self.slots.pin_layout(layout, f"meet part of {key}")
            layout = None
        for weight_axis in range(len(self.weight_axes[key])):
            self.assign(key, weight_axis, layout if weight_axis == axes[axis] and layout is not None else None)

    def new_layout(self, axis: int, size: int, origin: str) -> Layout:
        return Layout(axis, (Segment(self.slots.new(size, origin), size),))

    def assign(self, key: str, axis: int, layout: Layout | None) -> None:
        """Weight `key`'s axis carries `layout`'s units (None: units that are not permuted)."""
        self.claimed.add(key)
        entries, current = self.weight_axes[key], self.weight_axes[key][axis]
        new = layout.segments if layout is not None else None
        if current is UNSET:
            entries[axis] = new
        elif current is None or new is None or not _same_structure(current, new):
            self._pin_segments(current, f"{key} is used where its axis {axis} is not permuted the same way")
            self._pin_segments(new, f"{key} is used where its axis {axis} is not permuted the same way")
            entries[axis] = None
        else:
            for a, b in zip(current, new):
                self.slots.union(a.slot, b.slot)

    def fix(self, key: str, reason: str) -> None:
        """Nothing may permute any axis of `key`."""
        self.claimed.add(key)
        for axis in range(len(self.weight_axes[key])):
            current = self.weight_axes[key][axis]
            if current not in (UNSET, None):
                self._pin_segments(current, reason)
            self.weight_axes[key][axis] = None

    def unify(self, layouts: list[Layout], reason: str) -> Layout | None:
        """One layout for tensors that must carry the same permutation (added, concatenated)."""
        first = layouts[0]
        if all(lay.axis == first.axis and lay.heads == first.heads and _same_structure(lay.segments, first.segments)
               for lay in layouts):
            for other in layouts[1:]:
                for a, b in zip(first.segments, other.segments):
                    if a.slot is None or b.slot is None:
                        self._pin_segments((a, b), reason)
                    else:
                        self.slots.union(a.slot, b.slot)
            return first
        for lay in layouts:
            self.slots.pin_layout(lay, reason)
        return None

    def unknown(self, node: fx.Node, reason: str | None = None) -> None:
        """The default rule: pin every unit the node touches, fix every weight it reads."""
        reason = reason or f"{op_name(node)} (no rule for it)"
        for arg in node.all_input_nodes:
            self.slots.pin_layout(self.layout(arg), reason)
            value = self.layouts.get(arg)
            if isinstance(value, tuple):
                for item in value:
                    self.slots.pin_layout(item if isinstance(item, Layout) else None, reason)
            if self.source(arg) is not None:
                self.fix(self.source(arg)[0], reason)
        return None

    def _pin_segments(self, segments, reason: str) -> None:
        for segment in segments or ():
            if segment.slot is not None:
                self.slots.pin(segment.slot, reason)

    # -- the walk ---------------------------------------------------------------------------

    def walk(self) -> None:
        for node in self.graph.nodes:
            if node.op == "placeholder":
                self.layouts[node] = None
            elif node.op == "call_function":
                rule = rule_for(node, any(not lay.plain for a in node.all_input_nodes
                                          for lay in _flat_layouts(self.layouts.get(a))))
                self.claimed = set()
                self.layouts[node] = rule(self, node) if rule is not None else self.unknown(node)
                for arg in node.all_input_nodes:  # a weight the rule did not speak for stays still
                    if self.source(arg) is not None and self.source(arg)[0] not in self.claimed:
                        self.fix(self.source(arg)[0], f"{self.source(arg)[0]} is read by {op_name(node)}")
            elif node.op == "output":
                for arg in node.all_input_nodes:
                    if self.source(arg) is not None:
                        self.fix(self.source(arg)[0], "returned as an output")
                    for lay in _flat_layouts(self.layouts.get(arg)):
                        for segment in lay.segments:
                            if segment.slot is not None:
                                self.slots.pin(segment.slot, "the model's output")
                                self.slots.outputs.add(self.slots.find(segment.slot))
            else:
                self.layouts[node] = self.unknown(node)

    # -- the result -------------------------------------------------------------------------

    def emit(self) -> TracedSpec:
        self.slots.block_groups()  # pins tied heads that disagree, before names are given
        names = self._perm_names()
        axes = {}
        for key in self.state_keys:
            axes[key] = tuple(self._entry(segments, names) for segments in self.weight_axes[key])
        for key, aliases in self.aliases.items():
            for alias in aliases:
                axes[alias] = axes[key] if any(axes[key]) else axes[alias]
        blocks = {f"B_{names[roots[0]][2:]}": BlockGroup(tuple(names[r] for r in roots), n)
                  for roots, n in self.slots.block_groups()}
        spec = PermutationSpec(axes, self._activations(names), self.buffers, blocks)
        return self._summary(spec, names)

    def _entry(self, segments, names: dict[int, str]):
        """A weight axis's entry in the spec: a permutation name, a `Joined` axis, or None."""
        if segments in (UNSET, None):
            return None
        parts = tuple((names.get(self.slots.find(s.slot)) if s.slot is not None else None, s.size, s.repeat)
                      for s in segments)
        if all(p is None for p, _, _ in parts):
            return None
        return parts[0][0] if len(parts) == 1 and parts[0][2] == 1 else Joined(parts)

    def _perm_names(self) -> dict[int, str]:
        """root -> permutation name, after the weight that creates its units (P_layer1.0.conv1)."""
        names, used = {}, set()
        for root in self.slots.roots():
            if self.slots.pinned(root):
                continue
            name = base = f"P_{self.slots.origin[root]}"
            count = 1
            while name in used:
                count += 1
                name = f"{base}#{count}"
            names[root], _ = name, used.add(name)
        return names

    def _activations(self, names: dict[int, str]) -> dict[str, tuple[ActivationPoint, ...]]:
        """Per permutation, the observable module outputs carrying its units; ReLU'd ones first."""
        calls: dict[str, int] = {}
        for _, module in self.producers:
            calls[module] = calls.get(module, 0) + 1
        modules = dict(self.model.named_modules())
        points: dict[str, list[ActivationPoint]] = {}
        produced = {node for node, _ in self.producers}
        for node, module in self.producers:
            if len(node.users) == 1 and next(iter(node.users)) in produced:
                continue  # a conv straight into its norm: observe the norm's output only
            layout = self.layout(node)
            simple = layout.simple if layout is not None else None
            if simple is None or layout.axis != 1 or calls[module] != 1 \
                    or not isinstance(modules.get(module), OBSERVABLE):
                continue
            name = names.get(self.slots.find(simple.slot))
            if name is not None:
                relu = len(node.users) == 1 and op_name(next(iter(node.users))) in ("relu", "relu_")
                points.setdefault(name, []).append(ActivationPoint(module, relu))
        return {p: tuple(ps if not any(q.relu for q in ps) else [q for q in ps if q.relu])
                for p, ps in points.items()}

    def _summary(self, spec: PermutationSpec, names: dict[int, str]) -> TracedSpec:
        pinned, hidden, permutable = {}, 0, 0
        for root in self.slots.roots():
            if root in self.slots.outputs:
                continue
            size = self.slots.size[root]
            hidden += size
            if root in names:
                permutable += size
            else:
                label = self.slots.origin[root]
                while label in pinned:
                    label += "'"
                pinned[label] = f"{size} units: {self.slots.pins[root]}"
        return TracedSpec(spec, pinned, hidden, permutable)


def _same_structure(a, b) -> bool:
    return len(a) == len(b) and all(x.size == y.size and x.repeat == y.repeat for x, y in zip(a, b))


def _flat_layouts(value) -> list[Layout]:
    if isinstance(value, Layout):
        return [value]
    if isinstance(value, tuple):
        return [v for v in value if isinstance(v, Layout)]
    return []
