"""The one issue-20 targets table of ``benchmarks/compare.py``: every target of points 1-6, each
row "target | measured | verdict", the verdict ``met``, ``MISSED`` or ``not measured`` with the
reason (a scenario left out of the run, or a run that failed).

Inputs: the harness's records (``compare.load``: scenarios ``max``, ``r50``, ``sio``), the
records of ``issue20_runs`` (``dialects``, ``idle``, ``predict``, ``vega``) and of
``ingest_targets`` (``ingest``, ``control``). Several repetitions of a figure: the median.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Records = list[dict[str, Any]]
R50_CPU_VS_C = 1.1
R50_P99_VS_C = 1.2
DIALECT_CPU_VS_NATIVE = 2.0  # point 3's "at least half native's", read as CPU per delivery
IDLE_KB = 4.0
DIALECT_VS_NATIVE = 0.5
MAX_VS_C = 0.8
DERIVED_VS_NO_VEGA = 1.1  # "costs nothing": within 10 % (run-to-run noise) of the node sans Vega
WS_P99_1_MS = 1.0
WS_P99_50_MS = 2.0
R50_DELIVERED = 0.95 * 50 * 1000  # below this a peer was starved by the machine (not judged)
MAX_SATURATED_CPU = 80.0  # at max rate a server below this % of a core did not have one
IDLE_NAMES = {
    "native": "native",
    "coinmetrics": "Coin Metrics",
    "vega": "Vega",
    "sio": "Socket.IO feed",
    "ws": "`/ws` predictions",
}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _missing(scenario: str) -> str:
    return f"not measured (scenario `{scenario}` not in this run, or its runs failed)"


def _rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k" if value >= 1e3 else f"{value:.0f}"


def _row(target: str, measured: str, verdict: str) -> str:
    return f"| {target} | {measured} | {verdict} |"


def _harness(records: Records, scenario: str, peer: str, n: int, field: str) -> float | None:
    """The median of ``field`` over the harness runs that match (``p99`` in ms, ``msgs_per_s``
    from the client; any other field from the record)."""
    values = []
    for r in records:
        if (r.get("scenario"), r.get("peer"), r.get("n")) != (scenario, peer, n):
            continue
        client = r.get("client") or {}
        if not client:
            continue
        if field == "p99":
            values.append(client.get("lat_us", {}).get("p99", 0) / 1000)
        elif field == "msgs_per_s":
            values.append(client.get("msgs_per_s", 0.0))
        elif isinstance(r.get(field), int | float):
            values.append(float(r[field]))
    return _median(values) if values else None


def _starved(delivered: dict[str, float | None]) -> str | None:
    """``not measured`` when a peer of a paced comparison delivered under 95 % of 50 msgs/s ×
    1,000 (on a busy machine it did less work, so its CPU is not comparable)."""
    short = [f"{peer} {_rate(rate)}/s" for peer, rate in delivered.items()
             if rate is not None and rate < R50_DELIVERED]  # fmt: skip
    if not short:
        return None
    return f"not measured (delivered under 95 % of 50k/s: {', '.join(short)}; a busy machine)"


def _judge(ok: bool, starved: str | None) -> str:
    return starved or _verdict(ok)


def point1(harness: Records, extra: Records) -> list[str]:
    """Light load: 50 msgs/s × 1,000 clients."""
    rows = []
    got = {p: _harness(harness, "r50", p, 1000, "msgs_per_s")
           for p in ("tickcast-usr2", "c-ref", "py-picows", "tickcast-sio")}  # fmt: skip
    vs_picows = _starved({p: got[p] for p in ("tickcast-usr2", "py-picows")})
    vs_c = _starved({p: got[p] for p in ("tickcast-usr2", "c-ref")})
    label = "1. 50 msgs/s × 1,000 (native)"
    cpu = {p: _harness(harness, "r50", p, 1000, "server_cpu_pct")
           for p in ("tickcast-usr2", "c-ref", "py-picows", "tickcast-sio")}  # fmt: skip
    p99 = {p: _harness(harness, "r50", p, 1000, "p99") for p in ("tickcast-usr2", "c-ref")}
    ours, ref, picows = cpu["tickcast-usr2"], cpu["c-ref"], cpu["py-picows"]
    if ours is None or ref is None or picows is None:
        rows.append(_row(f"{label}: server CPU below picows'", "–", _missing("r50")))
        rows.append(_row(f"{label}: server CPU ≤ {R50_CPU_VS_C}× C ref", "–", _missing("r50")))
    else:
        text = f"{ours:.1f} % vs picows {picows:.1f} % ({ours / picows:.2f}×)"
        rows.append(_row(f"{label}: server CPU below picows'", text,
                         _judge(ours < picows, vs_picows)))  # fmt: skip
        text = f"{ours:.1f} % vs C {ref:.1f} % ({ours / ref:.2f}×)"
        ok = ours <= R50_CPU_VS_C * ref
        rows.append(_row(f"{label}: server CPU ≤ {R50_CPU_VS_C}× C ref", text, _judge(ok, vs_c)))
    mine, theirs = p99["tickcast-usr2"], p99["c-ref"]
    if mine is None or theirs is None or not theirs:
        rows.append(_row(f"{label}: p99 ≤ {R50_P99_VS_C}× C ref", "–", _missing("r50")))
    else:
        text = f"{mine:.1f} ms vs C {theirs:.1f} ms ({mine / theirs:.2f}×)"
        ok = mine <= R50_P99_VS_C * theirs
        rows.append(_row(f"{label}: p99 ≤ {R50_P99_VS_C}× C ref", text, _judge(ok, vs_c)))
    starved = _starved({p: got[p] for p in ("tickcast-usr2", "tickcast-sio")})
    rows.append(_paced_vs_native("Socket.IO feed", cpu["tickcast-sio"], ours, "r50",
                                 "harness, wsload client", starved))  # fmt: skip
    raw = {d: _extra(extra, "dialects", "server_cpu_pct", mode="r50", dialect=d)
           for d in ("native", "coinmetrics", "vega")}  # fmt: skip
    raw_got = {d: _extra(extra, "dialects", "delivered_per_s", mode="r50", dialect=d)
               for d in ("native", "coinmetrics", "vega")}  # fmt: skip
    for dialect, name in (("coinmetrics", "Coin Metrics"), ("vega", "Vega")):
        starved = _starved({d: raw_got[d] for d in ("native", dialect)})
        rows.append(_paced_vs_native(name, raw[dialect], raw["native"], "dialects",
                                     "raw counting client", starved))  # fmt: skip
    return rows


def _paced_vs_native(name: str, cpu: float | None, native: float | None, scenario: str,
                     how: str, starved: str | None) -> str:  # fmt: skip
    target = (f"1/3. {name} at 50 msgs/s × 1,000: server CPU ≤ {DIALECT_CPU_VS_NATIVE:g}× "
              "native's (same client, same run)")  # fmt: skip
    if cpu is None or native is None or not native:
        return _row(target, "–", _missing(scenario))
    text = f"{cpu:.1f} % vs native {native:.1f} % ({cpu / native:.2f}×; {how})"
    if name == "Vega":
        text += "; Vega writes one line per 1 s block, native one frame per trade"
    return _row(target, text, _judge(cpu <= DIALECT_CPU_VS_NATIVE * native, starved))


def _extra(records: Records, group: str, field: str, **match: Any) -> float | None:
    values = [
        float(r[field])
        for r in records
        if r.get("group") == group
        and all(r.get(k) == v for k, v in match.items())
        and isinstance(r.get(field), int | float)
    ]
    return _median(values) if values else None


def point2(extra: Records) -> list[str]:
    """Idle memory per dialect (2,000 idle connections each) and tasks per idle connection."""
    rows = []
    tasks: list[str] = []
    no_task = True
    for dialect, name in IDLE_NAMES.items():
        found = [r for r in extra if r.get("group") == "idle" and r.get("dialect") == dialect]
        target = f"2. ≤ {IDLE_KB:g} KB per idle connection, {name}"
        if not found:
            rows.append(_row(target, "–", _missing("idle")))
            continue
        kb = _median([r["idle_kb_per_conn"] for r in found])
        conns, held = found[0]["conns"], found[0].get("server_connections", "?")
        text = f"{kb:.1f} KB ({conns:,} connections, {held} open on the server)"
        complete = held == conns
        verdict = _verdict(kb <= IDLE_KB) if complete else "not measured (connections refused)"
        rows.append(_row(target, text, verdict))
        per = [r["tasks_per_conn"] for r in found if isinstance(r.get("tasks_per_conn"), float)]
        if per:
            tasks.append(f"{name} {_median(per):.2f}")
            no_task = no_task and _median(per) < 0.01
    target = "2. no asyncio task per idle connection, every dialect"
    if len(tasks) < len(IDLE_NAMES):
        rows.append(_row(target, ", ".join(tasks) or "–", _missing("idle")))
    else:
        text = "tasks per connection: " + ", ".join(tasks)
        rows.append(_row(target, text, _verdict(no_task)))
    return rows


def point3(harness: Records, extra: Records) -> list[str]:
    """Max deliveries/s at 1,000 clients on one stream, each dialect against native."""
    rows = []
    native = _extra(extra, "dialects", "delivered_per_s", mode="max", dialect="native")
    native_cpu = _extra(extra, "dialects", "server_cpu_pct", mode="max", dialect="native")
    for dialect, name in (("coinmetrics", "Coin Metrics"), ("vega", "Vega")):
        target = f"3. {name}: max deliveries/s at 1,000 clients ≥ {DIALECT_VS_NATIVE}× native"
        mine = _extra(extra, "dialects", "delivered_per_s", mode="max", dialect=dialect)
        cpu = _extra(extra, "dialects", "server_cpu_pct", mode="max", dialect=dialect)
        held = _extra(extra, "dialects", "open_at_end", mode="max", dialect=dialect)
        clients = _extra(extra, "dialects", "clients", mode="max", dialect=dialect) or 0
        if native is None or mine is None or not native:
            rows.append(_row(target, "–", _missing("dialects")))
            continue
        unit = " trades" if dialect == "vega" else ""
        per_cpu = (mine / cpu) / (native / native_cpu) if cpu and native_cpu else 0.0
        text = (f"{_rate(mine)}{unit}/s vs native {_rate(native)}/s = {mine / native:.2f}× "
                f"(server CPU {cpu or 0:.0f} % vs {native_cpu or 0:.0f} %, per server CPU "
                f"second {per_cpu:.2f}×; "
                f"{held or 0:.0f} of {clients:.0f} clients still connected)")  # fmt: skip
        # the smaller of the two ratios: the counting client may cap native's rate before its
        # server saturates (then per CPU second is the fairer one), or the reverse
        ok = min(mine / native, per_cpu) >= DIALECT_VS_NATIVE and held == clients
        rows.append(_row(target, text, _verdict(ok)))
    target = f"3. Socket.IO feed: max deliveries/s at 1,000 clients ≥ {DIALECT_VS_NATIVE}× native"
    sio = _harness(harness, "sio", "tickcast-sio", 1000, "msgs_per_s")
    ours = _harness(harness, "max", "tickcast-usr2", 1000, "msgs_per_s")
    if sio is None or ours is None or not ours:
        rows.append(_row(target, "–", _missing("sio and max")))
    else:
        text = f"{_rate(sio)}/s vs native {_rate(ours)}/s = {sio / ours:.2f}× (harness, wsload)"
        rows.append(_row(target, text, _verdict(sio >= DIALECT_VS_NATIVE * ours)))
    return rows


def point5(extra: Records) -> list[str]:
    """Vega's big blocks and derived state nobody needs (the control-plane row is
    ``ingest_targets``')."""
    rows = []
    target = (f"5. Vega: no fast reader cut, 1 s blocks of {10_000:,} trades (> 1 MiB), "
              "20 counting clients")  # fmt: skip
    found = [r for r in extra if r.get("group") == "vega" and r.get("kind") == "big blocks"]
    if not found:
        rows.append(_row(target, "–", _missing("vega")))
    else:
        r = found[0]
        cut = r["clients"] - r["open_at_end"]
        text = (f"{cut} of {r['clients']} cut; {_rate(r['delivered_per_s'])} trades/s "
                f"delivered, server CPU {r['server_cpu_pct']:.0f} %")  # fmt: skip
        rows.append(_row(target, text, _verdict(cut == 0)))
    target = (f"5. derived state nobody needs costs nothing: Vega mounted, no subscriber, "
              f"≤ {DERIVED_VS_NO_VEGA}× the node without Vega (µs of CPU per event)")  # fmt: skip
    cost = {
        r["scenario"]: r["us_per_event"]
        for r in extra
        if r.get("group") == "vega" and r.get("kind") == "derived"
    }
    if "no vega" not in cost or "no subscriber" not in cost:
        rows.append(_row(target, "–", _missing("vega")))
    else:
        base, idle = cost["no vega"], cost["no subscriber"]
        text = (f"{idle:.1f} vs {base:.1f} µs/event ({idle / base:.2f}×); with 7 subscribers "
                f"{cost.get('subscribers', 0):.1f} µs/event")  # fmt: skip
        rows.append(_row(target, text, _verdict(idle <= DERIVED_VS_NO_VEGA * base)))
    return rows


