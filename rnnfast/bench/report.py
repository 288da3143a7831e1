"""Reporting: one line per case, the end-of-run summary table with its legend, JSON and Markdown."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .suite import FLOOR, RNNFAST_BACKENDS

#: other processes' CPU share during a case above which the case is reported as disturbed
DISTURBED_LOAD = 0.10

LEGEND = ("Legend: speed-up = baseline time / rnnfast time (above 1x: rnnfast faster); (N x floor) = "
          "time / GEMM floor, the floor being the same matrix products alone in the BLAS the kernels use "
          "(1.00 = nothing but the products); \"target ... MISSED\" = a speed goal of the project not met "
          "by this run (timings on a busy machine vary).")

INSTALL_TORCH = 'pip install "rnnfast[bench]"'


def fmt_ms(ms: float) -> str:
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def fmt_rate(gflops: float) -> str:
    """GFLOP/s with 3 significant digits below 100, whole numbers above."""
    return f"{gflops:.3g}" if gflops < 100 else f"{gflops:.0f}"


def fmt_s(s: float) -> str:
    """Seconds as m:ss."""
    s = max(0, round(s))
    return f"{s // 60}:{s % 60:02d}"


def case_line(case: dict, baseline: str) -> str:
    """e.g. ``T=100 B=16 I=64 H=128  fwdbwd torch 6.2 ms | cpp 1.9 ms (3.26x torch, 1.20 x floor) | ...``"""
    parts = []
    for name, st in case["results"].items():
        s = f"{name} {fmt_ms(st['median_ms'])} ms"
        extra = []
        if "speedup_vs_baseline" in st:
            extra.append(f"{st['speedup_vs_baseline']:.2f}x {baseline}")
        if "ratio_to_floor" in st:
            extra.append(f"{st['ratio_to_floor']:.2f} x floor")
        if extra:
            s += " (" + ", ".join(extra) + ")"
        parts.append(s)
    load = ""
    if case.get("other_load") is not None:
        load = f" [other load {case['other_load']:.0%}" + \
               (": DISTURBED]" if case["other_load"] > DISTURBED_LOAD else "]")
    return f"{case['label']:<24} {case['pass']:<6} " + " | ".join(parts) + load


def target_line(r: dict) -> str:
    v = "n/a" if r["value"] is None else f"{r['value']:.2f}"
    status = {True: "met", False: "MISSED", None: "n/a"}[r["met"]]
    return f"# target {r['target']:<40} {r['label']:<24} {r['pass']:<6} {v:>6}  {status}"


def headline_backend(result: dict) -> str | None:
    """The rnnfast backend a suite's summary row shows: cpp if it ran, else the first one that did."""
    ran = [b for b in RNNFAST_BACKENDS if any(b in c["results"] for c in result["cases"])]
    return ran[0] if ran else None


def summary_rows(results: list) -> list:
    """One dict per case of every suite: suite, case, pass, baseline, backend, baseline/backend ms,
    speed-up, time/floor, targets (met, total, missed descriptions), other load."""
    rows = []
    for res in results:
        be = headline_backend(res)
        base = res["config"]["baseline"]
        tg = {}
        for r in res.get("targets", []):
            tg.setdefault((r["label"], r["pass"]), []).append(r)
        for case in res["cases"]:
            st = case["results"].get(be, {}) if be else {}
            b = case["results"].get(base)
            checks = tg.get((case["label"], case["pass"]), [])
            rows.append({
                "suite": res["suite"], "case": case["label"], "pass": case["pass"], "baseline": base,
                "backend": be, "baseline_ms": b["median_ms"] if b else None, "ms": st.get("median_ms"),
                "speedup": st.get("speedup_vs_baseline"), "floor": st.get("ratio_to_floor"),
                "targets_met": sum(1 for r in checks if r["met"]),
                "targets": len(checks),
                "missed": [f"{r['target']} ({r['value']:.2f})" for r in checks if r["met"] is False],
                "other_load": case.get("other_load"),
            })
    return rows


