"""Fuzz the .mroi decoder: hostile files decoded in child processes under time and memory limits.

    python benchmarks/fuzz_decoder.py --cases 300 --seed 7 --json
    python benchmarks/fuzz_decoder.py --cases 10000 --seed 20261130 --results   # writes results/fuzz.{md,json}
    python benchmarks/fuzz_decoder.py --seed 7 --case 123 --save /tmp/f          # one case again, its file kept

Seed files are built from real data at start-up with the public API (``fuzz_seeds.py``),
then every case applies one mutator of ``fuzz_mutate.py`` (most recompute the CRCs, so the
entropy decoder, the model parameters and the size fields behind them are reached) and is
decoded by ``medroi.codec.decompress`` (15 % ``decompress_slice``) in a worker process. The
workers are reused (numba, torch and the networks load once) and each runs under
``resource.setrlimit``: RLIMIT_AS = its own footprint after start-up plus the decoder's cap
(``--max-output-bytes``, passed to ``decompress``) plus ``--memory-slack``, so a file that
makes the decoder use more than its declared output plus a constant is an out-of-memory
failure. Classification per case:

- ``error``: a clean ``MedroiError`` (what damaged files should give);
- ``decoded``: decoded, and the array has the declared shape and dtype, values within the
  declared value range, a boolean mask of the same shape (anything else is a crash);
- ``crash``: any other exception, or the worker died on a signal;
- ``hang``: more CPU time than ``BASE_CPU_BUDGET`` + ``--time-factor`` x what a valid file of
  the same declared size, coder and predictor takes (measured on the seeds at start-up), or
  ``WALL_FACTOR`` x that in wall time (the worker is killed and replaced);
- ``oom``: MemoryError, or the worker was killed by SIGKILL.

A crash, hang or oom is retried once in a fresh worker (a loaded machine can stall one);
the case's status is the retry's, and both are listed. Case ``i`` depends only on
(``--seed``, ``i``) and the seed files, so ``--case i`` reproduces it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
STATUSES = ("error", "decoded", "crash", "hang", "oom")
FAILURES = ("crash", "hang", "oom")
SLICE_FRACTION = 0.15
BASE_CPU_BUDGET = 5.0  # CPU seconds every case may take (start-up of a slice, the network's first call)
WALL_FACTOR = 30  # wall-clock backstop: a shared machine may give a worker a small share of a core
MIN_TIMED_VOXELS = 1024  # decode time per voxel is compared above this declared size (below, overhead rules)
RESTART_EVERY = 1000  # cases per worker before a fresh one (keeps the memory limit meaningful)


# --------------------------------------------------------------------------- worker side


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _check_output(array, mask, shape, header) -> str | None:
    """Why a decoded result breaks the header's promises, or None."""
    lo, hi = header["value_range"]
    if tuple(array.shape) != tuple(shape) or array.dtype.name != header["dtype"]:
        return f"decoded {array.shape} {array.dtype}, header declares {tuple(shape)} {header['dtype']}"
    if array.size and (int(array.min()) < lo or int(array.max()) > hi):
        return f"values {array.min()}..{array.max()} outside the declared range {lo}..{hi}"
    if mask.dtype != bool or mask.shape != array.shape:
        return f"mask {mask.shape} {mask.dtype} does not match the image"
    return None


def _decode_case(data: bytes, request: dict, predictors: dict, cap: int) -> dict:
    import traceback

    from medroi import codec
    from medroi.errors import MedroiError

    start, cpu_start = time.perf_counter(), time.process_time()
    voxels = 0
    try:
        header = None
        try:
            header = codec.read_header(data)
            voxels = int(np.prod(header["shape"]))
        except MedroiError:
            pass
        predictor = None
        if header is not None and header["predictor"].get("kind") == "network":
            predictor = predictors.get(header["predictor"].get("name"))
        if request["op"] == "slice":
            k = request["k"] % max(len(header["chunk_bytes"]), 1) if header is not None else 0
            array, mask = codec.decompress_slice(data, k, predictor, max_output_bytes=cap)
            shape = [n for i, n in enumerate(header["shape"]) if len(header["shape"]) == 2 or i != header["slice_axis"]]
            voxels = int(np.prod(shape))
            problem = _check_output(array, mask, shape, header)
        else:
            decoded = codec.decompress(data, predictor, max_output_bytes=cap)
            problem = _check_output(decoded.array, decoded.roi_mask, decoded.header["shape"], decoded.header)
        result = {"status": "crash", "detail": problem} if problem else {"status": "decoded"}
    except MedroiError as error:
        result = {"status": "error", "type": type(error).__name__, "detail": str(error)[:300]}
    except MemoryError as error:
        result = {"status": "oom", "detail": f"MemoryError {error}"[:300]}
    except Exception as error:  # the failures this harness looks for
        lines = traceback.format_exception(error)
        result = {"status": "crash", "type": type(error).__name__, "detail": "".join(lines[-4:])[-1500:]}
    result.update(seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start, voxels=voxels)
    return result


