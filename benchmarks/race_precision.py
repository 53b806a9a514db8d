"""Race engine precision benchmark: arrival spread and detection power, on this machine.

Compares ``asyncio.gather`` over httpx (the naive client) with the harness's HTTP/1.1 last-byte
and HTTP/2 single-packet engines (``seecodes_conformance.race``), against loopback servers from
``tests/racy_server.py``: uvicorn (HTTP/1.1 only) and hypercorn (h2c + HTTP/1.1).

1. Arrival spread: N = 2, 8, 20, 50 requests to ``/t?hold_us=H``; each handler stamps
   ``perf_counter_ns()`` once its request is complete, then holds H µs so one handler's answer
   cannot delay another's stamp. Spread = last stamp - first stamp, per burst.
2. Detection: bursts of N = 20 against a single-use token endpoint that checks, awaits a window W
   (0, 100 µs, 1 ms), then consumes; async and threadpool handlers. Detection = fraction of bursts
   with more than one winner. False positives: same against the atomic endpoints.

3. Through a proxy: the same detection bursts sent to Caddy (``tests/caddy_proxy.py``: TLS from a
   CA generated for the run, HTTP/2 negotiated by ALPN at the front, HTTP/1.1 keep-alive to the
   upstream uvicorn), next to the direct columns in the same rounds: what a staging target
   behind a TLS-terminating reverse proxy leaves of the harness's synchronization.

Configurations are interleaved in rounds with a rotating order so machine noise hits all alike.
Not a timed test: run ``python benchmarks/race_precision.py [--quick] [--no-proxy] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from seecodes_conformance.race import PreparedRequest, send_burst

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from caddy_proxy import CaddyProxy  # noqa: E402  (the self-tests' TLS reverse proxy)
from racy_server import running_server  # noqa: E402  (shared with the race engine's self-tests)
from seecodes_conformance.tls import TlsConfig  # noqa: E402
from tls_certs import make_pki  # noqa: E402

DEFAULT_OUT = REPO / "reports" / "benchmarks" / "race_precision.json"

GATHER = "gather@uvicorn"
LAST_BYTE = "h1-last-byte@uvicorn"
SINGLE_PACKET = "h2-single-packet@hypercorn"
LAST_BYTE_HY = "h1-last-byte@hypercorn"  # same server as single-packet, for comparison
# Through Caddy: TLS and HTTP/2 (ALPN) at the front, HTTP/1.1 keep-alive to uvicorn behind it.
PROXY_SINGLE_PACKET = "h2-single-packet@caddy-tls>uvicorn"
PROXY_LAST_BYTE = "h1-last-byte@caddy-tls>uvicorn"
PROXY_CONFIGS = [PROXY_SINGLE_PACKET, PROXY_LAST_BYTE]
SPREAD_CONFIGS = [GATHER, LAST_BYTE, SINGLE_PACKET, LAST_BYTE_HY]
DETECT_CONFIGS = [GATHER, LAST_BYTE, SINGLE_PACKET]
RACY_CASES = [(mode, w) for mode in ("async", "sync") for w in (0, 100, 1000)]
ATOMIC_CASES = [(mode, w) for mode in ("atomic_async", "atomic_sync") for w in (0, 1000)]

# (status, parsed JSON body or None) per response, in request order.
Outcome = list[tuple[int, Any]]


# --------------------------------------------------------------------------- clients


class GatherClient:
    """The naive technique: asyncio.gather over one httpx.AsyncClient with N warmed connections."""

    def __init__(self, base_url: str, n: int) -> None:
        self.loop = asyncio.new_event_loop()
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        self.client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)
        self.run(lambda: asyncio.gather(*(self.client.get("/healthz") for _ in range(n))))

    def run(self, make: Callable[[], Any]) -> Any:
        async def go() -> Any:
            return await make()

        return self.loop.run_until_complete(go())

    def burst(self, method: str, path: str, body: bytes, n: int) -> Outcome:
        async def one() -> tuple[int, Any]:
            r = await self.client.request(method, path, content=body)
            return r.status_code, _parse(r.content)

        return list(self.run(lambda: asyncio.gather(*(one() for _ in range(n)))))

    def close(self) -> None:
        self.run(self.client.aclose)
        self.loop.close()


class EngineClient:
    """The harness's engine; every burst opens, warms and closes its own connections."""

    def __init__(
        self, base_url: str, technique: str, pause_s: float, tls: TlsConfig | None = None
    ) -> None:
        self.base_url = base_url
        self.technique = technique
        self.pause_s = pause_s
        self.tls = tls
        self.release_us: list[float] = []
        self.groups: list[int] = []

    def burst(self, method: str, path: str, body: bytes, n: int) -> Outcome:
        result = send_burst(
            self.base_url,
            [PreparedRequest(method, path, {}, body)] * n,
            technique=self.technique,
            pause_s=self.pause_s,
            tls=self.tls,
        )
        self.release_us.append(result.release_spread_s * 1e6)
        self.groups.append(result.groups)
        return [(r.status, _parse(r.body) if not r.error else r.error) for r in result.responses]

    def close(self) -> None:
        pass


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


