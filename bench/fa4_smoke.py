"""FlashAttention-4 on this card: one varlen forward + backward (as padding-free training calls it) against SDPA.

python3 bench/fa4_smoke.py        # prints the relative error of out and dq, and the first-call (compile) time
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from flash_attn.cute import flash_attn_varlen_func


def main() -> int:
    torch.manual_seed(0)
    lens = [37, 250, 101, 657]  # a padding-free batch: records concatenated, boundaries in cu_seqlens
    heads, kv_heads, dim = 28, 4, 128  # Qwen2.5-7B's attention
    total = sum(lens)
    q = torch.randn(total, heads, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(total, kv_heads, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(total, kv_heads, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], device="cuda", dtype=torch.int32)
    start = time.monotonic()
    out = flash_attn_varlen_func(
        q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=max(lens), max_seqlen_k=max(lens), causal=True
    )
    out = out[0] if isinstance(out, tuple) else out
    out.float().square().sum().backward()
    torch.cuda.synchronize()
    first = time.monotonic() - start
    assert q.grad is not None
    dq = q.grad.clone()
    refs, ref_dq = [], []
    for i in range(len(lens)):
        a, b = int(cu[i]), int(cu[i + 1])
        qs, ks, vs = (t.detach()[a:b].float().transpose(0, 1).requires_grad_() for t in (q, k, v))
        rep = heads // kv_heads
        kr, vr = ks.repeat_interleave(rep, 0), vs.repeat_interleave(rep, 0)
        o = F.scaled_dot_product_attention(qs, kr, vr, is_causal=True)
        o.square().sum().backward()
        refs.append(o.transpose(0, 1))
        assert qs.grad is not None
        ref_dq.append(qs.grad.transpose(0, 1))
    ref, rdq = torch.cat(refs), torch.cat(ref_dq)
    err = ((out.float() - ref).norm() / ref.norm()).item()
    derr = ((dq.float() - rdq).norm() / rdq.norm()).item()
    start = time.monotonic()
    for _ in range(10):
        flash_attn_varlen_func(
            q, k, v, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=max(lens), max_seqlen_k=max(lens), causal=True
        )
    torch.cuda.synchronize()
    print(
        f"FA4 varlen sm{torch.cuda.get_device_capability()}: out rel err {err:.2e}, dq rel err {derr:.2e}, "
        f"first call (compile) {first:.1f} s, then {(time.monotonic() - start) / 10 * 1e3:.2f} ms a forward"
    )
    ok = err < 2e-2 and derr < 5e-2
    print("FA4 SMOKE", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
