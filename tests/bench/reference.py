#!/usr/bin/python3
"""PyTorch-eager reference of `lorascape bench scan` and `lorascape bench train`.

The same workloads, written the way a PyTorch user would: a Llama-style model with PEFT-style
LoRA layers (y = x Wᵀ + s·(x Aᵀ) Bᵀ on q, k, v, o), and for a scan a loop over points that
sets the adapter weights for each point and evaluates batch by batch under no_grad.
Same model shape, same FLOP count per token (analysis/bench.h), same JSON keys, so
tests/bench/compare.py can divide one by the other. Needs Debian's python3-torch (it uses
the same libtorch and BLAS as lorascape).

  python3 tests/bench/reference.py scan  [--d-model 256 …]
  python3 tests/bench/reference.py train [--steps 20 …]
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class LoraLinear(nn.Module):
    def __init__(self, d_in, d_out, rank=0, alpha=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) * 0.02, requires_grad=False)
        self.rank = rank
        if rank:
            self.lora_A = nn.Parameter(torch.zeros(rank, d_in))
            self.lora_B = nn.Parameter(torch.zeros(d_out, rank))
            self.scale = alpha / rank

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.rank:
            y = y + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)
        return y


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, c, heads, ffn, rank, kv_heads=0):
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads or heads
        kv = self.kv_heads * (c // heads)
        self.input_layernorm = RMSNorm(c)
        self.post_attention_layernorm = RMSNorm(c)
        self.q_proj, self.o_proj = (LoraLinear(c, c, rank, 2.0 * rank) for _ in range(2))
        self.k_proj, self.v_proj = (LoraLinear(c, kv, rank, 2.0 * rank) for _ in range(2))
        self.gate_proj, self.up_proj = LoraLinear(c, ffn), LoraLinear(c, ffn)
        self.down_proj = LoraLinear(ffn, c)

    def attention(self, x, cos, sin):
        b, t, c = x.shape
        d = c // self.heads
        q = self.q_proj(x).view(b, t, self.heads, d).transpose(1, 2)
        k, v = (p(x).view(b, t, self.kv_heads, d).transpose(1, 2) for p in (self.k_proj, self.v_proj))
        k, v = (z.repeat_interleave(self.heads // self.kv_heads, 1) for z in (k, v))  # repeat_kv
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        y = torch.softmax(att, dim=-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x, cos, sin):
        h = x + self.attention(self.input_layernorm(x), cos, sin)
        m = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.d_model)
        self.embed_tokens.weight.requires_grad_(False)
        self.layers = nn.ModuleList(Block(a.d_model, a.heads, a.ffn, a.rank, a.kv_heads) for _ in range(a.layers))
        self.norm = RMSNorm(a.d_model)
        self.lm_head = nn.Linear(a.d_model, a.vocab, bias=False)
        for p in [self.norm.weight, self.lm_head.weight] + [l.input_layernorm.weight for l in self.layers] + \
                [l.post_attention_layernorm.weight for l in self.layers]:
            p.requires_grad_(False)
        d = a.d_model // a.heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2).float() / d))
        freqs = torch.outer(torch.arange(a.seq_len).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def forward(self, ids):
        x = self.embed_tokens(ids)
        t = ids.shape[1]
        cos, sin = self.cos[:t].to(x.dtype), self.sin[:t].to(x.dtype)  # bfloat16 rotates in bfloat16
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))

    def lora(self):
        return [(n, p) for n, p in self.named_parameters() if "lora_" in n]


def flops_per_token(a):  # the same count as analysis/bench.h
    c, f, t = a.d_model, a.ffn, a.seq_len
    q, kv = c, (a.kv_heads or a.heads) * (c // a.heads)
    return a.layers * (2.0 * (2 * c * q + 2 * c * kv + 3 * c * f) + 4.0 * t * q) + 2.0 * c * a.vocab


def random_adapter(model, gen):
    return {n: torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]) for n, p in model.lora()}


def common(a):
    return {"d_model": a.d_model, "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads or a.heads,
            "ffn": a.ffn, "vocab": a.vocab, "dtype": a.dtype,
            "seq_len": a.seq_len, "rank": a.rank, "threads": torch.get_num_threads(), "device": "cpu",
            "implementation": "pytorch-eager " + torch.__version__}


def scan(a):
    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    model = Model(a).eval().to(getattr(torch, a.dtype))
    x0, x1 = random_adapter(model, gen), random_adapter(model, gen)
    x0, x1 = ({n: v.to(getattr(torch, a.dtype)) for n, v in x.items()} for x in (x0, x1))
    ids = torch.randint(0, a.vocab, (a.eval_seqs, a.seq_len + 1), generator=gen)
    params = dict(model.lora())
    ts = [i / (a.points - 1) for i in range(a.points)] if a.points > 1 else [0.0]

    def run(points):
        losses = []
        with torch.no_grad():
            for t in points:
                for n, p in params.items():  # set the adapter of this point
                    p.copy_((1 - t) * x0[n] + t * x1[n])
                total = 0.0
                for s in range(0, a.eval_seqs, a.batch):
                    batch = ids[s:s + a.batch]
                    logits = model(batch[:, :-1])
                    total += F.cross_entropy(logits.reshape(-1, a.vocab), batch[:, 1:].reshape(-1),
                                             reduction="sum").item()
                losses.append(total / (a.eval_seqs * a.seq_len))
        return losses

    run(ts[:1])  # warm-up
    t0 = time.perf_counter()
    losses = run(ts)
    sec = time.perf_counter() - t0
    tokens = len(ts) * a.eval_seqs * a.seq_len
    out = common(a)
    out.update({"benchmark": "scan", "points": a.points, "eval_seqs": a.eval_seqs, "batch": a.batch,
                "seconds": sec, "points_per_s": len(ts) / sec, "tokens_per_s": tokens / sec,
                "gflops": tokens * flops_per_token(a) / sec / 1e9, "flops_per_token": flops_per_token(a),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "loss_t0": losses[0], "loss_t1": losses[-1]})
    return out


def train(a):
    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    model = Model(a).train()
    with torch.no_grad():
        for n, p in model.lora():
            p.copy_(random_adapter(model, gen)[n])
    opt = torch.optim.AdamW([p for _, p in model.lora()], lr=1e-3, weight_decay=0.0)
    ids = torch.randint(0, a.vocab, (a.batch * (a.steps + 1), a.seq_len + 1), generator=gen)

    def step(i):
        batch = ids[i * a.batch:(i + 1) * a.batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(batch[:, :-1]).reshape(-1, a.vocab), batch[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    step(a.steps)  # warm-up
    t0 = time.perf_counter()
    last = 0.0
    for i in range(a.steps):
        last = step(i)
    sec = time.perf_counter() - t0
    out = common(a)
    out.update({"benchmark": "train", "steps": a.steps, "batch": a.batch, "seconds": sec,
                "train_tokens_per_s": a.steps * a.batch * a.seq_len / sec, "steps_per_s": a.steps / sec,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "final_loss": last})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", choices=["scan", "train"])
    for name, default in [("d-model", 256), ("layers", 4), ("heads", 4), ("ffn", 688), ("vocab", 260),
                          ("seq-len", 64), ("eval-seqs", 256), ("batch", 32), ("points", 21), ("rank", 8),
                          ("threads", 0), ("steps", 20), ("seed", 1), ("kv-heads", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--hf-shape", choices=["tinyllama"],
                   help="TinyLlama-1.1B's sizes in bfloat16 (as lorascape bench --hf-shape)")
    a = p.parse_args()
    if a.hf_shape == "tinyllama":
        a.d_model, a.layers, a.heads, a.kv_heads, a.ffn, a.vocab = 2048, 22, 32, 4, 5632, 32000
        a.dtype = "bfloat16"
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    print(json.dumps(scan(a) if a.benchmark == "scan" else train(a), sort_keys=True))


if __name__ == "__main__":
    main()
