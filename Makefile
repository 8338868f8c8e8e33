# make test / make demo build .venv from nothing when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-numeric test-fast demo bench clean-demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: pip takes this exact CPU/CUDA build from the local wheel cache.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

# Everything: engine renders, daemon processes, Ray, Chromium, systemd (CI calls this).
# Five workers on two cores: most of the suite waits on processes, signals and deadlines
# (tests/support/scheduling.py groups and orders the modules). The slowest tests are listed
# at the end, so a CI log shows where the time goes.
TEST_WORKERS ?= 5
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15

# The tests that compare floats from two code paths, again at 2 torch threads: another
# summation order than the suite's one thread per worker (tests/support/numeric.py). CI runs
# it after `make test`; NUMERIC_THREADS=4 tries a third.
NUMERIC_THREADS ?= 2
test-numeric: $(STAMP)
	OMP_NUM_THREADS=$(NUMERIC_THREADS) $(PY) -m pytest -q -p no:xdist -m numeric

# The inner loop, under a minute: no processes, browsers, clusters or engine renders
# (the daemon's bookkeeping runs in-process with the canned executor).
FAST := not engine and not daemon and not ray and not browser and not systemd and not gpu
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "$(FAST)"

demo: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	$(PY) -m benchmarks.engine --quick
