"""VGG19 feature encoder with canonical layer names, cut after the deepest layer used."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ParamsError
from ..core.layers import CONV_NAMES, LAYER_NAMES, canonical_layer  # noqa: F401  (importers)

# torchvision's vgg19().features indices of the conv layers, in order.
TORCHVISION_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

# Input conventions of the two weight families.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def min_side(layers) -> int:
    """The smallest height and width VGG's 2x2 pooling keeps above zero up to the deepest
    of `layers` (16 px for relu5_1): 2 to the number of pools before it."""
    deepest = max(LAYER_NAMES.index(canonical_layer(n)) for n in layers)
    pools = sum(1 for n in LAYER_NAMES[:deepest + 1] if n.startswith("pool"))
    return 2 ** pools


class VGGEncoder(nn.Module):
    """Frozen VGG19 trunk that returns the activations of the requested layers.

    `preprocessing` is "caffe" (BGR, 0-255, minus the mean pixel; the original weights)
    or "imagenet" (RGB, 0-1, ImageNet mean/std; torchvision's weights). Input is RGB 0-1.
    """

    def __init__(self, conv_weights: dict[str, torch.Tensor], preprocessing: str,
                 layers, pooling: str = "max", channels_last: bool = False):
        super().__init__()
        # NHWC lets oneDNN skip its per-call layout reorders (~5-10% per evaluation on CPU).
        self.channels_last = channels_last
        self.layers = tuple(dict.fromkeys(canonical_layer(n) for n in layers))
        if not self.layers:
            raise ParamsError("no layers requested from the encoder")
        self.preprocessing = preprocessing
        last = max(LAYER_NAMES.index(n) for n in self.layers)
        modules: list[tuple[str, nn.Module]] = []
        in_ch = 3
        for name in LAYER_NAMES[: last + 1]:
            if name.startswith("conv"):
                out_ch = conv_weights[f"{name}.weight"].shape[0]
                conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
                conv.weight.data.copy_(conv_weights[f"{name}.weight"])
                conv.bias.data.copy_(conv_weights[f"{name}.bias"])
                modules.append((name, conv))
                in_ch = out_ch
            elif name.startswith("relu"):
                modules.append((name, nn.ReLU(inplace=False)))
            else:
                pool = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
                modules.append((name, pool))
        self.net = nn.Sequential()
        for name, module in modules:
            self.net.add_module(name, module)
        self.net.requires_grad_(False)
        self.eval()
        if preprocessing == "caffe":
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
        elif preprocessing == "imagenet":
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("scale", 1.0 / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        else:
            raise ParamsError(f"unknown preprocessing {preprocessing!r}: caffe or imagenet")
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        if self.preprocessing == "caffe":
            return image.flip(1) * self.scale - self.mean
        return (image - self.mean) * self.scale

    def forward(self, image: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        wanted = set(self.layers if layers is None else layers)
        out = {}
        x = self.preprocess(image)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for name, module in self.net.named_children():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
