"""What the benchmarks share: the markdown and picture output (report), and the engine
benchmark's baselines (the seed tutorial, torch.optim.LBFGS)."""
