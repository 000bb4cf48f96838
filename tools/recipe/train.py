#!/usr/bin/python3
"""One recipe experiment: train a plasmo architecture in PyTorch on the patient split, evaluate on the
held-out patients, append the result to a JSON-lines log.

usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/recipe/train.py --model autoencoder --size 32 ... --tag NAME

Data: tools/recipe/prep.py's cache (--data DIR, default /tmp/recipe/data): x{S}.npy uint8 [N, 3, S, S] and
meta.npz (label, val, patient), rows in the order of `plasmo data-info --split-out`'s CSV, so training and
validation patients are exactly plasmo's (--val-frac 0.2 --seed 1).

Every operation here is meant to be reproducible in plasmo with per-image arithmetic:
  input      v in [0, 255] (uint8 after plasmo's area resize), optionally augmented (float, bilinear warp,
             black fill, as data_loader/augment), then
  --norm     dataset : x = (v/255 - mean_c) / std_c with the training side's per-channel mean/std (plasmo's)
             fg      : per image, per channel: mean m_c and std s_c over the foreground pixels (r+g+b > 30,
                       i.e. not the black surround), x = (v - m_c) / s_c on the foreground, 0 on the background
             fgall   : as fg but (v - m_c) / s_c everywhere (background too; no mask at the output)
             grey    : grey world: v'_c = v_c * (g / m_c) with g = (m_r + m_g + m_b) / 3 over the foreground,
                       then the dataset mean/std of the grey-world training images
  --aug      none | t2 (seed Table 2: rot +-20, scale +-5 %, shift +-5 %, shear +-0.05, hflip) | t2v (+ vflip)
             | d4 (t2 + vflip + a random multiple of 90 degrees) | d4only (flips and rot90 only) |
             d4big (d4 with rot +-180, scale +-10 %, shift +-10 %)
  --jitter B,C,H,S brightness / contrast / hue / saturation jitter on [0,255] pixels before the norm:
             v *= U(1-B, 1+B); v = mean + (v - mean) * U(1-C, 1+C) (mean over the image); per-channel gain
             U(1-H, 1+H) (a colour-cast jitter, not HSV hue); saturation: grey + (v - grey) * U(1-S, 1+S)
             (grey = per-pixel channel mean). Only foreground pixels change (the black surround stays 0).
TTA: probabilities averaged over the 8 dihedral transforms (d4) and over {id, hflip} (hf), reported beside
the plain evaluation.
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_models  # noqa: E402  tools/torch_models.py: plasmo's architectures in PyTorch

FG_THRESHOLD = 30.0  # r + g + b above this (0..765 scale) is cell; NIH crops have an exact-black surround


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="autoencoder")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--wd", type=float, default=0.0)
    p.add_argument("--adamw", action="store_true", help="decoupled weight decay (AdamW) instead of L2")
    p.add_argument("--schedule", default="cosine", help="constant | cosine | exp:G | step:N:G")
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear warm-up (counted in batches)")
    p.add_argument("--aug", default="t2")
    p.add_argument("--jitter", default="0,0,0,0")
    p.add_argument("--norm", default="dataset")
    p.add_argument("--smooth", type=float, default=0.0, help="label smoothing")
    p.add_argument("--dropout", type=float, default=0.2, help="mobilenetv2 classifier dropout")
    p.add_argument("--pretrain-epochs", type=int, default=0)
    p.add_argument("--pretrain-lr", type=float, default=1e-3)
    p.add_argument("--pretrain-aug", default="none")
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--bn-eval-stats", action="store_true", help="unused placeholder")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default="/tmp/recipe/data")
    p.add_argument("--limit-train", type=int, default=0, help="use only N training images (quick checks)")
    p.add_argument("--eval-every", type=int, default=0, help="also evaluate every N epochs (0: only at the end)")
    p.add_argument("--save", default="", help="write the final state_dict here (.pt)")
    p.add_argument("--preds", default="/tmp/recipe/preds", help="folder for the val probabilities (TAG.npz)")
    p.add_argument("--log", default="/work/wt/recipe/tools/recipe/results.jsonl")
    p.add_argument("--tag", default="")
    p.add_argument("--note", default="")
    return p.parse_args()


# ---------------------------------------------------------------- preprocessing (all on [0, 255] floats)

def fg_mask(v):
    """[N, 1, H, W] bool: cell pixels (not the black surround)."""
    return v.sum(1, keepdim=True) > FG_THRESHOLD


def fg_stats(v, mask):
    """Per image and channel, mean and std over the foreground: [N, 3, 1, 1] each."""
    m = mask.float()
    count = m.sum((2, 3), keepdim=True).clamp_min(1.0)
    mean = (v * m).sum((2, 3), keepdim=True) / count
    var = (((v - mean) * m) ** 2).sum((2, 3), keepdim=True) / count
    return mean, var.sqrt().clamp_min(1.0)


class Normalizer:
    def __init__(self, kind, train_u8):
        self.kind = kind
        self.mean = self.std = None
        if kind in ("dataset", "grey"):
            # per-channel mean/std over the training side's pixels, in chunks (as compute_normalization)
            total = torch.zeros(3, dtype=torch.float64)
            total_sq = torch.zeros(3, dtype=torch.float64)
            count = 0
            for start in range(0, len(train_u8), 2048):
                v = torch.from_numpy(train_u8[start:start + 2048]).float()
                if kind == "grey":
                    v = self.grey_world(v)
                v = v / 255.0
                total += v.double().sum((0, 2, 3))
                total_sq += (v.double() ** 2).sum((0, 2, 3))
                count += v.shape[0] * v.shape[2] * v.shape[3]
            mean = total / count
            self.mean = mean.float().view(1, 3, 1, 1)
            self.std = (total_sq / count - mean ** 2).sqrt().float().view(1, 3, 1, 1)

    @staticmethod
    def grey_world(v):
        mask = fg_mask(v)
        mean, _ = fg_stats(v, mask)
        grey = mean.mean(1, keepdim=True)
        return (v * (grey / mean.clamp_min(1.0))).clamp(0, 255)

    def __call__(self, v):
        """v: float [N, 3, H, W] in [0, 255] -> model input."""
        if self.kind == "dataset":
            return (v / 255.0 - self.mean) / self.std
        if self.kind == "grey":
            return (self.grey_world(v) / 255.0 - self.mean) / self.std
        mask = fg_mask(v)
        mean, std = fg_stats(v, mask)
        x = (v - mean) / std
        if self.kind == "fg":
            x = x * mask.float()
        elif self.kind != "fgall":
            raise ValueError("unknown --norm " + self.kind)
        return x

    def info(self):
        if self.mean is None:
            return {}
        return {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


# ---------------------------------------------------------------- augmentation

AUG = {  # rotation degrees, scale, shift fraction, shear, hflip p, vflip p, rot90
    "none": None,
    "t2": (20, 0.05, 0.05, 0.05, 0.5, 0.0, False),
    "t2v": (20, 0.05, 0.05, 0.05, 0.5, 0.5, False),
    "d4": (20, 0.05, 0.05, 0.05, 0.5, 0.5, True),
    "d4only": (0, 0.0, 0.0, 0.0, 0.5, 0.5, True),
    "d4big": (180, 0.10, 0.10, 0.05, 0.5, 0.5, True),
    "d4s": (20, 0.10, 0.05, 0.05, 0.5, 0.5, True),
}


def augment(v, kind, gen):
    """Random affine warp per image (bilinear, zero fill), like data_loader/augment: [N,3,H,W] floats."""
    cfg = AUG[kind]
    if cfg is None:
        return v
    rot, scale, shift, shear, hp, vp, rot90 = cfg
    n = v.shape[0]
    u = lambda: torch.rand(n, generator=gen) * 2 - 1  # noqa: E731
    angle = u() * rot * math.pi / 180
    if rot90:
        angle = angle + torch.randint(0, 4, (n,), generator=gen).float() * (math.pi / 2)
    s = 1 + u() * scale
    tx, ty = u() * shift * 2, u() * shift * 2  # fractions of the size -> [-1, 1] grid units
    h = u() * shear
    fx = torch.where(torch.rand(n, generator=gen) < hp, -1.0, 1.0)
    fy = torch.where(torch.rand(n, generator=gen) < vp, -1.0, 1.0)
    c, sn = torch.cos(angle), torch.sin(angle)
    # forward map A = R * [[1, h], [0, 1]] * s * F; the grid wants the inverse (output -> source).
    a = torch.zeros(n, 2, 2)
    a[:, 0, 0] = c * s * fx
    a[:, 0, 1] = (c * h - sn) * s * fy
    a[:, 1, 0] = sn * s * fx
    a[:, 1, 1] = (sn * h + c) * s * fy
    inv = torch.linalg.inv(a)
    t = torch.stack([tx, ty], 1).unsqueeze(2)
    theta = torch.cat([inv, -inv @ t], 2)
    grid = F.affine_grid(theta, list(v.shape), align_corners=False)
    return F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def jitter(v, spec, gen):
    b, c, h, s = spec
    if b == c == h == s == 0:
        return v
    n = v.shape[0]
    mask = fg_mask(v).float()
    u = lambda *shape: torch.rand(*shape, generator=gen) * 2 - 1  # noqa: E731
    out = v
    if b:
        out = out * (1 + b * u(n, 1, 1, 1))
    if c:
        mean = (out * mask).sum((1, 2, 3), keepdim=True) / (3 * mask.sum((1, 2, 3), keepdim=True).clamp_min(1))
        out = mean + (out - mean) * (1 + c * u(n, 1, 1, 1))
    if h:
        out = out * (1 + h * u(n, 3, 1, 1))
    if s:
        grey = out.mean(1, keepdim=True)
        out = grey + (out - grey) * (1 + s * u(n, 1, 1, 1))
    return (out * mask + v * (1 - mask)).clamp(0, 255)


# ---------------------------------------------------------------- evaluation

def auc_score(p, y):
    """Area under the ROC: P(score of a positive > score of a negative) + 0.5 P(tie), from ranks."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    i = 0
    while i < len(p):  # average ranks over ties
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def metrics(p, y, threshold=0.5):
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    eps = 1e-7
    loss = float(-np.mean(np.where(y == 1, np.log(np.clip(p, eps, 1)), np.log(np.clip(1 - p, eps, 1)))))
    return {"acc": (tp + tn) / len(y), "auc": float(auc_score(p, y)), "sens": tp / max(1, tp + fn),
            "spec": tn / max(1, tn + fp), "loss": loss, "tp": tp, "tn": tn, "fp": fp, "fn": fn}


