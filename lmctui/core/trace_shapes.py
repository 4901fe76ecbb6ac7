"""Rules for operations that move, reshape, reduce or join axes, and attention's products.

Part of the rule table in trace_rules.py; see there for what a rule is.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import fx

from lmctui.core.channel_slots import Layout, Segment

Tracer = "lmctui.core.tracing.Tracer"  # the walk's state; rules call its methods (no import: no cycle)


def shape_of(node) -> tuple[int, ...] | None:
    value = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def arg_of(node: fx.Node, index: int, name: str, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def axis_of(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def op_name(node: fx.Node) -> str:
    """`linear` for aten.linear.default, `getitem` for operator.getitem."""
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    return packet.__name__ if packet is not None else getattr(target, "__name__", str(target))


# -- shapes and axes --------------------------------------------------------------------------

def reshape(t: Tracer, node: fx.Node):
    """view/reshape/flatten/unflatten/squeeze/unsqueeze: follow the channel axis by its sizes."""
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    src, dst = shape_of(node.args[0]), shape_of(node)
    if not layout.plain:
        return _merge_heads(t, node, layout, src, dst)
    a = layout.axis
    outer, width = math.prod(src[:a]), src[a]
    for b in range(len(dst)):
        if math.prod(dst[:b]) != outer:
            continue
        if dst[b] == width:
            return layout.at(b)
        if b + 1 < len(dst) and 1 < dst[b] < width and dst[b] * dst[b + 1] == width and layout.simple:
            t.slots.constrain(layout.simple.slot, dst[b])  # split into heads: (heads, per head)
            return Layout(b + 1, layout.segments, heads=b)
        if dst[b] % width == 0 and _merges(src[a + 1:], dst[b] // width):
            return layout.at(b).repeated(dst[b] // width)  # a channel becomes a block of features
        single = layout.segments[0] if len(layout.segments) == 1 else None
        if single and single.repeat > 1 and dst[b] == single.size and _merges(dst[b + 1:], single.repeat):
            return Layout(b, (Segment(single.slot, single.size),))  # un-flattened again
    t.slots.pin_layout(layout, f"{op_name(node)} to {list(dst)} splits or mixes their axis")
    return None


def _merge_heads(t: Tracer, node: fx.Node, layout: Layout, src, dst) -> Layout | None:
    """The heads put side by side again ((B, T, H, D/H) -> (B, T, D)), or a reshape keeping them."""
    for b in range(len(dst)):
        if math.prod(dst[:b]) != math.prod(src[:min(layout.heads, layout.axis or 0)]):
            continue
        if layout.axis == layout.heads + 1 and dst[b] == src[layout.heads] * src[layout.axis]:
            return Layout(b, layout.segments)
    if len(src) == len(dst) and all(x == y for x, y in zip(src, dst)):
        return layout
    t.slots.pin_layout(layout, f"{op_name(node)} to {list(dst)} mixes attention heads")
    return None


def _merges(following: tuple[int, ...], factor: int) -> bool:
    product = 1
    for size in following:
        if product == factor:
            return True
        product *= size
    return product == factor


def permute(t: Tracer, node: fx.Node):
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    ndim = len(shape_of(node))
    if op_name(node) == "permute":
        order = [axis_of(d, ndim) for d in node.args[1]]
    elif op_name(node) == "t":
        order = [1, 0][:ndim]
    else:
        i, j = axis_of(node.args[1], ndim), axis_of(node.args[2], ndim)
        order = list(range(ndim))
        order[i], order[j] = order[j], order[i]
    moved = layout.at(None if layout.axis is None else order.index(layout.axis))
    return moved if layout.heads is None else replace(moved, heads=order.index(layout.heads))


def reduction(t: Tracer, node: fx.Node):
    """mean/sum/amax over axes: over the units' axis it forgets them (invariant), else shifts."""
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    ndim = len(shape_of(node.args[0]))
    dims = arg_of(node, 1, "dim")
    dims = list(range(ndim)) if dims is None or dims == [] else [dims] if isinstance(dims, int) else dims
    dims = [axis_of(d, ndim) for d in dims]
    keepdim = len(shape_of(node)) == ndim
    if layout.axis in dims:
        return None
    return layout.at(layout.axis - (0 if keepdim else sum(d < layout.axis for d in dims)))


def select(t: Tracer, node: fx.Node):
    """select/slice: along another axis the units stay; along theirs, a part of them is lost."""
    layout = t.layout(node.args[0])
    dim = axis_of(node.args[1], len(shape_of(node.args[0])))
    if layout is None:
        if t.source(node.args[0]) is not None:  # part of a weight (pos_embed[:, :T])
            whole = shape_of(node) == shape_of(node.args[0])
            axes = [None if a == dim and not whole else a for a in range(len(shape_of(node.args[0])))]
            t.derive(node, node.args[0], tuple(a for i, a in enumerate(axes) if i != dim or op_name(node) != "select"))
        return None
    if dim == layout.axis:
        if shape_of(node) == shape_of(node.args[0]):  # a full slice
            return layout
        t.slots.pin_layout(layout, f"{op_name(node)} of part of their units")
        return None
    removed = op_name(node) == "select" and dim < layout.axis
    return layout.at(layout.axis - removed)


