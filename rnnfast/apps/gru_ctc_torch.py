"""``rnnfast train gru-ctc --torch``: the GRU + CTC model of :mod:`rnnfast.apps.gru_ctc` as a torch module
built from rnnfast.torch layers (GRU, CTC loss), trained with torch.optim, data parallel under torchrun.

One process::

    rnnfast train gru-ctc --torch

N processes on one machine (each process takes a 1/N shard of every batch; gradients are averaged by
DistributedDataParallel over gloo; ``--threads`` is the machine's total and is split between processes)::

    torchrun --standalone --nproc_per_node 2 -m rnnfast.cli train gru-ctc --torch --threads 2

Several machines: the same command on each, with ``--nnodes M --node_rank i --rdzv_backend c10d
--rdzv_endpoint HOST:PORT`` instead of ``--standalone`` (see docs/torch.md). Rank 0 alone shows progress
and writes the outputs.
"""
from __future__ import annotations

import gc
import json
import os
import time

import numpy as np


def _dist_env():
    """(rank, world size, local world size) from torchrun's environment (0, 1, 1 without it)."""
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return rank, world, local_world


def _loopback_gloo_interface():
    """Under a single-machine rendezvous (MASTER_ADDR on loopback) gloo's pairs go over the loopback
    interface too: by default gloo binds to the address the host name resolves to, which on machines
    without a resolvable host name (sandboxes, containers with networking off) stalls the first collective.
    GLOO_SOCKET_IFNAME set by the user wins."""
    if "GLOO_SOCKET_IFNAME" in os.environ:
        return
    import ipaddress
    import socket

    addr = os.environ.get("MASTER_ADDR", "")
    try:
        loopback = addr == "localhost" or ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return
    if loopback:
        names = [n for _, n in socket.if_nameindex() if n in ("lo", "lo0")]
        if names:
            os.environ["GLOO_SOCKET_IFNAME"] = names[0]


def build_model(cfg, dtype=None):
    """torch module: rnnfast.torch.GRU (bidirectional, stacked) -> Linear, with the initial weights of
    :class:`rnnfast.apps.gru_ctc.CTCModel` for the same seed."""
    import torch

    import rnnfast.torch as rt

    from .gru_ctc import CTCModel

    class TorchCTCModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = rt.GRU(cfg.task.features, cfg.hidden, cfg.layers, bidirectional=True)
            self.fc = torch.nn.Linear(2 * cfg.hidden, cfg.task.num_labels + 1)

        def forward(self, x, lengths):
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            y, _ = self.gru(packed)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=x.shape[0])
            return torch.log_softmax(self.fc(y), 2)

    ref = CTCModel(cfg.task.features, cfg.hidden, cfg.layers, cfg.task.num_labels + 1, seed=cfg.seed)
    m = TorchCTCModel()
    m.gru.load_state_dict({k: torch.from_numpy(v) for k, v in ref.gru.state_dict().items()})
    m.fc.load_state_dict({k: torch.from_numpy(v) for k, v in ref.fc.state_dict().items()})
    return m.to(dtype) if dtype is not None else m


def _greedy(lp, lengths):
    best = lp.argmax(2).numpy()
    out = []
    for k in range(best.shape[1]):
        p = best[:lengths[k], k]
        keep = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, bool)
        out.append([int(c) for c in p[keep] if c != 0])
    return out


