#!/usr/bin/env python3
r"""Became from PyTorch: run a device's model file on your machine, and send the device a new task.

    python3 became_example.py predict --model model.safetensors --task TASK --inputs x.safetensors [--out preds.json]
    python3 became_example.py make-task --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \
        --classes 4,5 [--samples 300] --out task.safetensors
    python3 became_example.py publish --broker HOST:PORT --device DEVICE --task-id TASK --file task.safetensors
    python3 became_example.py export-body --architecture resnet18 --input-shape 3,32,32 [--width 0.5] [--seed 1] \
        --out body.safetensors
    python3 became_example.py features --model body.safetensors --inputs x.safetensors [--out features.json]

Needs Python 3.11, torch (Debian: python3-torch) and, to publish, paho-mqtt (python3-paho-mqtt), nothing else.
"""

import argparse
import gzip
import json
import struct
import sys
import threading
import uuid

import torch
from torch import nn

# --- safetensors -----------------------------------------------------------------------------------------------
# Where the `safetensors` package is installed, safetensors.torch.load_file(path) returns the same dict of tensors
# as read_safetensors(path)[0] (and safe_open(...).metadata() the metadata). Debian 12 does not package it, so
# here is the whole format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
# data_offsets}, "__metadata__": {str: str}} padded with spaces to a multiple of 8 bytes, then the raw data.

DTYPES = {"U8": torch.uint8, "I32": torch.int32, "I64": torch.int64, "F32": torch.float32, "F64": torch.float64}