def expand(t: Tracer, node: fx.Node):
    layout = t.layout(node.args[0])
    src, dst = shape_of(node.args[0]), shape_of(node)
    if layout is None:
        if t.source(node.args[0]) is not None:  # a weight broadcast (a class token for the batch)
            lead = len(dst) - len(src)
            t.derive(node, node.args[0], tuple(None if i < lead or src[i - lead] != dst[i] else i - lead
                                               for i in range(len(dst))))
        return None
    axis = layout.axis + len(dst) - len(src)
    if dst[axis] != src[layout.axis]:
        t.slots.pin_layout(layout, "expanded along their axis")
        return None
    return layout.at(axis)


def cat(t: Tracer, node: fx.Node):
    """Along the units' axis each part keeps its own; along another, the parts share them."""
    parts = list(node.args[0])
    ndim = len(shape_of(node))
    dim = axis_of(arg_of(node, 1, "dim", 0), ndim)
    layouts = [t.layout(p) for p in parts]
    if all(lay is None for lay in layouts):
        return None
    if all(lay is None or lay.axis == dim for lay in layouts):
        segments = []
        for part, lay in zip(parts, layouts):  # weights among the parts stay still (Tracer.walk)
            segments += lay.segments if lay is not None else [Segment(None, shape_of(part)[dim])]
        return Layout(dim, tuple(segments))
    laid = [lay for lay in layouts if lay is not None]
    joined = t.unify(laid, "concatenated with a tensor permuted differently")
    for part, lay in zip(parts, layouts):
        if lay is not None:
            continue
        if joined is not None and joined.plain and t.source(part) is not None:
            t.assign_source(part, joined.axis, joined)  # a learned token (a class token) follows the units
        else:
            t.slots.pin_layout(joined, "concatenated with a tensor whose units are not permuted")
            return None
    return joined


def getitem(t: Tracer, node: fx.Node):
    value = t.layouts.get(node.args[0])
    if isinstance(value, tuple):
        return value[node.args[1]]
    return t.unknown(node)


def spatial(t: Tracer, node: fx.Node):
    """Pooling: per channel over the trailing spatial axes; outputs (and indices) keep units."""
    layout = t.layout(node.args[0])
    name = op_name(node)
    dims = int(name.split("pool")[1][0]) if name.split("pool")[1][:1].isdigit() else 2
    if layout is not None and layout.axis >= len(shape_of(node.args[0])) - dims:
        t.slots.pin_layout(layout, f"{name} over their axis")
        layout = None
    value = node.meta.get("val")
    return (layout, layout) if isinstance(value, (tuple, list)) else layout


def matmul(t: Tracer, node: fx.Node):
    """a @ b: summing over shared units leaves only their heads; over positions, b's units stay.

    Attention's scores (q @ k^T) need the queries and keys under one permutation; its
    output (softmax(scores) @ v) needs the scores' heads and v's heads moved by one map.
    """
    a, b = node.args[0], node.args[1]
    la, lb = t.layout(a), t.layout(b)
    if shape_of(a) is None or shape_of(b) is None or len(shape_of(a)) != len(shape_of(b)) or len(shape_of(a)) < 2:
        return t.unknown(node)
    last = len(shape_of(a)) - 1
    if la is not None and lb is not None and la.axis == last and lb.axis == last - 1 and la.heads == lb.heads:
        joined = t.unify([la, lb.at(last)], "multiplied with units permuted differently")
        return None if joined is None or joined.heads is None else replace(joined, axis=None)
    if la is not None and lb is not None and la.axis is None and lb.axis == last and la.heads == lb.heads:
        t.slots.ties.append((la.segments[0].slot, lb.segments[0].slot))
        return lb
    if la is None and t.param(a) is None and lb is not None and lb.axis == last and lb.heads is None:
        return lb  # an unpermuted matrix mixing positions
    return t.unknown(node, "a matrix product over their units")


def attention(t: Tracer, node: fx.Node):
    """scaled_dot_product_attention(q, k, v): q and k share units, v's heads follow their heads."""
    q, k, v = (t.layout(node.args[i]) for i in range(3))
    last = len(shape_of(node)) - 1
    mask = arg_of(node, 3, "attn_mask")
    if q is None or k is None or v is None or {q.axis, k.axis, v.axis} != {last} \
            or q.heads != v.heads or t.layout(mask) is not None:
        return t.unknown(node, "attention over units it cannot follow")
    joined = t.unify([q, k], "used as queries and keys with different permutations")
    if joined is None:
        t.slots.pin_layout(v, "attention whose queries and keys are pinned")
        return None
    if v.heads is not None:
        t.slots.ties.append((q.segments[0].slot, v.segments[0].slot))
    return v
