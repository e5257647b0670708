#!/usr/bin/env python3
"""lorascape against transformers + PEFT on the same model folders and adapters.

For each architecture (Llama with grouped-query attention and llama3 rope scaling, Mistral,
Qwen2 with its q/k/v biases and tied embeddings) this builds a small random model with
transformers, saves it as a model folder (safetensors), adds a random PEFT LoRA adapter on
q, k, v and o (B non-zero), and compares:

  - every token's log-probability of a few texts: `lorascape score DIR --adapter A --json`
    against transformers' log_softmax of PeftModel(ids).logits (tolerance: 2e-4 absolute in
    float32, 5e-2 in bfloat16);
  - greedy decoding: `lorascape generate` against transformers' generate(do_sample=False)
    from [BOS] prompt, up to EOS or 12 new tokens (the texts must be equal).

The tokenizer is lorascape's byte tokenizer as `lorascape export-hf` writes it (token = byte,
BOS 256, EOS 257), so the ids are known on both sides without a hub download.

Needs python3 with torch, transformers and peft (not on the CPU machines: then it says so and
exits 0), and a built lorascape. Run it on a GPU machine with --device cuda and record the
result in docs/performance.md:

  python3 tests/hf/compare_transformers.py [--lorascape build/cli/lorascape] [--device cuda]
      [--dtype float32|bfloat16]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("failed: " + " ".join(cmd) + "\n" + r.stdout + r.stderr)
    return r.stdout


def byte_tokenizer(lorascape, work):
    """tokenizer.json + tokenizer_config.json of lorascape's byte tokenizer (export-hf)."""
    toml = os.path.join(work, "tiny.toml")
    with open(toml, "w") as f:
        f.write('threads = 1\ndevice = "cpu"\n[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\n'
                'd_ff = 64\n[pretrain]\nsteps = 1\ncorpus_lines = 10\n')
    base = os.path.join(work, "base.safetensors")
    env = dict(os.environ, LORASCAPE_CACHE=os.path.join(work, "cache"))
    run([lorascape, "-q", "pretrain", "--config", toml, "--out", base], env=env)
    out = os.path.join(work, "bytes")
    run([lorascape, "export-hf", base, "--out", out], env=env)
    return out


def configs(transformers):
    common = dict(vocab_size=260, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                  rms_norm_eps=1e-5, bos_token_id=256, eos_token_id=257, pad_token_id=258)
    yield "llama", transformers.LlamaConfig(
        **common, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    yield "mistral", transformers.MistralConfig(**common, sliding_window=128, tie_word_embeddings=False)
    yield "qwen2", transformers.Qwen2Config(**common, tie_word_embeddings=True, use_sliding_window=False)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lorascape", default=os.path.join(HERE, "..", "..", "build", "cli", "lorascape"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    a = p.parse_args()
    try:
        import torch
        import transformers
        import peft
    except ImportError as e:
        print(json.dumps({"skipped": f"transformers/peft not importable here ({e})"}))
        return 0
    dtype = getattr(torch, a.dtype)
    tol = 2e-4 if a.dtype == "float32" else 5e-2
    texts = ["The quick brown fox jumps over the lazy dog.", "12 + 30 = 42", "ünïcödé, tabs\tand\nlines"]
    prompts = ["Monday comes before", "abc"]
    results, ok = [], True
    with tempfile.TemporaryDirectory() as work:
        tok = byte_tokenizer(a.lorascape, work)
        for name, cfg in configs(transformers):
            torch.manual_seed(0)
            model = transformers.AutoModelForCausalLM.from_config(cfg).to(dtype)
            folder = os.path.join(work, name)
            model.save_pretrained(folder, safe_serialization=True)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(tok, f), folder)
            lcfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
            pm = peft.get_peft_model(model, lcfg)
            with torch.no_grad():
                for n, prm in pm.named_parameters():
                    if "lora_B" in n:
                        prm.copy_(torch.randn_like(prm) * 0.1)
            adapter = os.path.join(work, name + "-adapter")
            pm.save_pretrained(adapter, safe_serialization=True)
            pm = pm.to(a.device).eval()
            worst = 0.0
            for text in texts:
                ids = list(text.encode("utf-8"))
                with torch.no_grad():
                    logits = pm(torch.tensor([ids], device=a.device)).logits.double()
                ref = torch.log_softmax(logits[0], -1)
                got = json.loads(run([a.lorascape, "score", folder, "--adapter", adapter, "--text", text,
                                      "--json", "--device", a.device, "--dtype", a.dtype]))
                assert [t["id"] for t in got["tokens"]] == ids, "token ids differ"
                for t in range(1, len(ids)):
                    worst = max(worst, abs(got["tokens"][t]["logprob"] - ref[t - 1, ids[t]].item()))
            greedy_same = True
            for prompt in prompts:
                ids = [256] + list(prompt.encode("utf-8"))
                with torch.no_grad():
                    out = pm.generate(input_ids=torch.tensor([ids], device=a.device), max_new_tokens=12,
                                      do_sample=False, eos_token_id=257, pad_token_id=258)
                new = [t for t in out[0, len(ids):].tolist() if t != 257]
                ref_text = bytes(t for t in new if t < 256).decode("utf-8", errors="replace")
                got_text = run([a.lorascape, "generate", "--base", folder, "--adapter", adapter, "--prompt", prompt,
                                "--max-new", "12", "--device", a.device]).rstrip("\n")
                greedy_same = greedy_same and got_text == ref_text
            good = worst <= tol and greedy_same
            ok = ok and good
            results.append({"architecture": name, "max_logprob_diff": worst, "tolerance": tol,
                            "greedy_equal": greedy_same, "ok": good})
    print(json.dumps({"device": a.device, "dtype": a.dtype, "transformers": transformers.__version__,
                      "peft": peft.__version__, "results": results}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
