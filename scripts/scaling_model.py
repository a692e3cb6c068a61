#!/usr/bin/env python3
"""Paper cost model of data-parallel (DP) and expert-parallel (EP) MoE training steps
(docs/scaling.md). Prints step-time predictions for 8, 64 and 512 ranks on 25 and 100 Gb/s.

Assumptions (edit below): a rank sustains RATE FLOP/s (32 cores at the 37 GFLOP/s per core
that `moe bench --distributed` measured on the 2-core development box); ring all-reduce moves
2(N-1)/N x bytes per rank with 2(N-1) latency hops; an all-to-all moves T*K*D*4*(G-1)/G bytes
each way per rank with G-1 hops; 4 all-to-alls per MoE layer per step (dispatch and combine,
forward and backward); no overlap of communication with compute (as built: one gradient
bucket after the backward pass)."""

ALPHA = 10e-6  # seconds per message hop
RATE = 32 * 37e9  # FLOP/s per rank


def vit(name, width, depth, tokens, experts, top_k, hidden, moe_every, batch, classes=1000):
    d = width
    attn = 4 * d * d
    mlp = 2 * d * hidden
    moe_layers = len([b for b in range(depth) if b % moe_every == moe_every - 1])
    dense_layers = depth - moe_layers
    expert_params = moe_layers * experts * mlp
    dense_params = depth * attn + dense_layers * mlp + moe_layers * d * experts + d * classes
    # forward FLOPs per token: 2 per multiply-add
    per_token = depth * (2 * attn + 2 * 2 * tokens * d) + dense_layers * 2 * mlp + moe_layers * top_k * 2 * mlp
    train_flops_per_image = 3 * per_token * tokens
    return dict(name=name, d=d, tokens=tokens, k=top_k, experts=experts, moe_layers=moe_layers,
                dense_bytes=4 * dense_params, expert_bytes=4 * expert_params, batch=batch,
                flops=train_flops_per_image)


MODELS = [
    # the default recipe's backbone (bench-tiny): every block MoE, 12 experts top-4, hidden 128
    vit("default (bench-tiny)", 128, 6, 49, 12, 4, 128, 1, 64),
    vit("ViT-S/16 MoE", 384, 12, 197, 16, 2, 1536, 2, 32),
    vit("ViT-B/16 MoE", 768, 12, 197, 16, 2, 3072, 2, 32),
]


def ring(nbytes, n, bw):
    return 0 if n == 1 else 2 * (n - 1) * ALPHA + 2 * (n - 1) / n * nbytes / bw


def step(m, n, gbps):
    bw = gbps * 1e9 / 8
    compute = m["batch"] * m["flops"] / RATE
    dp = ring(m["dense_bytes"] + m["expert_bytes"], n, bw)
    g = min(n, m["experts"])  # expert group: each rank holds experts/g experts per layer
    r = n // g  # replicas of each expert shard
    a2a_bytes = m["batch"] * m["tokens"] * m["k"] * m["d"] * 4 * (g - 1) / g
    a2a = 4 * m["moe_layers"] * ((g - 1) * ALPHA + a2a_bytes / bw)
    ep = ring(m["dense_bytes"], n, bw) + ring(m["expert_bytes"] / g, r, bw) + a2a
    return compute, dp, ep, a2a_bytes * 4 * m["moe_layers"]


for m in MODELS:
    print(f"{m['name']}: {(m['dense_bytes'] + m['expert_bytes']) / 4e6:.1f} M parameters "
          f"({m['expert_bytes'] / 4e6:.1f} M in experts), {m['flops'] / 1e9:.2f} GFLOP per training image, "
          f"batch {m['batch']} per rank, compute {1e3 * m['batch'] * m['flops'] / RATE:.0f} ms per step")
    print("| ranks | link | DP all-reduce | DP efficiency | EP: all-to-all MB | EP comm | EP efficiency |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (8, 64, 512):
        for gbps in (25, 100):
            c, dp, ep, a2a = step(m, n, gbps)
            print(f"| {n} | {gbps} Gb/s | {1e3 * dp:.0f} ms | {100 * c / (c + dp):.0f}% | {a2a / 1e6:.0f} | "
                  f"{1e3 * ep:.0f} ms | {100 * c / (c + ep):.0f}% |")
    print()