def dihedral(x, k):
    """The 8 symmetries of the square: k in 0..7 (rot90 by k%4, then hflip when k >= 4)."""
    x = torch.rot90(x, k % 4, (2, 3))
    return torch.flip(x, (3,)) if k >= 4 else x


@torch.no_grad()
def predict(model, u8, normalizer, transforms, batch=256):
    model.eval()
    out = []
    for start in range(0, len(u8), batch):
        v = torch.from_numpy(u8[start:start + batch]).float()
        x = normalizer(v)
        prob = 0
        for k in transforms:
            prob = prob + F.softmax(model(dihedral(x, k)), 1)[:, 1]
        out.append((prob / len(transforms)).numpy())
    return np.concatenate(out)


def evaluate(model, u8, y, normalizer, preds_path=""):
    p = predict(model, u8, normalizer, [0])
    p_hf = predict(model, u8, normalizer, [0, 4])
    p_d4 = predict(model, u8, normalizer, list(range(8)))
    if preds_path:
        np.savez(preds_path, plain=p, hf=p_hf, d4=p_d4)
    return {"plain": metrics(p, y), "hf": metrics(p_hf, y), "d4": metrics(p_d4, y)}


# ---------------------------------------------------------------- training

def lr_factor(schedule, epoch_float, epochs):
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch_float / epochs))
    parts = schedule.split(":")
    if parts[0] == "exp":
        return float(parts[1]) ** math.floor(epoch_float)
    if parts[0] == "step":
        return float(parts[2]) ** math.floor(epoch_float / int(parts[1]))
    raise ValueError("unknown schedule " + schedule)