def point6(harness: Records, extra: Records) -> list[str]:
    """Max fan-out against the C reference; ``/ws`` p99."""
    rows = []
    for n in (1000, 5000):
        target = f"6. max fan-out, N={n:,}: ≥ {MAX_VS_C}× C ref"
        ours = _harness(harness, "max", "tickcast-usr2", n, "msgs_per_s")
        ref = _harness(harness, "max", "c-ref", n, "msgs_per_s")
        if ours is None or ref is None or not ref:
            rows.append(_row(target, "–", _missing("max")))
            continue
        cpu = _harness(harness, "max", "tickcast-usr2", n, "server_cpu_pct") or 0.0
        ref_cpu = _harness(harness, "max", "c-ref", n, "server_cpu_pct") or 0.0
        per_cpu = (ours / cpu) / (ref / ref_cpu) if cpu and ref_cpu else 0.0
        text = (f"{_rate(ours)}/s vs C {_rate(ref)}/s = {ours / ref:.2f}× (server CPU "
                f"{cpu:.0f} % vs {ref_cpu:.0f} %; per CPU second {per_cpu:.2f}×)")  # fmt: skip
        starved = None
        if min(cpu, ref_cpu) < MAX_SATURATED_CPU:
            starved = (f"not measured (a server under {MAX_SATURATED_CPU:.0f} % of a core at max "
                       "rate: a busy machine)")  # fmt: skip
        rows.append(_row(target, text, _judge(ours >= MAX_VS_C * ref, starved)))
    limits = (("1 connection", WS_P99_1_MS), ("50 connections", WS_P99_50_MS))
    for scenario, limit in limits:
        target = f"6. `/ws` predictions p99 ≤ {limit:g} ms, {scenario} (quiet machine)"
        found = [r for r in extra if r.get("group") == "predict" and r["scenario"] == scenario]
        if not found:
            rows.append(_row(target, "–", _missing("predict")))
            continue
        p99 = _median([r["p99_ms"] for r in found])
        load = found[0].get("load_before") or ["?"]
        text = (f"p99 {p99:.2f} ms, p50 {found[0]['p50_ms']:.2f} ms, "
                f"{found[0]['requests_per_s']:,} requests/s; load average {load[0]}")  # fmt: skip
        rows.append(_row(target, text, _verdict(p99 <= limit)))
    return rows


