"""Time the course's CIFAR-10 reference training against airbench94, same GPU, same data, same run.

    .venv/bin/python benchmarks/cifar10_gpu.py                 # on a machine with a CUDA GPU
    .venv/bin/python benchmarks/cifar10_gpu.py --runs 10 --json out.json
    .venv/bin/python benchmarks/cifar10_gpu.py --cpu-smoke     # tiny version on CPU, seconds

What it does:

1. Data. If ``<data>/cifar-10-batches-py`` holds the real CIFAR-10 (``$COURSE_DATA``, else
   ``./data``; or ``--data-root``), it is used. Otherwise (these machines are offline) the
   course's synthetic CIFAR-shaped set is generated at full size, 50 000 training and 10 000
   test images, written in torchvision's format under ``<workdir>/synthetic/`` and read back
   through the course's torchvision path (``course_lib.datasets.load_cifar10``). The very
   same arrays are then ALSO written as ``<workdir>/cifar10/train.pt`` and ``test.pt``, the
   files airbench's ``CifarLoader`` reads instead of downloading: ``{"images": uint8 tensor
   (N, 32, 32, 3), "labels": int64 tensor (N,), "classes": list of str}``.
2. The course's run: ``course_lib.cifar_speed.train_fast`` (uint8 data on the GPU, crop + flip
   on the GPU, channels_last, bf16 autocast, fused Nesterov SGD; ``--compile`` adds
   ``torch.compile``), 10 epochs of 48 steps of 1024 images.
3. airbench94 (``pip install airbench``, imported only here): ``airbench.train94`` with its own
   defaults (9.9 epochs of 48 steps of 1024 images, fp16, whitening layer, lookahead, label
   smoothing), run from ``<workdir>`` so that it finds ``cifar10/*.pt``.
4. One warm-up run of each (not timed: cuDNN autotuning, CUDA context, lazy init), then
   ``--runs`` timed runs, the two alternating so that clock changes hit both alike.

What is compared: wall time of one training run, from building the model to the end of the
last step, GPU synchronised at both ends. Excluded for both: reading the files and moving the
training set to the GPU (done once), and the final evaluation. airbench's time includes what
``train94`` does inside the call (loading ``test.pt`` to the GPU, the whitening layer's
initialisation). Accuracy: test accuracy without test-time augmentation for both, and
airbench's own figure with its default test-time augmentation (mirror + translate) beside it.
On the real data airbench94 reaches 94 % in about 10 epochs; the course's run trains the
same number of epochs with the same batch size, the same widths of network and the same
augmentation (translate by 2 px + flip), without airbench's tricks. On the synthetic set the
accuracies only show that both runs learn; the times are what the benchmark is for.
The course's target: its median wall time within 1.5x of airbench94's.
"""

import argparse
import contextlib
import json
import math
import os
import pickle
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SYNTHETIC_NOTE = "synthetic (CIFAR-10 not available offline)"
TARGET_RATIO = 1.5


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=None, help="timed runs of each (the median is reported); default 5 (1 with --cpu-smoke)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up runs of each; default 1 (0 with --cpu-smoke)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the course's run; default 10 (1 with --cpu-smoke)")
    p.add_argument("--airbench-epochs", type=float, default=None, help="epochs of airbench94; default its own 9.9")
    p.add_argument("--train-size", type=int, default=None, help="training images; default 50000 (250 with --cpu-smoke)")
    p.add_argument("--test-size", type=int, default=None, help="test images; default 10000 (100 with --cpu-smoke)")
    p.add_argument("--workdir", default=None, help="where the data files are written; default <data>/cache/cifar10_gpu")
    p.add_argument("--data-root", default=None, help="folder that may hold the real cifar-10-batches-py; default $COURSE_DATA or ./data")
    p.add_argument("--compile", action="store_true", help="torch.compile the course's model (compilation happens in the warm-up)")
    p.add_argument("--no-airbench", action="store_true", help="time the course's run only")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--cpu-smoke", action="store_true", help="run a tiny version on the CPU (seconds): checks the plumbing, times nothing useful")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------


def _synthetic_ready(folder, n_train, n_test):
    """True when ``folder`` holds the course's synthetic set of exactly these sizes."""
    try:
        with open(os.path.join(folder, "batches.meta"), "rb") as f:
            marker = pickle.load(f, encoding="latin1").get("course_synthetic")
    except Exception:
        return False
    return bool(marker) and marker.get("images_per_batch") * 5 == n_train and marker.get("test_images") == n_test


