"""Yardstick for context mixing on 2D images: ideal code lengths (float, -log2 p) of the
codec's binarization (zero, sign, exponent, two mantissa bits, raw bits) under

- one context set: the signed largest neighbour error of JPEG XL's weighted predictor (what
  JPEG XL e3 uses), and
- logistic mixing of five context sets (max error, energy, texture x error signs, exact
  differences, W/N residuals), with JPEG XL's weighted predictor or MED.

    python benchmarks/yardstick_mixing.py IMAGE...   (PNG / JPEG / DICOM, read with medroi.io)

This decided ``medroi.codec.mixing`` before it was built; results/mixing.md has the figures.
"""

from __future__ import annotations

import sys

import numba
import numpy as np


def load(path: str) -> np.ndarray:
    """A 2D image as ints (the middle slice of a volume); ranks when it uses few of its values."""
    from medroi.io import read_image

    image = np.asarray(read_image(path).array).astype(np.int64)
    if image.ndim == 3:
        image = image[image.shape[0] // 2] if image.shape[-1] > 4 else image[..., 0]
    used = np.unique(image)
    if used.size < (used[-1] - used[0] + 1) * 0.8:
        image = np.searchsorted(used, image)
    return image


@numba.njit(cache=True)
def floorlog2(x):
    r = 0
    while (x >> (r + 1)) > 0:
        r += 1
    return r


@numba.njit(cache=True)
def wp_residuals(img):
    H, W_ = img.shape
    x = img.astype(np.int64)
    divl = np.array([(1 << 24) // (i + 1) for i in range(64)], np.int64)
    wmax = np.array([0xd, 0xc, 0xc, 0xc], np.int64)
    perr = np.zeros((4, 2 * (W_ + 2)), np.int64)
    err = np.zeros(2 * (W_ + 2), np.int64)
    res = np.zeros((H, W_), np.int64)
    maxerr = np.zeros((H, W_), np.int64)
    pr = np.zeros(4, np.int64)
    wts = np.zeros(4, np.int64)
    for y in range(H):
        cur = 0 if y & 1 else W_ + 2
        prev = W_ + 2 if y & 1 else 0
        for xx in range(W_):
            # neighbours as in JXL modular: edges
            if y == 0:
                N = x[y, xx - 1] if xx > 0 else 0
                W = N; NW = N; NE = N; NN = N
            else:
                N = x[y - 1, xx]
                W = x[y, xx - 1] if xx > 0 else N
                NW = x[y - 1, xx - 1] if xx > 0 else N
                NE = x[y - 1, xx + 1] if xx + 1 < W_ else N
                NN = x[y - 2, xx] if y > 1 else N
            posN = prev + xx
            posNE = posN + 1 if xx < W_ - 1 else posN
            posNW = posN - 1 if xx > 0 else posN
            for i in range(4):
                e = perr[i, posN] + perr[i, posNE] + perr[i, posNW]
                sh = floorlog2(e + 1) - 5
                if sh < 0:
                    sh = 0
                wts[i] = 4 + ((wmax[i] * divl[e >> sh]) >> sh)
            N8 = N << 3; W8 = W << 3; NE8 = NE << 3; NW8 = NW << 3; NN8 = NN << 3
            teW = 0 if xx == 0 else err[cur + xx - 1]
            teN = err[posN]; teNW = err[posNW]; teNE = err[posNE]
            p = teW
            if abs(teN) > abs(p): p = teN
            if abs(teNW) > abs(p): p = teNW
            if abs(teNE) > abs(p): p = teNE
            maxerr[y, xx] = p
            sumWN = teN + teW
            pr[0] = W8 + NE8 - N8
            pr[1] = N8 - (((sumWN + teNE) * 16) >> 5)
            pr[2] = W8 - (((sumWN + teNW) * 10) >> 5)
            pr[3] = N8 - ((teNW * 7 + teN * 7 + teNE * 7) >> 5)
            ws = wts.sum()
            lw = floorlog2(ws)
            ws2 = 0
            w2 = wts.copy()
            for i in range(4):
                w2[i] >>= lw - 4
                ws2 += w2[i]
            s = (ws2 >> 1) - 1
            for i in range(4):
                s += pr[i] * w2[i]
            pred = (s * divl[ws2 - 1]) >> 24
            if not (((teN ^ teW) | (teN ^ teNW)) > 0):
                mx = max(W8, max(NE8, N8)); mn = min(W8, min(NE8, N8))
                pred = max(mn, min(mx, pred))
            pv = (pred + 3) >> 3
            val = x[y, xx]
            res[y, xx] = val - pv
            v8 = val << 3
            err[cur + xx] = pred - v8
            for i in range(4):
                e = (abs(pr[i] - v8) + 3) >> 3
                perr[i, cur + xx] = e
                perr[i, prev + xx + 1] += e
    return res, maxerr


@numba.njit(cache=True)
def binarize(q, slots, bits):
    """The codec's decisions for residual ``q`` (zero, sign, exponent, two mantissa bits) into
    ``slots`` / ``bits``; returns (how many, how many raw low bits follow)."""
    m = abs(q)
    e = 0
    while (m >> (e + 1)) > 0:
        e += 1
    slots[0] = 0
    bits[0] = 1 if q == 0 else 0
    if q == 0:
        return 1, 0
    slots[1] = 1
    bits[1] = 1 if q < 0 else 0
    n = 2
    for u in range(e + 1):
        slots[n] = 2 + u
        bits[n] = 1 if u < e else 0
        n += 1
    if e >= 1:
        b1 = (m >> (e - 1)) & 1
        slots[n] = 23 + e
        bits[n] = b1
        n += 1
        if e >= 2:
            slots[n] = 44 + min(e, 9) * 2 + b1
            bits[n] = (m >> (e - 2)) & 1
            n += 1
            return n, e - 2
    return n, 0


@numba.njit(cache=True)
def cost(res, ctxs, nctx):
    """Ideal bytes of ``res`` with one adaptive probability per (context, decision)."""
    NB = 64
    P = np.full((nctx, NB), 0.5)
    C = np.zeros((nctx, NB), np.int64)
    slots = np.empty(NB, np.int64)
    bits = np.empty(NB, np.int64)
    total = 0.0
    H, W = res.shape
    for y in range(H):
        for xx in range(W):
            c = ctxs[y, xx]
            nb, raw = binarize(res[y, xx], slots, bits)
            total += raw
            for t in range(nb):
                s = slots[t]; bit = bits[t]
                p = min(max(P[c, s], 1e-4), 1 - 1e-4)
                total += -np.log2(p if bit else 1 - p)
                cc = C[c, s]
                P[c, s] += (bit - P[c, s]) / (cc + 1.5 if cc < 60 else 61.5)
                C[c, s] = cc + 1
    return total / 8


def bucket(v, n=16):
    v = np.abs(v).astype(np.float64)
    return np.minimum(n - 1, np.floor(np.log2(1 + v) * 1.5)).astype(np.int64)


@numba.njit(cache=True)
def mixcost(res, ctxs, sizes, mixsel, nmix, lr):
    """Ideal bytes of ``res`` with K context sets mixed in the logistic domain (weights per
    ``mixsel`` level and decision, learning rate ``lr``)."""
    K, H, W = ctxs.shape
    NB = 64
    off = np.zeros(K + 1, np.int64)
    for k in range(K):
        off[k + 1] = off[k] + sizes[k]
    P = np.full((off[K], NB), 0.5); C = np.zeros((off[K], NB), np.int64)
    Wt = np.full((nmix, NB, K + 1), 0.3)
    st = np.empty(K + 1)
    slots = np.empty(NB, np.int64)
    bits = np.empty(NB, np.int64)
    total = 0.0
    for y in range(H):
        for xx in range(W):
            nb, raw = binarize(res[y, xx], slots, bits)
            total += raw
            ms = mixsel[y, xx]
            for t in range(nb):
                s = slots[t]; bit = bits[t]
                dot = 0.0
                for k in range(K):
                    pk = min(max(P[off[k] + ctxs[k, y, xx], s], 1e-4), 1 - 1e-4)
                    st[k] = np.log(pk / (1 - pk))
                    dot += Wt[ms, s, k] * st[k]
                st[K] = 0.3
                dot += Wt[ms, s, K] * st[K]
                p = 1 / (1 + np.exp(-dot))
                p = min(max(p, 1e-4), 1 - 1e-4)
                total += -np.log2(p if bit else 1 - p)
                err = bit - p
                for k in range(K + 1):
                    Wt[ms, s, k] += lr * err * st[k]
                for k in range(K):
                    i = off[k] + ctxs[k, y, xx]
                    cc = C[i, s]
                    P[i, s] += (bit - P[i, s]) / (cc + 1.5 if cc < 255 else 256.5)
                    C[i, s] = cc + 1
    return total / 8


def contexts(img, res, me):
    x = img.astype(np.int64)
    H, W = x.shape
    pad = np.pad(x, ((2, 0), (2, 1)), mode='edge')
    w = pad[2:, 1:-2]; n = pad[1:-1, 2:-1]; nw = pad[1:-1, 1:-2]; ne = pad[1:-1, 3:]; nn = pad[:-2, 2:-1]; ww = pad[2:, :-3]
    rp = np.pad(res, ((1, 0), (1, 1)))
    rw = rp[1:, :-2]; rn = rp[:-1, 1:-1]; rnw = rp[:-1, :-2]; rne = rp[:-1, 2:]
    mb = bucket(me, 16) * 2 + (me < 0)  # 32
    act = np.abs(rw) * 2 + np.abs(rn) * 2 + np.abs(rnw) + np.abs(rne) + np.abs(w - nw) + np.abs(n - nw) + np.abs(n - ne)
    ab = bucket(act, 20)  # 20
    pred = x - res
    tex = (n > pred) + 2 * (w > pred) + 4 * (nw > pred) + 8 * (ne > pred) + 16 * (nn > pred) + 32 * (ww > pred)
    sg = lambda v: np.where(v == 0, 0, np.where(v > 0, 1, 2))
    c3 = (tex * 9 + sg(rw) * 3 + sg(rn)) * 4 + np.minimum(3, ab // 5)  # 64*9*4=2304
    cl = lambda v: np.clip(v, -4, 4) + 4
    c4 = (cl(n - w) * 9 + cl(w - nw)) * 9 + cl(ne - n)  # 729
    c5 = (np.clip(rw, -3, 3) + 3) * 7 + np.clip(rn, -3, 3) + 3  # 49
    c5 = c5 * 8 + np.minimum(7, ab // 3)
    return np.stack([mb, ab, c3, c4, c5]), np.array([32, 20, 2304, 729, 392]), np.minimum(15, ab)


def med_residuals(img):
    x = img.astype(np.int64)
    pad = np.pad(x, ((1, 0), (1, 1)), mode='edge')
    w = pad[1:, :-2]; n = pad[:-1, 1:-1]; nw = pad[:-1, :-2]
    med = np.where(nw >= np.maximum(w, n), np.minimum(w, n), np.where(nw <= np.minimum(w, n), np.maximum(w, n), w + n - nw))
    res = x - med
    rp = np.pad(res, ((1, 0), (1, 1)))
    cand = np.stack([rp[1:, :-2], rp[:-1, 1:-1], rp[:-1, :-2], rp[:-1, 2:]])
    idx = np.abs(cand).argmax(0)
    me = np.take_along_axis(cand, idx[None], 0)[0]
    return res, me


def main(paths: list[str]) -> None:
    print("| image | WP, max-error contexts (kB) | MED + mixing (kB) | WP + mixing (kB) |")
    print("|---|---:|---:|---:|")
    for path in paths:
        image = load(path)
        res, max_error = wp_residuals(image)
        single = cost(res, bucket(max_error, 20) * 2 + (max_error < 0), 40)
        mixed = []
        for residuals in (med_residuals, wp_residuals):
            res, max_error = residuals(image)
            ctxs, sizes, select = contexts(image, res, max_error)
            mixed.append(mixcost(res, ctxs.copy(), sizes, select, 16, 0.02))
        name = path.rstrip("/").split("/")[-1]
        print(f"| {name} | {single / 1e3:.1f} | {mixed[0] / 1e3:.1f} | {mixed[1] / 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
