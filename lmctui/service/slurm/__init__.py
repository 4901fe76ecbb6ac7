"""Slurm: the placement that sends work to a cluster through submitit, and all it needs.

`placement.Slurm` (the placement), `submit` (registry jobs to sbatch), `task` (what runs on
a compute node: `service.run.execute`), `state` (sacct, and what it settles), `results`
(failures, the job that trained a run), `check` (`lmctui-cli cluster check`) and `settings`
(a submission's resources, `HOME/cluster.json`). Nothing outside this package compares an
executor name; `service.placements` maps the name `slurm` to `placement.Slurm`.
"""
