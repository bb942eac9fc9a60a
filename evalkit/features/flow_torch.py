"""Farneback dense optical flow in torch, batched, on any device: a re-implementation of OpenCV 5.0's CPU
``cv2.calcOpticalFlowFarneback`` (box window, flags 0, no initial flow) for the AV-Align motion signal.

It follows OpenCV's algorithm step by step (per-level pyramid from the full-resolution image: Gaussian blur
with the sigma and kernel size OpenCV derives from the scale, then linear resize to the rounded size;
polynomial expansion with replicated borders; matrices from bilinear samples of the second expansion at the
displaced position, attenuated near the edges; box blur with replicated borders; 2x2 solve; iterations; flow
upsampled between levels) and, with the default ``dtype=torch.float32``, rounds as that build does: float32
where OpenCV uses float, float64 where it accumulates in double, fused multiply-adds where its AVX2 filter
code and IPP's resize use them. Measured against cv2 5.0.0 (x86-64 wheel, IPP on): the flow is bit-identical
on all 552 pairs of the three 758x512 animate-x clips and on the synthetic pairs of tests/test_flow_torch.py,
on CPU and on CUDA (H200), so the per-pair mean magnitudes and AV-Align peaks are the reference's.
Known gap: for kernels of 19+ taps (pyramid level 3) and widths not a multiple of 4, cv2's scalar tail of the
row filter rounds a few of the last 1-3 columns differently (1 ulp of the blurred image, then ulp noise).
``dtype=torch.float64`` runs every step in double instead: further from cv2 (per-pair mean magnitude up to
1.4e-3 px off, pixels in ill-conditioned spots up to 3.8 px), because Farneback amplifies rounding there.
"""
from __future__ import annotations

import math

import numpy as np
import torch

#: cv2.calcOpticalFlowFarneback arguments of AV-Align after (prev, next, flow): pyr_scale, levels, winsize,
#: iterations, poly_n, poly_sigma (flags 0)
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2)

_MIN_SIZE = 32  # OpenCV stops adding pyramid levels below 32 px on either side
_EDGE = (0.14, 0.14, 0.4472, 0.4472, 0.4472)  # OpenCV's weights of the 5 outermost rows/columns in the matrices
_SMALL_GAUSS = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
                7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
                9: [v / 256 for v in (4, 13, 30, 51, 60, 51, 30, 13, 4)]}  # cv2 5.0's tables for sigma <= 0


