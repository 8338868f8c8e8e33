"""Settings the daemon reads: the YAML config, the manifest, their checks, and the
environment variables a person may set (environment.py).

Nothing here imports torch, so `validate`, `status`, `retry` and `--help` start fast
(benchmarks/results/cli_startup.md). Render parameters come from core.params, which is
torch-free too.
"""
