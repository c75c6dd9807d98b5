"""wrk: the load generator, its command line and its output."""

from __future__ import annotations

import re
import subprocess

from .procfs import cpu_seconds, loadavg

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsed wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, object]:
    res: dict[str, object] = {"raw": out}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if not rps or not total:
        raise ValueError(f"unparsed wrk output:\n{out}")
    res["requests_per_s"] = float(rps.group(1))
    res["requests"] = int(total.group(1))
    res["read"] = total.group(3)
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = sock.group(1).strip() if sock else "none"
    return res


def wrk_command(url: str, *, threads: int, connections: int, duration: int) -> list[str]:
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--timeout", "10s", "--latency", url]


def run_wrk(url: str, pids: list[int], *, threads: int, connections: int,
            duration: int) -> dict[str, object]:
    """One wrk run; also the CPU seconds the server's processes `pids` used during it."""
    load_before = loadavg()
    cpu0 = cpu_seconds(pids)
    cmd = wrk_command(url, threads=threads, connections=connections, duration=duration)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         timeout=duration + 60).stdout
    cpu = cpu_seconds(pids) - cpu0
    res = parse_wrk(out)
    res["command"] = " ".join(cmd)
    res["server_cpu_s"] = round(cpu, 2)
    res["loadavg_before"] = load_before
    res["loadavg_after"] = loadavg()
    requests = int(res["requests"])  # type: ignore[call-overload]
    res["requests_per_cpu_s"] = round(requests / cpu, 1) if cpu > 0 else None
    return res


