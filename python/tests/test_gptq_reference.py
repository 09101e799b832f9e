"""lowbit-gptq against an independent NumPy GPTQ (Frantar et al. 2022).

The reference below is written from the algorithm's definition (the
reference implementation's conventions: dead inputs, relative damping, the
upper Cholesky factor of H^-1, lazy block updates, groups fitted when first
reached or up front with static groups, act-order), not from the pass's
code. One layer with a realistic Hessian (correlated channels, a few large
channels, one input never seen) goes through lowbit-opt; the levels, scales
and zeros it stores are compared with the reference's, and its output error
tr((W-Q)^T H (W-Q)) with the reference's and with plain round-to-nearest's.
"""
import math
import re
import subprocess

import numpy as np
import pytest

import lowbit

K, N = 40, 12  # K = 40: groups of 16 leave a ragged last group of 8.


def fit_grid(seg, bits, symmetric):
    """(scale, signed zero) of each row of seg [rows, n]: GPTQ's grid, in float32
    like the pass (the range always includes 0)."""
    seg = seg.astype(np.float32)
    lo = np.minimum(seg.min(axis=1), np.float32(0))
    hi = np.maximum(seg.max(axis=1), np.float32(0))
    maxq, half = np.float32(2 ** bits - 1), 2 ** (bits - 1)
    if symmetric:
        m = np.maximum(-lo, hi)
        scale = np.where(m == 0, np.float32(1), (np.float32(2) * m) / maxq).astype(np.float32)
        return scale, np.zeros(len(seg), np.int64)
    flat = hi == lo
    scale = np.where(flat, np.float32(1), (hi - lo) / maxq).astype(np.float32)
    zero = np.clip(np.rint(-lo / scale), 0, maxq).astype(np.int64) - half
    return scale, np.where(flat, 0, zero)


def quantize(col, scale, zero, bits):
    """Levels and dequantized float64 values of a column (one value per row)."""
    half = 2 ** (bits - 1)
    level = np.clip(np.rint(col.astype(np.float32) / scale) + zero, -half, half - 1).astype(np.int64)
    return level, ((level - zero).astype(np.float32) * scale).astype(np.float64)


def gptq_reference(w_kn, h, bits, gs, symmetric, act_order=False, static_groups=False,
                   damp=0.01, block=128):
    """Levels [N, K], scales and zeros [N, G] of GPTQ on w_kn [K, N] with Hessian h [K, K]."""
    W, H = w_kn.astype(np.float64).T.copy(), h.astype(np.float64).copy()
    n, k = W.shape
    dead = np.diag(H) == 0  # inputs never seen: no information, so zero weight
    H[dead, dead] = 1
    W[:, dead] = 0
    ng = math.ceil(k / gs)
    scales, zeros = np.zeros((n, ng), np.float32), np.zeros((n, ng), np.int64)
    grouped = gs < k
    if static_groups:  # every grid from the original (unpermuted) weights
        for g in range(ng):
            scales[:, g], zeros[:, g] = fit_grid(W[:, g * gs:(g + 1) * gs], bits, symmetric)
    perm = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(k)
    W, H = W[:, perm], H[perm][:, perm]
    H += damp * np.mean(np.diag(H)) * np.eye(k)
    Hinv = np.linalg.cholesky(np.linalg.inv(H)).T  # upper U, inv(H) = U^T U
    if not grouped and not static_groups:
        scales[:, 0], zeros[:, 0] = fit_grid(W, bits, symmetric)
    levels = np.zeros((n, k), np.int64)
    for b0 in range(0, k, block):
        b1 = min(b0 + block, k)
        errs = np.zeros((n, b1 - b0))
        for i in range(b0, b1):
            g = perm[i] // gs  # the grid of the input's original position
            if grouped and not static_groups and i % gs == 0:
                # Fitted from W as updated so far: the in-block updates are in W.
                scales[:, g], zeros[:, g] = fit_grid(W[:, i:min(k, i + gs)], bits, symmetric)
            levels[:, perm[i]], deq = quantize(W[:, i], scales[:, g], zeros[:, g], bits)
            err = (W[:, i] - deq) / Hinv[i, i]
            # Spread the rounding error over the not yet rounded inputs of the block...
            W[:, i + 1:b1] -= np.outer(err, Hinv[i, i + 1:b1])
            errs[:, i - b0] = err
        # ... and, once per block, over all the later ones (lazy batch update).
        W[:, b1:] -= errs @ Hinv[b0:b1, b1:]
    return levels, scales, zeros


def dequantize(levels, scales, zeros, gs):
    """[K, N] float64 weights of levels [N, K]: input k uses group k // gs."""
    g = np.arange(levels.shape[1]) // gs
    return ((levels - zeros[:, g]).astype(np.float32) * scales[:, g]).astype(np.float64).T


def output_error(w_kn, q_kn, h):
    d = w_kn.astype(np.float64) - q_kn
    return float(np.trace(d.T @ h.astype(np.float64) @ d))


def rtn(w_kn, bits, gs, symmetric):
    """Plain round-to-nearest on the same kind of grid (fitted on the original W)."""
    W = w_kn.astype(np.float64).T
    ng = math.ceil(K / gs)
    out = np.zeros_like(W)
    for g in range(ng):
        s, z = fit_grid(W[:, g * gs:(g + 1) * gs], bits, symmetric)
        for c in range(g * gs, min(K, (g + 1) * gs)):
            out[:, c] = quantize(W[:, c], s, z, bits)[1]
    return out.T


