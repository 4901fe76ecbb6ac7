"""How channels flow through each operation of an exported graph: one small rule per op.

A rule takes the tracer and a node and returns the layout of the node's output (None: no
permuted units in it; a tuple for operations with several outputs). It may create
slots, join them, tie weight axes to them, or pin them. `RULES` is the list of what is
supported; every other operation goes to `Tracer.unknown`, which pins what it touches.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import torch
from torch import fx

from lmctui.core.channel_slots import Layout, Segment

Tracer = "lmctui.core.tracing.Tracer"  # the walk's state; rules call its methods (no import: no cycle)


def _shape(node) -> tuple[int, ...] | None:
    value = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _arg(node: fx.Node, index: int, name: str, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _axis(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


# -- weights: where units are born ----------------------------------------------------------

def _dense(t: Tracer, node: fx.Node, x, weight, bias, channel_axis: int, out_axis: int) -> Layout | None:
    """y = W x + b over `channel_axis` of x: W's axis 1 reads x's units, axis 0 makes new ones."""
    key = t.param(weight)
    if key is None or (bias is not None and t.param(bias) is None):
        return t.unknown(node, f"{op_name(node)} with a computed weight")
    layout = t.layout(x)
    if layout is not None and layout.axis != channel_axis:
        t.slots.pin_layout(layout, f"{key} mixes another axis than theirs")
        layout = None
    t.assign(key, 1, layout)
    out = t.new_layout(out_axis, _shape(weight)[0], key.rsplit(".", 1)[0])
    t.assign(key, 0, out)
    if bias is not None:
        t.assign(t.param(bias), 0, out)
    for extra in range(2, len(_shape(weight))):  # kernel axes
        t.assign(key, extra, None)
    t.producers.append((node, key.rsplit(".", 1)[0]))
    return out


def linear(t: Tracer, node: fx.Node):
    last = len(_shape(node)) - 1
    return _dense(t, node, node.args[0], node.args[1], _arg(node, 2, "bias"), len(_shape(node.args[0])) - 1, last)


def convolution(t: Tracer, node: fx.Node):
    """conv1d/conv2d with groups=1; grouped convolutions pin (depthwise ones keep their units)."""
    x, weight = node.args[0], node.args[1]
    kernel_dims = len(_shape(weight)) - 2
    channel_axis = len(_shape(x)) - kernel_dims - 1
    groups = _arg(node, 6, "groups", 1)
    if groups == 1:
        return _dense(t, node, x, weight, _arg(node, 2, "bias"), channel_axis, channel_axis)
    layout, key = t.layout(x), t.param(weight)
    if layout is not None and layout.simple and groups == layout.width == _shape(weight)[0] and key:
        t.assign(key, 0, layout)  # depthwise: each channel its own filter, carried along
        t.assign(key, 1, None)
        for extra in range(2, kernel_dims + 2):
            t.assign(key, extra, None)
        bias = _arg(node, 2, "bias")
        if bias is not None and t.param(bias):
            t.assign(t.param(bias), 0, layout)
        return layout
    return t.unknown(node, f"a convolution with groups={groups}")


def embedding(t: Tracer, node: fx.Node):
    weight = node.args[0]
    key = t.param(weight)
    if key is None:
        return t.unknown(node)
    t.slots.pin_layout(t.layout(node.args[1]), "used as embedding indices")
    t.assign(key, 0, None)  # the vocabulary: indexed by the input
    out = t.new_layout(len(_shape(node)) - 1, _shape(weight)[1], key.rsplit(".", 1)[0])
    t.assign(key, 1, out)
    return out


# -- normalizations: carry units, tie their affine parameters to them ------------------------

def _affine(t: Tracer, node: fx.Node, layout: Layout | None, params: list, param_axis_of: int | None):
    """Per-channel parameters follow the units when the layout lies on the channel axis."""
    carried = layout if layout is not None and layout.axis == param_axis_of else None
    for param in params:
        if param is None:
            continue
        key = t.param(param)
        if key is None:
            t.slots.pin_layout(layout, f"{op_name(node)} with computed parameters")
            return None
        t.assign(key, 0, carried)
    named = [t.param(p) for p in params if p is not None]
    if carried is not None and named:
        t.producers.append((node, named[0].rsplit(".", 1)[0]))
    return layout


def batch_norm(t: Tracer, node: fx.Node):
    layout = t.layout(node.args[0])
    params = [node.args[1], node.args[2], node.args[3], node.args[4]]
    out = _affine(t, node, layout, params, 1)
    if op_name(node).startswith("_native"):  # (output, saved mean, saved invstd)
        return (out, None, None)
    return out


def group_norm(t: Tracer, node: fx.Node):
    layout, groups = t.layout(node.args[0]), node.args[1]
    if layout is not None and layout.axis == 1 and groups > 1:
        if layout.simple is None:
            t.slots.pin_layout(layout, f"GroupNorm({groups}) over concatenated or flattened channels")
            layout = None
        else:
            t.slots.constrain(layout.simple.slot, groups)
    return _affine(t, node, layout, [_arg(node, 2, "weight"), _arg(node, 3, "bias")], 1)


def layer_norm(t: Tracer, node: fx.Node):
    x, normalized = node.args[0], node.args[1]
    ndim, layout = len(_shape(x)), t.layout(node.args[0])
    first = ndim - len(normalized)  # statistics over the trailing axes: permutation-invariant
    params = [_arg(node, 2, "weight"), _arg(node, 3, "bias")]
    if len(normalized) > 1 and any(p is not None for p in params):
        return t.unknown(node, "a LayerNorm over several axes with parameters")
    return _affine(t, node, layout, params, first if len(normalized) == 1 else None)


# -- element-wise: every tensor argument carries the same units ------------------------------

def elementwise(t: Tracer, node: fx.Node):
    out_shape = _shape(node)
    if out_shape is None:
        return t.unknown(node)
    ndim = len(out_shape)
    tensors = [a for a in node.all_input_nodes if _shape(a) is not None]
    laid = [(a, t.layout(a)) for a in tensors if t.layout(a) is not None]
    if not laid:
        for a in tensors:
            if t.param(a) is not None:
                t.fix(t.param(a), f"{t.param(a)} meets unpermuted tensors")
        return None
    aligned = [lay.shifted(ndim - len(_shape(a))) for a, lay in laid]
    layout = t.unify(aligned, f"{op_name(node)} of tensors whose units cannot be matched")
    if layout is None:
        return None
    for a in tensors:
        if t.layout(a) is not None:
            continue
        shape, lead = _shape(a), ndim - len(_shape(a))
        moved = [axis - lead for axis in (layout.axis, layout.heads) if axis is not None]
        if all(axis < 0 or shape[axis] == 1 for axis in moved):  # the same for every unit (a scalar)
            if t.param(a) is not None:
                t.fix(t.param(a), f"{t.param(a)} is shared by all their units")
            continue
        if t.param(a) is not None and layout.plain:  # a learned per-unit tensor (a position embedding)
            key, axis = t.param(a), layout.axis - lead
            for i in range(len(shape)):
                t.assign(key, i, layout.at(i) if i == axis else None)
        else:
            t.slots.pin_layout(layout, f"{op_name(node)} with an unpermuted tensor")
            return None
    return layout


# -- shapes and axes --------------------------------------------------------------------------

def reshape(t: Tracer, node: fx.Node):
    """view/reshape/flatten/unflatten/squeeze/unsqueeze: follow the channel axis by its sizes."""
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    src, dst = _shape(node.args[0]), _shape(node)
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
    ndim = len(_shape(node))
    if op_name(node) == "permute":
        order = [_axis(d, ndim) for d in node.args[1]]
    elif op_name(node) == "t":
        order = [1, 0][:ndim]
    else:
        i, j = _axis(node.args[1], ndim), _axis(node.args[2], ndim)
        order = list(range(ndim))
        order[i], order[j] = order[j], order[i]
    moved = layout.at(None if layout.axis is None else order.index(layout.axis))
    return moved if layout.heads is None else replace(moved, heads=order.index(layout.heads))


def reduction(t: Tracer, node: fx.Node):
    """mean/sum/amax over axes: over the units' axis it forgets them (invariant), else shifts."""
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    ndim = len(_shape(node.args[0]))
    dims = _arg(node, 1, "dim")
    dims = list(range(ndim)) if dims is None or dims == [] else [dims] if isinstance(dims, int) else dims
    dims = [_axis(d, ndim) for d in dims]
    keepdim = len(_shape(node)) == ndim
    if layout.axis in dims:
        return None
    return layout.at(layout.axis - (0 if keepdim else sum(d < layout.axis for d in dims)))


