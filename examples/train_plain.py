"""The user CNN trained by a plain torch script, without lmctui; the weights saved with safetensors.

python train_plain.py digits.npz plain.safetensors [seed]
"""

import sys

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from user_cnn import make_cnn

data_path, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 100
torch.manual_seed(seed)
with np.load(data_path) as d:
    x, y = torch.from_numpy(d["x_train"])[:, None], torch.from_numpy(d["y_train"])  # (N, 1, 8, 8), (N,)
model = make_cnn(tuple(x.shape[1:]), 10, width=16)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(20):
    for batch in torch.randperm(len(x)).split(64):
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")
save_file(model.state_dict(), out)
print(f"wrote {out}")