def summary(results: list, sgemm: list | None = None, unavailable: dict | None = None,
            elapsed: float | None = None, stopped: bool = False, machine: str | None = None) -> str:
    """The end-of-run table: per suite and case, rnnfast (its headline backend) against the suite's
    baseline, time / GEMM floor, targets; then the legend, missed targets, disturbed cases and
    what could not run."""
    rows = summary_rows(results)
    lines = []
    head = "Summary" + (" (run stopped early: the cases done so far)" if stopped else "")
    if elapsed is not None:
        head += f", {fmt_s(elapsed)} in all"
    lines.append(f"== {head} ==")
    if machine:
        lines.append(f"Machine: {machine}")
    cols = ("suite", "case", "pass", "baseline ms", "rnnfast ms", "speed-up", "x floor", "targets")
    table = []
    for r in rows:
        tgt = "" if not r["targets"] else (
            f"{r['targets_met']}/{r['targets']} met" if not r["missed"] else
            f"{r['targets_met']}/{r['targets']} MISSED")
        table.append((r["suite"], r["case"], r["pass"],
                      "-" if r["baseline_ms"] is None else f"{r['baseline']} {fmt_ms(r['baseline_ms'])}",
                      "-" if r["ms"] is None else f"{r['backend']} {fmt_ms(r['ms'])}",
                      "-" if r["speedup"] is None else f"{r['speedup']:.2f}x",
                      "-" if r["floor"] is None else f"{r['floor']:.2f}",
                      tgt + (" *" if (r["other_load"] or 0) > DISTURBED_LOAD else "")))
    widths = [max([len(c)] + [len(t[i]) for t in table]) for i, c in enumerate(cols)]
    right = {3, 4, 5, 6}

    def fmt(vals):
        return "  ".join((v.rjust(w) if i in right else v.ljust(w))
                         for i, (v, w) in enumerate(zip(vals, widths))).rstrip()
    lines.append(fmt(cols))
    lines.append(fmt(["-" * w for w in widths]))
    prev = None
    for t in table:
        lines.append(fmt(t if t[0] != prev else ("",) + t[1:]))
        prev = t[0]
    if not table:
        lines.append("(no case completed)")
    lines.append(LEGEND)
    for r in rows:
        for m in r["missed"]:
            lines.append(f"target {m} at {r['suite']} {r['case']} {r['pass']}: MISSED")
    disturbed = [r for r in rows if (r["other_load"] or 0) > DISTURBED_LOAD]
    if disturbed:
        worst = max(r["other_load"] for r in disturbed)
        lines.append(f"WARNING: other processes used more than {DISTURBED_LOAD:.0%} of the CPUs during "
                     f"{len(disturbed)} of {len(rows)} cases (marked *, up to {worst:.0%}): their timings are "
                     "disturbed; rerun on a quiet machine to trust them.")
    if sgemm:
        lines.append("Large SGEMM in this run: " + ", ".join(
            f"{fmt_rate(s['gflops'])} GFLOP/s ({s['when']})" for s in sgemm)
            + f" ({sgemm[0]['n']}^3 float32, {sgemm[0]['threads']} threads, SciPy's BLAS): the rate the "
            "kernels' GFLOP/s compare with.")
    for what, why in (unavailable or {}).items():
        lines.append(f"NOT RUN: {what}: {why}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ files
def repo_root() -> Path | None:
    """The rnnfast source tree if the current directory is its root, else None."""
    c = Path.cwd()
    if (c / "bench" / "results").is_dir() and (c / "rnnfast" / "bench").is_dir():
        return c
    return None


def default_json_path(suite_name: str, quick: bool = False, mode: str | None = None) -> Path:
    """bench/results/<suite>.json in the repo root, else ./rnnfast-bench-<suite>.json; "-default"
    (the default run) or "-quick" (--quick) is appended so that only --full runs write the plain
    names."""
    mode = mode or ("quick" if quick else "full")
    stem = suite_name + ("" if mode == "full" else f"-{mode}")
    root = repo_root()
    if root is not None:
        return root / "bench" / "results" / f"{stem}.json"
    return Path.cwd() / f"rnnfast-bench-{stem}.json"


def write_json(result: dict, path) -> Path:
    """Write atomically (a temporary file renamed), so that a stopped run leaves a valid file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def markdown(result: dict) -> str:
    """A Markdown section for bench/RESULTS.md: machine line, config, one table row per contender."""
    cfg = result["config"]
    base = cfg["baseline"]
    lines = [f"### {result['suite']}: {result['title']}", "",
             f"Machine: {result['machine']['line']}", "",
             (f"{cfg['dtype']}, {cfg['threads']} threads for every contender, one process. Median time per call "
              f"over {cfg['rounds']} interleaved rounds (each contender runs a block of calls per round, "
              f"~{cfg['budget_s']:g} s per contender in all, {cfg['settle_s']:g} s pause before each block), "
              f"after {cfg['warmup']} warm-up calls. GEMM floor timed via {cfg['floor_engine']}, "
              f"{'each product in its fastest form' if cfg.get('floor_form') == 'best' else 'products as stated'}. "
              f"'other load' = CPU share used by other processes during the case.")]
    sg = result["machine"].get("sgemm")
    if sg:
        lines.append(f"Large SGEMM ({sg['n']}^3 float32, {sg['threads']} threads) in this run: "
                     f"{fmt_rate(sg['gflops'])} GFLOP/s.")
    if cfg.get("flops_note"):
        lines.append(f"FLOPs: {cfg['flops_note']}")
    if cfg.get("floor_note"):
        lines.append(f"Floor: {cfg['floor_note']}")
    if result.get("unavailable"):
        lines.append("Unavailable: " + "; ".join(f"`{k}` ({v})" for k, v in result["unavailable"].items()))
    lines += ["", (f"| {', '.join(cfg['params'])} | pass | impl | ms (median) | GFLOP/s | speed-up vs {base} "
                   f"| time / GEMM floor | max rel err vs {base} | other load |"),
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for case in result["cases"]:
        shape = ",".join(str(v) for v in case["shape"].values())
        for name, st in case["results"].items():
            g = f"{st['gflops']:.1f}" if "gflops" in st else ""
            sp = f"{st['speedup_vs_baseline']:.2f}x" if "speedup_vs_baseline" in st else ""
            fl = f"{st['ratio_to_floor']:.2f}" if "ratio_to_floor" in st else ""
            er = f"{st['max_rel_err']:.1e}" if "max_rel_err" in st else ""
            nm = f"**{name}**" if name in RNNFAST_BACKENDS else name
            ld = f"{case['other_load']:.0%}" if case.get("other_load") is not None else ""
            lines.append(f"| {shape} | {case['pass']} | {nm} | {fmt_ms(st['median_ms'])} | {g} | {sp} | {fl} | {er} "
                         f"| {ld} |")
    if result.get("targets"):
        lines += ["", "| target | case | pass | value | status |", "|---|---|---|---:|---|"]
        for r in result["targets"]:
            v = "" if r["value"] is None else f"{r['value']:.2f}"
            status = {True: "met", False: "**missed**", None: r.get("note", "n/a")}[r["met"]]
            lines.append(f"| {r['target']} | {r['label']} | {r['pass']} | {v} | {status} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "DISTURBED_LOAD",
    "FLOOR",
    "INSTALL_TORCH",
    "LEGEND",
    "case_line",
    "default_json_path",
    "fmt_ms",
    "fmt_s",
    "markdown",
    "repo_root",
    "summary",
    "summary_rows",
    "target_line",
    "write_json",
]