def make_layer(seed):
    """W [K, N] (float32) and H = X^T X [K, K] (float32, as calibration stores it)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, K)) / np.sqrt(K) + np.eye(K)  # correlated channels
    X = rng.standard_normal((256, K)) @ A
    X[:, [3, 17, 29]] *= 8.0  # a few large-scale channels, as in LLM activations
    X[:, 11] = 0.0  # an input never seen: its row and column of H are zero
    H = (X.T @ X).astype(np.float32)
    W = (rng.standard_normal((K, N)) * 0.1).astype(np.float32)
    W[rng.integers(0, K, 4), rng.integers(0, N, 4)] = [0.9, -0.7, 1.2, -1.1]  # outliers
    return W, H


def dense(a):
    """A dense<...> literal, each float32 printed exactly (shortest round-trip repr)."""
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in a) + "]"


def run_pass(tmp_path, W, H, options):
    ir = f"""func.func @main_graph(%x: tensor<?x{K}xf32>) -> tensor<?x{N}xf32> {{
  %w = onnx.Constant dense<{dense(W)}> : tensor<{K}x{N}xf32>
  %t = lowbit.calibration_tap %x {{name = "fc", tokens = 64 : i64, hessian = dense<{dense(H)}> : tensor<{K}x{K}xf32>}} : tensor<?x{K}xf32>
  %y = onnx.MatMul %t, %w : (tensor<?x{K}xf32>, tensor<{K}x{N}xf32>) -> tensor<?x{N}xf32> loc("fc")
  return %y : tensor<?x{N}xf32>
}}
"""
    path = tmp_path / "fc.mlir"
    path.write_text(ir)
    pipeline = f"builtin.module(func.func(lowbit-gptq{{{options}}}))"
    run = subprocess.run([lowbit.find_tool("lowbit-opt"), str(path), f"--pass-pipeline={pipeline}"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "lowbit.quantized_matmul" in run.stdout
    # Resource blobs: hex, a 4-byte little-endian alignment, then the raw data.
    blobs = {name: bytes.fromhex(data)[4:]
             for name, data in re.findall(r'([\w.]+): "0x([0-9A-Fa-f]+)"', run.stdout)}
    return blobs


SETTINGS = [  # (bits, group (0: per channel), symmetric, extra options)
    (4, 8, True, {}),
    (3, 16, False, {}),
    (4, 0, True, {"act-order": "true"}),
    (2, 8, True, {"static-groups": "true", "act-order": "true"}),
    (4, 8, True, {"block-size": "4"}),
]


@pytest.mark.parametrize("bits,group,symmetric,extra", SETTINGS)
def test_gptq_matches_numpy_reference(tmp_path, bits, group, symmetric, extra):
    W, H = make_layer(seed=bits * 100 + group)
    options = " ".join([f"bits={bits}", f"group-size={group}",
                        f"symmetric={'true' if symmetric else 'false'}",
                        *(f"{k}={v}" for k, v in extra.items())])
    blobs = run_pass(tmp_path, W, H, options)
    gs = group if 0 < group < K else K
    ng = math.ceil(K / gs)
    got_levels = np.frombuffer(blobs[f"fc.q{bits}"], np.int8).reshape(N, K).astype(np.int64)
    got_scales = np.frombuffer(blobs["fc.scales"], np.float32).reshape(N, ng)
    got_zeros = (np.frombuffer(blobs["fc.zeros"], np.int8).reshape(N, ng).astype(np.int64)
                 if not symmetric else np.zeros((N, ng), np.int64))
    assert symmetric == ("fc.zeros" not in blobs)

    levels, scales, zeros = gptq_reference(
        W, H, bits, gs, symmetric, act_order=extra.get("act-order") == "true",
        static_groups=extra.get("static-groups") == "true", block=int(extra.get("block-size", 128)))

    # (1) Same grids. Grids fitted mid-run depend on the updated weights, so a
    # wrong update order or stale W shows up here first.
    np.testing.assert_allclose(got_scales, scales, rtol=1e-6)
    np.testing.assert_array_equal(got_zeros, zeros)
    # (2) Same levels, but for rare float ties (the pass's float64 order of
    # operations is not NumPy's; a value on a rounding boundary may go either way).
    agree = np.mean(got_levels == levels)
    assert agree >= 0.99, f"levels agree in only {agree:.2%} of entries"
    # (3) Same output error, the quantity GPTQ minimizes.
    err_pass = output_error(W, dequantize(got_levels, got_scales, got_zeros, gs), H)
    err_ref = output_error(W, dequantize(levels, scales, zeros, gs), H)
    assert err_pass == pytest.approx(err_ref, rel=1e-5)
    # (4) And the error feedback pays off: below round-to-nearest's on the same grid.
    err_rtn = output_error(W, rtn(W, bits, gs, symmetric), H)
    print(f"bits={bits} g={group} {extra}: gptq {err_pass:.4g} (numpy {err_ref:.4g}), rtn {err_rtn:.4g}")
    assert err_pass < err_rtn
