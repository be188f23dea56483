"""Tests of benchmarks/cifar10_gpu.py without a GPU: the refusal, the --cpu-smoke run, the files airbench reads.

No timing is checked here: times are what the script reports, never what a test asserts.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "cifar10_gpu.py"


def load_script():
    spec = importlib.util.spec_from_file_location("cifar10_gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args, tmp_path):
    env = dict(os.environ, COURSE_DATA=str(tmp_path / "data"))
    env.pop("COURSE_ROOT", None)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the script runs the real benchmark")
def test_refuses_politely_on_cpu(tmp_path):
    done = run_script(tmp_path=tmp_path)
    assert done.returncode == 2
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and "--cpu-smoke" in lines[0] and "GPU" in lines[0]


def test_prepare_data_writes_airbench_files_from_the_same_arrays(tmp_path):
    bench = load_script()
    train, test, source = bench.prepare_data(str(tmp_path / "no-real-data"), str(tmp_path / "work"), 50, 20)
    assert source == "synthetic (CIFAR-10 not available offline)"
    for name, (images, labels) in (("train.pt", train), ("test.pt", test)):
        d = torch.load(tmp_path / "work" / "cifar10" / name)
        assert set(d) == {"images", "labels", "classes"}
        assert d["images"].dtype == torch.uint8 and d["images"].shape == (len(images), 32, 32, 3)
        assert d["labels"].dtype == torch.int64 and d["labels"].shape == (len(images),)
        assert len(d["classes"]) == 10 and all(isinstance(c, str) for c in d["classes"])
        assert np.array_equal(d["images"].numpy(), images) and np.array_equal(d["labels"].numpy(), labels)
    assert len(train[0]) == 50 and len(test[0]) == 20


FAKE_AIRBENCH = '''
import os, torch
calls = []
class CifarLoader:
    def __init__(self, path, train=True, batch_size=500, aug=None, altflip=False, **kw):
        d = torch.load(os.path.join(path, "train.pt" if train else "test.pt"))
        self.images, self.labels, self.batch_size = d["images"], d["labels"], batch_size
    def __len__(self):
        return len(self.images) // self.batch_size
def train94(train_loader, epochs, verbose):
    assert os.path.isfile(os.path.join("cifar10", "test.pt")), "train94 must run where ./cifar10/test.pt is"
    calls.append(epochs)
    return torch.nn.Identity()
def evaluate(model, loader, tta_level=0):
    return 0.5 + 0.1 * tta_level
'''
FAKE_HYP = "hyp = {'opt': {'train_epochs': 9.9, 'batch_size': 10}, 'aug': {'flip': True, 'translate': 2}, 'net': {'tta_level': 2}}\n"


def test_airbench_runner_runs_train94_from_the_workdir(tmp_path, monkeypatch):
    bench = load_script()
    bench.prepare_data(str(tmp_path / "no-real-data"), str(tmp_path / "work"), 50, 20)
    package = tmp_path / "fake" / "airbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_AIRBENCH)
    (package / "lib_airbench94.py").write_text(FAKE_HYP)
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    monkeypatch.delitem(sys.modules, "airbench", raising=False)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    run = bench.airbench_runner(str(tmp_path / "work"), None)
    result = run(seed=0)
    assert result["epochs"] == 9.9 and result["steps"] == 50  # ceil(5 batches * 9.9)
    assert result["acc"] == 0.5 and result["acc_tta"] == pytest.approx(0.7)
    assert os.getcwd() != str(tmp_path / "work")  # the working directory is restored


def test_missing_airbench_is_one_sentence_with_the_install_command(tmp_path, monkeypatch, capsys):
    bench = load_script()
    monkeypatch.setitem(sys.modules, "airbench", None)  # import airbench -> ImportError
    assert bench.airbench_runner(str(tmp_path), None) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "pip install airbench" in out[0]


@pytest.mark.slow
def test_cpu_smoke_run_prints_the_table(tmp_path):
    done = run_script("--cpu-smoke", "--train-size", "100", "--test-size", "40", "--workdir", str(tmp_path / "work"),
                      "--json", str(tmp_path / "r.json"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "data: synthetic (CIFAR-10 not available offline)" in out
    assert "| course (cifar_speed) |" in out and "torch " + torch.__version__ in out
    assert "airbench94 needs a CUDA GPU" in out
    assert (tmp_path / "work" / "cifar10" / "train.pt").is_file() and (tmp_path / "r.json").is_file()
