"""The ``medroi`` command line: parses arguments and calls the library (imports stay lazy).

Errors: a non-zero exit and one line on stderr (the traceback only with --debug).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence


def _labels(text: str) -> list[int]:
    try:
        labels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"labels must be integers separated by commas, got {text!r}") from None
    if not labels:
        raise argparse.ArgumentTypeError("give at least one label, e.g. 1,2,4")
    return labels


def _bound(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a bound is an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a bound is an integer >= 0, got {value}")
    return value


def _nroi_bound(text: str) -> int | None:
    return None if text.lower() in ("none", "ae") else _bound(text)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors on stderr (no usage dump); exit status 2 as argparse."""

    def error(self, message: str):
        self.exit(2, f"medroi: error: {message} (see `{self.prog} --help`)\n")


def _add_debug(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand without --debug leaves the top-level value alone
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors (also accepted before the subcommand)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="medroi",
        description="ROI-guaranteed compression of medical images (NIfTI, NRRD, MetaImage, DICOM, PNG/TIFF).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compress", help="compress an image, volume, DICOM series, or a whole folder tree")
    p.add_argument("input", help="NIfTI, NRRD, MetaImage (.mha/.mhd), DICOM file or series folder, PNG/TIFF/JPEG, "
                                 "or a folder tree")
    p.add_argument("-o", "--output", required=True, help="OUTPUT.mroi (or an output folder for a tree)")
    p.add_argument("--roi-mask", help="mask file (label image) giving the ROI")
    p.add_argument("--roi-labels", type=_labels, help="labels of the mask that form the ROI (default: any non-zero)")
    p.add_argument("--roi", choices=("auto", "mask", "none"), default=None,
                   help="auto: a network's U-Net finds the ROI; default: the mask if given, else a shipped model "
                        "that fits the input (by modality, body part, 2D/3D, BraTS naming), else no ROI")
    p.add_argument("--roi-margin", default=None,
                   help="--roi auto: grow the found ROI by this much, e.g. 3mm, 8px, 2%% of the image side "
                        "(default: the model's, chosen by cross-validation; the X-ray model's extra margin "
                        "toward the bottom row, roi.json margin_down, still applies)")
    p.add_argument("--roi-max-error", type=_bound, default=0, help="max |error| in the ROI (default 0 = lossless)")
    p.add_argument("--nroi-max-error", type=_nroi_bound, default=argparse.SUPPRESS,
                   help="max |error| outside the ROI (default: 4 when an ROI is known, lossless when none is; "
                        "'none' = the autoencoder's reconstruction alone, needs --predictor network)")
    p.add_argument("--entropy", choices=("ans", "huffman"), default="ans", help="entropy coder (default ans)")
    p.add_argument("--mode", choices=("residual", "paper"), default="residual",
                   help="paper: autoencoder latent + ROI mask only, lossy everywhere (the paper's pipeline)")
    p.add_argument("--model", help="network: a bundle name, bundle folder or model.ts path (default follows the "
                                   "input; $MEDROI_BUNDLES overrides the shipped bundles)")
    p.add_argument("--predictor", choices=("classical", "network"), default="classical",
                   help="classical (the only one offered: the network predictor made larger files, "
                        "see benchmarks/results/network_predictor.md)")
    p.add_argument("--frame", type=int, help="index of the volume to take from a 4D NIfTI")
    p.add_argument("--quantize-step", type=float, help="store non-integral float data as round(x / step)")
    p.add_argument("--mask-pattern", default=None, help="tree mode: mask file name pattern, e.g. '{case}_seg.nii.gz'")
    p.add_argument("--workers", type=int, default=None, help="tree mode: local processes (default: cores)")
    p.add_argument("--scheduler", help="tree mode: Dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("decompress", help="decode a .mroi file (or a folder of them)")
    p.add_argument("input", help="INPUT.mroi or a folder tree of .mroi files")
    p.add_argument("-o", "--output", required=True,
                   help="output image; the extension picks the format (.nii/.nii.gz, .nrrd, .mha/.mhd, .dcm or a "
                        "folder, .png/.tif)")
    p.add_argument("--mask-out", help="also write the decoded ROI mask here")
    p.add_argument("--model", help="network the file was made with (default: the one it names)")
    p.add_argument("--max-output-bytes", help="refuse files whose declared image needs more memory to decode "
                   "(bytes or e.g. 8G; default 4G or $MEDROI_MAX_OUTPUT_BYTES)")
    p.add_argument("--workers", type=int, default=None, help="tree mode: local processes (default: cores)")
    p.add_argument("--scheduler", help="tree mode: Dask scheduler address")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("info", help="describe a .mroi file")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("evaluate", help="PSNR (overall/ROI/NROI), SSIM and max errors of a reconstruction")
    p.add_argument("original")
    p.add_argument("reconstruction", help="an image file or a .mroi file")
    p.add_argument("--roi-mask", help="the ROI to score (default: the ROI a .mroi reconstruction stores)")
    p.add_argument("--roi-labels", type=_labels)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("preview", help="PNG of original, reconstruction, error map and ROI outline")
    p.add_argument("input", help="a .mroi file")
    p.add_argument("--original", help="the original image (for the error map); without it the error map is empty")
    p.add_argument("-o", "--output", required=True, help="output .png")
    p.add_argument("--slice", type=int, help="slice index of a volume (default: the slice with the largest ROI)")
    p.add_argument("--force", action="store_true")

    p = sub.add_parser("bench", help="run a benchmark script of benchmarks/ (source checkout)")
    p.add_argument("script", choices=("codecs", "batch", "speed", "alpha", "startup"), help="which benchmark")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")

    p = sub.add_parser("demo", help="compress the BraTS sample shipped with medroi (tumour exact, rest within 4) "
                                    "and compare with classical lossless codecs")
    p.add_argument("--out", "-o", "--output-dir", dest="output_dir", default=None,
                   help="folder for the demo files and preview.png (default: a new temporary folder)")
    p.add_argument("--json", action="store_true")
    for subparser in sub.choices.values():
        if subparser.prog != "medroi bench":  # bench passes its remaining arguments to the script
            _add_debug(subparser)
    return parser


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf (identical)"
        return f"{value:.4g}"
    return str(value)


def json_safe(value, nulls: dict | None = None, key: str = ""):
    """Strict JSON with numbers: numpy scalars become numbers; inf/nan become null and
    ``nulls[key]`` says what the null stands for (PSNR of identical pixels is infinite)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        if nulls is not None:
            nulls[key] = ("infinite (identical pixels)" if value > 0 else "-infinite") if value == value else "NaN"
        return None
    if isinstance(value, dict):
        return {k: json_safe(v, nulls, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, nulls, f"{key}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):
        return json_safe(value.tolist(), nulls, key)
    return value


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        nulls: dict = {}
        document = json_safe(result, nulls)
        if nulls:
            document["nulls"] = nulls
        print(json.dumps(document, default=str, allow_nan=False))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {_fmt(value)}")


def _is_tree(path: str) -> bool:
    from pathlib import Path

    from medroi.io.formats import detect_format

    folder = Path(path)
    if not folder.is_dir():
        return False
    try:
        return detect_format(folder) != "dicom-series"
    except Exception:
        return True


def _compress(args) -> int:
    from medroi import api

    if args.predictor == "network":  # measured: the latent costs more than the prediction saves
        raise SystemExit("medroi: error: --predictor network is no longer offered: it made larger files than the "
                         "classical predictor on every BRATS volume and X-ray measured "
                         "(benchmarks/results/network_predictor.md); drop --predictor")
    tree = _is_tree(args.input)
    if args.roi == "auto" and args.roi_mask:
        from medroi.errors import MedroiError

        raise MedroiError("--roi auto and --roi-mask exclude each other; give one of them")
    nroi = getattr(args, "nroi_max_error", api.DEFAULT)  # absent: rule 1 (no ROI known -> lossless)
    if tree:
        from medroi import batch

        summary = batch.compress_tree(
            args.input, args.output, mask_pattern=args.mask_pattern, roi_labels=args.roi_labels,
            roi=args.roi, roi_max_error=args.roi_max_error, nroi_max_error=nroi,
            entropy=args.entropy, mode=args.mode, model=args.model, predictor=args.predictor, workers=args.workers,
            scheduler=args.scheduler, force=args.force, progress=not args.json, roi_margin=args.roi_margin,
        )
        _print(summary, args.json)
        return 0 if summary.get("failed", 0) == 0 else 1
    result = api.compress_file(
        args.input, args.output, roi_mask_path=args.roi_mask, roi_labels=args.roi_labels, roi=args.roi,
        roi_max_error=args.roi_max_error, nroi_max_error=nroi, entropy=args.entropy,
        mode=args.mode, model=args.model, predictor=args.predictor, force=args.force, frame=args.frame,
        quantize_step=args.quantize_step, progress=not args.json and sys.stderr.isatty(), roi_margin=args.roi_margin,
    )
    auto = result.get("roi_auto") or {}
    if auto.get("status") == "fallback":
        print(f"medroi: warning: automatic ROI rejected ({auto['reason']}); {auto['fallback']}", file=sys.stderr)
    if not args.json:  # after the work: an error is then the only line on stderr
        print(f"medroi: {result['message']}", file=sys.stderr)
    _print(result, args.json)
    _note_input_size(result)
    return 0


def _note_input_size(result: dict) -> None:
    """Say so on stderr when the .mroi is not smaller than the user's own file (cr counts raw pixels)."""
    ratio = result.get("cr_vs_input_file")
    if ratio is None or ratio >= 1:
        return
    if result.get("stored", "pixels") != "pixels":
        print(f"medroi: note: {result['input']} is already compressed and smaller than coding its pixels; "
              f"the .mroi keeps the file itself ({ratio:.3f}x its size); decompress to the same format "
              "to get it back byte-exact", file=sys.stderr)
    else:
        print(f"medroi: note: the .mroi is larger than {result['input']} ({ratio:.3f}x its size)", file=sys.stderr)


def _decompress(args) -> int:
    from pathlib import Path

    from medroi import api

    if Path(args.input).is_dir():
        from medroi import batch
        from medroi.codec.limits import MAX_OUTPUT_ENV

        previous = os.environ.get(MAX_OUTPUT_ENV)
        if args.max_output_bytes is not None:  # the local worker processes inherit it
            os.environ[MAX_OUTPUT_ENV] = args.max_output_bytes
        try:
            summary = batch.decompress_tree(
                args.input, args.output, model=args.model, workers=args.workers, scheduler=args.scheduler,
                force=args.force, progress=not args.json,
            )
        finally:  # main() may be called in-process (tests, scripts): leave the environment as it was
            if previous is None:
                os.environ.pop(MAX_OUTPUT_ENV, None)
            else:
                os.environ[MAX_OUTPUT_ENV] = previous
        _print(summary, args.json)
        return 0 if summary.get("failed", 0) == 0 else 1
    result = api.decompress_file(args.input, args.output, mask_out=args.mask_out, model=args.model, force=args.force,
                                 progress=not args.json and sys.stderr.isatty(),
                                 max_output_bytes=args.max_output_bytes)
    _print(result, args.json)
    return 0


def _info(args) -> int:
    from medroi import api

    _print(api.file_info(args.input), args.json)
    return 0


def _evaluate(args) -> int:
    from medroi import api

    _print(api.evaluate_files(args.original, args.reconstruction, roi_mask_path=args.roi_mask,
                              roi_labels=args.roi_labels), args.json)
    return 0


def _demo(args) -> int:
    from medroi import demo

    result = demo.run_demo(args.output_dir)
    if args.json:
        _print(result, True)
    else:
        print(demo.format_table(result))
    return 0


def _preview(args) -> int:
    from medroi import api

    _print(api.preview_file(args.input, args.output, original_path=args.original, slice_index=args.slice,
                            force=args.force), False)
    return 0


def _bench(args) -> int:
    import runpy
    from pathlib import Path

    from medroi.errors import InputNotFoundError

    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"bench_{args.script}.py"
    if not script.is_file():
        raise InputNotFoundError(f"{script} not found: medroi bench runs from a source checkout (pip install -e .)")
    sys.argv = [str(script), *args.args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


COMMANDS = {"compress": _compress, "decompress": _decompress, "info": _info, "evaluate": _evaluate, "demo": _demo,
            "preview": _preview, "bench": _bench}


def _interrupt_on_sigterm() -> None:
    """SIGTERM (kill, a scheduler's stop) ends a run like Ctrl-C: outputs stay whole, the manifest complete."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from medroi.allocator import tune_allocator
    from medroi.errors import MedroiError

    tune_allocator()
    _interrupt_on_sigterm()
    try:
        return COMMANDS[args.command](args)
    except MedroiError as error:
        if args.debug:
            raise
        print(f"medroi: error: {' '.join(str(error).split())}", file=sys.stderr)  # one line, even if a library's isn't
        return 1
    except KeyboardInterrupt:
        print("medroi: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # unexpected: still one line, unless --debug
        if args.debug:
            raise
        print(f"medroi: internal error: {type(error).__name__}: {error} (rerun with --debug for details)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