class _Arith:
    """The two roundings the module uses: cv2's (float32 data, double accumulators, FMAs) or all-double."""

    def __init__(self, dtype: torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.dtype, self.exact = dtype, dtype == torch.float32

    def fma(self, a, b, c):
        """a*b + c rounded once, like the FMA instructions of OpenCV's dispatched SIMD code. The product of two
        floats is exact in double, so one double add then a cast reproduces it (double rounding is ~2^-29 rare)."""
        if self.exact:
            return (a.double() * b + c).float()
        return a * b + c

    def wide(self, x):
        """To OpenCV's accumulator type (double)."""
        return x.double()

    def narrow(self, x):
        """Back to the data type (a cast to float where OpenCV stores a double result in a float Mat)."""
        return x.to(self.dtype)

    def const(self, v: float) -> float:
        """A factor OpenCV applies in float (the flow's 1/pyr_scale between levels): rounded to float32 in
        both modes, like the kernel taps, so float64 mode differs from cv2 in arithmetic only."""
        return float(np.float32(v))


def _gaussian_kernel(n: int, sigma: float) -> list[float]:
    """cv2.getGaussianKernel(n, sigma) as float taps: fixed tables for sigma <= 0 and n <= 9, else the
    normalised samples computed in double (OpenCV's bit-exact variant, then cast to float)."""
    if sigma <= 0 and n in _SMALL_GAUSS:
        return _SMALL_GAUSS[n]
    if sigma <= 0:
        sigma = ((n - 1) * 0.5 - 1) * 0.3 + 0.8
    half = (n - 1) // 2
    scale2 = -0.125 / (sigma * sigma)  # OpenCV uses doubled coordinates: exp((2x)^2 * -1/(8 sigma^2))
    side = [math.exp(float(x * x) * scale2) for x in range(1 - n, 0, 2)][:half]
    total = 0.0
    for t in side:
        total += t
    total = total * 2 + 1 + (1 if n % 2 == 0 else 0)
    taps = [t / total for t in side]
    centre = [1 / total] * (n - 2 * half)
    return [float(np.float32(t)) for t in taps + centre + taps[::-1]]


def _reflect101(idx: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's default border (BORDER_REFLECT_101: ...2 1 | 0 1 2 ... n-1 | n-2 ...), any distance out."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def _index(idx: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(idx), dtype=torch.long, device=device)


def _gauss_rows(img, k: list[float], cols: np.ndarray, ar: _Arith):
    """cv2's horizontal Gaussian pass (reflect-101 border) evaluated at the given columns only, rounded as
    its AVX2 code: 3 and 5 taps use the symmetric small-kernel vector code, longer kernels sum the taps left
    to right with FMAs, 4 columns at a time; the last width % 4 columns (width % 2 for 3 and 5 taps) are the scalar
    loop, which rounds differently (it only matters for widths that are not multiples of 4)."""
    n, r, width = len(k), len(k) // 2, img.shape[-1]

    def tap(off):
        return img.index_select(-1, _index(_reflect101(cols + off, width), img.device))

    if n == 1:
        return tap(0) * k[0]
    if n == 3:
        side, mid = tap(-1) + tap(1), tap(0)
        vec = ar.fma(mid, k[1], side * k[0])
        tail = ar.fma(side, k[0], mid * k[1])
        first_tail = width - width % 2
    elif n == 5:
        p1, p2, mid = tap(-1) + tap(1), tap(-2) + tap(2), tap(0)
        vec = ar.fma(p2, k[0], ar.fma(mid, k[2], p1 * k[1]))
        tail = (mid * k[2] + p1 * k[1]) + p2 * k[0]
        first_tail = width - width % 2
    else:
        vec = tail = tap(-r) * k[0]
        for i in range(1, n):
            t = tap(i - r)
            vec = ar.fma(t, k[i], vec)
            tail = tail + t * k[i]
        first_tail = width - width % 4
    if not ar.exact or cols.max() < first_tail:
        return vec
    return torch.where(torch.as_tensor(cols >= first_tail, device=img.device), tail, vec)


def _gauss_cols(img, k: list[float], rows: np.ndarray, cols: np.ndarray, width: int, ar: _Arith):
    """cv2's vertical Gaussian pass at the given rows (``img`` holds the full image's columns ``cols``):
    symmetric pairs of rows, each pair added with an FMA, 8 columns at a time; the scalar loop for the last
    width % 8 columns uses no FMA (3 taps: FMA everywhere)."""
    n, r, height = len(k), len(k) // 2, img.shape[-2]

    def tap(off):
        return img.index_select(-2, _index(_reflect101(rows + off, height), img.device))

    vec = tail = tap(0) * k[r]
    for j in range(1, r + 1):
        pair = tap(j) + tap(-j)
        vec = ar.fma(pair, k[r + j], vec)
        tail = tail + pair * k[r + j]
    first_tail = width - width % 8
    if n <= 3 or not ar.exact or cols.max() < first_tail:
        return vec
    return torch.where(torch.as_tensor(cols >= first_tail, device=img.device), tail, vec)


def _linear_coeffs(src: int, dst: int):
    """Linear-resize taps along one axis as IPP computes them (cv2's resize goes to IPP on x86 wheels):
    half-pixel centres, the fraction taken in double, edges replicated."""
    c = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    i0 = np.floor(c)
    w = np.float32(c - i0)  # IPP's weights are the exact fraction rounded to float
    i0 = i0.astype(np.int64)
    return np.clip(i0, 0, src - 1), np.clip(i0 + 1, 0, src - 1), w


def _lerp(a, b, w, ar: _Arith):
    return ar.fma(w, b - a, a)  # IPP: a + w*(b - a) with one rounding


def _pyramid_level(frames, scale: float, out_w: int, out_h: int, ar: _Arith):
    """One level of OpenCV's pyramid, from the full-resolution frames: GaussianBlur with sigma (1/scale-1)/2
    and size round(5 sigma)|1 (at least 3), then linear resize to the rounded size. Only the blurred pixels
    the resize reads are computed."""
    height, width = frames.shape[-2:]
    sigma = (1.0 / scale - 1) * 0.5
    ksize = max(round(sigma * 5) | 1, 3)
    k = _gaussian_kernel(ksize, sigma)
    if (out_w, out_h) == (width, height):
        rows, cols = np.arange(height), np.arange(width)
    else:
        x0, x1, _ = _linear_coeffs(width, out_w)
        y0, y1, _ = _linear_coeffs(height, out_h)
        cols, rows = np.unique(np.concatenate([x0, x1])), np.unique(np.concatenate([y0, y1]))
    blurred = _gauss_cols(_gauss_rows(frames, k, cols, ar), k, rows, cols, width, ar)  # OpenCV: row filter, then column
    if (out_w, out_h) == (width, height):
        return blurred
    return _resize_sub(blurred, rows, cols, width, height, out_w, out_h, ar)


def _resize_sub(img, rows, cols, width, height, out_w, out_h, ar: _Arith):
    """Linear resize of a (width x height) image of which ``img`` holds only ``rows`` x ``cols``."""
    dev = img.device
    x0, x1, wx = _linear_coeffs(width, out_w)
    y0, y1, wy = _linear_coeffs(height, out_h)
    x0, x1 = np.searchsorted(cols, x0), np.searchsorted(cols, x1)
    y0, y1 = np.searchsorted(rows, y0), np.searchsorted(rows, y1)
    wx_t = torch.as_tensor(wx, device=dev, dtype=ar.dtype)
    wy_t = torch.as_tensor(wy, device=dev, dtype=ar.dtype)[:, None]
    h = _lerp(img.index_select(-1, _index(x0, dev)), img.index_select(-1, _index(x1, dev)), wx_t, ar)
    return _lerp(h.index_select(-2, _index(y0, dev)), h.index_select(-2, _index(y1, dev)), wy_t, ar)


def _resize_flow(flow, out_w: int, out_h: int, ar: _Arith):
    """cv2.resize(flow, INTER_LINEAR) of the 2-channel flow. IPP does not take 2 channels, so this is
    OpenCV's own code: coordinates rounded to float, columns clamped with weight 0, rows clamped,
    w0*a + w1*b without FMA."""
    height, width = flow.shape[-2:]
    if (out_w, out_h) == (width, height):
        return flow
    dev = flow.device

    def coeffs(src, dst):
        c = ((np.arange(dst) + 0.5) * (1.0 / (dst / src)) - 0.5).astype(np.float32)
        i0 = np.floor(c)
        w = (c - i0).astype(np.float32)
        return i0.astype(np.int64), w

    sx, wx = coeffs(width, out_w)
    lo, hi = sx < 0, sx >= width - 1
    wx[lo | hi] = 0
    sx = np.clip(sx, 0, width - 1)
    sy, wy = coeffs(height, out_h)

    def t(w):
        return torch.as_tensor(w, device=dev, dtype=ar.dtype)

    h = flow.index_select(-1, _index(sx, dev)) * t(1 - wx) \
        + flow.index_select(-1, _index(np.minimum(sx + 1, width - 1), dev)) * t(wx)
    return h.index_select(-2, _index(np.clip(sy, 0, height - 1), dev)) * t(1 - wy)[:, None] \
        + h.index_select(-2, _index(np.clip(sy + 1, 0, height - 1), dev)) * t(wy)[:, None]


def _poly_constants(n: int, sigma: float):
    """FarnebackPrepareGaussian: float taps g, x*g, x^2*g and the four entries of the inverse 6x6 moment
    matrix that turn the filter responses into polynomial coefficients (products in float, sums in double,
    as OpenCV)."""
    if sigma < np.finfo(np.float32).eps:
        sigma = n * 0.3
    x = np.arange(-n, n + 1)
    g = np.array([np.float32(math.exp(-float(i * i) / (2 * sigma * sigma))) for i in x], np.float32)
    s = 0.0
    for v in g:
        s += float(v)
    g = (g.astype(np.float64) * (1.0 / s)).astype(np.float32)
    xf = x.astype(np.float32)
    xg, xxg = xf * g, xf * xf * g
    G = np.zeros((6, 6))
    for yi in range(2 * n + 1):
        for xi in range(2 * n + 1):
            gg = g[yi] * g[xi]
            xx, yy = xf[xi], xf[yi]
            G[0, 0] += float(gg)
            G[1, 1] += float(gg * xx * xx)
            G[3, 3] += float(gg * xx * xx * xx * xx)
            G[5, 5] += float(gg * xx * xx * yy * yy)
    G[2, 2] = G[0, 3] = G[0, 4] = G[3, 0] = G[4, 0] = G[1, 1]
    G[4, 4] = G[3, 3]
    G[3, 4] = G[4, 3] = G[5, 5]
    inv = _cholesky_inverse(G)
    return g.tolist(), xg.tolist(), xxg.tolist(), (inv[1, 1], inv[0, 3], inv[3, 3], inv[5, 5])


def _cholesky_inverse(A: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix in the order of OpenCV's Cholesky solver (L stored
    with reciprocal diagonal, forward then backward substitution on the identity): same last bits as
    ``Mat::inv(DECOMP_CHOLESKY)``, which np.linalg.inv misses by a few ulps."""
    L = [[float(v) for v in row] for row in A]
    m = len(L)
    for i in range(m):
        for j in range(i):
            s = L[i][j]
            for k in range(j):
                s -= L[i][k] * L[j][k]
            L[i][j] = s * L[j][j]
        s = L[i][i]
        for k in range(i):
            s -= L[i][k] * L[i][k]
        L[i][i] = 1.0 / math.sqrt(s)
    b = [[1.0 if i == j else 0.0 for j in range(m)] for i in range(m)]
    for i in range(m):
        for j in range(m):
            s = b[i][j]
            for k in range(i):
                s -= L[i][k] * b[k][j]
            b[i][j] = s * L[i][i]
    for i in range(m - 1, -1, -1):
        for j in range(m):
            s = b[i][j]
            for k in range(m - 1, i, -1):
                s -= L[k][i] * b[k][j]
            b[i][j] = s * L[i][i]
    return np.array(b)


def _pad_edge(t, before: int, after: int, dim: int):
    """t with its first/last sample along ``dim`` repeated ``before``/``after`` times (replicated border);
    shifted neighbours are then slices (views) of one padded copy."""
    dim %= t.ndim

    def edge(i, count):
        return t.narrow(dim, i, 1).expand(*[count if d == dim else -1 for d in range(t.ndim)])

    parts = ([edge(0, before)] if before else []) + [t] + ([edge(t.shape[dim] - 1, after)] if after else [])
    return torch.cat(parts, dim)


def _poly_exp(img, n: int, sigma: float, ar: _Arith):
    """FarnebackPolyExp: (F,H,W) → (F,5,H,W) coefficients [y, x, yy, xx, xy] of the local quadratic fit.
    Vertical pass in float, horizontal pass accumulated in double (some products still in float, as in C)."""
    g, xg, xxg, (ig11, ig03, ig33, ig55) = _poly_constants(n, sigma)
    height, width = img.shape[-2:]
    c0 = img * g[n]  # row[x*3]: sum g*I
    c1 = c2 = None   # row[x*3+1]: sum x*g*I (vertical x), row[x*3+2]: sum x^2*g*I
    padded = _pad_edge(img, n, n, -2)
    for k in range(1, n + 1):
        up, dn = padded[..., n - k:n - k + height, :], padded[..., n + k:n + k + height, :]
        p = up + dn
        c0 = c0 + g[n + k] * p
        t1 = xg[n + k] * (dn - up)
        c1 = t1 if c1 is None else c1 + t1
        t2 = xxg[n + k] * p
        c2 = t2 if c2 is None else c2 + t2
    w = ar.wide
    b1, b3, b5 = w(c0 * g[n]), w(c1 * g[n]), w(c2 * g[n])
    b2 = b4 = b6 = None
    p0, p1, p2 = (_pad_edge(c, n, n, -1) for c in (c0, c1, c2))
    for k in range(1, n + 1):
        l0, r0 = p0[..., n - k:n - k + width], p0[..., n + k:n + k + width]
        l1, r1 = p1[..., n - k:n - k + width], p1[..., n + k:n + k + width]
        l2, r2 = p2[..., n - k:n - k + width], p2[..., n + k:n + k + width]
        tg = w(r0 + l0)  # float sum, then double
        b1 = b1 + tg * g[n + k]
        b4 = tg * xxg[n + k] if b4 is None else b4 + tg * xxg[n + k]
        t = w((r0 - l0) * xg[n + k])  # float product, added in double
        b2 = t if b2 is None else b2 + t
        b3 = b3 + w((r1 + l1) * g[n + k])
        t = w((r1 - l1) * xg[n + k])
        b6 = t if b6 is None else b6 + t
        b5 = b5 + w((r2 + l2) * g[n + k])
    nr = ar.narrow
    return torch.stack([nr(b3 * ig11), nr(b2 * ig11), nr(b1 * ig03 + b5 * ig33), nr(b1 * ig03 + b4 * ig33),
                        nr(b6 * ig55)], 1)


def _edge_weights(height: int, width: int, dtype, device):
    """Per-pixel factor OpenCV applies to the matrices near the image border (1 inside), in its float
    product order and with its unsigned-compare condition."""
    x, y = np.arange(width), np.arange(height)
    e = np.array(_EDGE, np.float32)
    one = np.float32(1)
    fl = np.where(x < 5, e[np.minimum(x, 4)], one)
    fr = np.where(x >= width - 5, e[np.clip(width - x - 1, 0, 4)], one)
    ft = np.where(y < 5, e[np.minimum(y, 4)], one)
    fb = np.where(y >= height - 5, e[np.clip(height - y - 1, 0, 4)], one)
    scale = ((fl[None, :] * fr[None, :]) * ft[:, None]) * fb[:, None]
    cond = (((x - 5) % 2**32)[None, :] >= (width - 10) % 2**32) | (((y - 5) % 2**32)[:, None] >= (height - 10) % 2**32)
    return torch.as_tensor(np.where(cond, scale, one).astype(np.float32), device=device).to(dtype)


def _update_matrices(R0, R1, flow, edge, ar: _Arith):
    """FarnebackUpdateMatrices: (N,5,H,W) blur inputs [G11, G12, G22, h1, h2] from the first expansion and
    the second one sampled bilinearly at x + flow (outside: the first expansion alone, halved terms)."""
    N, _, height, width = R0.shape
    dev = R0.device
    dx, dy = flow[:, 0], flow[:, 1]
    gx = torch.arange(width, device=dev, dtype=ar.dtype)
    gy = torch.arange(height, device=dev, dtype=ar.dtype)[:, None]
    fx, fy = gx + dx, gy + dy
    x1f, y1f = torch.floor(fx), torch.floor(fy)
    fx, fy = fx - x1f, fy - y1f
    x1, y1 = x1f.long(), y1f.long()
    inside = (x1 >= 0) & (x1 < width - 1) & (y1 >= 0) & (y1 < height - 1)
    base = (y1.clamp(0, height - 2) * width + x1.clamp(0, width - 2)).reshape(N, 1, -1).expand(N, 5, -1)
    flat = R1.reshape(N, 5, -1)

    def at(off):
        return flat.gather(2, base + off).reshape(N, 5, height, width)

    a00, a01 = ((1 - fx) * (1 - fy))[:, None], (fx * (1 - fy))[:, None]
    a10, a11 = ((1 - fx) * fy)[:, None], (fx * fy)[:, None]
    r = ((a00 * at(0) + a01 * at(1)) + a10 * at(width)) + a11 * at(width + 1)
    r2 = torch.where(inside, r[:, 0], 0)
    r3 = torch.where(inside, r[:, 1], 0)
    r4 = torch.where(inside, (R0[:, 2] + r[:, 2]) * 0.5, R0[:, 2])
    r5 = torch.where(inside, (R0[:, 3] + r[:, 3]) * 0.5, R0[:, 3])
    r6 = torch.where(inside, (R0[:, 4] + r[:, 4]) * 0.25, R0[:, 4] * 0.5)
    r2 = (R0[:, 0] - r2) * 0.5
    r3 = (R0[:, 1] - r3) * 0.5
    r2 = r2 + (r4 * dy + r6 * dx)
    r3 = r3 + (r6 * dy + r5 * dx)
    r2, r3, r4, r5, r6 = (v * edge for v in (r2, r3, r4, r5, r6))
    return torch.stack([r4 * r4 + r6 * r6, (r4 + r5) * r6, r5 * r5 + r6 * r6, r4 * r2 + r6 * r3,
                        r6 * r2 + r5 * r3], 1)


def _box_solve(M, winsize: int, ar: _Arith):
    """FarnebackUpdateFlow_Blur: winsize x winsize box mean of the matrices (replicated border; OpenCV's
    running sums in double over float row differences, reproduced as cumulative sums) and the regularised
    2x2 solve (det + 1e-3). Returns the (N,2,H,W) flow."""
    height, width = M.shape[-2:]
    m = winsize // 2
    Mp = _pad_edge(M, m + 1, m, 2)  # row y - m - 1 .. y + m, clamped
    d = ar.wide(Mp[:, :, 2 * m + 1:] - Mp[:, :, :height])  # float difference, as in C
    init = ar.wide(M[:, :, 0] * (m + 2))
    for y in range(1, m):
        init = init + ar.wide(M[:, :, min(y, height - 1)])
    d[:, :, 0] += init  # the running sum starts from init: same additions, in the same order, as cumsum
    V = torch.cumsum(d, 2)
    Vp = _pad_edge(V, m + 1, m, 3)
    e = Vp[..., 2 * m + 1:] - Vp[..., :width]
    hinit = V[..., 0] * (m + 2)
    for x in range(1, m):
        hinit = hinit + V[..., min(x, width - 1)]
    e[..., 0] += hinit
    S = torch.cumsum(e, 3) * (1.0 / (winsize * winsize))
    g11, g12, g22, h1, h2 = S.unbind(1)
    idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3)
    return torch.stack([ar.narrow((g11 * h2 - g12 * h1) * idet), ar.narrow((g22 * h1 - g12 * h2) * idet)], 1)


def _flow_pairs(frames, first, second, pyr_scale, levels, winsize, iterations, poly_n, poly_sigma,
                ar: _Arith):
    """Flow (N,2,H,W) from frames[first[i]] to frames[second[i]]; each frame's pyramid and expansion is
    computed once even when it belongs to two pairs."""
    if not 0 < pyr_scale < 1:
        raise ValueError("pyr_scale must be in (0, 1)")
    height, width = frames.shape[-2:]
    n_levels, scale = 0, 1.0
    while n_levels < levels:  # OpenCV's level count: stop before a side gets below 32 px
        scale *= pyr_scale
        if width * scale < _MIN_SIZE or height * scale < _MIN_SIZE:
            break
        n_levels += 1
    flow = None
    for k in range(n_levels, -1, -1):
        scale = 1.0
        for _ in range(k):
            scale *= pyr_scale
        w, h = round(width * scale), round(height * scale)  # cvRound: half to even, as Python's round
        if flow is None:
            flow = torch.zeros((len(first), 2, h, w), dtype=ar.dtype, device=frames.device)
        else:
            flow = _resize_flow(flow, w, h, ar) * ar.const(1.0 / pyr_scale)
        R = _poly_exp(_pyramid_level(frames, scale, w, h, ar), poly_n, poly_sigma, ar)
        R0, R1 = R.index_select(0, first), R.index_select(0, second)
        del R
        edge = _edge_weights(h, w, ar.dtype, frames.device)
        M = _update_matrices(R0, R1, flow, edge, ar)
        for it in range(iterations):
            flow = _box_solve(M, winsize, ar)
            if it < iterations - 1:
                M = _update_matrices(R0, R1, flow, edge, ar)
    return flow


def _as_frames(x, device, dtype) -> torch.Tensor:
    t = torch.as_tensor(x, device=device)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"expected (N,H,W) or (H,W) grey images, got shape {tuple(t.shape)}")
    return t.to(dtype)  # uint8 → float is exact, like OpenCV's convertTo(CV_32F)


def farneback_flow(prev, next, pyr_scale: float = 0.5, levels: int = 3, winsize: int = 15,
                   iterations: int = 3, poly_n: int = 5, poly_sigma: float = 1.2,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Dense flow (N,H,W,2) from each ``prev[i]`` to ``next[i]`` (tensors (N,H,W) or (H,W), uint8 or float,
    on any device), as ``cv2.calcOpticalFlowFarneback(prev, next, None, pyr_scale, levels, winsize,
    iterations, poly_n, poly_sigma, 0)``. ``dtype`` float32 follows cv2's rounding; float64 computes in double."""
    ar = _Arith(dtype)
    device = prev.device if isinstance(prev, torch.Tensor) else "cpu"
    a, b = _as_frames(prev, device, dtype), _as_frames(next, device, dtype)
    if a.shape != b.shape:
        raise ValueError(f"prev and next differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    n = len(a)
    idx = torch.arange(2 * n, device=device)
    flow = _flow_pairs(torch.cat([a, b]), idx[:n], idx[n:], pyr_scale, levels, winsize, iterations, poly_n,
                       poly_sigma, ar)
    return flow.permute(0, 2, 3, 1)


def _auto_batch(height: int, width: int, device) -> int:
    # CUDA: ~130 MB of temporaries per 758x512 pair (measured peak on an H200), throughput flat past ~32
    # pairs: ~2e7 pixels (~51 such pairs, 6.6 GB). CPU: memory-bound, fastest at 1-2 such pairs (cache).
    pixels = 2e7 if torch.device(device).type == "cuda" else 1e6
    return max(1, int(pixels // (height * width)))


def mean_flow_magnitudes_torch(grey_frames: np.ndarray, device="cpu", batch: int | None = None,
                               dtype: torch.dtype = torch.float32) -> np.ndarray:
    """(T,H,W) uint8 frames → (T−1,) float64 mean of sqrt(fx²+fy²) of the flow of each consecutive pair,
    the torch counterpart of evalkit.features.flow.pair_magnitudes. Pairs go ``batch`` at a time (None: 51 pairs
    of 758x512 on CUDA, ~7 GB of temporaries; 2 such pairs on CPU); a batch's frames are expanded once."""
    g = np.asarray(grey_frames)
    if g.ndim != 3:
        raise ValueError(f"expected (T,H,W) grey frames, got shape {g.shape}")
    pairs = max(len(g) - 1, 0)
    out = np.empty(pairs, dtype=np.float64)
    if not pairs:
        return out
    batch = int(batch) if batch else _auto_batch(*g.shape[1:], device)
    ar = _Arith(dtype)
    for a in range(0, pairs, batch):
        b = min(a + batch, pairs)
        frames = torch.as_tensor(g[a:b + 1], device=device).to(dtype)
        idx = torch.arange(b - a + 1, device=frames.device)
        flow = _flow_pairs(frames, idx[:-1], idx[1:], *FARNEBACK, ar).double()
        mag = torch.sqrt(flow[:, 0] ** 2 + flow[:, 1] ** 2).mean(dim=(1, 2))  # float64, as pair_magnitudes
        out[a:b] = mag.cpu().numpy()
    return out