def table(harness: Records, extra: Records, ingest_rows: Callable[[], list[str]]) -> str:
    """The whole table, points 1 to 6 in order (point 4 and the control-plane row of point 5 are
    ``ingest_rows()``)."""
    rows = point1(harness, extra) + point2(extra) + point3(harness, extra) + ingest_rows()
    rows += point5(extra) + point6(harness, extra)
    rows.sort(key=lambda row: row[2])  # stable: by point ("| 4. ..."), each point's own order
    return "\n".join(["| target | measured | verdict |", "|---|---|---|", *rows])


FIGURES = {  # group → the fields shown in the "every other run" table
    "dialects": ("mode", "dialect", "clients", "open_at_end", "delivered_per_s", "server_cpu_pct",
                 "client_cpu_pct"),
    "idle": ("dialect", "conns", "server_connections", "idle_kb_per_conn", "tasks_per_conn",
             "connect_s"),
    "predict": ("scenario", "requests", "p50_ms", "p99_ms", "max_ms", "requests_per_s",
                "load_before"),
    "vega": ("kind", "scenario", "rate", "clients", "open_at_end", "delivered_per_s",
             "server_cpu_pct", "us_per_event"),
}  # fmt: skip


def figures(extra: Records) -> str:
    """One line per record of ``issue20_runs``: its group and main fields."""
    lines = ["| scenario | figures |", "|---|---|"]
    for r in extra:
        shown = []
        for field in FIGURES.get(r.get("group", ""), ()):
            value = r.get(field)
            if value is None:
                continue
            if isinstance(value, float):
                value = _rate(value) if value >= 1e3 else f"{value:.2f}"
            shown.append(f"{field} {value}")
        lines.append(f"| {r.get('group', '?')} | {', '.join(shown)} |")
    return "\n".join(lines)
