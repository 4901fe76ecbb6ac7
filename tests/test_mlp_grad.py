"""The hand-written MLP gradients against their oracle, autograd through the plain models.MLP."""

import pytest
import torch
from torch.func import stack_module_state
from torch.nn import functional as F

from lmctui.core.mlp_grad import mlp_loss_and_grads
from lmctui.core.models import MLP


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_losses_hits_and_gradients_are_autograds_for_each_networks_own_batch(depth):
    torch.manual_seed(depth)
    S, B, D, C = 3, 17, 12, 5
    nets = [MLP(D, 8, depth, C).double() for _ in range(S)]
    params, _ = stack_module_state(nets)
    x, y = torch.randn(S, B, D, dtype=torch.float64), torch.randint(0, C, (S, B))
    losses, correct, grads = mlp_loss_and_grads({k: v.detach() for k, v in params.items()}, depth, x, y)
    assert grads.keys() == params.keys()
    for s, net in enumerate(nets):
        logits = net(x[s])
        loss = F.cross_entropy(logits, y[s])
        expected = dict(zip([n for n, _ in net.named_parameters()], torch.autograd.grad(loss, list(net.parameters()))))
        assert losses[s].item() == pytest.approx(loss.item(), rel=1e-12)
        assert correct[s].item() == (logits.argmax(1) == y[s]).sum().item()
        for name, grad in expected.items():
            torch.testing.assert_close(grads[name][s], grad, rtol=1e-10, atol=1e-12)
