"""`lmctui-cli bench`: lmctui timed against plain reference code on this machine.

It ships with the package because `bench` is a command of the installed product (what the
user runs, timed where they run it). The development benches (the registry at 10,000 runs,
the app's frames, Slurm) stay in the repository's `benchmarks/`, whose `python -m
benchmarks` runs this suite too.
"""
