"""Code one 2D slice: its ROI mask (lossless) and its pixels (within per-region bounds).

The mask: interlaced (coarse to fine, ``interlace.py``) binary contexts with ANS; in
Huffman files a 0/1 image coded by the Huffman pixel coder with the previous mask as
reference (model 2), or the XOR with the previous mask, deflated (model 1). The pixels: in raster order by
``raster.py`` (prediction from the slice and its references, error-energy contexts, a
background flag, bias cancellation), each residual quantized with step 2e + 1 (e = the
pixel's bound: ROI or NROI) so |x - x_hat| <= e and e = 0 is bit-exact, then coded with
adaptive binary models (``rangecoder.py``, default) or adaptive Huffman codes with a run
mode (``prefix.py``). Models carry from slice to slice within a group.

Integer arithmetic only: every machine decodes bit-exactly.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from medroi.codec import blockgrid, entropy, mixing, prefix, raster, rangecoder
from medroi.codec.container import FORMAT_VERSION
from medroi.codec.entropy import Decoder, Encoder
from medroi.codec.interlace import interlace_passes
from medroi.errors import CorruptFileError

ACTIVITY_THRESHOLDS = np.array([1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 181, 256, 362, 512, 1024])
N_ACTIVITY = len(ACTIVITY_THRESHOLDS) + 1
#: the activity level of each activity value up to the last threshold (where it saturates)
ACTIVITY_BUCKETS = np.searchsorted(ACTIVITY_THRESHOLDS, np.arange(ACTIVITY_THRESHOLDS[-1] + 1), side="right")
#: adaptive: activity x region x background neighbour x block-edge class (``blockgrid``), + first pixel
N_ADAPTIVE_CONTEXTS = 4 * blockgrid.N_CLASSES * N_ACTIVITY + 1
N_FLAG_CONTEXTS = 15  # background neighbours (0-4) x reference (none / background / not)
_ESCAPE_CHUNK_BITS = 16
#: Huffman bitstream revision written (header "huffman_model"; files without it: 1, medroi 0.3.0).
#: 2: a background run's length is coded relative to the row above's, and a run that reaches
#: the row's end does not force the next pixel out of run mode
HUFFMAN_MODEL = 2
HUFFMAN_MODELS = (1, 2)

MASK_P1 = np.array(entropy.BINARY_P1)
N_MASK_CONTEXTS = 11


@dataclass(frozen=True)
class Bounds:
    """Per-region maximum absolute error; None leaves that region to the reference alone."""

    roi: int | None
    nroi: int | None


# --------------------------------------------------------------------------- masks


def _mask_contexts(mask_flat: np.ndarray, ref_flat: np.ndarray | None, passes) -> list[np.ndarray]:
    contexts = []
    for p in passes:
        count = sum(mask_flat[idx].astype(np.int64) for idx in (*p.pair1, *p.pair2))
        if ref_flat is not None:
            count = count + 5 * ref_flat[p.positions]
        contexts.append(count)
    return contexts


def encode_mask(encoder: Encoder, mask: np.ndarray, ref_mask: np.ndarray | None, huffman_model: int = 1,
                models: Models | None = None) -> None:
    """Code a boolean mask; ``ref_mask`` (the previous slice's) sharpens the contexts.
    Huffman files: deflated (model 1) or, model 2, coded as a 0/1 image by the pixel coder."""
    if not mask.any():
        encoder.add(np.array([0]), entropy.uniform(3))
        return
    if mask.all():
        encoder.add(np.array([1]), entropy.uniform(3))
        return
    encoder.add(np.array([2]), entropy.uniform(3))
    if encoder.entropy == "huffman":
        if huffman_model >= 2:  # run mode and the previous mask as reference: ~1/4 of the deflated bytes
            encode_pixels(encoder, mask.astype(np.int64), *_mask_as_image(mask.shape, ref_mask),
                          (models or Models()).masks, huffman_model=huffman_model)
        else:
            _emit_bytes(encoder, _deflate_mask(mask, ref_mask))
        return
    flat = mask.ravel().astype(np.int64)
    ref = None if ref_mask is None else ref_mask.ravel().astype(np.int64)
    passes = interlace_passes(*mask.shape)
    contexts = _mask_contexts(flat, ref, passes)
    all_ctx = np.concatenate([[N_MASK_CONTEXTS - 1], *contexts])
    all_bits = np.concatenate([flat[:1], *(flat[p.positions] for p in passes)])
    choice = np.zeros(N_MASK_CONTEXTS, dtype=np.int64)
    log_p1 = np.log2(MASK_P1 / 4096.0)
    log_p0 = np.log2(1 - MASK_P1 / 4096.0)
    totals = np.bincount(all_ctx, minlength=N_MASK_CONTEXTS)
    ones_per_ctx = np.bincount(all_ctx, weights=all_bits, minlength=N_MASK_CONTEXTS)
    for c in range(N_MASK_CONTEXTS):
        ones = ones_per_ctx[c]
        choice[c] = int(np.argmax(ones * log_p1 + (totals[c] - ones) * log_p0))
    encoder.add(choice, entropy.uniform(len(MASK_P1)))
    encoder.add(flat[:1], entropy.binary(choice[N_MASK_CONTEXTS - 1]))
    for p, ctx in zip(passes, contexts):
        order, runs = _groups(ctx)
        bits = flat[p.positions][order]
        for c, start, stop in runs:
            encoder.add(bits[start:stop], entropy.binary(choice[c]))


def _mask_as_image(shape: tuple[int, int], ref_mask: np.ndarray | None):
    """``encode_pixels``' arguments after the values for a mask coded as an image: no ROI,
    the previous mask as reference, values 0..1, lossless."""
    references = [] if ref_mask is None else [ref_mask.astype(np.int64)]
    return np.zeros(shape, dtype=bool), references, (0, 1), Bounds(0, 0)


def decode_mask(decoder: Decoder, shape: tuple[int, int], ref_mask: np.ndarray | None,
                huffman_model: int = 1, models: Models | None = None) -> np.ndarray:
    """Inverse of ``encode_mask``."""
    mode = int(decoder.read(1, entropy.uniform(3))[0])
    if mode == 0:
        return np.zeros(shape, dtype=bool)
    if mode == 1:
        return np.ones(shape, dtype=bool)
    if decoder.entropy == "huffman":
        if huffman_model >= 2:
            return decode_pixels(decoder, shape, *_mask_as_image(shape, ref_mask), (models or Models()).masks,
                                 huffman_model=huffman_model) > 0
        return _inflate_mask(_read_bytes(decoder), shape, ref_mask)
    choice = decoder.read(N_MASK_CONTEXTS, entropy.uniform(len(MASK_P1)))
    flat = np.zeros(shape[0] * shape[1], dtype=np.int64)
    ref = None if ref_mask is None else ref_mask.ravel().astype(np.int64)
    flat[0] = decoder.read(1, entropy.binary(choice[N_MASK_CONTEXTS - 1]))[0]
    for p in interlace_passes(*shape):
        (ctx,) = _mask_contexts(flat, ref, [p])
        order, runs = _groups(ctx)
        bits = np.zeros(p.positions.size, dtype=np.int64)
        bits[order] = np.concatenate([decoder.read(stop - start, entropy.binary(choice[c])) for c, start, stop in runs])
        flat[p.positions] = bits
    return flat.reshape(shape).astype(bool)


def _deflate_mask(mask: np.ndarray, ref_mask: np.ndarray | None) -> bytes:
    """Huffman files: the mask XOR the previous slice's, bit-packed and deflated (DEFLATE
    is LZ77 + Huffman: a binary Huffman code alone would spend a bit per pixel)."""
    bits = mask if ref_mask is None else mask ^ ref_mask
    return zlib.compress(np.packbits(bits.ravel()).tobytes(), 9)


def _inflate_mask(data: bytes, shape: tuple[int, int], ref_mask: np.ndarray | None) -> np.ndarray:
    n_bytes = -(-shape[0] * shape[1] // 8)
    inflater = zlib.decompressobj()
    try:
        packed = inflater.decompress(data, n_bytes)
    except zlib.error as error:
        raise CorruptFileError(f"a slice's mask is damaged ({error})") from error
    if len(packed) != n_bytes or inflater.unconsumed_tail:
        raise CorruptFileError("a slice's mask has the wrong size (damaged file)")
    bits = np.unpackbits(np.frombuffer(packed, np.uint8))[: shape[0] * shape[1]].reshape(shape).astype(bool)
    return bits if ref_mask is None else bits ^ ref_mask


# --------------------------------------------------------------------------- pixels


def _groups(ctx: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A stable order sorting ``ctx``, and (context, start, stop) runs in that order."""
    order = np.argsort(ctx.astype(np.int16), kind="stable")  # radix sort on small ints
    counts = np.bincount(ctx)
    runs, start = [], 0
    for c in np.nonzero(counts)[0]:
        runs.append((int(c), start, start + int(counts[c])))
        start += int(counts[c])
    return order, runs


