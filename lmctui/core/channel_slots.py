"""Channel slots: groups of hidden units that must be permuted together, found by a graph walk.

A slot is born where a weight creates units (a Linear's or a Conv's output axis) and is
merged with another wherever the two must carry one permutation (a residual addition, a
weight used twice). A slot is *pinned*, with the reason, where something the walk cannot
follow touches its units: a pinned slot is left unpermuted, which is always correct.

A tensor's `Layout` says which of its axes carries slots and how: a sequence of
`Segment`s (one after a Linear, several after a concatenation along the channels), each
unit spanning `repeat` consecutive entries (a conv channel flattened into H*W features).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Segment:
    slot: int | None  # None: units no permutation moves (the input, a pinned or constant part)
    size: int  # units
    repeat: int = 1  # consecutive entries per unit along the axis


@dataclass(frozen=True)
class Layout:
    axis: int | None  # None: the units were summed over (attention scores), only `heads` is left
    segments: tuple[Segment, ...]
    # Attention: the axis of the heads when the units axis was split into (heads, per head);
    # the slot then moves in whole heads, by one head map for every tensor of the layer.
    heads: int | None = None

    @property
    def width(self) -> int:
        """The axis length the segments cover."""
        return sum(s.size * s.repeat for s in self.segments)

    def at(self, axis: int) -> "Layout":
        return replace(self, axis=axis)

    def shifted(self, by: int) -> "Layout":
        """The same layout with `by` axes more (or fewer) in front."""
        return replace(self, axis=None if self.axis is None else self.axis + by,
                       heads=None if self.heads is None else self.heads + by)

    @property
    def plain(self) -> bool:
        """One units axis, not split into heads: what most rules understand."""
        return self.heads is None and self.axis is not None

    def repeated(self, factor: int) -> "Layout":
        return replace(self, segments=tuple(replace(s, repeat=s.repeat * factor) for s in self.segments))

    @property
    def simple(self) -> Segment | None:
        """The one segment, when this axis is exactly one slot's units in order."""
        if len(self.segments) == 1 and self.segments[0].repeat == 1 and self.segments[0].slot is not None:
            return self.segments[0]
        return None


class Slots:
    """Union-find over slots, with each class's pin reason and block constraint."""

    def __init__(self):
        self.parent: list[int] = []
        self.size: list[int] = []
        self.origin: list[str] = []  # the weight that created the slot, for names and messages
        self.pins: dict[int, str] = {}  # root -> why its units are not permuted
        self.blocks: dict[int, int] = {}  # root -> number of blocks its units move in (GroupNorm)
        self.outputs: set[int] = set()  # roots that are the model's output units (not hidden units)
        self.ties: list[tuple[int, int]] = []  # slots whose heads move by one head map (attention)

    def new(self, size: int, origin: str) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        self.origin.append(origin)
        return len(self.parent) - 1

    def find(self, slot: int) -> int:
        while self.parent[slot] != slot:
            self.parent[slot] = self.parent[self.parent[slot]]
            slot = self.parent[slot]
        return slot

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] != self.size[rb]:  # cannot share a permutation: keep both still
            self.pin(ra, f"joined with {self.origin[rb]}, which has another size")
            self.pin(rb, f"joined with {self.origin[ra]}, which has another size")
            return
        if rb < ra:
            ra, rb = rb, ra  # the older slot stays the root: names follow graph order
        self.parent[rb] = ra
        if rb in self.pins:
            self.pins.setdefault(ra, self.pins.pop(rb))
        if rb in self.outputs:
            self.outputs.discard(rb)
            self.outputs.add(ra)
        if rb in self.blocks:
            self.constrain(ra, self.blocks.pop(rb))

    def pin(self, slot: int, reason: str) -> None:
        self.pins.setdefault(self.find(slot), reason)

    def pinned(self, slot: int) -> bool:
        return self.find(slot) in self.pins

    def constrain(self, slot: int, n_blocks: int) -> None:
        """The slot's units move only in `n_blocks` whole blocks; two different splits pin it."""
        root = self.find(slot)
        if n_blocks == 1:
            return  # one block: no constraint at all
        if self.blocks.setdefault(root, n_blocks) != n_blocks:
            self.pin(root, f"split into {self.blocks[root]} and into {n_blocks} groups")

    def pin_layout(self, layout: Layout | None, reason: str) -> None:
        for segment in layout.segments if layout else ():
            if segment.slot is not None:
                self.pin(segment.slot, reason)

    def roots(self) -> list[int]:
        return sorted({self.find(s) for s in range(len(self.parent))})

    def block_groups(self) -> list[tuple[tuple[int, ...], int]]:
        """(roots, blocks) for each set of slots moving in whole blocks by one block map.

        Slots tied by attention join one group; tied slots split into different numbers
        of blocks, or tied with a pinned slot, are pinned.
        """
        parent = {root: root for root in self.blocks}

        def find(r):
            while parent[r] != r:
                r = parent[r]
            return r

        for a, b in self.ties:
            ra, rb = self.find(a), self.find(b)
            if ra not in parent or rb not in parent:
                continue  # a slot with no head split cannot be tied: attention pinned it already
            parent[find(rb)] = find(ra)
        members: dict[int, list[int]] = {}
        for root in self.blocks:
            members.setdefault(find(root), []).append(root)
        groups = []
        for roots in members.values():
            counts = {self.blocks[r] for r in roots}
            if len(counts) > 1 or any(r in self.pins for r in roots):
                for r in roots:
                    self.pin(r, "its heads are tied to units split or pinned differently")
            elif len(roots) > 1 or self.blocks[roots[0]] != self.size[roots[0]]:
                groups.append((tuple(sorted(roots)), counts.pop()))
        return groups
