import math

import torch

from predictive_training.model import GPT, GPTConfig


def test_shapes_and_tied_embeddings():
    cfg = GPTConfig(vocab_size=97, context=16, n_layer=2, n_head=2, d_model=24)
    m = GPT(cfg)
    x = torch.randint(0, 97, (3, 16))
    assert m(x).shape == (3, 16, 97)
    assert m.head.weight is m.tok_emb.weight
    names = [n for n, _ in m.named_parameters()]
    assert "tok_emb.weight" in names and "head.weight" not in names  # tied: one name
    assert m.n_params() == sum(p.numel() for p in m.parameters())


def test_initial_loss_is_ln_vocab():
    torch.manual_seed(0)
    for v in (256, 2048):
        m = GPT(GPTConfig(vocab_size=v, context=32, n_layer=2, n_head=4, d_model=64))
        x = torch.randint(0, v, (8, 32))
        y = torch.randint(0, v, (8, 32))
        loss = float(m.loss(x, y).detach())
        assert abs(loss - math.log(v)) < 0.1 * math.log(v), (v, loss)


def test_rejects_too_long_input():
    m = GPT(GPTConfig(vocab_size=10, context=4, n_layer=1, n_head=1, d_model=8))
    try:
        m(torch.zeros(1, 5, dtype=torch.long))
    except ValueError as e:
        assert "model.context" in str(e)
    else:
        raise AssertionError("no error")
