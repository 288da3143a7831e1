"""GRU+CTC application: data, edit distance, one training step's gradients against PyTorch
(float64, same weights and data), and a short end-to-end run of the command."""
import json

import numpy as np
import pytest

from rnnfast.apps import gru_ctc as G


def test_edit_distance_and_ler():
    assert G.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert G.edit_distance([1, 3], [1, 2, 3]) == 1
    assert G.edit_distance([], [4, 5]) == 2
    assert G.label_error_rate([[1, 2], [3]], [[1, 2, 2], [4]]) == 2 / 4


def test_data_keeps_repeats_separable():
    rng = np.random.default_rng(0)
    task = G.Task(num_labels=2, noise=0.0)
    protos = rng.standard_normal((3, task.features)).astype(np.float32)
    for x, labels in G.make_dataset(50, task, rng, protos):
        frames = [int(np.argmin(((protos - f) ** 2).sum(1))) for f in x]  # noise 0: exact prototypes
        collapsed = [c for i, c in enumerate(frames) if c != 0 and (i == 0 or c != frames[i - 1])]
        assert collapsed == list(labels)


def test_gradients_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    task = G.Task(num_labels=4, features=5)
    protos = rng.standard_normal((5, 5)).astype(np.float32)
    batch = G.collate(G.make_dataset(3, task, rng, protos))
    m = G.CTCModel(5, 6, 2, 5, seed=2, dtype=np.float64)
    batch.x = batch.x.astype(np.float64)
    loss = m.loss_and_backward(batch)
    gru = torch.nn.GRU(5, 6, 2, bidirectional=True, dtype=torch.float64)
    fc = torch.nn.Linear(12, 5, dtype=torch.float64)
    gru.load_state_dict({k: torch.from_numpy(v) for k, v in m.gru.state_dict().items()})
    fc.load_state_dict({k: torch.from_numpy(v) for k, v in m.fc.state_dict().items()})
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(batch.x), torch.from_numpy(batch.lengths),
                                                     enforce_sorted=False)
    y, _ = gru(packed)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=batch.x.shape[0])
    L = torch.nn.functional.ctc_loss(torch.log_softmax(fc(y), 2), torch.from_numpy(batch.targets),
                                     torch.from_numpy(batch.lengths), torch.from_numpy(batch.target_lengths),
                                     zero_infinity=True)
    L.backward()
    assert abs(loss - L.item()) < 1e-10
    for n, p in m.named_parameters():
        tp = dict(gru.named_parameters())[n[4:]] if n.startswith("gru.") else dict(fc.named_parameters())[n[3:]]
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_command_short_run(tmp_path):
    out = tmp_path / "run"
    assert G.main(["--n-train", "96", "--n-valid", "16", "--epochs", "2", "--hidden", "16", "--threads", "1",
                   "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    h = res["history"]
    assert h["train_loss"][1] < h["train_loss"][0]
    assert 0 <= res["beam_ler"] <= 1.5 and (out / "results.md").exists() and (out / "loss.png").exists()
