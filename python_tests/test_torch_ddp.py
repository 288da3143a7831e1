"""DistributedDataParallel (gloo, CPU, 127.0.0.1) over rnnfast.torch modules: 2 processes training on
halves of each batch end with the parameters of one process training on the full batches (float64,
1e-10); and ``rnnfast train gru-ctc --torch`` under torchrun with 2 processes."""
import gc
import json
import os
import socket
import subprocess
import sys
import time
import traceback
import weakref
from datetime import timedelta

import pytest

torch = pytest.importorskip("torch")
rt = pytest.importorskip("rnnfast.torch")
dist = pytest.importorskip("torch.distributed")

if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)


STEPS, B, T = 3, 4, 7
DEADLINE = 240  # seconds for a whole run of 2 processes (a few seconds normally)


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    """Every process talks over the loopback interface: gloo otherwise binds to the address the host name
    resolves to, which a sandbox without networking may not have (the first collective then stalls)."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Model(torch.nn.Module):
    """rnnfast.torch layers (LSTM, GRU bidirectional, CTC) in one model."""

    def __init__(self):
        super().__init__()
        self.lstm = rt.LSTM(5, 6, proj_size=4)
        self.gru = rt.GRU(4, 5, bidirectional=True)
        self.fc = torch.nn.Linear(10, 4)

    def forward(self, x, lengths):
        y, _ = self.lstm(x)
        packed = torch.nn.utils.rnn.pack_padded_sequence(y, lengths, enforce_sorted=False)
        y, _ = self.gru(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=x.shape[0])
        return self.fc(y).log_softmax(2)


def make_model():
    torch.manual_seed(0)
    return Model().double()


def batches():
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(STEPS):
        x = torch.randn(T, B, 5, generator=g, dtype=torch.float64)
        lengths = torch.tensor([7, 5, 6, 4])
        targets = torch.randint(1, 4, (B, 3), generator=g)
        tl = torch.tensor([3, 2, 1, 2])
        out.append((x, lengths, targets, tl))
    return out


def train(model, rank=0, world=1):
    """SGD steps; each rank takes its contiguous 1/world of every batch. CTC "mean" is a mean over the
    batch, and DDP averages the ranks' gradients, so equal shards give the full-batch gradient."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    n = B // world
    for x, lengths, targets, tl in batches():
        s = slice(rank * n, (rank + 1) * n)
        lp = model(x[:, s], lengths[s])
        loss = rt.ctc_loss(lp, targets[s], lengths[s], tl[s])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _train_and_save(rank, world, out):
    model = torch.nn.parallel.DistributedDataParallel(make_model())
    train(model, rank, world)
    if rank == 0:
        torch.save(model.module.state_dict(), out)
    return weakref.ref(model)


def _worker(rank, world, port, out):
    import rnnfast

    torch.set_num_threads(1)
    rnnfast.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=DEADLINE // 2))
    alive = None
    try:
        alive = _train_and_save(rank, world, out)
    except BaseException as e:
        traceback.clear_frames(e.__traceback__)  # the failed call's frames hold the DDP model
        raise
    finally:
        # The DDP wrapper dies while the group is registered: its reducer holding the group's last reference
        # would destroy the group with the GIL held, joining gloo threads that may need the GIL (a hang under load)
        gc.collect()
        dist.destroy_process_group()
    assert alive() is None, "the DDP model outlived its process group"


def test_ddp_two_processes_equal_one_process_full_batch(tmp_path):
    out = str(tmp_path / "ddp.pt")
    ctx = torch.multiprocessing.start_processes(_worker, args=(2, free_port(), out), nprocs=2, join=False,
                                                start_method="spawn")
    end = time.monotonic() + DEADLINE
    while not ctx.join(timeout=1.0):
        if time.monotonic() > end:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"2 DDP processes did not finish in {DEADLINE} s")
    ddp = torch.load(out)
    ref = train(make_model()).state_dict()
    start = make_model().state_dict()
    assert list(ddp) == list(ref)
    for k in ref:
        assert not torch.equal(ref[k], start[k]), k  # training moved every parameter
        err = (ddp[k] - ref[k]).abs().max().item() / ref[k].abs().max().item()
        assert err < 1e-10, (k, err)


def test_gru_ctc_torch_app_under_torchrun(tmp_path):
    import rnnfast

    # the package under test, wherever it was imported from (an installed wheel or a build in place)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(rnnfast.__file__)), OMP_NUM_THREADS="1")
    env.pop("GLOO_SOCKET_IFNAME")  # the app picks the loopback interface itself for a loopback rendezvous
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{free_port()}",
           "--local_addr", "127.0.0.1",
           "-m", "rnnfast.cli", "train", "gru-ctc", "--torch", "--threads", "2", "--epochs", "2", "--n-train", "64",
           "--n-valid", "16", "--hidden", "8", "--batch-size", "16", "--no-progress", "--out", str(tmp_path)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=DEADLINE)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert r.stdout.count("epoch  1") == 1  # progress from rank 0 only
    assert "2 process(es) x 1 thread(s)" in r.stdout
    res = json.loads((tmp_path / "results_torch.json").read_text())
    assert res["world_size"] == 2 and len(res["history"]["train_loss"]) == 2
    assert res["history"]["train_loss"][1] < res["history"]["train_loss"][0]
    assert 0 < res["history"]["allreduce_share"][0] < 1
    assert (tmp_path / "model_torch.pt").exists()


@pytest.mark.parametrize("addr, expect", [("127.0.0.1", "lo"), ("localhost", "lo"), ("::1", "lo"),
                                          ("10.1.2.3", None), ("node0.example", None), ("", None)])
def test_app_uses_loopback_interface_for_a_loopback_rendezvous(monkeypatch, addr, expect):
    from rnnfast.apps.gru_ctc_torch import _loopback_gloo_interface

    monkeypatch.delenv("GLOO_SOCKET_IFNAME")
    monkeypatch.setenv("MASTER_ADDR", addr)
    _loopback_gloo_interface()
    assert os.environ.get("GLOO_SOCKET_IFNAME") == expect
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "eth7")  # the user's choice is kept
    _loopback_gloo_interface()
    assert os.environ["GLOO_SOCKET_IFNAME"] == "eth7"