def _warm_up(paths: list[str], predictors: dict) -> None:
    """Decode every seed file twice, so numba's kernels are loaded and TorchScript has
    optimized its graphs before the first timed case (also after a worker restart)."""
    from medroi import codec

    for path in paths:
        data = Path(path).read_bytes()
        name = codec.read_header(data)["predictor"].get("name")
        for _ in range(2):
            codec.decompress(data, predictors.get(name))


def worker_main(config: dict) -> None:
    """Serve cases on stdin/stdout: request = <II json_len data_len> json data; answer = one JSON line."""
    import faulthandler
    import logging
    import resource

    faulthandler.enable()  # a segfault leaves a Python traceback in the worker's stderr file
    logging.disable(logging.CRITICAL)
    from medroi.networks import runtime  # noqa: F401  (torch is imported below only if a model is named)

    predictors = {}
    for name in config["models"]:
        predictors[name] = runtime.load_model(name)
    _warm_up(config["warm_files"], predictors)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = _vm_size() + config["max_output_bytes"] + config["memory_slack"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write((json.dumps({"ready": True, "memory_limit": limit}) + "\n").encode())
    stdout.flush()
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        json_len, data_len = struct.unpack("<II", head)
        request = json.loads(stdin.read(json_len))
        data = stdin.read(data_len)
        result = _decode_case(data, request, predictors, config["max_output_bytes"])
        stdout.write((json.dumps(result) + "\n").encode())
        stdout.flush()


# --------------------------------------------------------------------------- parent side


class Worker:
    """One child process decoding cases; replaced when it dies, hangs or has served enough."""

    def __init__(self, config: dict, log_dir: Path, number: int):
        self.config, self.log_path = config, log_dir / f"worker{number}.log"
        self.proc: subprocess.Popen | None = None
        self.buffer = b""
        self.case: tuple | None = None  # (case id, wall start, CPU start, CPU budget, request, data)
        self.served = 0
        self.memory_limit = 0
        self.retry_of: dict | None = None  # the first result when the current case is a retry
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONFAULTHANDLER="1")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(self.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
        )
        log.close()
        self.buffer, self.case, self.served = b"", None, 0
        line = self._read_line(deadline=time.monotonic() + 300)
        if line is None:
            raise RuntimeError(f"fuzz worker did not start; see {self.log_path}:\n{self.log_tail()}")
        self.memory_limit = json.loads(line)["memory_limit"]

    def _read_line(self, deadline: float) -> bytes | None:
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with selectors.DefaultSelector() as selector:
                selector.register(self.proc.stdout, selectors.EVENT_READ)
                if not selector.select(remaining):
                    return None
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def log_tail(self) -> str:
        try:
            return self.log_path.read_bytes()[-1500:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """CPU time the worker has used (user + system), from /proc: fair on a loaded machine."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def overdue(self) -> bool:
        """The case has used more CPU than its budget, or (backstop) WALL_FACTOR times it in wall time."""
        _, wall, cpu, budget, _, _ = self.case
        return self.cpu_seconds() - cpu > budget or time.monotonic() - wall > WALL_FACTOR * budget

    def submit(self, case_id: int, request: dict, data: bytes, budget: float) -> None:
        body = json.dumps(request).encode()
        self.case = (case_id, time.monotonic(), self.cpu_seconds(), budget, request, data)
        try:
            self.proc.stdin.write(struct.pack("<II", len(body), len(data)) + body + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the death shows up when the answer is read

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def collect(self) -> dict:
        """The answer to the current case: read it, or call the case a hang if it is overdue."""
        _, started, cpu, budget, _, _ = self.case
        while True:
            line = self._read_line(deadline=time.monotonic() + 0.5)
            if line is not None:
                self.served += 1
                result = json.loads(line)
                if result.get("cpu_seconds", 0.0) > budget:  # answered, but slower than the time bound
                    result = {**result, "status": "hang", "answer": result["status"],
                              "detail": f"took {result['cpu_seconds']:.2f} CPU s (budget {budget:.2f} s)"}
                return result
            if self.proc.poll() is not None:
                break
            if self.overdue():
                used = self.cpu_seconds() - cpu
                self.kill()
                return {"status": "hang", "seconds": time.monotonic() - started, "cpu_seconds": used,
                        "detail": f"no answer after {used:.1f} CPU s (budget {budget:.1f} s)"}
        code = self.proc.wait()
        status = "oom" if code == -signal.SIGKILL else "crash"
        name = signal.Signals(-code).name if code < 0 else f"exit code {code}"
        return {"status": status, "detail": f"worker died ({name}): {self.log_tail()[-800:]}",
                "seconds": time.monotonic() - started}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.kill()


def _kind(data: bytes) -> tuple:
    """(entropy coder, predictor kind) of a file, or ("?", "?") if its header does not parse."""
    from medroi import codec
    from medroi.errors import MedroiError

    try:
        header = codec.read_header(data)
        return header["entropy"], header["predictor"]["kind"]
    except MedroiError:
        return "?", "?"


def cpu_budget(data: bytes, request: dict, kind_rates: dict, factor: float) -> float:
    """CPU seconds case ``data`` may take: a base plus ``factor`` times a valid file of its declared size."""
    from medroi import codec
    from medroi.errors import MedroiError

    try:
        header = codec.read_header(data)
    except MedroiError:
        return BASE_CPU_BUDGET
    shape = header["shape"]
    voxels = int(np.prod(shape))
    if request["op"] == "slice" and len(shape) == 3:  # a slice decodes at most gop slices of its group
        voxels = voxels // shape[header["slice_axis"]] * min(header["gop"], shape[header["slice_axis"]])
    rate = kind_rates.get((header["entropy"], header["predictor"]["kind"]), max(kind_rates.values()))
    return BASE_CPU_BUDGET + factor * rate * voxels / 1e6


def make_case(case_id: int, seed: int, seeds, only: str | None = None) -> tuple[str, str, dict, bytes]:
    """(seed file name, mutator name, request, hostile bytes) of case ``case_id``."""
    import fuzz_mutate

    rng = np.random.default_rng([seed, case_id])
    source = seeds[int(rng.integers(len(seeds)))]
    try:
        mutator, data = fuzz_mutate.mutate(rng, source.data, seeds, only)
    except Exception as error:  # a mutator bug must not end a long campaign: say so, and flip bits instead
        print(f"case {case_id}: mutator failed ({type(error).__name__}: {error}); plain_bits instead", file=sys.stderr)
        mutator, data = "plain_bits", fuzz_mutate.plain_bits(rng, fuzz_mutate.parse(source.data), seeds)
    request = {"op": "slice" if rng.random() < SLICE_FRACTION else "decompress", "k": int(rng.integers(1 << 16))}
    return source.name, mutator, request, data


def baseline(worker: Worker, seeds) -> dict[str, float]:
    """CPU seconds per declared megavoxel of each valid seed file, decoded by ``worker`` (best of 3)."""
    rates = {}
    for seed in seeds:
        best = float("inf")
        for _ in range(3):
            worker.submit(-1, {"op": "decompress", "k": 0}, seed.data, BASE_CPU_BUDGET * 10)
            result = worker.collect()
            if result["status"] != "decoded":
                raise RuntimeError(f"seed file {seed.name} does not decode: {result}")
            best = min(best, result["cpu_seconds"])
        rates[seed.name] = best / result["voxels"] * 1e6
    return rates


def run_campaign(args, seeds) -> dict:
    """Run the cases over a pool of workers; returns the summary."""
    models = sorted({s.model for s in seeds if s.model})
    log_dir = Path(tempfile.mkdtemp(prefix="medroi-fuzz-"))
    warm_files = []
    for seed in seeds:
        warm_files.append(str(log_dir / f"{seed.name}.mroi"))
        Path(warm_files[-1]).write_bytes(seed.data)
    config = {"models": models, "max_output_bytes": args.max_output_bytes, "memory_slack": args.memory_slack,
              "warm_files": warm_files}
    case_ids = [args.case] if args.case is not None else list(range(args.cases))
    workers = [Worker(config, log_dir, n) for n in range(max(1, min(args.workers, len(case_ids))))]
    valid_rates = baseline(workers[0], seeds)
    kind_rates: dict[tuple, float] = defaultdict(float)  # slowest valid rate per (coder, predictor kind)
    for seed in seeds:
        kind_rates[_kind(seed.data)] = max(kind_rates[_kind(seed.data)], valid_rates[seed.name])
    counts, by_mutator, by_seed = Counter(), defaultdict(Counter), defaultdict(Counter)
    slowest_rate = {"s_per_mvoxel": 0.0}
    error_types, failures, slowest = Counter(), [], []
    pending = list(reversed(case_ids))
    retry: list[tuple[int, dict]] = []
    busy: dict[int, Worker] = {}
    meta: dict[int, tuple[str, str, dict, bytes]] = {}
    start = time.perf_counter()
    selector = selectors.DefaultSelector()
    done = 0

    def feed(worker: Worker) -> None:
        if worker.served >= RESTART_EVERY:
            worker.close()
            worker.start()
        if retry:
            case_id, first = retry.pop()
            worker.kill()
            worker.start()  # a failure is retried in a fresh worker
            worker.retry_of = first
        elif pending:
            case_id = pending.pop()
            meta[case_id] = make_case(case_id, args.seed, seeds, args.mutator)
            worker.retry_of = None
        else:
            return
        _, _, request, data = meta[case_id]
        worker.submit(case_id, request, data, cpu_budget(data, request, kind_rates, args.time_factor))
        busy[worker.fileno()] = worker
        selector.register(worker.fileno(), selectors.EVENT_READ)

    for worker in workers:
        feed(worker)
    while busy:
        events = selector.select(1.0)
        ready = [busy[key.fd] for key, _ in events]
        ready += [w for w in busy.values() if w not in ready and w.overdue()]
        for worker in ready:
            selector.unregister(worker.fileno())
            del busy[worker.fileno()]
            case_id = worker.case[0]
            result = worker.collect()
            if result["status"] in ("oom", "crash", "hang") and worker.proc.poll() is not None:
                worker.start()
            elif result["status"] == "oom":
                worker.kill()
                worker.start()  # a MemoryError may leave the process in a poor state
            first = worker.retry_of
            if result["status"] in FAILURES and first is None:
                retry.append((case_id, result))
                feed(worker)
                continue
            seed_name, mutator, request, data = meta.pop(case_id)
            status = result["status"]
            done += 1
            counts[status] += 1
            by_mutator[mutator][status] += 1
            by_seed[seed_name][status] += 1
            if status == "error":
                error_types[result.get("type", "?")] += 1
            record = {"case": case_id, "seed_file": seed_name, "mutator": mutator, "op": request["op"], **result}
            slowest = sorted(slowest + [record], key=lambda r: -r["seconds"])[:5]
            if (result.get("voxels") or 0) >= MIN_TIMED_VOXELS:
                rate = result["cpu_seconds"] / result["voxels"] * 1e6  # CPU time: the machine is shared
                if rate > slowest_rate["s_per_mvoxel"]:
                    slowest_rate = {"s_per_mvoxel": round(rate, 3), "case": case_id, "mutator": mutator,
                                    "status": status, "voxels": result["voxels"]}
            if first is not None:
                record["first_try"] = first
            if status in FAILURES or first is not None:
                failures.append(record)
                if args.save:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    (Path(args.save) / f"case{case_id}_{mutator}_{status}.mroi").write_bytes(data)
            if args.case is not None and args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                (Path(args.save) / f"case{case_id}_{mutator}.mroi").write_bytes(data)
            if args.progress and done % args.progress == 0:
                print(f"{done}/{len(case_ids)} {dict(counts)} {time.perf_counter() - start:.0f} s",
                      file=sys.stderr, flush=True)
            feed(worker)
    memory_limits = sorted({w.memory_limit for w in workers})
    for worker in workers:
        worker.close()
    seconds = time.perf_counter() - start
    summary = {
        "cases": done,
        "seed": args.seed,
        "seconds": round(seconds, 2),
        **{status: counts[status] for status in STATUSES},
        "seconds_per_case": round(seconds / max(done, 1), 4),
        "worker_seconds_per_case": round(seconds * len(workers) / max(done, 1), 4),
        "workers": len(workers),
        "time_budget": f"{BASE_CPU_BUDGET:g} CPU s + {args.time_factor:g} x (declared voxels x the slowest valid "
                       f"seed's CPU s per voxel for the same coder and predictor); wall backstop {WALL_FACTOR} x",
        "max_output_bytes": args.max_output_bytes,
        "memory_limit_bytes": memory_limits,
        "seed_files": [s.name for s in seeds],
        "seed_source": sorted({s.source for s in seeds}),
        "error_types": dict(error_types.most_common()),
        "by_mutator": {m: dict(c) for m, c in sorted(by_mutator.items())},
        "by_seed_file": {m: dict(c) for m, c in sorted(by_seed.items())},
        "valid_s_per_mvoxel": {k: round(v, 3) for k, v in valid_rates.items()},
        "slowest_case_s_per_mvoxel": slowest_rate,
        "slowest": [{k: r.get(k) for k in ("case", "mutator", "status", "seconds", "voxels")} for r in slowest],
        "failures": failures,
    }
    if any(f["status"] in ("crash", "hang", "oom") for f in failures):
        summary["worker_logs"] = str(log_dir)  # kept for the post-mortem
    else:  # seed copies and worker logs; every run used to leave one folder in the temp dir
        shutil.rmtree(log_dir, ignore_errors=True)
    return summary


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def write_results(summary: dict, command: str, out_dir: Path) -> None:
    """results/fuzz.json (everything) and results/fuzz.md (the record)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = {"command": command, "date": _dt.datetime.now().isoformat(timespec="seconds"),
             "git": _git_revision(), "python": platform.python_version(), "machine": platform.machine(),
             "cpus": os.cpu_count()}
    (out_dir / "fuzz.json").write_text(json.dumps({**stamp, **summary}, indent=1) + "\n")
    lines = [
        "# Decoder fuzz campaign",
        "",
        f"`{command}` · {stamp['date']} · git {stamp['git']} · Python {stamp['python']} · {stamp['cpus']} CPUs "
        f"(shared machine, workers niced)",
        "",
        f"**{summary['cases']} cases, seed {summary['seed']}: crash {summary['crash']}, hang {summary['hang']}, "
        f"oom {summary['oom']}** (error {summary['error']}, decoded within the declared bounds "
        f"{summary['decoded']}).",
        "",
        f"{summary['seconds']:.0f} s wall, {summary['seconds_per_case'] * 1000:.1f} ms per case "
        f"({summary['worker_seconds_per_case'] * 1000:.1f} ms per case per worker, {summary['workers']} workers); "
        f"limits per case: time {summary['time_budget']}; decoder cap `max_output_bytes` = "
        f"{summary['max_output_bytes'] >> 20} MiB, worker address space = its start-up footprint + cap + slack "
        f"({', '.join(f'{m / 2**20:.0f}' for m in summary['memory_limit_bytes'])} MiB).",
        "",
        f"Seed files ({', '.join(summary['seed_source'])} data): {', '.join(summary['seed_files'])}.",
        "",
        "| mutator | " + " | ".join(STATUSES) + " |",
        "|---|" + "---:|" * len(STATUSES),
    ]
    for mutator, counts in summary["by_mutator"].items():
        lines.append(f"| {mutator} | " + " | ".join(str(counts.get(s, 0)) for s in STATUSES) + " |")
    worst = summary["slowest_case_s_per_mvoxel"]
    valid = summary["valid_s_per_mvoxel"]
    slow = sorted(valid, key=valid.get)[-2:]
    lines += ["", f"Decode CPU time per declared megavoxel: valid seed files {min(valid.values()):.2f} to "
              f"{max(valid.values()):.2f} s (slowest: {', '.join(reversed(slow))}); slowest hostile case (>= {MIN_TIMED_VOXELS} "
              f"declared voxels) {worst['s_per_mvoxel']:.2f} s"
              + (f" (case {worst['case']}, {worst['mutator']}, {worst['status']}, {worst['voxels']} voxels)."
                 if "case" in worst else ".")]
    lines += ["", "Clean errors by type: " + ", ".join(f"{k} {v}" for k, v in summary["error_types"].items()) + ".",
              "", "Slowest cases (seconds, declared voxels): " + "; ".join(
                  f"#{r['case']} {r['mutator']} {r['status']} {r['seconds']:.2f} s {r['voxels'] or 0}"
                  for r in summary["slowest"]) + "."]
    lines += ["", "Failures found while building this harness (wrongly typed header fields reaching numpy, "
              "deep JSON nesting, huge literals, infinite numbers, AE-only bounds without a network, unbounded "
              "declared sizes) are fixed; each is a regression test in tests/test_codec_fuzz_regressions.py."]
    if summary["failures"]:
        lines += ["", "Failures and retried cases:", ""]
        lines += [f"- case {f['case']} ({f['mutator']}, {f['seed_file']}): {f['status']}"
                  + (f" after a first try that gave {f['first_try']['status']}" if "first_try" in f else "")
                  for f in summary["failures"]]
    (out_dir / "fuzz.md").write_text("\n".join(lines) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="number of hostile files (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the mutations")
    parser.add_argument("--json", action="store_true", help="print one JSON summary object")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="child processes")
    parser.add_argument("--base-cpu", type=float, default=BASE_CPU_BUDGET, help="CPU seconds every case may take")
    parser.add_argument("--time-factor", type=float, default=4.0,
                        help="a case may take this many times the CPU time of a valid file of its declared size")
    parser.add_argument("--max-output-bytes", type=int, default=16 << 20,
                        help="decoder cap passed to decompress (default 16 MiB)")
    parser.add_argument("--memory-slack", type=int, default=384 << 20,
                        help="address space a worker may use beyond its start-up footprint and the cap")
    parser.add_argument("--network", choices=("auto", "off"), default="auto",
                        help="auto: include network-reference seeds when torch and the bundles are there")
    parser.add_argument("--case", type=int, help="run this one case only")
    parser.add_argument("--mutator", help="use this mutator only (a function name of fuzz_mutate.py)")
    parser.add_argument("--save", help="folder for the files of failing cases (and of --case)")
    parser.add_argument("--progress", type=int, default=0, help="print a line every N cases (stderr)")
    parser.add_argument("--results", action="store_true", help="write benchmarks/results/fuzz.{md,json}")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_main(json.loads(argv[1]))
        return 0
    args = build_parser().parse_args(argv)
    global BASE_CPU_BUDGET
    BASE_CPU_BUDGET = args.base_cpu
    import logging

    import fuzz_mutate
    import fuzz_seeds
    from medroi import codec

    logging.disable(logging.CRITICAL)
    start = time.perf_counter()
    seeds = fuzz_seeds.build_seeds(network=args.network == "auto")
    for s in seeds:
        fuzz_mutate.check_layout(s.data)
    build_seconds = time.perf_counter() - start
    summary = run_campaign(args, seeds)
    summary["seed_build_seconds"] = round(build_seconds, 2)
    summary["format_version"] = fuzz_mutate.parse(seeds[0].data).version
    summary["codec_default_cap_bytes"] = codec.limits.DEFAULT_MAX_OUTPUT_BYTES
    if args.results:
        command = "python benchmarks/fuzz_decoder.py " + " ".join(argv)
        write_results(summary, command, HERE / "results")
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['cases']} cases, seed {args.seed}, {summary['seconds']} s: "
              + ", ".join(f"{s} {summary[s]}" for s in STATUSES))
        for failure in summary["failures"]:
            print(f"  case {failure['case']} {failure['mutator']} {failure['status']}: {failure.get('detail')}")
    return 1 if any(summary[s] for s in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
