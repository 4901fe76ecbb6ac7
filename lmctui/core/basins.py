"""Group networks into basins from their pairwise barriers (hierarchical clustering).

A loss barrier is a dissimilarity: two networks in one basin (up to the alignment
used) have a barrier near zero between them. The matrix is made a distance first:
symmetrized as the mean of (i, j) and (j, i), negative barriers (the midpoint beats
the line) clipped to 0, the diagonal set to 0. Then scipy's agglomerative clustering
merges the two closest groups until the closest pair is farther than `threshold`:

- "average" linkage (the default, UPGMA): the distance between two groups is the mean
  barrier over all their pairs, so one noisy pair neither splits nor joins a basin;
- "complete" linkage: the largest barrier over their pairs, so within every basin
  every pair is within the threshold (stricter, and what "one basin" means literally).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage as scipy_linkage
from scipy.spatial.distance import squareform

from lmctui.choices import LINKAGES


@dataclass(frozen=True)
class Basins:
    labels: tuple[int, ...]  # basin of each network: 0, 1, ... in order of first appearance
    threshold: float
    linkage: str
    # scipy's linkage matrix as rows (group a, group b, distance, size): a dendrogram
    merges: tuple[tuple[int, int, float, int], ...]

    @property
    def count(self) -> int:
        return len(set(self.labels))

    def members(self) -> list[list[int]]:
        """The networks of each basin, by index."""
        return [[i for i, label in enumerate(self.labels) if label == b] for b in range(self.count)]

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "count": self.count, "threshold": self.threshold,
                "linkage": self.linkage, "merges": [list(m) for m in self.merges]}


def barrier_distances(barriers) -> np.ndarray:
    """The (K, K) barrier matrix as a distance matrix (see the module docstring)."""
    b = np.asarray(barriers, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] != b.shape[1]:
        raise ValueError(f"a barrier matrix must be square, got shape {b.shape}")
    off_diagonal = ~np.eye(len(b), dtype=bool)
    if not np.all(np.isfinite(b[off_diagonal])):
        raise ValueError("the barrier matrix has missing or non-finite pairs")
    d = np.clip((b + b.T) / 2, 0.0, None)
    np.fill_diagonal(d, 0.0)
    return d


def barrier_basins(barriers, threshold: float, linkage: str = "average") -> Basins:
    """Cluster K networks into basins: groups whose linkage barrier is at most `threshold`."""
    if linkage not in LINKAGES:
        raise ValueError(f"linkage must be one of {', '.join(LINKAGES)}, got {linkage!r}")
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite barrier >= 0, got {threshold!r}")
    d = barrier_distances(barriers)
    if len(d) < 2:
        return Basins(tuple([0] * len(d)), float(threshold), linkage, ())
    merges = scipy_linkage(squareform(d, checks=False), method=linkage)  # (K - 1, 4)
    flat = fcluster(merges, t=threshold, criterion="distance")
    first_seen: dict[int, int] = {}
    labels = tuple(first_seen.setdefault(int(c), len(first_seen)) for c in flat)
    rows = tuple((int(a), int(b), float(dist), int(size)) for a, b, dist, size in merges)
    return Basins(labels, float(threshold), linkage, rows)
