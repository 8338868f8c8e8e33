"""One-off measurements, kept with their results (`benchmarks/studies/results/`) so they can
be repeated: `python -m benchmarks.studies.<name>` from the repository root."""