def select(t: Tracer, node: fx.Node):
    """select/slice: along another axis the units stay; along theirs, a part of them is lost."""
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    dim = _axis(node.args[1], len(_shape(node.args[0])))
    if dim == layout.axis:
        if _shape(node) == _shape(node.args[0]):  # a full slice
            return layout
        t.slots.pin_layout(layout, f"{op_name(node)} of part of their units")
        return None
    removed = op_name(node) == "select" and dim < layout.axis
    return layout.at(layout.axis - removed)


def expand(t: Tracer, node: fx.Node):
    layout = t.layout(node.args[0])
    if layout is None:
        return None
    src, dst = _shape(node.args[0]), _shape(node)
    axis = layout.axis + len(dst) - len(src)
    if dst[axis] != src[layout.axis]:
        t.slots.pin_layout(layout, "expanded along their axis")
        return None
    return layout.at(axis)


def cat(t: Tracer, node: fx.Node):
    """Along the units' axis each part keeps its own; along another, the parts share them."""
    parts = list(node.args[0])
    ndim = len(_shape(node))
    dim = _axis(_arg(node, 1, "dim", 0), ndim)
    layouts = [t.layout(p) for p in parts]
    if all(lay is None for lay in layouts):
        return t.unknown(node, "concatenated with learned tensors") if any(t.param(p) for p in parts) else None
    if all(lay is None or lay.axis == dim for lay in layouts):
        segments = []
        for part, lay in zip(parts, layouts):
            segments += lay.segments if lay is not None else [Segment(None, _shape(part)[dim])]
            if lay is None and t.param(part) is not None:
                t.fix(t.param(part), "concatenated along permuted units")
        return Layout(dim, tuple(segments))
    if any(lay is None for lay in layouts):
        return t.unknown(node, "concatenated with a tensor whose units are not permuted")
    return t.unify(layouts, "concatenated with a tensor permuted differently")


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
    if layout is not None and layout.axis >= len(_shape(node.args[0])) - dims:
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
    if _shape(a) is None or _shape(b) is None or len(_shape(a)) != len(_shape(b)) or len(_shape(a)) < 2:
        return t.unknown(node)
    last = len(_shape(a)) - 1
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
    last = len(_shape(node)) - 1
    mask = _arg(node, 3, "attn_mask")
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