def read_safetensors(path):
    """Returns ({name: tensor}, {metadata key: string})."""
    with open(path, "rb") as f:
        data = f.read()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_length])
    metadata = header.pop("__metadata__", {})
    body = data[8 + header_length:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors, metadata


def write_safetensors(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` ({name: tensor}, in that order) and string `metadata`."""
    names = {dtype: name for name, dtype in DTYPES.items()}
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}} if metadata else {}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        raw = tensor.detach().cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


# --- the model ---------------------------------------------------------------------------------------------------
# The device's networks, module for module: each state_dict's keys and shapes are the model file's tensor names and
# shapes, so a strict load_state_dict takes the file as it is.

DEFAULT_MEAN, DEFAULT_STD = 0.2860, 0.3530  # the device's Model:NormalizationMean and Model:NormalizationStd

BATCH_STATISTICS = "batch statistics (no running statistics), eps 1e-5"
RUNNING_STATISTICS = "running statistics (momentum 0.1) in evaluation, batch statistics in training, eps 1e-5"


def _image_shape(input_shape):
    """[C, H, W] of an image input shape [C, H, W] or [H, W] (one channel)."""
    if len(input_shape) not in (2, 3) or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"an image network needs an input shape [channels, height, width] or [height, width]; got {list(input_shape)}")
    return tuple(int(d) for d in input_shape) if len(input_shape) == 3 else (1, *(int(d) for d in input_shape))


def _scaled(width, multiplier):
    """A width times the width multiplier, as the device rounds it (half to even, at least 1)."""
    return max(1, round(width * multiplier))


class BecameMlp(nn.Module):
    """The device's network: bias-free shared linear layers with ReLU, then one linear head per task. Its
    state_dict keys are the model file's tensor names (shared.{i}.weight, heads.{t}.weight)."""

    minimum_batch = 1

    def __init__(self, input_size, hidden_sizes, head_classes):
        super().__init__()
        sizes = [input_size, *hidden_sizes]
        self.shared = nn.ModuleList(nn.Linear(i, o, bias=False) for i, o in zip(sizes, sizes[1:]))
        self.heads = nn.ModuleList(nn.Linear(sizes[-1], classes, bias=False) for classes in head_classes)

    def features(self, x):
        x = x.reshape(x.shape[0], -1)
        for layer in self.shared:
            x = torch.relu(layer(x))
        return x

    def forward(self, x, head):
        return self.heads[head](self.features(x))


class BecameAlexNet(nn.Module):
    """The device's AlexNet (Model:Architecture=alexnet[:W]): bias-free convolutions 4x4, 3x3, 2x2, each with batch
    norm, ReLU, dropout and 2x2 max-pooling, then two bias-free linear layers with batch norm, ReLU and dropout, and
    one linear head per task. Batch norm keeps no running statistics, as on the device: it always normalises with the
    batch's own statistics, so predict at least 2 inputs at a time. Its state_dict keys are the model file's names
    (conv1.weight, bn1.weight, bn1.bias, ..., fc1.weight, bn4.*, fc2.weight, bn5.*, heads.{t}.weight)."""

    minimum_batch = 2

    def __init__(self, input_shape, channels, hidden_size, head_classes):
        super().__init__()
        c, h, w = _image_shape(input_shape)
        self.input_shape = (c, h, w)
        for i, (k, out) in enumerate(zip((4, 3, 2), channels), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(c, out, k, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(out, track_running_stats=False))
            c, h, w = out, (h - k + 1) // 2, (w - k + 1) // 2
        self.fc1 = nn.Linear(c * h * w, hidden_size, bias=False)
        self.bn4 = nn.BatchNorm1d(hidden_size, track_running_stats=False)
        self.fc2 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.bn5 = nn.BatchNorm1d(hidden_size, track_running_stats=False)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, classes, bias=False) for classes in head_classes)

    def features(self, x):
        x = x.reshape(x.shape[0], *self.input_shape)
        for conv, bn, p in ((self.conv1, self.bn1, 0.2), (self.conv2, self.bn2, 0.2), (self.conv3, self.bn3, 0.5)):
            x = nn.functional.max_pool2d(nn.functional.dropout(torch.relu(bn(conv(x))), p, self.training), 2)
        x = x.flatten(1)
        for fc, bn in ((self.fc1, self.bn4), (self.fc2, self.bn5)):
            x = nn.functional.dropout(torch.relu(bn(fc(x))), 0.5, self.training)
        return x

    def forward(self, x, head):
        return self.heads[head](self.features(x))


def _conv3x3(in_planes, out_planes, stride=1):
    """The authors' conv3x3: 3x3, padding 1, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _after_conv3x3(side, stride):
    return (side - 1) // stride + 1


def _stage(block, in_planes, planes, blocks, stride):
    """An nn.Sequential of residual blocks (names 0, 1, ...): the first with `stride`, the others with 1."""
    layers = []
    for s in [stride] + [1] * (blocks - 1):
        layers.append(block(in_planes, planes, s))
        in_planes = planes
    return nn.Sequential(*layers)


class BecameBasicBlock(nn.Module):
    """GPM's BasicBlock (GPM-based/model.py): conv3x3 (stride s), batch norm, ReLU, conv3x3, batch norm, plus the
    input or, where the stride or the width changes, a 1x1 convolution + batch norm (shortcut.0, shortcut.1), then
    ReLU. Batch norm has batch statistics only (track_running_stats=False)."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, track_running_stats=False)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, track_running_stats=False)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes, track_running_stats=False))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class BecameResNet18(nn.Module):
    """The device's ResNet-18 (Model:Architecture=resnet18[:W]), GPM's reduced one (GPM-based/model.py,
    ResNet18(taskcla, nf=20)): conv1 (3x3, the input's channels, stride 1 up to 32 x 32 and 2 beyond) + bn1 + ReLU,
    layer1..layer4 of two BecameBasicBlocks with widths nf, 2nf, 4nf, 8nf (nf = 20 x W), avg_pool2d(., 2), flattened,
    and one bias-free linear head per task. Every convolution is bias-free and batch norm keeps no running statistics:
    it always normalises with the batch's own statistics, as on the device, so predict at least 2 inputs at a time.
    Its state_dict keys are the model file's names (conv1.weight, bn1.*, layer{s}.{b}.conv1.weight, .bn1.*,
    .conv2.weight, .bn2.*, layer{s}.0.shortcut.0.weight, .shortcut.1.*, heads.{t}.weight)."""

    kind = "resnet18"
    base_width = 20
    minimum_batch = 2

    def __init__(self, input_shape, widths, first_stride, head_classes=(), head_bias=False):
        super().__init__()
        c, h, w = _image_shape(input_shape)
        self.input_shape, self.widths, self.first_stride = (c, h, w), list(widths), first_stride
        self.conv1 = _conv3x3(c, widths[0], first_stride)
        self.bn1 = nn.BatchNorm2d(widths[0], track_running_stats=False)
        for s in range(4):
            setattr(self, f"layer{s + 1}", _stage(BecameBasicBlock, widths[max(s - 1, 0)], widths[s], 2, 1 if s == 0 else 2))
        h, w = _after_conv3x3(h, first_stride), _after_conv3x3(w, first_stride)
        for _ in range(3):
            h, w = _after_conv3x3(h, 2), _after_conv3x3(w, 2)
        self.feature_width = widths[3] * (h // 2) * (w // 2)
        if self.feature_width == 0:
            raise ValueError(f"a {self.input_shape[1]}x{self.input_shape[2]} input is too small for resnet18 (at least 9 x 9)")
        self.heads = nn.ModuleList(nn.Linear(self.feature_width, n, bias=head_bias) for n in head_classes)

    @staticmethod
    def first_stride_for(input_shape):
        """conv1's stride on the device: 1 up to 32 x 32, 2 beyond."""
        _, h, w = _image_shape(input_shape)
        return 1 if max(h, w) <= 32 else 2

    @classmethod
    def of_width(cls, input_shape, width=1.0, head_classes=()):
        """The network the device builds for Model:Architecture=resnet18:`width` and this input shape."""
        first = _scaled(cls.base_width, width)
        return cls(input_shape, [first, 2 * first, 4 * first, 8 * first], cls.first_stride_for(input_shape), head_classes)

    def features(self, x):
        x = torch.relu(self.bn1(self.conv1(x.reshape(x.shape[0], *self.input_shape))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return nn.functional.avg_pool2d(x, 2).flatten(1)

    def forward(self, x, head):
        return self.heads[head](self.features(x))


class BecamePreActBlock(nn.Module):
    """Adam-NSCL's PreActBlock (NSCL-based/models/resnet.py, no dropout): batch norm, ReLU, conv3x3 (stride s),
    batch norm, ReLU, conv3x3, plus a shortcut: the first batch norm's output or, where the stride or the width
    changes, a 1x1 convolution of the first ReLU's output (shortcut.0). Batch norm is PyTorch's default (running
    statistics, used in eval mode)."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False))

    def forward(self, x):
        x = self.bn1(x)
        out = torch.relu(x)
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(torch.relu(self.bn2(self.conv1(out))))
        return out + shortcut


class BecamePreActResNet18(nn.Module):
    """The device's PreAct ResNet-18 (Model:Architecture=preact-resnet18[:W]), Adam-NSCL's (NSCL-based/models/
    resnet.py, resnet18()): conv1 (3x3, stride 1, the input's channels), stage1..stage4 of two BecamePreActBlocks with
    widths 64, 128, 256, 512 x W, bn_last + ReLU, adaptive_avg_pool2d(., 1), and one linear head per task with a bias
    (the authors' `last`). Batch norm keeps running statistics (buffers running_mean, running_var,
    num_batches_tracked, in the model file): eval mode normalises with them, so one input at a time works. Its
    state_dict keys are the model file's names (conv1.weight, stage{s}.{b}.bn1.*, .conv1.weight, .bn2.*,
    .conv2.weight, stage{s}.0.shortcut.0.weight, bn_last.*, heads.{t}.weight, heads.{t}.bias)."""

    kind = "preact-resnet18"
    base_width = 64
    minimum_batch = 1

    def __init__(self, input_shape, widths, head_classes=(), head_bias=True):
        super().__init__()
        c, h, w = _image_shape(input_shape)
        self.input_shape, self.widths, self.first_stride = (c, h, w), list(widths), 1
        self.conv1 = _conv3x3(c, widths[0])
        for s in range(4):
            setattr(self, f"stage{s + 1}", _stage(BecamePreActBlock, widths[max(s - 1, 0)], widths[s], 2, 1 if s == 0 else 2))
        self.bn_last = nn.BatchNorm2d(widths[3])
        self.feature_width = widths[3]
        self.heads = nn.ModuleList(nn.Linear(self.feature_width, n, bias=head_bias) for n in head_classes)

    @classmethod
    def of_width(cls, input_shape, width=1.0, head_classes=()):
        """The network the device builds for Model:Architecture=preact-resnet18:`width` and this input shape."""
        first = _scaled(cls.base_width, width)
        return cls(input_shape, [first, 2 * first, 4 * first, 8 * first], head_classes)

    def features(self, x):
        x = self.conv1(x.reshape(x.shape[0], *self.input_shape))
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        return nn.functional.adaptive_avg_pool2d(torch.relu(self.bn_last(x)), 1).flatten(1)

    def forward(self, x, head):
        return self.heads[head](self.features(x))


RESIDUAL = {BecameResNet18.kind: (BecameResNet18, BATCH_STATISTICS, False), BecamePreActResNet18.kind: (BecamePreActResNet18, RUNNING_STATISTICS, True)}
KINDS = ("mlp", "alexnet", *RESIDUAL)


def build_network(arch):
    """The nn.Module (in training mode, freshly initialised) an `architecture` description stands for, with one head
    per entry of arch["heads"]; refuses a description this script does not know."""
    kind = arch.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unsupported architecture kind {kind!r}: this script knows {', '.join(KINDS)} (is the device newer than it?)")
    if arch.get("activation") != "relu" or arch.get("bias") is not False:
        raise ValueError(f"unsupported {kind} architecture (activation {arch.get('activation')!r}, bias {arch.get('bias')!r}; "
                         f"this script knows relu without biases): {arch}")
    heads = arch.get("heads", [])
    if kind == "mlp":
        input_size = 1
        for d in arch["inputShape"]:
            input_size *= d
        return BecameMlp(input_size, arch["hiddenSizes"], heads)
    if kind == "alexnet":
        return BecameAlexNet(arch["inputShape"], arch["channels"], arch["hiddenSize"], heads)
    cls, norm, head_bias = RESIDUAL[kind]
    problems = []
    if arch.get("blocks") != [2, 2, 2, 2]:
        problems.append(f"blocks {arch.get('blocks')!r} (ResNet-18 has [2, 2, 2, 2])")
    widths = arch.get("widths")
    if not (isinstance(widths, list) and len(widths) == 4 and all(isinstance(w, int) and w >= 1 for w in widths)):
        problems.append(f"widths {widths!r} (four positive integers)")
    if arch.get("headBias") is not head_bias:
        problems.append(f"headBias {arch.get('headBias')!r} ({kind}'s heads are {'with' if head_bias else 'without'} a bias)")
    if arch.get("batchNorm") != norm:
        problems.append(f"batchNorm {arch.get('batchNorm')!r} (this script knows {norm!r})")
    if arch.get("firstStride") not in ((1, 2) if kind == "resnet18" else (1,)):
        problems.append(f"firstStride {arch.get('firstStride')!r}")
    if problems:
        raise ValueError(f"unsupported {kind} architecture: {'; '.join(problems)}")
    if kind == "resnet18":
        return BecameResNet18(arch["inputShape"], widths, arch["firstStride"], heads, head_bias)
    return BecamePreActResNet18(arch["inputShape"], widths, heads, head_bias)


def describe_body(kind, input_shape, width=1.0, hidden_sizes=(100, 100)):
    """The `architecture` description (as the device writes it, with no heads) of the body the device builds for
    Model:Architecture=kind[:width] (mlp: hidden_sizes) and Model:InputShape=input_shape."""
    input_shape = [int(d) for d in input_shape]
    common = {"activation": "relu", "bias": False}
    if kind == "mlp":
        return {"kind": kind, "inputShape": input_shape, "hiddenSizes": list(hidden_sizes), **common, "heads": []}
    if kind == "alexnet":
        return {"kind": kind, "inputShape": input_shape, "widthMultiplier": width,
                "channels": [_scaled(c, width) for c in (64, 128, 256)], "kernels": [4, 3, 2],
                "hiddenSize": _scaled(2048, width), **common, "batchNorm": BATCH_STATISTICS, "heads": []}
    if kind not in RESIDUAL:
        raise ValueError(f"unknown architecture {kind!r}: this script knows {', '.join(KINDS)}")
    cls, norm, head_bias = RESIDUAL[kind]
    first = _scaled(cls.base_width, width)
    stride = BecameResNet18.first_stride_for(input_shape) if kind == "resnet18" else 1
    return {"kind": kind, "inputShape": input_shape, "widthMultiplier": width, "widths": [first, 2 * first, 4 * first, 8 * first],
            "blocks": [2, 2, 2, 2], "firstStride": stride, **common, "batchNorm": norm, "headBias": head_bias, "heads": []}


def export_body(kind, input_shape, width=1.0, hidden_sizes=(100, 100), seed=None):
    """The bytes of a safetensors file with the freshly initialised body (every parameter and buffer, no heads) of
    the network describe_body(...) describes, drawn after torch.manual_seed(seed) when a seed is given: initial
    weights for a device (Model:InitialWeights). Its metadata: format became-body/1 and the architecture."""
    arch = describe_body(kind, input_shape, width, hidden_sizes)
    if seed is not None:
        torch.manual_seed(seed)
    body = build_network(arch).state_dict()
    tensors = {name: t if t.dtype == torch.int64 else t.float() for name, t in body.items() if not name.startswith("heads.")}
    return write_safetensors(tensors, {"format": "became-body/1", "architecture": json.dumps(arch)}), arch


def load_model(path):
    """Rebuilds the network of a Became model file (or of a body file from export-body, with no heads). Returns
    (model in eval mode, metadata) where metadata's architecture, tasks and normalization are parsed from their JSON.
    The model file holds every parameter and buffer; load_state_dict is strict."""
    tensors, raw = read_safetensors(path)
    if raw.get("format") not in ("became-model/1", "became-body/1"):
        raise ValueError(f"{path} is not a Became model file (format {raw.get('format')!r})")
    metadata = dict(raw)
    for key in ("architecture", "tasks", "normalization"):
        if key in raw:
            metadata[key] = json.loads(raw[key])
    for key in ("version", "parent"):
        if key in raw:
            metadata[key] = int(raw[key])
    model = build_network(metadata["architecture"])
    model.load_state_dict(tensors)  # strict: every name and shape must match
    return model.eval(), metadata


def normalise(metadata, x, mean=None, std=None):
    """The inputs as the device feeds them to the network: uint8 pixels / 255 (float inputs are taken as already in
    0..1), flattened, (x - mean) / std with the model file's normalisation (mean and std, where given, instead)."""
    norm = metadata.get("normalization") or {}
    mean = norm.get("mean", DEFAULT_MEAN) if mean is None else mean
    std = norm.get("std", DEFAULT_STD) if std is None else std
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    return (x.reshape(x.shape[0], -1) - mean) / std


def _check_batch(model, x):
    if x.shape[0] < model.minimum_batch:
        raise ValueError(f"{type(model).__name__} normalises with the batch's own statistics, as the device does: "
                         f"give it at least {model.minimum_batch} inputs at a time (got {x.shape[0]})")


def predict(model, metadata, task_id, x):
    """Predictions (int64 [N]) and softmax probabilities (float32 [N, classes]) of the head of `task_id`, as the
    device computes them: normalise(...) (uint8 / 255, flattened, (x - mean) / std), the body (which reshapes to the
    architecture's inputShape), the task's head. alexnet and resnet18 need at least 2 inputs at a time (batch
    statistics); mlp and preact-resnet18 (eval mode: running statistics) take any number."""
    if "tasks" not in metadata:
        raise ValueError("this is a body without heads (export-body): it predicts nothing; its features are features(...)")
    tasks = metadata["tasks"]
    if task_id not in tasks:
        raise KeyError(f"the model (version {metadata['version']}) does not know task {task_id!r}; it knows {tasks}")
    _check_batch(model, x)
    with torch.no_grad():
        probabilities = torch.softmax(model(normalise(metadata, x), tasks.index(task_id)), dim=1)
    return probabilities.argmax(dim=1), probabilities


def features(model, metadata, x, mean=None, std=None):
    """The body's output features (float32 [N, features], what the heads read) for inputs x, normalised as predict
    does."""
    _check_batch(model, x)
    with torch.no_grad():
        return model.features(normalise(metadata, x, mean, std))


# --- tasks ---------------------------------------------------------------------------------------------------------

def make_task(x_uint8, y, name=None, classes=None):
    """A task payload: x uint8 [N, 28, 28] (pixels 0..255), y int64 [N] (labels 0..classes-1)."""
    metadata = {k: v for k, v in (("name", name), ("classes", classes)) if v is not None}
    return write_safetensors({"x": x_uint8.to(torch.uint8), "y": y.to(torch.int64)}, metadata)


def publish_task(host, port, device_id, task_id, payload, topic_root="became", timeout=60):
    """Sends a task payload to became/{device}/tasks/{task id} at QoS 1 and returns once the broker acknowledged
    it (PUBACK). The agent reports what it did with it on became/{device}/events."""
    import paho.mqtt.client as mqtt  # only publishing needs paho

    client_id = f"became-example-{uuid.uuid4().hex[:12]}"
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:  # paho-mqtt 1.6 (Debian 12)
        client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    connected, answer = threading.Event(), {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties=None):
        answer["reason"] = reason_code
        connected.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=60)
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise TimeoutError(f"no CONNACK from {host}:{port} within {timeout} s")
        if answer["reason"] != 0:
            raise ConnectionError(f"the broker at {host}:{port} refused the connection: {answer['reason']}")
        info = client.publish(f"{topic_root}/{device_id}/tasks/{task_id}", payload, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"no PUBACK for {task_id} within {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()


def read_idx(path):
    """An MNIST-format IDX file (gzip or raw) as a uint8 tensor: images [N, H, W] or labels [N]."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


# --- command line --------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="run a model file on inputs (safetensors with x uint8 or float32)")
    p.add_argument("--model", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--out", help="write the JSON here instead of printing it")
    m = commands.add_parser("make-task", help="build a task payload from MNIST-format IDX files")
    m.add_argument("--images", required=True)
    m.add_argument("--labels", required=True)
    m.add_argument("--classes", required=True, help="comma-separated original labels; they become 0, 1, ...")
    m.add_argument("--samples", type=int, help="keep the first N matching images")
    m.add_argument("--out", required=True)
    s = commands.add_parser("publish", help="send a task payload to a device")
    s.add_argument("--broker", required=True, help="HOST:PORT")
    s.add_argument("--device", required=True)
    s.add_argument("--task-id", required=True)
    s.add_argument("--file", required=True)
    e = commands.add_parser(
        "export-body", help="initial weights for a device (Model:InitialWeights): a fresh body from these modules",
        description="Builds the network the device builds for Model:Architecture=ARCHITECTURE[:WIDTH] and "
                    "Model:InputShape=INPUT_SHAPE from this script's modules, with PyTorch's default initialisation "
                    "after torch.manual_seed(SEED), and writes its body (every parameter and buffer, no heads, named "
                    "as in the model file; float32, num_batches_tracked int64) as safetensors. Give the file to a "
                    "device as Model:InitialWeights to start it from PyTorch's weights.")
    e.add_argument("--architecture", required=True, choices=KINDS)
    e.add_argument("--input-shape", required=True, help="comma-separated: C,H,W or H,W for images, e.g. 3,32,32 (mlp: any, e.g. 784)")
    e.add_argument("--width", type=float, default=1.0, help="width multiplier (alexnet and the ResNets; default 1)")
    e.add_argument("--hidden", default="100,100", help="mlp hidden sizes, comma-separated (default 100,100)")
    e.add_argument("--seed", type=int, help="torch.manual_seed before building (default: unseeded)")
    e.add_argument("--out", required=True)
    f = commands.add_parser("features", help="the body's output features for inputs (a model file or an export-body file)")
    f.add_argument("--model", required=True, help="a model file or a body file from export-body")
    f.add_argument("--inputs", required=True, help="safetensors with x uint8 or float32, normalised as predict does")
    f.add_argument("--mean", type=float, help=f"normalisation mean (default: the model file's, else {DEFAULT_MEAN})")
    f.add_argument("--std", type=float, help=f"normalisation std (default: the model file's, else {DEFAULT_STD})")
    f.add_argument("--out", help="write the JSON here instead of printing it")
    args = parser.parse_args(argv)

    if args.command in ("predict", "features"):
        model, metadata = load_model(args.model)
        x = read_safetensors(args.inputs)[0]["x"]
        if args.command == "predict":
            predictions, probabilities = predict(model, metadata, args.task, x)
            text = json.dumps({"predictions": predictions.tolist(), "probabilities": probabilities.tolist()})
        else:
            text = json.dumps({"features": features(model, metadata, x, args.mean, args.std).tolist()})
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out:
                out.write(text)
        else:
            print(text)
    elif args.command == "export-body":
        shape = [int(d) for d in args.input_shape.split(",")]
        hidden = [int(d) for d in args.hidden.split(",")]
        payload, arch = export_body(args.architecture, shape, args.width, hidden, args.seed)
        with open(args.out, "wb") as out:
            out.write(payload)
        print(f"{args.out}: the body of {json.dumps(arch)}")
    elif args.command == "make-task":
        images, labels = read_idx(args.images), read_idx(args.labels).long()
        wanted = [int(c) for c in args.classes.split(",")]
        rows = torch.cat([(labels == c).nonzero().flatten() for c in wanted]).sort().values[:args.samples]
        y = torch.tensor([wanted.index(int(label)) for label in labels[rows]])
        with open(args.out, "wb") as out:
            out.write(make_task(images[rows], y, name=f"classes {args.classes}", classes=len(wanted)))
        print(f"{args.out}: {len(rows)} images of classes {args.classes}")
    else:
        host, _, port = args.broker.rpartition(":")
        with open(args.file, "rb") as source:
            payload = source.read()
        publish_task(host, int(port), args.device, args.task_id, payload)
        print(f"published {args.task_id} ({len(payload)} bytes) to became/{args.device}/tasks/{args.task_id}")


if __name__ == "__main__":
    sys.exit(main())
