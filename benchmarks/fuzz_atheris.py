"""Coverage-guided fuzzing of ``medroi.codec.decompress`` with atheris (libFuzzer), for a fixed time.

    pip install -e ".[fuzz]"   # atheris
    python benchmarks/fuzz_atheris.py --seconds 600                      # corpus in benchmarks/work/atheris/
    python benchmarks/fuzz_atheris.py --export 30      # then: one small input per outcome -> tests/fuzz_corpus/

The corpus starts from the seed files of ``fuzz_seeds.py`` (real data, tiny crops, so that
libFuzzer runs hundreds of inputs per second). Each input is decoded twice: as it is, and
with its header, index and chunk CRCs recomputed (``fuzz_mutate.repair_crcs``), so that
byte-level mutations reach the entropy decoder behind the CRCs. A MedroiError is the
expected answer to damage; any other exception stops the run and libFuzzer writes the input
as ``crash-*`` into the findings folder (``--findings``, default benchmarks/work/atheris/findings).
Inputs that found new coverage stay in the corpus; a second run with ``--export N`` copies
one small input per distinct outcome (CRC-repaired) into tests/fuzz_corpus/, where tests/test_codec_fuzz_regressions.py
decodes every file on each test run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CAP = 8 << 20  # decoder cap for fuzzing: big declared images are refused quickly


def _target():
    import fuzz_mutate
    from medroi import codec  # instrumented by main() before anything else imported it
    from medroi.errors import MedroiError

    def decode(data: bytes) -> None:
        try:
            decoded = codec.decompress(data, max_output_bytes=CAP)
        except MedroiError:
            return
        lo, hi = decoded.header["value_range"]
        if decoded.array.shape != tuple(decoded.header["shape"]) or (
            decoded.array.size and (decoded.array.min() < lo or decoded.array.max() > hi)
        ):
            raise AssertionError("decoded image breaks the header's shape or value range")

    def test_one_input(data: bytes) -> None:
        decode(data)
        repaired = fuzz_mutate.repair_crcs(data)
        if repaired != data:
            decode(repaired)

    return test_one_input


def export(corpus: Path, seeds: set[str], count: int, out: Path) -> list[str]:
    """Copy into ``out`` the smallest CRC-repaired corpus input of each distinct outcome (an
    error message with its numbers masked, or "decoded"), the ``count`` most frequent outcomes."""
    import re
    from collections import defaultdict

    import fuzz_mutate
    from medroi import codec
    from medroi.errors import MedroiError

    groups: dict[str, list[bytes]] = defaultdict(list)
    for path in sorted(corpus.iterdir()):
        if path.is_file() and path.name not in seeds:
            data = fuzz_mutate.repair_crcs(path.read_bytes())
            try:
                codec.decompress(data, max_output_bytes=CAP)
                outcome = "decoded"
            except MedroiError as error:
                outcome = re.sub(r"[0-9]+", "N", str(error))[:80]
            groups[outcome].append(data)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    written = []
    for outcome, inputs in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:count]:
        data = min(inputs, key=len)
        name = f"atheris_{hashlib.sha1(data).hexdigest()[:12]}.mroi"
        (out / name).write_bytes(data)
        index[name] = f"atheris (CRCs repaired): {outcome}"
        written.append(name)
    index_path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="fuzzing time (libFuzzer -max_total_time)")
    parser.add_argument("--corpus", default=str(HERE / "work" / "atheris" / "corpus"))
    parser.add_argument("--findings", default=str(HERE / "work" / "atheris" / "findings"))
    parser.add_argument("--export", type=int, default=0,
                        help="do not fuzz: copy one small input per outcome (N outcomes) into tests/fuzz_corpus/")
    args, libfuzzer_args = parser.parse_known_args()
    if args.export:  # libFuzzer exits the process when the time is up, so exporting is its own run
        seeds = {p.name for p in Path(args.corpus).glob("seed_*.mroi")}
        print("exported:", export(Path(args.corpus), seeds, args.export, HERE.parent / "tests" / "fuzz_corpus"))
        return 0
    import atheris

    # the decoder's Python code gets coverage; numba kernels must keep their bytecode
    with atheris.instrument_imports(include=["medroi.codec"], exclude=["medroi.codec.kernels"]):
        import medroi.codec  # noqa: F401
    import fuzz_seeds

    logging.disable(logging.CRITICAL)
    corpus, findings = Path(args.corpus), Path(args.findings)
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    seed_names = set()
    for seed in fuzz_seeds.build_seeds(network=False, tiny=True):
        name = f"seed_{seed.name}.mroi"
        (corpus / name).write_bytes(seed.data)
        seed_names.add(name)
    argv = [sys.argv[0], str(corpus), f"-max_total_time={args.seconds}", "-rss_limit_mb=2048", "-timeout=30",
            "-max_len=8192", f"-artifact_prefix={findings}/", "-print_final_stats=1", *libfuzzer_args]
    atheris.Setup(argv, _target())
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
