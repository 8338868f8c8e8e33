"""The seed algorithm, reimplemented faithfully as the benchmark baseline: the PyTorch
"Neural Transfer" tutorial (Gatys et al. with torchvision's VGG19).

torchvision VGG19 `features`, an ImageNet Normalization module, ContentLoss / StyleLoss
modules inserted after conv layers (content conv_4, style conv_1..conv_5), the net trimmed
after the last loss, gram = F F^T / (a*b*c*d), F.mse_loss, style weight 1e6, content
weight 1, LBFGS with its default parameters and the input clamped to [0, 1] inside the
closure. Only difference: no network here, so the weights are this project's bundled
(Caffe) VGG19 copied into torchvision's `features` layout - the timings do not depend on
the weight values, the loss values do (they are not comparable with the engine's).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_NOTE = ("seed baseline uses the bundled Caffe VGG19 weights loaded into "
                "torchvision's vgg19().features layout (no network); timings only")


def vgg19_features(conv_weights: dict) -> nn.Sequential:
    from torchvision.models.vgg import cfgs, make_layers

    from deepart_batch.engine.vgg import CONV_NAMES, TORCHVISION_CONV_INDEX
    features = make_layers(cfgs["E"])
    for name, idx in zip(CONV_NAMES, TORCHVISION_CONV_INDEX):
        features[idx].weight.data.copy_(conv_weights[f"{name}.weight"])
        features[idx].bias.data.copy_(conv_weights[f"{name}.bias"])
    return features.eval()


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


def gram_matrix(input):
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, input):
        G = gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        # buffers, so that .to(device) moves them (the tutorial uses a global device)
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1))

    def forward(self, img):
        return (img - self.mean) / self.std


MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CONTENT_LAYERS = ["conv_4"]
STYLE_LAYERS = ["conv_1", "conv_2", "conv_3", "conv_4", "conv_5"]


def get_style_model_and_losses(cnn, style_img, content_img):
    normalization = Normalization(MEAN, STD).to(content_img.device)
    content_losses, style_losses = [], []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d):
            name = f"pool_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)
        if name in CONTENT_LAYERS:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in STYLE_LAYERS:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], (ContentLoss, StyleLoss)):
            break
    return model[: i + 1], style_losses, content_losses


def run_style_transfer(cnn, content_img, style_img, input_img, num_steps=300,
                       style_weight=1000000, content_weight=1):
    """The tutorial's loop; returns (image, closure evaluations, seconds in the loop)."""
    model, style_losses, content_losses = get_style_model_and_losses(cnn, style_img,
                                                                     content_img)
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = torch.optim.LBFGS([input_img])
    run = [0]
    started = time.perf_counter()
    while run[0] <= num_steps:
        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = 0
            content_score = 0
            for sl in style_losses:
                style_score += sl.loss
            for cl in content_losses:
                content_score += cl.loss
            style_score *= style_weight
            content_score *= content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            return style_score + content_score
        optimizer.step(closure)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img, run[0], seconds
