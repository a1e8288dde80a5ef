"""Benchmarks: commands that measure the project on this machine and print each figure against
its target (params.yaml `targets`). Run from the project root, e.g. `python -m bench.peers`;
every one has `--help`. They print figures and are not tests."""