def run_torch(cfg, out: str | None, progress: bool = True) -> dict:
    """Train ``cfg`` (a :class:`rnnfast.apps.gru_ctc.Config`) with rnnfast.torch layers; under torchrun,
    data parallel over all processes. Returns the results (on every rank; rank 0 writes them)."""
    import torch
    import torch.distributed as dist

    import rnnfast
    import rnnfast.torch as rt

    from .gru_ctc import collate, label_error_rate, make_dataset

    rank, world, local_world = _dist_env()
    threads = max(1, cfg.threads // local_world)  # processes x threads = the cores given by --threads
    torch.set_num_threads(threads)
    rnnfast.set_num_threads(threads)
    if world > 1 and not dist.is_initialized():
        _loopback_gloo_interface()
        dist.init_process_group("gloo")
    main = rank == 0

    rng = np.random.default_rng(cfg.seed)  # every rank draws the same data and batch order
    prototypes = rng.standard_normal((cfg.task.num_labels + 1, cfg.task.features)).astype(np.float32)
    train = make_dataset(cfg.n_train, cfg.task, rng, prototypes)
    valid = make_dataset(cfg.n_valid, cfg.task, rng, prototypes)
    order = [[list(p[i:i + cfg.batch_size]) for i in range(0, len(p), cfg.batch_size)]
             for p in (rng.permutation(len(train)) for _ in range(cfg.epochs))]
    order = [[idx for idx in ep if len(idx) >= world] for ep in order]  # every rank gets a non-empty shard
    model = build_model(cfg)
    comm = {"s": 0.0}
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)

        def timed_allreduce(state, bucket):
            # synchronous all-reduce, timed (includes waiting for the slowest rank); gloo on a CPU
            # gains little from overlapping it with the backward
            t0 = time.perf_counter()
            buf = bucket.buffer()
            dist.all_reduce(buf)
            buf.div_(world)
            comm["s"] += time.perf_counter() - t0
            fut = torch.futures.Future()
            fut.set_result(buf)
            return fut
        model.register_comm_hook(None, timed_allreduce)
    net = model.module if world > 1 else model
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    bar_cls = None
    if progress and main:
        try:
            from tqdm import tqdm as bar_cls
        except ImportError:
            pass
    if main:
        print(f"gru-ctc --torch: {world} process(es) x {threads} thread(s); {cfg.n_train} training / {cfg.n_valid} "
              f"validation sequences; 2x{cfg.layers}-layer bidirectional rnnfast.torch.GRU {cfg.hidden} + Linear, "
              f"rnnfast.torch.ctc_loss, Adam {cfg.lr}, global batch {cfg.batch_size}", flush=True)
    hist = {"epoch": [], "train_loss": [], "valid_ler": [], "epoch_s": [], "steps_per_s": [], "allreduce_share": []}
    t_start = time.perf_counter()
    for ep, ep_order in enumerate(order, 1):
        t0, tot, comm["s"] = time.perf_counter(), 0.0, 0.0
        bar = bar_cls(total=len(ep_order), desc=f"epoch {ep}", leave=False) if bar_cls else None
        for idx in ep_order:
            b = collate([train[i] for i in idx[rank::world]])  # this rank's shard of the global batch
            lp = model(torch.from_numpy(b.x), torch.from_numpy(b.lengths))
            loss = rt.ctc_loss(lp, torch.from_numpy(b.targets), torch.from_numpy(b.lengths),
                               torch.from_numpy(b.target_lengths), zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            tot += float(loss.detach())
            if bar:
                bar.update(1)
        if bar:
            bar.close()
        secs = time.perf_counter() - t0
        ler = float("nan")
        if main:
            net.eval()
            hyps, refs = [], []
            with torch.no_grad():
                for i in range(0, len(valid), cfg.batch_size):
                    items = valid[i:i + cfg.batch_size]
                    vb = collate(items)
                    hyps += _greedy(net(torch.from_numpy(vb.x), torch.from_numpy(vb.lengths)), vb.lengths)
                    refs += [y for _, y in items]
            net.train()
            ler = label_error_rate(hyps, refs)
        for k, v in (("epoch", ep), ("train_loss", tot / len(ep_order)), ("valid_ler", ler), ("epoch_s", secs),
                     ("steps_per_s", len(ep_order) / secs), ("allreduce_share", comm["s"] / secs)):
            hist[k].append(v)
        if main:
            print(f"epoch {ep:2d}  loss {tot / len(ep_order):7.4f} (rank 0 shard)  greedy LER {100 * ler:5.2f}%  "
                  f"{secs:5.1f} s  {len(ep_order) / secs:5.2f} steps/s  all-reduce {100 * comm['s'] / secs:4.1f}%",
                  flush=True)
    res = {"config": {"hidden": cfg.hidden, "layers": cfg.layers, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                      "lr": cfg.lr, "seed": cfg.seed, "n_train": cfg.n_train, "n_valid": cfg.n_valid},
           "world_size": world, "threads_per_process": threads, "history": hist,
           "train_s": time.perf_counter() - t_start, "greedy_ler": hist["valid_ler"][-1]}
    if main:
        print(f"final: greedy LER {100 * res['greedy_ler']:.2f}%, training {res['train_s']:.0f} s, median "
              f"{np.median(hist['steps_per_s']):.2f} steps/s", flush=True)
        if out:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "results_torch.json"), "w") as f:
                json.dump(res, f, indent=1)
            torch.save(net.state_dict(), os.path.join(out, "model_torch.pt"))
    if world > 1:
        dist.barrier()
        # Free the DDP wrapper while the process group is still registered: were its reducer to hold the
        # group's last reference, freeing it would destroy the group with the GIL held and join gloo's worker
        # threads, which may need the GIL to free their last work (a hang seen on a loaded machine).
        del model
        gc.collect()
        dist.destroy_process_group()
    return res
