#!/usr/bin/python3
"""results.jsonl (train.py's log) -> the markdown table of docs/recipe-log.md, one row per experiment.

usage: /usr/bin/python3 tools/recipe/summarize.py [results.jsonl]   (prints the table)
"""
import json
import os
import sys

DEFAULTS = {"batch": 32, "optimizer": "adam", "momentum": 0.9, "wd": 0.0, "schedule": "cosine", "aug": "t2",
            "jitter": "0,0,0,0", "norm": "dataset", "smooth": 0.0, "pretrain_epochs": 0, "warmup": 0}


def settings(a):
    parts = ["%s %dpx" % (a["model"], a["size"])]
    if a["model"] != "autoencoder":
        parts[0] += " w%g" % a["width"]
    parts.append("%s lr %g" % (a["optimizer"], a["lr"]))
    if a["optimizer"] == "sgd":
        parts[-1] += " m%g" % a["momentum"] + (" nesterov" if a.get("nesterov") else "")
    if a["wd"]:
        parts.append(("adamw " if a.get("adamw") else "wd ") + "%g" % a["wd"])
    parts.append(a["schedule"] + (" warmup %d" % a["warmup"] if a.get("warmup") else ""))
    parts.append("b%d" % a["batch"])
    parts.append("aug " + a["aug"])
    if a["jitter"] != "0,0,0,0":
        parts.append("jitter " + a["jitter"])
    parts.append("norm " + a["norm"])
    if a["smooth"]:
        parts.append("ls %g" % a["smooth"])
    if a["model"] == "mobilenetv2" and a.get("dropout", 0.2) != 0.2:
        parts.append("dropout %g" % a["dropout"])
    if a["pretrain_epochs"]:
        parts.append("pretrain %d" % a["pretrain_epochs"])
    if a.get("freeze_encoder"):
        parts.append("frozen enc")
    if a.get("limit_train"):
        parts.append("limit %d" % a["limit_train"])
    if a.get("seed", 1) != 1:
        parts.append("seed %d" % a["seed"])
    return ", ".join(parts)


def best_seen(history):
    rows = [h for h in history if "val_acc" in h]
    if not rows:
        return ""
    b = max(rows, key=lambda h: h["val_acc"])
    return "%.2f@%d" % (100 * b["val_acc"], b["epoch"])


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results.jsonl")
    print("| tag | settings | epochs | params | wall min | s/epoch | train acc | val acc | val AUC | sens | spec |"
          " acc hflip-TTA | acc D4-TTA | AUC D4-TTA | best mid-run acc@epoch | note |")
    print("|" + "---|" * 16)
    for line in open(path):
        r = json.loads(line)
        a, v, h = r["args"], r["val"], r["history"]
        per_epoch = sum(x["seconds"] for x in h) / max(1, len(h))
        print("| %s | %s | %d | %d | %.1f | %.0f | %.2f | **%.2f** | %.4f | %.2f | %.2f | %.2f | %.2f | %.4f | %s | %s |" % (
            r["tag"], settings(a), a["epochs"], r["params"], r["wall_s"] / 60, per_epoch,
            100 * h[-1]["train_acc"], 100 * v["plain"]["acc"], v["plain"]["auc"], 100 * v["plain"]["sens"],
            100 * v["plain"]["spec"], 100 * v["hf"]["acc"], 100 * v["d4"]["acc"], v["d4"]["auc"],
            best_seen(h), r.get("note", "")))


if __name__ == "__main__":
    main()
