"""Pure numerics: data, models, training, permutation, matching, interpolation.

Nothing here imports the store, the job queue or any UI package.
"""
