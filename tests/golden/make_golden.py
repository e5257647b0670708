#!/usr/bin/python3
"""Writes tests/golden/llama_lora.safetensors and llama_gqa_lora.safetensors: the golden files of
tests/core/test_golden.cpp.

An independent float64 reference of lorascape's model, written from the Hugging Face Llama
formulas in plain PyTorch (Debian's python3-torch), in the style of llm.c's test_gpt2: a small
random model with LoRA on every projection, a batch of token sequences, and what the forward
and backward give in float64 — the logits, the mean cross-entropy over the scored positions,
and the gradient of that loss with respect to every LoRA factor. The C++ test loads the same
weights into lorascape's Transformer and compares every execution path with these values.

  /usr/bin/python3 tests/golden/make_golden.py [--dir tests/golden]

Two files: multi-head attention (llama_lora) and grouped-query attention with 2 key/value heads
for the 4 query heads (llama_gqa_lora, model_config n_kv_heads = 2). Each holds (all names as lorascape's checkpoints use them):
  model.…, lm_head.weight          base weights, F32 (the model lorascape computes with)
  model.….lora_A.weight / lora_B   LoRA factors, F32 (rank 4, alpha 8 on all seven projections)
  input_ids, target                (B, T) I64;  mask (B, T) F32: 1 where a position is scored
  logits                           (B, T, V) F64
  loss                             (1,) F64: Σ mask·CE / Σ mask
  grad.<LoRA factor name>          F64: d loss / d factor
and the metadata model_config (lorascape's ModelConfig as JSON) and lora (rank, alpha).
The reference computes in float64 from the float32 weights, so it is exact for them.
"""
import argparse
import json
import math
import struct

import torch

CONFIG = {"vocab": 260, "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 96, "max_seq": 16,
          "rope_theta": 10000.0, "norm_eps": 1e-5}
# The files written: multi-head attention, and grouped-query attention (2 key/value heads for
# the 4 query heads, as Llama-3, Mistral and Qwen2 use it).
VARIANTS = {"llama_lora.safetensors": {}, "llama_gqa_lora.safetensors": {"n_kv_heads": 2}}
RANK, ALPHA = 4, 8.0
B, T = 3, 12
PROJECTIONS = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
               ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]


def kv_heads(c):
    return c.get("n_kv_heads", c["n_heads"])


def shapes(c):
    C, F = c["d_model"], c["d_ff"]
    KVD = kv_heads(c) * (C // c["n_heads"])
    io = {"q_proj": (C, C), "k_proj": (KVD, C), "v_proj": (KVD, C), "o_proj": (C, C),
          "gate_proj": (F, C), "up_proj": (F, C), "down_proj": (C, F)}  # (out, in)
    return io


def make_weights(c, g):
    """float32 weights with O(1) activations: projections ~ N(0, 1/in), norms ~ 1 + N(0, 0.1²)."""
    C, V = c["d_model"], c["vocab"]
    w = {"model.embed_tokens.weight": torch.randn(V, C, generator=g)}
    for l in range(c["n_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        for group, name in PROJECTIONS:
            out, inp = shapes(c)[name]
            w[f"{p}{group}.{name}.weight"] = torch.randn(out, inp, generator=g) / math.sqrt(inp)
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    w["lm_head.weight"] = torch.randn(V, C, generator=g) / math.sqrt(C)
    lora = {}
    for l in range(c["n_layers"]):
        for group, name in PROJECTIONS:
            out, inp = shapes(c)[name]
            m = f"model.layers.{l}.{group}.{name}"
            lora[m + ".lora_A.weight"] = torch.randn(RANK, inp, generator=g) / math.sqrt(inp)
            lora[m + ".lora_B.weight"] = 0.3 * torch.randn(out, RANK, generator=g) / math.sqrt(RANK)
    return w, lora


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(c, w, lora, ids):
    """Llama forward with LoRA (y = x Wᵀ + (alpha/r)·(x Aᵀ) Bᵀ), float64, logits (B, T, V)."""
    C, H = c["d_model"], c["n_heads"]
    D = C // H
    s = ALPHA / RANK

    def rms_norm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["norm_eps"]) * weight

    def linear(x, module):
        y = x @ w[module + ".weight"].T
        return y + s * ((x @ lora[module + ".lora_A.weight"].T) @ lora[module + ".lora_B.weight"].T)

    b, t = ids.shape
    # The rotary tables as transformers' LlamaRotaryEmbedding computes them: in float32 whatever
    # the model's dtype, then cast to it.
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    freqs = torch.outer(torch.arange(t, dtype=torch.int64).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().double(), emb.sin().double()
    causal = torch.ones(t, t, dtype=torch.bool).triu(1)
    x = w["model.embed_tokens.weight"][ids]
    for l in range(c["n_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"])
        KV = kv_heads(c)
        q = linear(h, p + "self_attn.q_proj").view(b, t, H, D).transpose(1, 2)
        k, v = (linear(h, p + "self_attn." + n).view(b, t, KV, D).transpose(1, 2) for n in ("k_proj", "v_proj"))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # transformers' repeat_kv: key/value head j serves query heads j·H/KV … (j+1)·H/KV − 1.
        k, v = (x_[:, :, None].expand(b, KV, H // KV, t, D).reshape(b, H, t, D) for x_ in (k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
        att = torch.softmax(att.masked_fill(causal, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, C)
        x = x + linear(y, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        g, u = linear(h, p + "mlp.gate_proj"), linear(h, p + "mlp.up_proj")
        x = x + linear(torch.nn.functional.silu(g) * u, p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"])
    return x @ w["lm_head.weight"].T


def write_safetensors(path, tensors, metadata):
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="tests/golden", help="folder of the files written")
    args = ap.parse_args()
    for name, extra in VARIANTS.items():
        write_variant(f"{args.dir}/{name}", dict(CONFIG, **extra))


def write_variant(path, config):
    g = torch.Generator().manual_seed(20261202)
    w32, lora32 = make_weights(config, g)
    ids = torch.randint(0, config["vocab"], (B, T), generator=g)
    target = torch.randint(0, config["vocab"], (B, T), generator=g)
    mask = torch.zeros(B, T)
    for b, start in enumerate((3, 6, 9)):  # answers of different lengths; the last position unscored
        mask[b, start:T - 1] = 1
    w = {k: v.double() for k, v in w32.items()}
    lora = {k: v.double().requires_grad_() for k, v in lora32.items()}
    logits = forward(config, w, lora, ids)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, config["vocab"]), target.reshape(-1), reduction="none")
    loss = (ce * mask.double().reshape(-1)).sum() / mask.sum()
    loss.backward()
    out = dict(w32)
    out.update(lora32)
    out.update({"input_ids": ids, "target": target, "mask": mask, "logits": logits.detach(),
                "loss": loss.detach().reshape(1)})
    out.update({"grad." + k: v.grad for k, v in lora.items()})
    write_safetensors(path, out, {"model_config": json.dumps(config),
                                      "lora": json.dumps({"rank": RANK, "alpha": ALPHA}),
                                      "made_by": "tests/golden/make_golden.py, torch " + torch.__version__})
    print(f"wrote {path}: loss {loss.item():.12f}")


if __name__ == "__main__":
    main()