def ignore(t: Tracer, node: fx.Node):
    """Shape queries and assertions: they read no values."""
    return None


ELEMENTWISE = ("relu", "relu_", "gelu", "silu", "sigmoid", "tanh", "hardtanh", "hardtanh_", "leaky_relu",
               "elu", "softplus", "hardswish", "hardsigmoid", "mish", "relu6", "dropout", "feature_dropout",
               "alpha_dropout", "clone", "contiguous", "detach", "alias", "_to_copy", "to", "neg", "abs", "exp",
               "log", "sqrt", "rsqrt", "square", "pow", "clamp", "clamp_min", "clamp_max", "add", "add_", "sub",
               "sub_", "mul", "mul_", "div", "div_", "maximum", "minimum", "where", "softmax", "log_softmax",
               "_softmax", "_log_softmax", "lift_fresh_copy", "masked_fill", "masked_fill_")
RULES: dict[str, Callable] = {
    "linear": linear, "conv1d": convolution, "conv2d": convolution, "embedding": embedding,
    "batch_norm": batch_norm, "_native_batch_norm_legit_no_training": batch_norm,
    "group_norm": group_norm, "layer_norm": layer_norm,
    **{name: elementwise for name in ELEMENTWISE},
    **{name: reshape for name in ("view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze",
                                  "unsqueeze")},
    "permute": permute, "transpose": permute, "t": permute,
    **{name: reduction for name in ("mean", "sum", "amax", "amin", "logsumexp", "var", "std")},
    "select": select, "slice": select, "expand": expand, "cat": cat, "getitem": getitem,
    "matmul": matmul, "scaled_dot_product_attention": attention,
    **{name: spatial for name in ("max_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool1d",
                                  "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                                  "adaptive_max_pool1d", "adaptive_max_pool2d")},
    **{name: ignore for name in ("sym_size", "sym_numel", "sym_stride", "_assert_tensor_metadata",
                                 "_assert_scalar", "sym_constrain_range_for_size")},
}

# The rules that understand units split into attention heads (Layout.heads).
HEAD_AWARE = frozenset({*ELEMENTWISE, "view", "reshape", "_unsafe_view", "permute", "transpose", "matmul",
                        "scaled_dot_product_attention"})


def rule_for(node: fx.Node, heads: bool = False) -> Callable | None:
    """The rule for the node's operation; None sends it to the default rule, which pins.

    Tensors split into attention heads go only to the rules that know heads.
    """
    name = op_name(node)
    return RULES.get(name) if not heads or name in HEAD_AWARE else None


def op_name(node: fx.Node) -> str:
    """`linear` for aten.linear.default, `getitem` for operator.getitem."""
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    return packet.__name__ if packet is not None else getattr(target, "__name__", str(target))