def emit_symbols(encoder: Encoder, values: np.ndarray, table: int, shift: int = 0) -> None:
    """Code integers: ``values >> shift`` with table ``table`` (escapes to a side group),
    then the low ``shift`` bits uniformly."""
    high = values >> shift if shift else values
    half = entropy.table_half_width(table)
    escaped = np.abs(high) > half
    symbols = np.where(escaped, 2 * half + 1, high + half)
    encoder.add(symbols, entropy.geometric(table))
    if escaped.any():
        _emit_escapes(encoder, high[escaped], half)
    if shift:
        encoder.add(values - (high << shift), entropy.uniform(1 << shift))


def _emit_escapes(encoder: Encoder, values: np.ndarray, half: int) -> None:
    codes = 2 * (np.abs(values) - half - 1) + (values < 0)
    n_chunks = max(1, -(-int(codes.max()).bit_length() // _ESCAPE_CHUNK_BITS))
    encoder.add(np.array([n_chunks]), entropy.uniform(5))
    for k in range(n_chunks):
        encoder.add((codes >> (_ESCAPE_CHUNK_BITS * k)) & 0xFFFF, entropy.uniform(1 << _ESCAPE_CHUNK_BITS))


def read_symbols(decoder: Decoder, count: int, table: int, shift: int = 0) -> np.ndarray:
    """Inverse of ``emit_symbols``."""
    half = entropy.table_half_width(table)
    symbols = decoder.read(count, entropy.geometric(table)).astype(np.int64)
    values = symbols - half
    escaped = symbols == 2 * half + 1
    n_escaped = int(escaped.sum())
    if n_escaped:
        n_chunks = int(decoder.read(1, entropy.uniform(5))[0])
        if n_chunks == 0:
            raise CorruptFileError("damaged escape codes in a slice")
        codes = np.zeros(n_escaped, dtype=np.int64)
        for k in range(n_chunks):
            codes |= decoder.read(n_escaped, entropy.uniform(1 << _ESCAPE_CHUNK_BITS)).astype(np.int64) << (
                _ESCAPE_CHUNK_BITS * k
            )
        magnitude = (codes >> 1) + half + 1
        values[escaped] = np.where(codes & 1, -magnitude, magnitude)
    if shift:
        values = (values << shift) + decoder.read(count, entropy.uniform(1 << shift)).astype(np.int64)
    return values


def _emit_value(encoder: Encoder, value: int, limit: int) -> None:
    """Code one integer in [0, limit] uniformly, 16 bits at a time."""
    for shift in range(0, max(limit, 1).bit_length(), 16):
        encoder.add(np.array([(value >> shift) & 0xFFFF]), entropy.uniform(1 << 16))


def _read_value(decoder: Decoder, limit: int) -> int:
    value = 0
    for shift in range(0, max(limit, 1).bit_length(), 16):
        value |= int(decoder.read(1, entropy.uniform(1 << 16))[0]) << shift
    if value > limit:
        raise CorruptFileError("a slice's constant value lies outside the image's range (damaged file)")
    return value


def _bound_maps(roi_mask_flat: np.ndarray, bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel bound and whether the pixel is coded at all (AE-only NROI is not)."""
    roi = 0 if bounds.roi is None else bounds.roi
    nroi = 0 if bounds.nroi is None else bounds.nroi
    bound = np.where(roi_mask_flat, roi, nroi).astype(np.int64)
    coded = np.where(roi_mask_flat, bounds.roi is not None, bounds.nroi is not None)
    return bound, coded


# --------------------------------------------------------------------------- adaptive path

class Models:
    """Adaptive probabilities, carried from slice to slice within a group (decoding a slice
    decodes its group's earlier slices anyway), so each slice starts from learnt statistics."""

    def __init__(self, exact: bool = False) -> None:
        # PREDICT_MED_EXACT's contexts come after the activity contexts; the flag states after both
        n_contexts = N_ADAPTIVE_CONTEXTS + (raster.N_EXACT_CONTEXTS if exact else 0)
        self.exact = exact
        self.n_ctx_states = n_contexts * rangecoder.N_STATES
        self.states = rangecoder.new_models(n_contexts, N_FLAG_CONTEXTS)
        self.bias_sum = np.zeros(raster.N_BIAS_CONTEXTS, dtype=np.int64)
        self.bias_cnt = np.zeros(raster.N_BIAS_CONTEXTS, dtype=np.int64)
        self._tables: prefix.Tables | None = None
        self._masks: Models | None = None

    @property
    def masks(self) -> Models:
        """The models of the group's masks when they are coded as images (Huffman model 2)."""
        if self._masks is None:
            self._masks = Models()
        return self._masks

    @property
    def tables(self) -> prefix.Tables:
        """Huffman tables (built on first use: only Huffman files need them)."""
        if self._tables is None:
            self._tables = prefix.Tables(4 * N_ACTIVITY, raster.N_PAIR_SYMBOLS)
        return self._tables


_FLAG_MIN_FRACTION = 256  # the background flag is sent when >= 1/256 of the coded pixels are background


def _emit_bytes(encoder: Encoder, data: bytes) -> None:
    """Range-coded bytes as one group of the chunk's ANS stream (8 bits each, exactly)."""
    _emit_value(encoder, len(data), _MAX_PIXEL_BYTES)
    encoder.add(np.frombuffer(data, dtype=np.uint8), entropy.uniform(256))


def _read_bytes(decoder: Decoder) -> bytes:
    length = _read_value(decoder, _MAX_PIXEL_BYTES)
    if length > decoder.payload_bytes:  # 8 bits each: more bytes than the chunk holds is damage
        raise CorruptFileError(f"a coded byte run claims {length} bytes in a {decoder.payload_bytes}-byte chunk")
    return decoder.read(length, entropy.uniform(256)).astype(np.uint8).tobytes()


_MAX_PIXEL_BYTES = (1 << 32) - 1
_NO_BLOCK = np.zeros(0, dtype=np.uint8)  # Huffman files: no block-edge contexts (their tables are per context)


def _block_array(block: np.ndarray | None) -> np.ndarray:
    return _NO_BLOCK if block is None else np.ascontiguousarray(block, dtype=np.uint8)


def _check_mode(mode: int, models: Models, entropy_name: str, error: type) -> None:
    if mode not in (raster.PREDICT_BLEND, raster.PREDICT_MED, raster.PREDICT_MED_EXACT) + raster.MIX_MODES:
        raise error(f"unknown prediction mode {mode}")
    if mode == raster.PREDICT_MED_EXACT and (entropy_name != "ans" or not models.exact):
        raise error("exact-difference contexts need the range coder and Models(exact=True)")


def _check_mix(mode: int, entropy_name: str, references: list, bound: np.ndarray, coded: np.ndarray,
               error: type) -> None:
    """Context mixing (formats 5, 6) codes lossless slices with the range coder, without references
    (2D images) or from the plane before (colour planes)."""
    planes = mode in raster.PLANE_MIX_MODES
    if entropy_name != "ans" or (references and not planes) or not coded.all() or bound.any():
        raise error(f"prediction mode {mode} (context mixing) is for lossless 2D slices with the range coder")


def _as_difference(mode: int, references: list) -> bool:
    """Whether mixing codes this slice as its difference from the plane before (a colour
    plane after the first), and not as itself."""
    return mode in raster.PLANE_MIX_MODES and bool(references)


def _difference_range(value_range: tuple[int, int]) -> tuple[int, int]:
    lo, hi = value_range
    return lo - hi, hi - lo


_MIX_MODE_OF = {raster.PREDICT_WP_MIX: mixing.MIX_WP, raster.PREDICT_MED_MIX: mixing.MIX_MED,
                raster.PREDICT_WP_MIX2: mixing.MIX_WP2, raster.PREDICT_MED_MIX2: mixing.MIX_MED2,
                raster.PREDICT_WP_PLANES2: mixing.MIX_WP2, raster.PREDICT_MED_PLANES2: mixing.MIX_MED2}


def _mix_mode(mode: int) -> int:
    return _MIX_MODE_OF[mode]


def encode_pixels(
    encoder: Encoder,
    values: np.ndarray,
    roi_mask: np.ndarray,
    references: list[np.ndarray],
    value_range: tuple[int, int],
    bounds: Bounds,
    models: Models | None = None,
    version: int = FORMAT_VERSION,
    med_only: int = raster.PREDICT_BLEND,
    block: np.ndarray | None = None,
    huffman_model: int = HUFFMAN_MODEL,
) -> np.ndarray:
    """Code a slice's pixels with adaptive binary models (range coder), updating ``models``
    (None: fresh ones) with Huffman codes for Huffman encoders; returns the reconstruction
    the decoder will produce. ``version``: the container format whose rules apply (format 2:
    no Huffman pair symbols, no background skip; written only by tests now). ``med_only``
    (format 3): predict with MED alone, no blend or bias correction (``raster.PREDICT_MED``);
    ``raster.PREDICT_MED_EXACT`` (format 4, range coder only, ``Models(exact=True)``): with
    contexts of exact local differences; ``raster.PREDICT_WP_MIX`` / ``PREDICT_MED_MIX`` (format 5;
    ``PREDICT_WP_MIX2`` / ``PREDICT_MED_MIX2``: format 6; lossless slices without references):
    context mixing (``mixing``); ``PREDICT_WP_PLANES2`` / ``PREDICT_MED_PLANES2`` (format 6): the
    same for colour planes, each after the first as its difference from the plane before
    (``references[0]``); for these modes ``block`` is each
    pixel's 8 x 8 block position (``blockgrid.positions``) or None. Otherwise ``block``: each pixel's
    block-edge class (``blockgrid.classes``, format 3, range coder only) or None.
    ``huffman_model``: the Huffman bitstream's revision (``HUFFMAN_MODEL``; 1: medroi 0.3.0)."""
    lo, hi = value_range
    height, width = values.shape
    x = values.ravel().astype(np.int64)
    mask_flat = roi_mask.ravel().astype(bool)
    bound, coded = _bound_maps(mask_flat, bounds)
    refs = [r.ravel().astype(np.int64) for r in references]
    constant = coded.all() and x.size > 1 and bool((x == x[0]).all())
    encoder.add(np.array([int(constant)]), entropy.uniform(2))
    if constant:  # e.g. the empty slices above and below a skull-stripped brain: a few bits
        _emit_value(encoder, int(x[0]) - lo, hi - lo)
        return x.reshape(height, width).copy()
    if med_only in raster.MIX_MODES + raster.PLANE_MIX_MODES:
        _check_mix(med_only, encoder.entropy, refs, bound, coded, ValueError)
        if _as_difference(med_only, refs):
            plane, plane_range = values.astype(np.int64) - refs[0].reshape(values.shape), _difference_range(value_range)
        else:
            plane, plane_range = values, value_range
        _emit_bytes(encoder, mixing.encode(plane, plane_range, _mix_mode(med_only), block))
        return x.reshape(height, width).copy()
    background = (x - lo <= bound) & coded  # such a pixel may be decoded as lo
    use_flag = int(background.sum()) * _FLAG_MIN_FRACTION >= int(coded.sum())
    encoder.add(np.array([int(use_flag)]), entropy.uniform(2))
    models = models or Models(exact=med_only == raster.PREDICT_MED_EXACT)
    _check_mode(med_only, models, encoder.entropy, ValueError)
    recon, errors, final_error, ref_array, default = _raster_state(x.size, refs, coded, value_range)
    if encoder.entropy == "huffman":
        t = models.tables
        bit_state, out = prefix.new_writer(x.size // 2)
        start, progress = 0, np.zeros(5, dtype=np.int64)
        progress[2] = progress[4] = -1
        while True:
            start = raster.encode_slice_prefix(
                x, bound, coded, mask_flat, ref_array, lo, hi, bounds.roi != bounds.nroi, use_flag,
                ACTIVITY_BUCKETS, N_ACTIVITY, t.counts, t.lengths, t.codes, t.first, t.offset, t.sorted,
                t.alphabet, t.dirty, bit_state, out, recon, errors, final_error, width, default, models.bias_sum,
                models.bias_cnt, start, progress, version >= 3, med_only, _NO_BLOCK, huffman_model >= 2, t.pair_stats,
            )
            if start >= x.size:
                break
            out = rangecoder.grow(out)
        _emit_bytes(encoder, out[: prefix.flush(bit_state, out)].tobytes())
        return recon.reshape(height, width)
    rc_state, out = rangecoder.new_encoder(x.size // 2)
    start = 0
    while True:
        start = raster.encode_slice(
            x, bound, coded, mask_flat, ref_array, lo, hi, bounds.roi != bounds.nroi, use_flag, ACTIVITY_BUCKETS,
            N_ACTIVITY, models.states, models.n_ctx_states, rc_state, out, recon, errors, final_error,
            width, default, models.bias_sum, models.bias_cnt, start, version >= 3, med_only,
            _block_array(block),
        )
        if start >= x.size:
            break
        out = rangecoder.grow(out)
    n_bytes = rangecoder.finish(rc_state, out)
    _emit_bytes(encoder, out[:n_bytes].tobytes())
    return recon.reshape(height, width)


def _raster_state(size: int, refs: list[np.ndarray], coded: np.ndarray, value_range: tuple[int, int]):
    """Decoded values (uncoded pixels preset to the first reference), error maps, the
    references as one array and the first pixel's prediction."""
    lo, hi = value_range
    recon = np.zeros(size, dtype=np.int64)
    if not coded.all():
        recon[~coded] = np.clip(refs[0][~coded], lo, hi)
    ref_array = np.stack(refs, axis=1) if refs else np.zeros((size, 0), dtype=np.int64)
    errors = np.zeros((size, raster.n_predictors(len(refs))), dtype=np.int16)
    final_error = np.zeros(size, dtype=np.int32)  # signed: value - prediction
    default = int(np.clip(refs[0][0], lo, hi)) if refs else (lo + hi) // 2
    return recon, errors, final_error, ref_array, default


def decode_pixels(
    decoder: Decoder,
    shape: tuple[int, int],
    roi_mask: np.ndarray,
    references: list[np.ndarray],
    value_range: tuple[int, int],
    bounds: Bounds,
    models: Models | None = None,
    version: int = FORMAT_VERSION,
    med_only: int = raster.PREDICT_BLEND,
    block: np.ndarray | None = None,
    huffman_model: int = HUFFMAN_MODEL,
) -> np.ndarray:
    """Inverse of ``encode_pixels``; ``version`` 2 reads the pixels of a medroi 0.2 file."""
    lo, hi = value_range
    height, width = shape
    mask_flat = roi_mask.ravel().astype(bool)
    bound, coded = _bound_maps(mask_flat, bounds)
    refs = [r.ravel().astype(np.int64) for r in references]
    if decoder.read(1, entropy.uniform(2))[0]:
        if not coded.all():
            raise CorruptFileError("a constant-slice flag in a slice with uncoded pixels (damaged file)")
        return np.full((height, width), lo + _read_value(decoder, hi - lo), dtype=np.int64)
    if med_only in raster.MIX_MODES + raster.PLANE_MIX_MODES:
        _check_mix(med_only, decoder.entropy, refs, bound, coded, CorruptFileError)
        difference = _as_difference(med_only, refs)
        plane_range = _difference_range(value_range) if difference else value_range
        recon = mixing.decode(_read_bytes(decoder), shape, plane_range, _mix_mode(med_only), block)
        if recon is None:
            raise CorruptFileError("a slice's pixel data is damaged or truncated")
        if difference:
            recon = recon + refs[0].reshape(shape)
            if recon.min() < lo or recon.max() > hi:
                raise CorruptFileError("a colour plane decodes outside the value range (damaged file)")
        return recon
    use_flag = bool(decoder.read(1, entropy.uniform(2))[0])
    models = models or Models(exact=med_only == raster.PREDICT_MED_EXACT)
    _check_mode(med_only, models, decoder.entropy, CorruptFileError)
    recon, errors, final_error, ref_array, default = _raster_state(height * width, refs, coded, value_range)
    if decoder.entropy == "huffman":
        t = models.tables
        bit_state, buf = prefix.new_reader(_read_bytes(decoder))
        ok = raster.decode_slice_prefix(
            bound, coded, mask_flat, ref_array, lo, hi, bounds.roi != bounds.nroi, use_flag, ACTIVITY_BUCKETS,
            N_ACTIVITY, t.counts, t.lengths, t.codes, t.first, t.offset, t.sorted, t.alphabet, t.dirty, bit_state,
            buf, recon, errors, final_error, width, default, models.bias_sum, models.bias_cnt, version >= 3, med_only,
            _NO_BLOCK, huffman_model >= 2, t.pair_stats,
        )
        if not ok or bit_state[3] > 0:
            raise CorruptFileError("a slice's pixel data is damaged or truncated")
        return recon.reshape(height, width)
    rc_state, buf = rangecoder.new_decoder(_read_bytes(decoder))
    ok = raster.decode_slice(
        bound, coded, mask_flat, ref_array, lo, hi, bounds.roi != bounds.nroi, use_flag, ACTIVITY_BUCKETS,
        N_ACTIVITY, models.states, models.n_ctx_states, rc_state, buf, recon, errors, final_error,
        width, default, models.bias_sum, models.bias_cnt, version >= 3, med_only, _block_array(block),
    )
    if not ok or rangecoder.overran(rc_state):
        raise CorruptFileError("a slice's pixel data is damaged or truncated")
    return recon.reshape(height, width)
