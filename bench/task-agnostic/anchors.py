#!/usr/bin/env python3
"""Anchors for Became's answers without a task id, on Fashion-MNIST (Debian's dataset-fashion-mnist):

  1. raw-pixel LDA: class means and one shrunk pooled covariance of the 784 pixels (scaled to 0..1), equal priors;
     the 10-way accuracy and, grouping the classes as split-fmnist's tasks {0,1},{2,3},..., the task-id accuracy;
  2. a jointly trained 784-100-100-10 MLP (ReLU, SGD lr 0.01 momentum 0.9, batch 64, 10 epochs): the upper bound
     for a learner that saw every class at once.

    python3 bench/task-agnostic/anchors.py [--shrinkage 0.1] [--epochs 10] [--seed 0]

Needs numpy and torch (Debian: python3-numpy, python3-torch). Prints one line per anchor.
"""
import argparse, gzip, struct, time
import numpy as np

ROOT = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{ROOT}/{name}", "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def lda(xtr, ytr, xte, yte, shrinkage):
    classes = 10
    means = np.stack([xtr[ytr == c].mean(0) for c in range(classes)])
    centred = xtr - means[ytr]
    cov = centred.T @ centred / (len(xtr) - classes)
    d = cov.shape[0]
    shrunk = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)
    w = np.linalg.solve(shrunk, means.T).T
    b = -0.5 * (w * means).sum(1)
    pred = (xte @ w.T + b).argmax(1)
    return 100 * (pred == yte).mean(), 100 * (pred // 2 == yte // 2).mean()


def joint_mlp(xtr, ytr, xte, yte, epochs, seed):
    import torch
    torch.manual_seed(seed)
    mean, std = 0.2860, 0.3530
    xtr_t = (torch.tensor(xtr, dtype=torch.float32) - mean) / std
    xte_t = (torch.tensor(xte, dtype=torch.float32) - mean) / std
    ytr_t = torch.tensor(ytr, dtype=torch.int64)
    net = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for _ in range(epochs):
        order = torch.randperm(len(xtr_t))
        for i in range(0, len(order), 64):
            batch = order[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr_t[batch]), ytr_t[batch]).backward()
            opt.step()
    with torch.no_grad():
        pred = net(xte_t).argmax(1).numpy()
    return 100 * (pred == yte).mean(), 100 * (pred // 2 == yte // 2).mean()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shrinkage", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    xtr = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float64) / 255
    ytr = idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float64) / 255
    yte = idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    t = time.time()
    acc, task = lda(xtr, ytr, xte, yte, a.shrinkage)
    print(f"raw-pixel LDA (shrinkage {a.shrinkage}): 10-way {acc:.2f} %, split task id {task:.2f} %  ({time.time() - t:.1f} s)")
    t = time.time()
    acc, task = joint_mlp(xtr.astype(np.float32), ytr, xte.astype(np.float32), yte, a.epochs, a.seed)
    print(f"joint 784-100-100-10 MLP ({a.epochs} epochs, seed {a.seed}): 10-way {acc:.2f} %, split task id {task:.2f} %  ({time.time() - t:.1f} s)")


if __name__ == "__main__":
    main()
