#!/usr/bin/env python
"""CPU or CUDA timing of one TRM training supervision step using the official
SamsungSAILMontreal/TinyRecursiveModels code (a checkout at commit e7b68717f0a6, named by TRM_OFFICIAL_DIR).

One step = ACTLossHead forward from initial_carry(batch) (all H_cycles, H_cycles-1
under no_grad as in the official code) + stablemax loss + loss.backward(). No optimizer.

Usage: pip install torch pydantic einops numpy; TRM_OFFICIAL_DIR=DIR python benches/official_pytorch.py --config tiny-mlp --batch 32 --reps 5 [--threads 2] [--device cuda]
On CUDA everything is fp32 (TF32 off), and each step is timed between two device synchronisations.
The configs are trm-gpu's presets tiny-sudoku-mlp, sudoku-mlp and sudoku-att. Side by side with:
  trm-gpu --device cpu bench --reps 5 --filter none --step tiny-sudoku-mlp:32 --checkpoint none
"""
import argparse, os, sys, time, statistics

TRM_DIR = os.environ.get("TRM_OFFICIAL_DIR", "TinyRecursiveModels")
sys.path.insert(0, TRM_DIR)

import torch
from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1
from models.losses import ACTLossHead

COMMON = dict(
    seq_len=81, vocab_size=11, num_puzzle_identifiers=1,
    halt_max_steps=16, halt_exploration_prob=0.1,
    forward_dtype="float32", rms_norm_eps=1e-5, rope_theta=10000.0,
    H_layers=0, no_ACT_continue=True,
)
CONFIGS = {
    "tiny-mlp": dict(hidden_size=64, expansion=4, L_layers=2, H_cycles=2, L_cycles=2,
                     num_heads=4, mlp_t=True, pos_encodings="none",
                     puzzle_emb_ndim=0, puzzle_emb_len=0),
    "sudoku-mlp": dict(hidden_size=512, expansion=4, L_layers=2, H_cycles=3, L_cycles=6,
                       num_heads=8, mlp_t=True, pos_encodings="none",
                       puzzle_emb_ndim=512, puzzle_emb_len=16),
    "sudoku-att": dict(hidden_size=512, expansion=4, L_layers=2, H_cycles=3, L_cycles=6,
                       num_heads=8, mlp_t=False, pos_encodings="rope",
                       puzzle_emb_ndim=512, puzzle_emb_len=16),
}


def bench(name, batch_size, reps, warmup, seed, device):
    torch.manual_seed(seed)
    torch.set_default_device(device)  # the official code creates its carry on the default device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    cfg = dict(COMMON, **CONFIGS[name], batch_size=batch_size)
    model = ACTLossHead(TinyRecursiveReasoningModel_ACTV1(cfg), loss_type="stablemax_cross_entropy")
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    P = model.model.inner.puzzle_emb_len

    batch = {
        "inputs": torch.randint(1, 11, (batch_size, 81), dtype=torch.int32),
        "labels": torch.randint(1, 11, (batch_size, 81), dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(batch_size, dtype=torch.int32),
    }

    def step():
        carry = model.initial_carry(batch)
        carry, loss, metrics, _, _ = model(return_keys=[], carry=carry, batch=batch)
        loss.backward()
        return loss

    times = []
    for i in range(warmup + reps):
        model.zero_grad(set_to_none=True)
        sync()
        t0 = time.perf_counter()
        loss = step()
        sync()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    print(f"{name}: {device} B={batch_size} P={P} params={n_params} threads={torch.get_num_threads()} "
          f"reps={reps} loss={loss.item():.4f} median={statistics.median(times):.4f}s "
          f"min={min(times):.4f}s  all={[round(t, 4) for t in times]}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="tiny-mlp",
                    help="comma-separated list of: " + ",".join(CONFIGS) + " (or 'all')")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    names = list(CONFIGS) if a.config == "all" else a.config.split(",")
    print(f"torch {torch.__version__}, official TRM from {TRM_DIR}", flush=True)
    for n in names:
        bench(n, a.batch, a.reps, a.warmup, a.seed, a.device)


if __name__ == "__main__":
    main()