def make_optimizer(name, params, lr, momentum, wd, nesterov=False, adamw=False):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=nesterov)
    if name == "adam":
        if adamw:
            return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    raise ValueError(name)


def pretrain(model, x_train, normalizer, args, gen):
    """Autoencoder phase 1: MSE between the sigmoid reconstruction and the [0, 1] input pixels, RMSprop."""
    params = [p for n, p in model.named_parameters() if n.startswith(("enc", "dec"))]
    opt = torch.optim.RMSprop(params, lr=args.pretrain_lr)
    n = len(x_train)
    for epoch in range(args.pretrain_epochs):
        model.train()
        perm = torch.randperm(n, generator=gen).numpy()
        total = 0.0
        for start in range(0, n, args.batch):
            idx = perm[start:start + args.batch]
            v = augment(torch.from_numpy(x_train[idx]).float(), args.pretrain_aug, gen)
            recon = model.reconstruct(normalizer(v))
            loss = F.mse_loss(recon, v / 255.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print("pretrain %d/%d mse %.5f" % (epoch + 1, args.pretrain_epochs, total / n), flush=True)


def main():
    args = parse()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    meta = np.load(os.path.join(args.data, "meta.npz"))
    x_all = np.load(os.path.join(args.data, "x%d.npy" % args.size))
    label, val = meta["label"], meta["val"]
    x_train, y_train = x_all[~val], label[~val]
    if args.limit_train:
        pick = np.random.RandomState(args.seed).permutation(len(x_train))[:args.limit_train]
        x_train, y_train = x_train[pick], y_train[pick]
    x_val, y_val = x_all[val], label[val]
    normalizer = Normalizer(args.norm, x_train)
    jit = [float(t) for t in args.jitter.split(",")]

    if args.model == "mobilenetv2":
        model = torch_models.mobilenetv2(args.width, dropout=args.dropout)
    else:
        model = torch_models.make(args.model, args.width, args.size)
    n_params = sum(p.numel() for p in model.parameters())
    print("model %s size %d width %g params %d; train %d val %d" % (
        args.model, args.size, args.width, n_params, len(x_train), len(x_val)), flush=True)

    t0 = time.time()
    if args.model == "autoencoder" and args.pretrain_epochs:
        pretrain(model, x_train, normalizer, args, gen)
    t_pre = time.time() - t0

    if args.freeze_encoder:
        params = [p for n, p in model.named_parameters() if n.startswith("fc")]
    elif args.model == "autoencoder":
        params = [p for n, p in model.named_parameters() if not n.startswith("dec")]
    else:
        params = list(model.parameters())
    opt = make_optimizer(args.optimizer, params, args.lr, args.momentum, args.wd, args.nesterov, args.adamw)
    y_train_t = torch.from_numpy(y_train)
    n = len(x_train)
    steps_per_epoch = (n + args.batch - 1) // args.batch
    history = []
    for epoch in range(args.epochs):
        model.train()
        if args.freeze_encoder:
            model.eval()
        perm = torch.randperm(n, generator=gen).numpy()
        total, correct = 0.0, 0
        te = time.time()
        for step, start in enumerate(range(0, n, args.batch)):
            e_float = epoch + step / steps_per_epoch
            factor = lr_factor(args.schedule, e_float if args.schedule == "cosine" else epoch, args.epochs)
            if args.warmup and e_float < args.warmup:
                factor *= (e_float + 1.0 / steps_per_epoch) / args.warmup
            for g in opt.param_groups:
                g["lr"] = args.lr * factor
            idx = perm[start:start + args.batch]
            v = torch.from_numpy(x_train[idx]).float()
            v = jitter(augment(v, args.aug, gen), jit, gen)
            logits = model(normalizer(v))
            target = y_train_t[idx]
            loss = F.cross_entropy(logits, target, label_smoothing=args.smooth)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == target).sum())
        row = {"epoch": epoch + 1, "train_loss": total / n, "train_acc": correct / n, "seconds": time.time() - te}
        if args.eval_every and ((epoch + 1) % args.eval_every == 0) and epoch + 1 < args.epochs:
            m = metrics(predict(model, x_val, normalizer, [0]), y_val)
            row.update({"val_acc": m["acc"], "val_auc": m["auc"], "val_loss": m["loss"]})
        history.append(row)
        print(json.dumps(row), flush=True)
    wall = time.time() - t0
    preds_path = ""
    if args.preds and args.tag:
        os.makedirs(args.preds, exist_ok=True)
        preds_path = os.path.join(args.preds, args.tag + ".npz")
    result = evaluate(model, x_val, y_val, normalizer, preds_path)
    record = {"tag": args.tag, "note": args.note, "args": vars(args), "params": n_params,
              "bytes_f32": 4 * n_params, "wall_s": wall, "pretrain_s": t_pre,
              "train_images": n, "history": history, "val": result, "norm": normalizer.info()}
    print("VAL plain acc %.4f auc %.4f | hflip acc %.4f auc %.4f | d4 acc %.4f auc %.4f | %.0f s" % (
        result["plain"]["acc"], result["plain"]["auc"], result["hf"]["acc"], result["hf"]["auc"],
        result["d4"]["acc"], result["d4"]["auc"], wall), flush=True)
    if args.log:
        with open(args.log, "a") as f:
            f.write(json.dumps(record) + "\n")
    if args.save:
        torch.save(model.state_dict(), args.save)


if __name__ == "__main__":
    main()
