"""lmctui's benchmark suite: `python -m benchmarks [--quick]` or `lmctui-cli bench`."""
