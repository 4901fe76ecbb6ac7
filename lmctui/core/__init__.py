"""Pure numerics: data, models, training, permutation, matching, interpolation.

Leaves: `weights` (state-dict arithmetic), `models`, `data` (with `digits`, the digits'
checked cache), `evaluation`, `optim` (SGD and Adam as torch.optim computes them, without
its import of torch._dynamo), `mlp_grad` (an MLP stack's gradients by hand). Above them:
`permutation` (specs) and `matching` (weight, activation), `ste` (straight-through
matching), `consistency` (many networks: cycle consistency, a shared frame), `stacked`
(S networks run at once), `training` and `vectorized`, `interpolation`, `refinement`
(barrier refinement), `calibration`, `averaging`, `basins` (clustering by barrier).

Nothing here imports the store, the job queue or any UI package; no module here
imports another in a cycle (tests/test_layers.py).
"""
