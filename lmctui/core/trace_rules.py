"""How channels flow through each operation of an exported graph: one small rule per op.

A rule takes the tracer and a node and returns the layout of the node's output (None: no
permuted units in it; a tuple for operations with several outputs). It may create
slots, join them, tie weight axes to them, or pin them. `RULES` is the list of what is
supported; every other operation goes to `Tracer.unknown`, which pins what it touches.
"""

from __future__ import annotations

from typing import Callable

from torch import fx

from lmctui.core.channel_slots import Layout
from lmctui.core.trace_shapes import (arg_of, shape_of, attention, cat, expand, getitem, matmul, op_name, permute,
                                      reduction, reshape, select, spatial)

Tracer = "lmctui.core.tracing.Tracer"  # the walk's state; rules call its methods (no import: no cycle)


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
    out = t.new_layout(out_axis, shape_of(weight)[0], key.rsplit(".", 1)[0])
    t.assign(key, 0, out)
    if bias is not None:
        t.assign(t.param(bias), 0, out)
    for extra in range(2, len(shape_of(weight))):  # kernel axes
        t.assign(key, extra, None)
    t.producers.append((node, key.rsplit(".", 1)[0]))
    return out


def linear(t: Tracer, node: fx.Node):
    last = len(shape_of(node)) - 1
    return _dense(t, node, node.args[0], node.args[1], arg_of(node, 2, "bias"), len(shape_of(node.args[0])) - 1, last)


def convolution(t: Tracer, node: fx.Node):
    """conv1d/conv2d with groups=1; grouped convolutions pin (depthwise ones keep their units)."""
    x, weight = node.args[0], node.args[1]
    kernel_dims = len(shape_of(weight)) - 2
    channel_axis = len(shape_of(x)) - kernel_dims - 1
    groups = arg_of(node, 6, "groups", 1)
    if groups == 1:
        return _dense(t, node, x, weight, arg_of(node, 2, "bias"), channel_axis, channel_axis)
    layout, key = t.layout(x), t.param(weight)
    if layout is not None and layout.simple and groups == layout.width == shape_of(weight)[0] and key:
        t.assign(key, 0, layout)  # depthwise: each channel its own filter, carried along
        t.assign(key, 1, None)
        for extra in range(2, kernel_dims + 2):
            t.assign(key, extra, None)
        bias = arg_of(node, 2, "bias")
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
    out = t.new_layout(len(shape_of(node)) - 1, shape_of(weight)[1], key.rsplit(".", 1)[0])
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
    return _affine(t, node, layout, [arg_of(node, 2, "weight"), arg_of(node, 3, "bias")], 1)


def layer_norm(t: Tracer, node: fx.Node):
    x, normalized = node.args[0], node.args[1]
    ndim, layout = len(shape_of(x)), t.layout(node.args[0])
    first = ndim - len(normalized)  # statistics over the trailing axes: permutation-invariant
    params = [arg_of(node, 2, "weight"), arg_of(node, 3, "bias")]
    if len(normalized) > 1 and any(p is not None for p in params):
        return t.unknown(node, "a LayerNorm over several axes with parameters")
    return _affine(t, node, layout, params, first if len(normalized) == 1 else None)


# -- element-wise: every tensor argument carries the same units ------------------------------

def elementwise(t: Tracer, node: fx.Node):
    out_shape = shape_of(node)
    if out_shape is None:
        return t.unknown(node)
    ndim = len(out_shape)
    tensors = [a for a in node.all_input_nodes if shape_of(a) is not None]
    laid = [(a, t.layout(a)) for a in tensors if t.layout(a) is not None]
    if not laid:
        return None  # weights among the arguments stay still (Tracer.walk)
    aligned = [lay.shifted(ndim - len(shape_of(a))) for a, lay in laid]
    layout = t.unify(aligned, f"{op_name(node)} of tensors whose units cannot be matched")
    if layout is None:
        return None
    for a in tensors:
        if t.layout(a) is not None:
            continue
        shape, lead = shape_of(a), ndim - len(shape_of(a))
        moved = [axis - lead for axis in (layout.axis, layout.heads) if axis is not None]
        if all(axis < 0 or shape[axis] == 1 for axis in moved):  # the same for every unit (a scalar)
            continue
        if t.source(a) is not None and layout.plain:  # a learned per-unit tensor (a position embedding)
            t.assign_source(a, layout.axis - lead, layout)
        else:
            t.slots.pin_layout(layout, f"{op_name(node)} with an unpermuted tensor")
            return None
    return layout


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
    if name not in RULES and name.endswith("_") and name[:-1] in ELEMENTWISE:
        name = name[:-1]  # the in-place form (silu_, hardswish_): the graph is still in SSA form
    return RULES.get(name) if not heads or name in HEAD_AWARE else None
