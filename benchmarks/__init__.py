"""Benchmarks a user runs, from the repository root: `python -m benchmarks.<name>`.

They import the installed deepart_batch (`make .venv/.installed` installs it editable) and
never edit sys.path; the tests' shared set-up comes in as `tests.support`. One-off studies
with their results are in `benchmarks/studies/`, the figures in `benchmarks/results/`.
"""
