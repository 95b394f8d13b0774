#!/usr/bin/env python3
r"""Became from PyTorch: run a device's model file on your machine, and send the device a new task.

    python3 became_example.py predict --model model.safetensors --task TASK --inputs x.safetensors [--out preds.json]
    python3 became_example.py make-task --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \
        --classes 4,5 [--samples 300] --out task.safetensors
    python3 became_example.py publish --broker HOST:PORT --device DEVICE --task-id TASK --file task.safetensors

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

class BecameMlp(nn.Module):
    """The device's network: bias-free shared linear layers with ReLU, then one linear head per task. Its
    state_dict keys are the model file's tensor names (shared.{i}.weight, heads.{t}.weight)."""

    def __init__(self, input_size, hidden_sizes, head_classes):
        super().__init__()
        sizes = [input_size, *hidden_sizes]
        self.shared = nn.ModuleList(nn.Linear(i, o, bias=False) for i, o in zip(sizes, sizes[1:]))
        self.heads = nn.ModuleList(nn.Linear(sizes[-1], classes, bias=False) for classes in head_classes)

    def forward(self, x, head):
        for layer in self.shared:
            x = torch.relu(layer(x))
        return self.heads[head](x)


class BecameAlexNet(nn.Module):
    """The device's AlexNet (Model:Architecture=alexnet[:W]): bias-free convolutions 4x4, 3x3, 2x2, each with batch
    norm, ReLU, dropout and 2x2 max-pooling, then two bias-free linear layers with batch norm, ReLU and dropout, and
    one linear head per task. Batch norm keeps no running statistics, as on the device: it always normalises with the
    batch's own statistics, so predict at least 2 inputs at a time. Its state_dict keys are the model file's names
    (conv1.weight, bn1.weight, bn1.bias, ..., fc1.weight, bn4.*, fc2.weight, bn5.*, heads.{t}.weight)."""

    def __init__(self, input_shape, channels, hidden_size, head_classes):
        super().__init__()
        c, h, w = input_shape if len(input_shape) == 3 else (1, *input_shape)
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

    def forward(self, x, head):
        x = x.reshape(x.shape[0], *self.input_shape)
        for conv, bn, p in ((self.conv1, self.bn1, 0.2), (self.conv2, self.bn2, 0.2), (self.conv3, self.bn3, 0.5)):
            x = nn.functional.max_pool2d(nn.functional.dropout(torch.relu(bn(conv(x))), p, self.training), 2)
        x = x.flatten(1)
        for fc, bn in ((self.fc1, self.bn4), (self.fc2, self.bn5)):
            x = nn.functional.dropout(torch.relu(bn(fc(x))), 0.5, self.training)
        return self.heads[head](x)


def load_model(path):
    """Rebuilds the network of a Became model file. Returns (model in eval mode, metadata) where metadata's
    architecture, tasks and normalization are parsed from their JSON."""
    tensors, raw = read_safetensors(path)
    if raw.get("format") != "became-model/1":
        raise ValueError(f"{path} is not a Became model file (format {raw.get('format')!r})")
    metadata = dict(raw)
    for key in ("architecture", "tasks", "normalization"):
        metadata[key] = json.loads(raw[key])
    for key in ("version", "parent"):
        metadata[key] = int(raw[key])
    arch = metadata["architecture"]
    if arch["kind"] not in ("mlp", "alexnet") or arch["activation"] != "relu" or arch["bias"]:
        raise ValueError(f"unsupported architecture {arch}")
    if arch["kind"] == "alexnet":
        model = BecameAlexNet(arch["inputShape"], arch["channels"], arch["hiddenSize"], arch["heads"])
    else:
        input_size = 1
        for d in arch["inputShape"]:
            input_size *= d
        model = BecameMlp(input_size, arch["hiddenSizes"], arch["heads"])
    model.load_state_dict(tensors)  # strict: every name and shape must match
    return model.eval(), metadata


def predict(model, metadata, task_id, x):
    """Predictions (int64 [N]) and softmax probabilities (float32 [N, classes]) of the head of `task_id`, as the
    device computes them: uint8 pixels / 255 (float inputs are taken as already in 0..1), flattened,
    (x - mean) / std, the shared layers, the task's head."""
    tasks = metadata["tasks"]
    if task_id not in tasks:
        raise KeyError(f"the model (version {metadata['version']}) does not know task {task_id!r}; it knows {tasks}")
    norm = metadata["normalization"]
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    x = (x.reshape(x.shape[0], -1) - norm["mean"]) / norm["std"]
    with torch.no_grad():
        probabilities = torch.softmax(model(x, tasks.index(task_id)), dim=1)
    return probabilities.argmax(dim=1), probabilities


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
    args = parser.parse_args(argv)

    if args.command == "predict":
        model, metadata = load_model(args.model)
        x = read_safetensors(args.inputs)[0]["x"]
        predictions, probabilities = predict(model, metadata, args.task, x)
        text = json.dumps({"predictions": predictions.tolist(), "probabilities": probabilities.tolist()})
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            print(text)
    elif args.command == "make-task":
        images, labels = read_idx(args.images), read_idx(args.labels).long()
        wanted = [int(c) for c in args.classes.split(",")]
        rows = torch.cat([(labels == c).nonzero().flatten() for c in wanted]).sort().values[:args.samples]
        y = torch.tensor([wanted.index(int(label)) for label in labels[rows]])
        with open(args.out, "wb") as f:
            f.write(make_task(images[rows], y, name=f"classes {args.classes}", classes=len(wanted)))
        print(f"{args.out}: {len(rows)} images of classes {args.classes}")
    else:
        host, _, port = args.broker.rpartition(":")
        with open(args.file, "rb") as f:
            payload = f.read()
        publish_task(host, int(port), args.device, args.task_id, payload)
        print(f"published {args.task_id} ({len(payload)} bytes) to became/{args.device}/tasks/{args.task_id}")


if __name__ == "__main__":
    sys.exit(main())
