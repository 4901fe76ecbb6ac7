"""Write scikit-learn's 8x8 digits as an npz data set: x_train, y_train, x_test, y_test.

The split (80 / 20, seeded) and the scaling (pixels / 16, so in [0, 1]) are this
script's; lmctui uses the arrays as given, so a network trained on them anywhere sees
the same inputs when it is imported.
"""

import sys

import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
x = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8): lmctui adds the channel axis
y = digits.target.astype(np.int64)
order = np.random.default_rng(0).permutation(len(x))
test, train = order[:360], order[360:]
out = sys.argv[1] if len(sys.argv) > 1 else "digits.npz"
np.savez(out, x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])
print(f"wrote {out}: {len(train)} train, {len(test)} test images")