# --------------------------------------------------------------------------- statistics


def pct(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100); nan for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def _finite(x: Any) -> Any:
    """Strict JSON: NaN and infinities become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def fmt_us(us: float) -> str:
    if math.isnan(us):
        return "-"
    return f"{us / 1000:.1f}ms" if us >= 10_000 else f"{us:.0f}"


# --------------------------------------------------------------------------- experiments


@dataclass
class SpreadCell:
    spreads_us: list[float] = field(default_factory=list)
    round_medians_us: list[float] = field(default_factory=list)
    release_us: list[float] = field(default_factory=list)
    anomalies: int = 0


@dataclass
class DetectCell:
    bursts: int = 0
    detected: int = 0
    winners: list[int] = field(default_factory=list)
    windows_us: list[float] = field(default_factory=list)
    zero_winners: int = 0
    unexpected: int = 0  # a status other than 200/409, or a connection error


def make_client(
    config: str, urls: dict[str, str], n: int, pause_s: float, tls: TlsConfig | None = None
) -> Any:
    if config == GATHER:
        return GatherClient(urls["uvicorn"], n)
    technique, server = config.split("@")
    front = server.split(">")[0]  # caddy-tls>uvicorn: the client talks to the proxy
    return EngineClient(
        urls[front], technique.split("-")[0], pause_s, tls if ">" in server else None
    )


def rotated(items: list[Any], k: int) -> list[Any]:
    k %= len(items)
    return items[k:] + items[:k]


def run_spread(
    urls: dict[str, str],
    ns: list[int],
    bursts: int,
    rounds: int,
    hold_us: int,
    pause_s: float,
    log: Callable[[str], None],
) -> dict[str, dict[int, SpreadCell]]:
    cells = {c: {n: SpreadCell() for n in ns} for c in SPREAD_CONFIGS}
    per_round = max(1, math.ceil(bursts / rounds))
    path = f"/t?hold_us={hold_us}"
    for r in range(rounds):
        for n in ns:
            for config in rotated(SPREAD_CONFIGS, r + n):
                cell = cells[config][n]
                client = make_client(config, urls, n, pause_s)
                try:
                    client.burst("POST", path, b"x", n)  # discarded warm-up burst
                    if isinstance(client, EngineClient):
                        client.release_us.clear()
                    spreads = []
                    for _ in range(per_round):
                        outcome = client.burst("POST", path, b"x", n)
                        stamps = [
                            body["t_ns"]
                            for status, body in outcome
                            if status == 200 and isinstance(body, dict)
                        ]
                        if len(stamps) != n:
                            cell.anomalies += 1
                            continue
                        spreads.append((max(stamps) - min(stamps)) / 1000)
                    cell.spreads_us += spreads
                    if spreads:
                        cell.round_medians_us.append(statistics.median(spreads))
                    if isinstance(client, EngineClient):
                        cell.release_us += client.release_us
                finally:
                    client.close()
        log(f"  spread round {r + 1}/{rounds} done")
    return cells


def run_detection(
    urls: dict[str, str],
    n: int,
    bursts: int,
    rounds: int,
    pause_s: float,
    log: Callable[[str], None],
    configs: list[str] = DETECT_CONFIGS,
    tls: TlsConfig | None = None,
) -> dict[str, dict[str, DetectCell]]:
    cases = RACY_CASES + ATOMIC_CASES
    cells = {c: {f"{m}:{w}": DetectCell() for m, w in cases} for c in configs}
    per_round = max(1, math.ceil(bursts / rounds))
    for r in range(rounds):
        for config in rotated(configs, r):
            client = make_client(config, urls, n, pause_s, tls)
            try:
                for mode, w in rotated(cases, r):
                    cell = cells[config][f"{mode}:{w}"]
                    for _ in range(per_round):
                        path = f"/race/{mode}/{uuid.uuid4().hex}?w_us={w}"
                        outcome = client.burst("POST", path, b"x", n)
                        statuses = [s for s, _ in outcome]
                        wins = statuses.count(200)
                        cell.bursts += 1
                        cell.detected += wins > 1
                        cell.winners.append(wins)
                        cell.zero_winners += wins == 0
                        cell.unexpected += any(s not in (200, 409) for s in statuses)
                        cell.windows_us += [
                            b["window_us"] for s, b in outcome if s == 200 and isinstance(b, dict)
                        ]
            finally:
                client.close()
        log(f"  detection round {r + 1}/{rounds} done")
    return cells


def calibrate_windows(urls: dict[str, str], samples: int) -> dict[str, dict[str, float]]:
    """Window each case holds for a lone request, i.e. without other handlers interleaving."""
    out: dict[str, dict[str, float]] = {}
    for server, url in urls.items():
        with httpx.Client(base_url=url, timeout=30.0) as client:
            client.get("/healthz")
            for mode, w in RACY_CASES + ATOMIC_CASES:
                windows = []
                for _ in range(samples):
                    r = client.post(f"/race/{mode}/{uuid.uuid4().hex}?w_us={w}", content=b"x")
                    windows.append(r.json()["window_us"])
                out.setdefault(f"{mode}:{w}", {})[server] = pct(windows, 50)
    return out


# --------------------------------------------------------------------------- report


def spread_table(cells: dict[str, dict[int, SpreadCell]], ns: list[int]) -> list[str]:
    lines = [
        "| technique@server | " + " | ".join(f"N={n}" for n in ns) + " |",
        "|---|" + "---|" * len(ns),
    ]
    for config, by_n in cells.items():
        row = []
        for n in ns:
            c = by_n[n]
            s = c.spreads_us
            rm = (
                f" ({fmt_us(min(c.round_medians_us))}–{fmt_us(max(c.round_medians_us))})"
                if len(c.round_medians_us) > 1
                else ""
            )
            row.append(
                f"{fmt_us(pct(s, 50))} / {fmt_us(pct(s, 90))} / {fmt_us(pct(s, 99))}{rm}"
                + (f" [{c.anomalies} bad]" if c.anomalies else "")
            )
        lines.append(f"| {config} | " + " | ".join(row) + " |")
    engines = [c for c in cells if c != GATHER]
    lines += [
        "",
        "Client release time (first to last final write), median / p99 µs:",
        "",
        "| engine@server | " + " | ".join(f"N={n}" for n in ns) + " |",
        "|---|" + "---|" * len(ns),
    ]
    for config in engines:
        rel = [cells[config][n].release_us for n in ns]
        lines.append(
            f"| {config} | "
            + " | ".join(f"{pct(r, 50):.0f} / {pct(r, 99):.0f}" for r in rel)
            + " |"
        )
    return lines


def case_label(case: str) -> str:
    mode, w = case.split(":")
    kind = {
        "async": "racy async",
        "sync": "racy threadpool",
        "atomic_async": "atomic async",
        "atomic_sync": "atomic threadpool",
    }[mode]
    return f"{kind}, W={'0' if w == '0' else ('1 ms' if w == '1000' else w + ' µs')}"


def detect_table(
    cells: dict[str, dict[str, DetectCell]], alone: dict[str, dict[str, float]]
) -> list[str]:
    configs = list(cells)
    cases = list(cells[configs[0]])
    lines = [
        "| endpoint, window | "
        + " | ".join(configs)
        + " | window held alone, µs (uvicorn / hypercorn) | in a burst, µs |",
        "|---|" + "---|" * (len(configs) + 2),
    ]
    for case in cases:
        row = []
        windows: list[float] = []
        for config in configs:
            c = cells[config][case]
            lo, _ = wilson(c.detected, c.bursts)
            extra = ""
            if c.zero_winners or c.unexpected:
                extra = f" [0-win {c.zero_winners}, odd {c.unexpected}]"
            row.append(
                f"{c.detected}/{c.bursts} = {c.detected / max(1, c.bursts):.3f} "
                f"(≥{lo:.3f}); {statistics.mean(c.winners or [0]):.1f} won{extra}"
            )
            windows += c.windows_us
        a = alone.get(case, {})
        lines.append(
            f"| {case_label(case)} | "
            + " | ".join(row)
            + f" | {a.get('uvicorn', math.nan):.0f} / {a.get('hypercorn', math.nan):.0f}"
            + f" | {pct(windows, 50):.0f} |"
        )
    return lines


@dataclass
class Goal:
    name: str
    passed: bool
    detail: str
    gating: bool = True


def goals(cells: dict[str, dict[str, DetectCell]]) -> list[Goal]:
    """The race engine's goals, gated on their own definition of the zero-width window: "check and
    consume separated only by an `await`" (the async handler at W=0, the window of the engine's
    rk-race/lc-race faults). The threadpool handler at W=0 has no await in its window; whether
    two of its threads overlap is decided by the server's GIL hand-off after every request has
    arrived, so its cells are printed against the same floors for information only."""
    out = []

    def rate(config: str, case: str) -> float:
        c = cells[config][case]
        return c.detected / c.bursts if c.bursts else math.nan

    for config, floor in ((SINGLE_PACKET, 0.99), (LAST_BYTE, 0.95)):
        for case in ("async:0", "sync:0"):
            r = rate(config, case)
            out.append(
                Goal(
                    f"{config} detects {case_label(case)} in ≥{floor:.0%} of bursts",
                    r >= floor,
                    f"{r:.3f}",
                    gating=case == "async:0",
                )
            )
    for config in (SINGLE_PACKET, LAST_BYTE):
        for case in ("async:0", "sync:0"):
            r, g = rate(config, case), rate(GATHER, case)
            ratio = math.inf if g == 0 else r / g
            out.append(
                Goal(
                    f"{config} ≥ 10× gather on {case_label(case)}",
                    r > 0 and ratio >= 10,
                    f"{r:.3f} vs {g:.3f} = {ratio:.1f}×",
                    gating=case == "async:0",
                )
            )
    if PROXY_SINGLE_PACKET in cells:
        r = rate(PROXY_SINGLE_PACKET, "async:0")
        out.append(
            Goal(
                f"{PROXY_SINGLE_PACKET} detects {case_label('async:0')} in ≥95% of bursts",
                r >= 0.95,
                f"{r:.3f}",
            )
        )
    if PROXY_LAST_BYTE in cells:
        r = rate(PROXY_LAST_BYTE, "async:0")
        out.append(
            Goal(
                f"{PROXY_LAST_BYTE} detects {case_label('async:0')} (information)",
                r > 0,
                f"{r:.3f}",
                gating=False,
            )
        )
    fps = {
        config: sum(cells[config][f"{m}:{w}"].detected for m, w in ATOMIC_CASES) for config in cells
    }
    total = sum(cells[config][f"{m}:{w}"].bursts for config in cells for m, w in ATOMIC_CASES)
    out.append(
        Goal(
            "zero false positives against the atomic endpoints",
            sum(fps.values()) == 0,
            f"{sum(fps.values())} in {total} bursts {fps}",
        )
    )
    return out


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in ("h2", "h11", "httpx", "uvicorn", "hypercorn", "starlette", "uvloop", "httptools"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
        "loadavg_at_start": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small counts (< 2 min)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--ns", default="2,8,20,50", help="burst sizes for the spread experiment")
    ap.add_argument("--detect-n", type=int, default=20)
    ap.add_argument("--spread-bursts", type=int, help="bursts per spread cell (default 100)")
    ap.add_argument("--detect-bursts", type=int, help="bursts per detection cell (default 200)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 4)")
    ap.add_argument("--hold-us", type=int, default=20_000, help="handler hold after its stamp")
    ap.add_argument("--pause-ms", type=float, default=10.0, help="engine pause before release")
    ap.add_argument(
        "--no-proxy", action="store_true", help="skip the columns through the Caddy TLS proxy"
    )
    args = ap.parse_args(argv)
    ns = [int(x) for x in args.ns.split(",")]
    spread_bursts = args.spread_bursts or (8 if args.quick else 100)
    detect_bursts = args.detect_bursts or (20 if args.quick else 200)
    rounds = args.rounds or (2 if args.quick else 4)
    pause_s = args.pause_ms / 1000

    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(
            f"[{time.perf_counter() - t_start:6.0f} s, load {os.getloadavg()[0]:.1f}] {msg}",
            file=sys.stderr,
            flush=True,
        )

    env = environment()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        uv = stack.enter_context(running_server("uvicorn"))
        hy = stack.enter_context(running_server("hypercorn"))
        urls = {"uvicorn": uv.base_url, "hypercorn": hy.base_url}
        configs, tls = list(DETECT_CONFIGS), None
        if not args.no_proxy:
            pki = make_pki(Path(tmp) / "pki")
            caddy = stack.enter_context(
                CaddyProxy(uv.base_url, cert=pki.server_cert, key=pki.server_key)
            )
            urls["caddy-tls"] = caddy.base_url
            configs += PROXY_CONFIGS
            tls = TlsConfig(ca_bundle=pki.ca)
        log(
            f"servers: {urls}; spread {spread_bursts}/cell, detection {detect_bursts}/cell, "
            f"{rounds} rounds"
        )
        spread = run_spread(urls, ns, spread_bursts, rounds, args.hold_us, pause_s, log)
        detect = run_detection(
            urls, args.detect_n, detect_bursts, rounds, pause_s, log, configs=configs, tls=tls
        )
        alone = calibrate_windows(
            {k: urls[k] for k in ("uvicorn", "hypercorn")}, 10 if args.quick else 50
        )
    elapsed = time.perf_counter() - started
    env["loadavg_at_end"] = os.getloadavg()
    verdict = goals(detect)

    out = [
        f"# Race precision ({'quick' if args.quick else 'full'} run, {elapsed:.0f} s)",
        "",
        f"Python {env['python']} on {env['platform']}, {env['cpus']} CPUs "
        f"(load average {env['loadavg_at_start'][0]:.1f} at start, "
        f"{env['loadavg_at_end'][0]:.1f} at end); "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
        + (
            "; WARNING: no uvloop/httptools, so uvicorn runs asyncio + h11, not the server the "
            "issue measured; install the bench extra: pip install -e '.[bench]'"
            if not env["versions"]["uvloop"]
            else ""
        ),
        *(
            [
                f"WARNING: the machine was busy (load average above {env['cpus']} CPUs); other "
                "processes compete with client and server, so these figures are unreliable.",
                "",
            ]
            if max(env["loadavg_at_start"][0], env["loadavg_at_end"][0]) > (env["cpus"] or 1)
            else []
        ),
        "",
        f"## Arrival spread at the handler (hold {args.hold_us} µs after the stamp), "
        f"µs: median / p90 / p99 (range of per-round medians); {spread_bursts} bursts per cell",
        "",
        *spread_table(spread, ns),
        "",
        f"## Detection, N={args.detect_n}: bursts with >1 winner / bursts = rate "
        "(95 % Wilson lower bound); mean winners",
        "",
        *detect_table(detect, alone),
        "",
        "Window held alone: median check-to-mark time of a lone request (what W achieves). "
        "In a burst: median over the winners, stretched by the other handlers that run "
        "between check and mark.",
        "",
        "## Goals",
        "",
    ]
    out += [
        f"- {'PASS' if g.passed else 'FAIL'}{'' if g.gating else ' (info)'}: {g.name} ({g.detail})"
        for g in verdict
    ]
    all_pass = all(g.passed for g in verdict if g.gating)
    out += ["", f"VERDICT: {'PASS' if all_pass else 'FAIL'}"]
    print("\n".join(out))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            _finite(
                {
                    "environment": env,
                    "quick": args.quick,
                    "elapsed_s": elapsed,
                    "parameters": {
                        "ns": ns,
                        "detect_n": args.detect_n,
                        "spread_bursts": spread_bursts,
                        "detect_bursts": detect_bursts,
                        "rounds": rounds,
                        "hold_us": args.hold_us,
                        "pause_s": pause_s,
                    },
                    "spread": {
                        c: {
                            str(n): {
                                "median_us": pct(cell.spreads_us, 50),
                                "p90_us": pct(cell.spreads_us, 90),
                                "p99_us": pct(cell.spreads_us, 99),
                                "round_medians_us": cell.round_medians_us,
                                "release_median_us": pct(cell.release_us, 50),
                                "anomalies": cell.anomalies,
                                "spreads_us": cell.spreads_us,
                            }
                            for n, cell in by_n.items()
                        }
                        for c, by_n in spread.items()
                    },
                    "detection": {
                        c: {
                            case: {
                                "bursts": cell.bursts,
                                "detected": cell.detected,
                                "rate": cell.detected / cell.bursts if cell.bursts else None,
                                "wilson95": wilson(cell.detected, cell.bursts),
                                "winners": cell.winners,
                                "window_in_burst_median_us": pct(cell.windows_us, 50),
                                "window_alone_median_us": alone.get(case, {}),
                                "zero_winners": cell.zero_winners,
                                "unexpected": cell.unexpected,
                            }
                            for case, cell in by_case.items()
                        }
                        for c, by_case in detect.items()
                    },
                    "goals": [
                        {"goal": g.name, "passed": g.passed, "gating": g.gating, "detail": g.detail}
                        for g in verdict
                    ],
                    "verdict": "PASS" if all_pass else "FAIL",
                }
            ),
            indent=1,
        )
        + "\n"
    )
    log(f"wrote {args.out}")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