def prepare_data(data_root, workdir, n_train, n_test):
    """The real CIFAR-10 if present, else the synthetic set; both splits as NumPy plus airbench's .pt files.

    Returns ``(train, test, source)`` with ``train = (images uint8 (N, 32, 32, 3), labels int64 (N,))``.
    """
    import numpy as np
    import torch

    from course_lib import datasets

    source = None
    splits = None
    try:
        real = [datasets.load_cifar10(data_root, train=t, fallback=False) for t in (True, False)]
        if real[0].source != "synthetic":
            source = "CIFAR-10 (" + real[0].source + " files)"
            splits = [(d.data[:n], np.asarray(d.targets[:n], dtype=np.int64), list(d.classes)) for d, n in zip(real, (n_train, n_test))]
    except (FileNotFoundError, RuntimeError):
        pass
    if splits is None:
        if n_train % 5:
            raise SystemExit(f"--train-size must be a multiple of 5 for the synthetic set (5 training batches), got {n_train}.")
        syn_root = os.path.join(workdir, "synthetic")
        folder = os.path.join(syn_root, datasets.CIFAR10_FOLDER)
        if not _synthetic_ready(folder, n_train, n_test):
            print(f"Writing {n_train} + {n_test} synthetic CIFAR-shaped images to {folder} ...", flush=True)
            datasets.write_cifar10_files(syn_root, images_per_batch=n_train // 5, test_images=n_test)
        sets = [datasets.load_cifar10(syn_root, train=t, fallback=False) for t in (True, False)]
        splits = [(d.data, np.asarray(d.targets, dtype=np.int64), list(d.classes)) for d in sets]
        source = SYNTHETIC_NOTE
    ab_dir = os.path.join(workdir, "cifar10")
    os.makedirs(ab_dir, exist_ok=True)
    for name, (images, labels, classes) in zip(("train.pt", "test.pt"), splits):
        payload = {"images": torch.from_numpy(np.ascontiguousarray(images)), "labels": torch.from_numpy(labels), "classes": classes}
        tmp = os.path.join(ab_dir, name + ".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, os.path.join(ab_dir, name))
    return splits[0][:2], splits[1][:2], source


# ------------------------------------------------------------------------------------------
# The two runs
# ------------------------------------------------------------------------------------------


def course_runner(train, test, epochs, batch_size, device, compile_model, small):
    import torch

    from course_lib import cifar_speed

    x_train = cifar_speed.to_device_images(train[0], device)
    y_train = torch.as_tensor(train[1]).to(device)
    x_test = cifar_speed.to_device_images(test[0], device)
    y_test = torch.as_tensor(test[1]).to(device)
    extra = {"widths": (8, 16, 16), "stem": 8} if small else {}

    def run(seed):
        model, info = cifar_speed.train_fast(x_train, y_train, epochs, batch_size, device=device, compile=compile_model, seed=seed, **extra)
        acc = cifar_speed.evaluate_fast(model, x_test, y_test)
        return {"seconds": info["seconds"], "acc": acc, "acc_tta": None, "steps": info["steps"], "epochs": epochs}

    return run


@contextlib.contextmanager
def _cwd(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def airbench_runner(workdir, epochs):
    """A function running airbench94 once, or ``None`` (with one sentence printed) when it cannot run."""
    try:
        import airbench
        from airbench.lib_airbench94 import hyp
    except ImportError:
        print("airbench is not installed, so only the course's run is timed: `pip install airbench` adds the airbench94 baseline.")
        return None
    import torch

    epochs = hyp["opt"]["train_epochs"] if epochs is None else epochs
    with _cwd(workdir):  # train94 reads ./cifar10/train.pt and test.pt
        train_loader = airbench.CifarLoader("cifar10", train=True, batch_size=hyp["opt"]["batch_size"], aug=hyp["aug"], altflip=True)
        test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)

    def run(seed):
        torch.manual_seed(seed)
        with _cwd(workdir):
            torch.cuda.synchronize()
            start = time.perf_counter()
            model = airbench.train94(train_loader, epochs=epochs, verbose=False)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        acc = airbench.evaluate(model, test_loader, tta_level=0)
        acc_tta = airbench.evaluate(model, test_loader, tta_level=hyp["net"]["tta_level"])
        steps = math.ceil(len(train_loader) * epochs)  # what train94 runs
        return {"seconds": seconds, "acc": acc, "acc_tta": acc_tta, "steps": steps, "epochs": epochs}

    return run


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------


def summarize(results):
    secs = [r["seconds"] for r in results]
    accs = [r["acc"] for r in results]
    ttas = [r["acc_tta"] for r in results if r["acc_tta"] is not None]
    return {
        "runs": len(results),
        "median_s": statistics.median(secs),
        "min_s": min(secs),
        "max_s": max(secs),
        "acc": statistics.mean(accs),
        "acc_tta": statistics.mean(ttas) if ttas else None,
        "epochs": results[0]["epochs"],
        "steps": results[0]["steps"],
        "all_s": secs,
    }


def print_table(summary, meta):
    print()
    print(f"GPU: {meta['gpu']}   torch {meta['torch']}   CUDA {meta['cuda']}   Python {meta['python']}")
    print(f"data: {meta['data']}, {meta['n_train']} training / {meta['n_test']} test images")
    print(f"timed runs: {meta['runs']} of each after {meta['warmup']} warm-up run(s); wall time = model build + training, GPU synchronised")
    header = ("run", "epochs", "steps", "wall s (median)", "min s", "max s", "test acc", "acc with TTA")
    rows = []
    for name, s in summary.items():
        if s is None:
            continue
        rows.append((
            name, f"{s['epochs']:g}", str(s["steps"]), f"{s['median_s']:.3f}", f"{s['min_s']:.3f}", f"{s['max_s']:.3f}",
            f"{100 * s['acc']:.2f} %", "-" if s["acc_tta"] is None else f"{100 * s['acc_tta']:.2f} %",
        ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    if meta.get("ratio") is not None:
        verdict = "met" if meta["ratio"] <= TARGET_RATIO else "NOT met"
        print(f"ratio course / airbench94 (median wall time): {meta['ratio']:.2f}  (target <= {TARGET_RATIO}: {verdict})")
    else:
        print("ratio course / airbench94: - (airbench94 not run)")


def main(argv=None):
    args = parse_args(argv)
    import torch

    from course_lib import runtime

    on_gpu = torch.cuda.is_available()
    if not on_gpu and not args.cpu_smoke:
        print("No CUDA GPU is visible, so there is nothing to benchmark here: run this on a machine with a GPU, or pass --cpu-smoke for a tiny check of the plumbing.")
        return 2
    small = args.cpu_smoke
    device = "cuda" if on_gpu and not small else "cpu"
    n_train = args.train_size or (250 if small else 50_000)
    n_test = args.test_size or (100 if small else 10_000)
    epochs = args.epochs or (1 if small else 10)
    batch_size = 64 if small else 1024
    runs = max(1, args.runs if args.runs is not None else (1 if small else 5))
    warmup = max(0, args.warmup if args.warmup is not None else (0 if small else 1))
    data_root = args.data_root or runtime.data_dir()
    workdir = os.path.abspath(args.workdir or os.path.join(data_root, "cache", "cifar10_gpu"))
    os.makedirs(workdir, exist_ok=True)

    train, test, source = prepare_data(data_root, workdir, n_train, n_test)
    runners = {"course (cifar_speed)": course_runner(train, test, epochs, batch_size, device, args.compile, small)}
    if args.no_airbench:
        pass
    elif device != "cuda":
        print("airbench94 needs a CUDA GPU, so --cpu-smoke times the course's run only (airbench's .pt files are written all the same).")
    else:
        ab = airbench_runner(workdir, args.airbench_epochs)
        if ab is not None:
            runners["airbench94"] = ab

    for name, run in runners.items():
        for w in range(warmup):
            print(f"warm-up: {name} ...", flush=True)
            run(seed=1000 + w)
    results = {name: [] for name in runners}
    for i in range(runs):
        for name, run in runners.items():
            r = run(seed=i)
            results[name].append(r)
            print(f"run {i + 1}/{runs}: {name}: {r['seconds']:.3f} s, test acc {100 * r['acc']:.2f} %", flush=True)

    summary = {name: summarize(rs) for name, rs in results.items()}
    ratio = None
    if "airbench94" in summary:
        ratio = summary["course (cifar_speed)"]["median_s"] / summary["airbench94"]["median_s"]
    meta = {
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else f"none (CPU smoke test: {platform.processor() or platform.machine()})",
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "-",
        "python": platform.python_version(),
        "data": source,
        "n_train": len(train[0]),
        "n_test": len(test[0]),
        "runs": runs,
        "warmup": warmup,
        "compile": args.compile,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "workdir": workdir,
    }
    print_table(summary, meta)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "summary": summary}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
