import os
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Five workers on two cores: one torch thread per process (this one, and the daemons'
    # render workers, which inherit it: pool/devices.py caps at OMP_NUM_THREADS). Two
    # OpenMP threads per process would wait at every barrier for a descheduled peer.
    os.environ["OMP_NUM_THREADS"] = "1"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="session", autouse=True)
def _torch_threads_as_asked():
    """torch caps OMP_NUM_THREADS at the cores it sees; the numeric tests are run at 4
    threads on 2-core boxes on purpose (another summation order), so ask for them."""
    asked = os.environ.get("OMP_NUM_THREADS", "")
    if asked.isdigit() and int(asked) > 0 and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(asked))
    yield


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Decode the bundled weights once per session into a private cache dir."""
    cache = tmp_path_factory.mktemp("weights-cache")
    os.environ.setdefault("DEEPART_CACHE_DIR", str(cache))
    yield


@pytest.fixture(scope="session")
def weights():
    from deepart_batch.weights import load_weights
    return load_weights("bundled")


@pytest.fixture(scope="session")
def engine(weights):
    from deepart_batch.engine import StyleTransfer
    return StyleTransfer(weights.conv, weights.preprocessing, "cpu")


@pytest.fixture(scope="session")
def render_cache(engine):
    """engine.render by parameters, once per session (support/renders.py)."""
    from support.renders import RenderCache
    return RenderCache(engine)


@pytest.fixture(scope="session")
def photo():
    from deepart_batch import images
    return images.to_tensor(images.load_image(DATA / "tubingen.jpg"))


@pytest.fixture(scope="session")
def painting():
    from deepart_batch import images
    return images.to_tensor(images.load_image(DATA / "starry_night.jpg"))


def run_cli(*args, env=None, timeout=300, cwd=None):
    import subprocess
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "deepart_batch.cli", *map(str, args)],
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=cwd)


def pytest_configure(config):
    """With xdist, its workers get whole modules, the long ones first (support/scheduling.py)."""
    if config.pluginmanager.hasplugin("xdist"):
        from support.scheduling import XdistUnits
        config.pluginmanager.register(XdistUnits(), "deepart-xdist-units")


def pytest_collection_modifyitems(config, items):
    """Mark each test from what it uses (support/markers.py): make test-fast deselects
    engine, daemon, ray, browser, systemd and gpu. Then put the long xdist units first."""
    from support.markers import markers_for
    from support.scheduling import long_units_first
    for item in items:
        have = {m.name for m in item.iter_markers()}
        for name in sorted(markers_for(item) - have):
            item.add_marker(name)
    long_units_first(items)
