#!/usr/bin/env python3
"""Derive kvtier efficiency-curve points for the four GPU profiles from
kernel- and microbenchmark-level measurements only.

Inputs (read, never written):
  validation/sources/kernels.yaml      sections gemm, attention_prefill,
                                       attention_decode, small_ops, collectives
  kernels_additions.yaml (next to this script) section hbm_streaming: records
      to be appended to kernels.yaml (one large HBM streaming measurement per
      GPU type, the top anchor of the memory curve); read together with it
  hwprofiles/<profile>.yaml            peak_flops, hbm_bandwidth, nvlink_bandwidth
  vidur_a100_cpu_overheads.csv (next to this script) = `git show
      6d98aa8f71696520acc603d87439e77cc78160a7:data/profiling/a100/cpu_overheads.csv`
      of microsoft/vidur (MIT), for host_overhead.

End-to-end serving results (validation/sources/cases.yaml, validation/cases)
are NOT read.

Curves over bytes: `memory` = memory-bound vidur linears (weight streaming;
t_mem > MARGIN x t_comp) binned by factor 2 of bytes, plus the GPU's HBM
streaming anchor on top; `small_ops` = vidur norm/add/act/rope/emb kernels
whose bytes exceed the profile's l2_cache, binned the same way.

Usage: python3 fit_curves.py [REPO_ROOT] [OUT_DIR]
  REPO_ROOT defaults to the repository this script is in; OUT_DIR to the
  current directory.
  Writes OUT_DIR/<profile>.yaml and prints them; diagnostics go to stderr.
"""
import csv
import json
import math
import os
import re
import statistics
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(HERE))
OUT = sys.argv[2] if len(sys.argv) > 2 else "."
CPU_CSV = os.path.join(HERE, "vidur_a100_cpu_overheads.csv")
PROFILES = ["a100-sxm-80gb", "h100-sxm", "h200-sxm", "b200"]
LIMIT = 380  # max characters of source / note

KY = yaml.safe_load(open(os.path.join(ROOT, "validation/sources/kernels.yaml")))
# Records not yet in kernels.yaml (HBM streaming anchors), same format; a section
# already present in kernels.yaml is extended, a new one is added.
ADDITIONS = os.path.join(HERE, "kernels_additions.yaml")
if os.path.exists(ADDITIONS):
    for sec, recs in (yaml.safe_load(open(ADDITIONS)) or {}).items():
        have = KY.setdefault(sec, [])
        for r in recs:
            if r not in have:
                have.append(r)
# Roofline margin: a GEMM is memory-bound only if bytes/HBM > MARGIN x FLOPs/peak,
# compute-bound only if FLOPs/peak > MARGIN x bytes/HBM; in between (near the
# ridge neither side reaches its peak) it is dropped.
MARGIN = 1.5


def log(*a):
    print(*a, file=sys.stderr)


# ---------------------------------------------------------------- units
SI = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_rate(s):
    """'989.4TFLOP/s' -> 9.894e14; '3.35TB/s' -> 3.35e12; '450GB/s' -> 4.5e11"""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGTP]?)(FLOP/s|B/s)\s*", str(s))
    if not m:
        raise ValueError("cannot parse rate %r" % s)
    return float(m.group(1)) * SI[m.group(2)]


def bytes_of(x):
    if isinstance(x, (int, float)):
        return x
    m = re.fullmatch(r"([0-9.]+)(B|KiB|MiB|GiB)", x)
    return float(m.group(1)) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[m.group(2)]


def fmt_bytes(b):
    """bytes -> kvtier size string with a binary unit (exact when possible)."""
    for unit, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= f and abs(b / f - round(b / f)) < 1e-9:
            return "%d%s" % (round(b / f), unit)
    for unit, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= f:
            return "%.4g%s" % (b / f, unit)
    return "%dB" % b


def fmt_bytes2(b):
    """bytes -> kvtier size string in the largest binary unit, 4 significant digits
    (used by the memory and small_ops curves only)."""
    for unit, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= f:
            return "%.4g%s" % (b / f, unit)
    return "%dB" % b


def hb(b):
    """human bytes for notes"""
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if b >= f:
            return "%.3g %s" % (b / f, unit)
    return "%d B" % b


def r4(v):
    return float("%.4g" % v)


def load_profile(name):
    p = yaml.safe_load(open(os.path.join(ROOT, "hwprofiles", name + ".yaml")))
    f = p["figures"]
    pk = {k: parse_rate(v["value"]) for k, v in f["peak_flops"].items()}
    return {
        "name": name,
        "peak": pk,
        "hbm": parse_rate(f["hbm_bandwidth"]["value"]),
        "nvlink": parse_rate(f["nvlink_bandwidth"]["value"]),
        "l2": bytes_of(f["l2_cache"]["value"]),
    }


PROF = {n: load_profile(n) for n in PROFILES}
# Fallback when the B200 profile has no peak_flops.fp4 key: FP4 = 9 PFLOPS
# dense (NVIDIA HGX B200 specifications, 18 PFLOPS with sparsity).
B200_FP4_PEAK = 9e15
# H100 PCIe dense FP8 tensor peak (NVIDIA H100 datasheet: 3,026 TFLOPS with
# sparsity), used only to normalise the FA3-FP8 points measured on H100 PCIe.
H100_PCIE_FP8_PEAK = 1513e12


# ---------------------------------------------------------------- sources
def src_of(rec, row):
    s = rec["source"]
    parts = []
    if s.get("repo"):
        parts.append("%s %s @%s" % (s["repo"], s.get("path", ""), str(s.get("commit", ""))))
        if s.get("table"):
            parts.append("table '%s'" % s["table"])
    elif s.get("url"):
        parts.append("%s (%s)" % (s.get("title", ""), s["url"]))
    else:
        parts.append(s.get("title", ""))
    parts.append("row " + row)
    txt = "; ".join(parts)
    return txt


def clip(txt, what):
    if len(txt) > LIMIT:
        log("WARNING: %s over %d chars (%d), clipped: %s" % (what, LIMIT, len(txt), txt))
        txt = txt[: LIMIT - 3] + "..."
    return txt


def point(x, value, status, source, note):
    return {"x": x, "value": r4(value), "status": status,
            "source": clip(source, "source"), "note": clip(note, "note")}


def shape_M(s):
    return s.get("M", s.get("M_tokens"))


def tp_of(rec):
    m = re.search(r"TP(\d+)", rec["what"])
    return int(m.group(1)) if m else 1


def model_of(rec):
    m = re.search(r"\(([^,]+), TP\d+\)", rec["what"])
    return m.group(1) if m else "?"


# ---------------------------------------------------------------- GEMM
DT_BYTES = {"fp16": 2, "bf16": 2, "fp8": 1, "fp4": 0.5}


def gemm_eval(rec, peak, hbm, dtb):
    """-> dict(kind, M, N, K, flops, bytes, t, eff, arith) or None"""
    s = rec["shape"]
    M, N, K = shape_M(s), s.get("N"), s.get("K")
    if M is None or N is None or K is None:
        return None
    flops = 2.0 * M * N * K
    byts = (M * K + K * N + M * N) * dtb
    if rec["unit"] == "ms":
        t = rec["value"] * 1e-3
        tdesc = "%.4g ms" % rec["value"]
    elif rec["unit"] == "TFLOP/s":
        t = flops / (rec["value"] * 1e12)
        tdesc = "%.4g ms (from %s TFLOP/s)" % (t * 1e3, rec["value"])
    else:
        return None
    tc, tm = flops / peak, byts / hbm
    if tc > MARGIN * tm:
        kind = "compute"
    elif tm > MARGIN * tc:
        kind = "memory"
    else:
        kind = "ridge"
    compute = kind != "memory"
    if compute:
        eff = flops / (t * peak)
        arith = "2·%d·%d·%d = %.4g FLOP / %s = %.4g TFLOP/s; / %.5g peak = %.3f" % (
            M, N, K, flops, tdesc, flops / t / 1e12, peak / 1e12, eff)
    else:
        eff = byts / (t * hbm)
        arith = "(%d·%d+%d·%d+%d·%d)·%gB = %s / %s = %.4g GB/s; / %.4g GB/s HBM = %.3f" % (
            M, K, K, N, M, N, dtb, hb(byts), tdesc, byts / t / 1e9, hbm / 1e9, eff)
    return dict(kind=kind, M=M, N=N, K=K, flops=flops, bytes=byts, t=t, eff=eff, arith=arith,
                ratio=tm / tc, eff_c=flops / (t * peak), eff_m=byts / (t * hbm))


def vidur_gemm(gpu):
    return [r for r in KY["gemm"] if r["gpu"] == gpu and r["what"].startswith("linear ")]


def azure_gemm(prefix, dtype):
    return [r for r in KY["gemm"] if r["gpu"].startswith(prefix) and r["dtype"] == dtype
            and "cuBLASLt" in r["what"]]


RIDGE = []  # (gpu, description, eval) of GEMM points dropped near the ridge


def vidur_gemm_curve(gpu, prof, status, carried_note=""):
    """compute-bound vidur linear points grouped by M (median)."""
    peak, hbm = prof_peak_bf16(gpu), prof_hbm(gpu)
    by_m, mem = {}, []
    for r in vidur_gemm(gpu):
        e = gemm_eval(r, peak, hbm, 2)
        if e is None:
            continue
        e["rec"] = r
        if e["kind"] == "compute":
            by_m.setdefault(e["M"], []).append(e)
        elif e["kind"] == "memory":
            mem.append(e)
        else:
            RIDGE.append((gpu, "%s M=%d N=%d K=%d" % (r["what"], e["M"], e["N"], e["K"]), e))
    pts = []
    for M in sorted(by_m):
        es = by_m[M]
        med = statistics.median([e["eff"] for e in es])
        r0 = es[0]["rec"]
        ops = sorted(set("%s/%s TP%d" % (e["rec"]["what"].split()[1], model_of(e["rec"]), tp_of(e["rec"])) for e in es))
        files = sorted(set("%s@%s" % (e["rec"]["source"]["path"].replace("data/profiling/compute/", ""), e["rec"]["source"]["commit"]) for e in es))
        source = "microsoft/vidur data/profiling/compute/{%s}; time_stats.<op>.median at num_tokens=%d; ops %s" % (
            ", ".join(files), M, ", ".join(ops))
        if len(source) > LIMIT:
            source = "microsoft/vidur data/profiling/compute/{%s}; median kernel time at num_tokens=%d, %d compute-bound linear ops (attn_pre/post_proj, mlp_up/down_proj)" % (
                ", ".join(files), M, len(es))
        best = max(es, key=lambda e: e["flops"])
        note = "%smedian of %d compute-bound shapes (effs %s); e.g. %s" % (
            carried_note, len(es), "/".join("%.2f" % e["eff"] for e in sorted(es, key=lambda e: e["eff"])), best["arith"])
        pts.append(point(M, med, status, source, note))
    return pts, mem


def prof_peak_bf16(gpu):
    return {"A100": PROF["a100-sxm-80gb"], "H100": PROF["h100-sxm"]}[gpu]["peak"]["bf16"]


def prof_hbm(gpu):
    return {"A100": PROF["a100-sxm-80gb"], "H100": PROF["h100-sxm"]}[gpu]["hbm"]


def cublas_curve(recs, peak, hbm, dtb, status, sku_note, peak_desc):
    """Azure cuBLASLt points; drop shapes with N or K < 2048 (not model-like)."""
    pts, dropped = [], []
    by_m = {}
    for r in recs:
        e = gemm_eval(r, peak, hbm, dtb)
        s = r["shape"]
        if e is None:
            continue
        if e["kind"] == "memory":
            dropped.append((s, "memory-bound by roofline rule (t_mem/t_comp %.2f): eff_mem %.3f" % (e["ratio"], e["eff"])))
            continue
        if e["kind"] == "ridge":
            dropped.append((s, "near the ridge (t_mem/t_comp %.2f, within x%.1f): eff_comp %.3f, eff_mem %.3f" % (
                e["ratio"], MARGIN, e["eff_c"], e["eff_m"])))
            continue
        if s["N"] < 2048 or s["K"] < 2048:
            dropped.append((s, "N or K < 2048 (not an LLM-layer shape; tile-count limited): eff %.3f" % e["eff"]))
            continue
        e["rec"] = r
        by_m.setdefault(e["M"], []).append(e)
    for M in sorted(by_m):
        es = by_m[M]
        med = statistics.median([e["eff"] for e in es])
        r = es[0]["rec"]
        shapes = ", ".join("%dx%dx%d" % (e["M"], e["N"], e["K"]) for e in es)
        source = src_of(r, "m,n,k=%s, %s %s TFLOP/s" % (shapes, r["dtype"], "/".join(str(e["rec"]["value"]) for e in es)))
        note = "%s%s; %s%s" % (sku_note, es[0]["arith"], peak_desc,
                               "" if len(es) == 1 else "; median of %d shapes" % len(es))
        pts.append(point(M, med, status, source, note))
    return pts, dropped


# ---------------------------------------------------------------- small ops -> memory
def small_op_bytes(rec):
    s = rec["shape"]
    T, E, nh, nkv, F = s["num_tokens"], s["n_embd"], s["n_head"], s["n_kv_head"], s["ffn"]
    tp = tp_of(rec)
    hd = E // nh
    op = rec["what"].split()[0]
    if op == "input_layernorm":
        return op, (2 * T * E + E) * 2, "RMSNorm r+w (2·T·E+E)·2B"
    if op == "add":
        return op, 3 * T * E * 2, "add 2 reads+1 write 3·T·E·2B"
    if op == "mlp_act":
        return op, 3 * T * (F // tp) * 2, "SiluAndMul r 2F/TP w F/TP: 3·T·(F/TP)·2B"
    if op == "attn_rope":
        qk = (nh // tp + max(nkv // tp, 1)) * hd
        return op, (2 * T * qk + T * hd) * 2, "RoPE q,k in place r+w 2·T·%d·2B + cos/sin T·hd·2B" % qk
    if op == "emb":
        return op, 2 * T * E * 2 + 8 * T, "embedding gather r+w 2·T·E·2B + int64 ids"
    return op, None, ""


def vidur_files(ps):
    return ", ".join(sorted(set("%s@%s" % (p[3]["source"]["path"].replace("data/profiling/compute/", ""),
                                           str(p[3]["source"]["commit"])[:12]) for p in ps if p[3] is not None)))


def gemm_memory_points(gemm_mem):
    """memory-bound vidur linears -> (bytes, eff, desc, rec, key)"""
    return [(e["bytes"], e["eff"], "%s M=%d: %s" % (e["op"], e["M"], e["arith"]), e["rec"], e["op"])
            for e in gemm_mem]


def small_ops_points(gpu, prof):
    """vidur small-op kernels -> kept (bytes > L2, eff <= 1), dropped [(pt, why)]"""
    kept, dropped = [], []
    hbm, l2 = prof["hbm"], prof["l2"]
    for r in KY["small_ops"]:
        if r["gpu"] != gpu:
            continue
        op, byts, how = small_op_bytes(r)
        if byts is None:
            continue
        t = r["value"] * 1e-3
        eff = byts / (t * hbm)
        p = (byts, eff, "%s %s TP%d T=%d: %s / %.4g ms = %.4g GB/s; / %.4g = %.3f" % (
            op, model_of(r), tp_of(r), r["shape"]["num_tokens"], hb(byts), r["value"], byts / t / 1e9, hbm / 1e9, eff), r, op)
        if byts <= l2:
            dropped.append((p, "working set %s <= L2 %s" % (fmt_bytes(byts), fmt_bytes(l2))))
        elif eff > 1.0:
            dropped.append((p, "eff > 1"))
        else:
            kept.append(p)
    return kept, dropped


def bin2(pts):
    """group points into factor-2 bins of bytes: [2^k, 2^(k+1)) -> {k: [pts]}"""
    bins = {}
    for p in pts:
        bins.setdefault(int(math.floor(math.log2(p[0]))), []).append(p)
    return bins


def binned_curve(pts, status, hbm, what, carried=""):
    """one point per factor-2 bin: x = median bytes of its kernels, value = median eff."""
    out = []
    for k, ps in sorted(bin2(pts).items()):
        ps = sorted(ps, key=lambda p: p[0])
        xb = ps[(len(ps) - 1) // 2][0]
        med = statistics.median([p[1] for p in ps])
        keys = {}
        for p in ps:
            keys[p[4]] = keys.get(p[4], []) + [p[1]]
        if what == "gemm":
            source = "microsoft/vidur data/profiling/compute/{%s}; time_stats.<op>.median of linear rows memory-bound by t_mem > %.1f t_comp, bytes in [%s, %s): %s" % (
                vidur_files(ps), MARGIN, fmt_bytes(2**k), fmt_bytes(2 ** (k + 1)), ", ".join(sorted(keys)))
            byt = "bytes = (MK+KN+MN)·2B"
        else:
            source = "microsoft/vidur data/profiling/compute/{%s}; time_stats.<op>.median, rows with r+w bytes in [%s, %s): %s" % (
                vidur_files(ps), fmt_bytes(2**k), fmt_bytes(2 ** (k + 1)),
                ", ".join("%s×%d" % (o, len(v)) for o, v in sorted(keys.items())))
            byt = "bytes = r+w per op, fp16"
        if len(source) > LIMIT:
            source = "microsoft/vidur data/profiling/compute/{%s}; time_stats.<op>.median; %d %s rows, bytes in [%s, %s)" % (
                vidur_files(ps), len(ps), "memory-bound linear" if what == "gemm" else "small-op", fmt_bytes(2**k), fmt_bytes(2 ** (k + 1)))
        mid = sorted(ps, key=lambda p: abs(p[1] - med))[0]
        if what == "gemm":
            per = "; ".join("%s %s" % (o.replace("Llama-2-", "L2-").replace("Meta-Llama-3-", "L3-"), "/".join("%.2f" % v for v in sorted(vs)))
                            for o, vs in sorted(keys.items()))
        else:
            per = "; ".join("%s %s" % (o, "/".join("%.2f" % v for v in sorted(vs))) for o, vs in sorted(keys.items()))
        note = "%smedian of %d kernels (%s; x = median bytes): %s; nearest: %s" % (carried, len(ps), byt, per, mid[2])
        if len(note) > LIMIT:
            note = "%smedian of %d kernels (%s; x = median bytes), eff %.2f-%.2f; nearest: %s" % (
                carried, len(ps), byt, min(p[1] for p in ps), max(p[1] for p in ps), mid[2])
        out.append(point(fmt_bytes2(xb), med, status, source, note))
    return out


def hbm_anchor(gpu_prefix, prof):
    """the large-transfer HBM streaming record of kernels_additions.yaml for this GPU -> point"""
    r = [r for r in KY.get("hbm_streaming", []) if r["gpu"].startswith(gpu_prefix)][0]
    s, src = r["shape"], r["source"]
    bw = r["value"] * {"TB/s": 1e12, "GB/s": 1e9}[r["unit"]]
    eff = bw / prof["hbm"]
    if src.get("repo"):
        source = "%s %s @%s, table '%s': %s %s, %s %s" % (src["repo"], src["path"], src["commit"], src["table"],
                                                         r["what"].split(",")[0], r["gpu"], r["value"], r["unit"])
    else:
        source = "%s (%s); %s: %s %s" % (src["title"], src["url"], src.get("table", ""), r["value"], r["unit"])
    arr = "%d arrays × %d × %d B = %s" % (s["arrays_moved"], s.get("array_elements", s.get("elements")), s["elem_bytes"], hb(s["bytes_moved"]))
    note = "large-transfer HBM streaming anchor: %s moved per kernel; %.4g TB/s / %.4g TB/s profile HBM = %.3f" % (
        arr, bw / 1e12, prof["hbm"] / 1e12, eff)
    extra = r.get("note", "").split(". ")[0]
    if extra and len(note) + 2 + len(extra) <= LIMIT:
        note += "; " + extra
    return point(fmt_bytes2(s["bytes_moved"]), eff, "published", source, note), r


def monotone_report(name, pts):
    bad = [(a["x"], a["value"], b["x"], b["value"]) for a, b in zip(pts, pts[1:]) if b["value"] < a["value"]]
    for x0, v0, x1, v1 in bad:
        log("NOT MONOTONE %s: %s %.3f -> %s %.3f" % (name, x0, v0, x1, v1))
    return bad


# ---------------------------------------------------------------- attention
def prefill_h100_fa3(peak):
    recs = [r for r in KY["attention_prefill"] if r["what"] == "attention fwd, FlashAttention-3 (flash_v3)"]
    pts = []
    for r in sorted(recs, key=lambda r: r["shape"]["seqlen"]):
        s = r["shape"]
        eff = r["value"] * 1e12 / peak
        src = "pytorch/benchmark commit ff65cb675209d2308f7d27c6920af8a32de9aa90 (test plan output of 'Fix dimension order for FlashAttention-3 (#2391)'); row flash_v3 batch=%d heads=%d seqlen=%d head_dim=%d" % (
            s["batch"], s["heads"], s["seqlen"], s["head_dim"])
        note = "%.4g TFLOP/s / %.5g bf16 peak = %.3f; tritonbench default non-causal (4·B·H·S²·D FLOP, not halved); dtype bf16/fp16 not stated; H100 variant not stated (likely SXM)" % (
            r["value"], peak / 1e12, eff)
        pts.append((s["seqlen"], eff, src, note))
    return pts


def prefill_h100_fa3_fp8():
    recs = [r for r in KY["attention_prefill"] if r["what"] == "attention fwd FA3 FP8 (early)"]
    pts = []
    for r in sorted(recs, key=lambda r: r["shape"]["seqlen"]):
        s = r["shape"]
        eff = r["value"] * 1e12 / H100_PCIE_FP8_PEAK
        src = "Dao-AILab/flash-attention PR #1075 'Changes For FP8' (https://github.com/Dao-AILab/flash-attention/pull/1075, 2024-07-19); row FA3 fp8 batch=%d seqlen=%d head_dim=%d non-causal" % (
            s["batch"], s["seqlen"], s["head_dim"])
        note = "measured on H100 PCIe, carried to SXM as a fraction of peak: %.4g TFLOP/s / 1513 (H100 PCIe dense FP8, datasheet 3026 sparse) = %.3f; / SXM 1978.9 would give %.3f; early FA3-FP8 (paper headline ~1200 TFLOP/s = 0.61 of SXM)" % (
            r["value"], eff, r["value"] * 1e12 / 1978.9e12)
        pts.append((s["seqlen"], eff, src, note))
    return pts


def triton_fa2_ratios():
    recs = [r for r in KY["attention_prefill"] if r["what"] == "attention fwd, Triton tutorial FA2-style kernel"]
    d = {r["shape"]["seqlen"]: r["value"] for r in recs}
    return {k: v / d[8192] for k, v in d.items()}, d


def fa3_ratios():
    recs = [r for r in KY["attention_prefill"] if r["what"] == "attention fwd, FlashAttention-3 (flash_v3)"]
    d = {r["shape"]["seqlen"]: r["value"] for r in recs}
    return {k: v / d[8192] for k, v in d.items()}, d


def mk(pts, status):
    return [point(x, v, status, s, n) for (x, v, s, n) in pts]


# ---------------------------------------------------------------- decode attention
def decode_h100(hbm):
    raw = []
    for r in KY["attention_decode"]:
        s = r["shape"]
        b = s.get("batch", s.get("num_seqs"))
        kv = 2 * b * s["kv_len"] * s["kv_heads"] * s["head_dim"] * 2
        t = r["value"] * 1e-6
        eff = kv / (t * hbm)
        if "FA3" in r["what"]:
            src = "Dao-AILab/flash-attention issue #1572 (https://github.com/Dao-AILab/flash-attention/issues/1572, comment by TheRainstorm, 2025-04-11); row FA3 paged decode CUDA graph batch=%d kv_len=%d 32/32 heads hd128 page 8" % (b, s["kv_len"])
            kern = "FA3 MHA"
        else:
            src = "microsoft/onnxruntime PR #21414 (https://github.com/microsoft/onnxruntime/pull/21414, comment by cloudhan, 2024-08-29); row FA2 paged decode num_seqs=%d kv_len=%d q64/kv8 heads hd128 page 256" % (b, s["kv_len"])
            kern = "FA2 GQA8"
        ar = "%s: 2·%d·%d·%d·%d·2B = %s / %.4g us = %.4g GB/s; / %.4g = %.3f" % (
            kern, b, s["kv_len"], s["kv_heads"], s["head_dim"], hb(kv), r["value"], kv / t / 1e9, hbm / 1e9, eff)
        raw.append((kv, eff, src, ar))
    by = {}
    for p in raw:
        by.setdefault(p[0], []).append(p)
    out = []
    for kv in sorted(by):
        ps = by[kv]
        med = statistics.median([p[1] for p in ps])
        if len(ps) == 1:
            out.append((fmt_bytes(kv), med, ps[0][2], ps[0][3]))
        else:
            src = " | ".join(p[2].split(" (https")[0] + "; " + p[2].split("; ", 1)[1] for p in ps)
            note = "median of %d kernels at the same KV bytes: %s" % (len(ps), " ; ".join(p[3] for p in ps))
            out.append((fmt_bytes(kv), med, src, note))
    return out


# ---------------------------------------------------------------- all-reduce
def label_bytes(lbl):
    m = re.fullmatch(r"(\d+)([KMG]?)", lbl)
    v = int(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]
    return 2 ** round(math.log2(v))


def allreduce_azure(prefix, nvlink, status, algo, extra=""):
    recs = [r for r in KY["collectives"] if r["gpu"].startswith(prefix) and r["what"].startswith("nccl-tests all_reduce")]
    out = []
    for r in sorted(recs, key=lambda r: label_bytes(r["shape"]["message_bytes"])):
        b = label_bytes(r["shape"]["message_bytes"])
        eff = r["value"] * 1e9 / nvlink
        src = src_of(r, "%s, size %s (=%s), busbw %s GB/s, %s" % (r["gpu"], r["shape"]["message_bytes"], fmt_bytes(b), r["value"], algo))
        note = "%snccl-tests busbw %.4g GB/s / %.4g GB/s NVLink per direction = %.4f (float, in-place)" % (
            extra, r["value"], nvlink / 1e9, eff)
        out.append(point(fmt_bytes(b), eff, status, src, note))
    return out


# ---------------------------------------------------------------- small-op floor, host overhead
def small_op_floor(gpu):
    rs = [r for r in KY["small_ops"] if r["gpu"] == gpu]
    tmin = min(r["shape"]["num_tokens"] for r in rs)
    rs = [r for r in rs if r["shape"]["num_tokens"] == tmin]
    ts = [r["value"] * 1e3 for r in rs]
    med = statistics.median(ts)
    files = sorted(set("%s@%s" % (r["source"]["path"].replace("data/profiling/compute/", ""), r["source"]["commit"]) for r in rs))
    src = "microsoft/vidur data/profiling/compute/{%s}; time_stats.<op>.median at num_tokens=%d for input_layernorm, attn_rope, mlp_act, add, emb" % (", ".join(files), tmin)
    note = "median of %d one-token small-op kernel times (us): %s -> %.3g us; CUDA kernel time, no launch gap" % (
        len(ts), ", ".join("%g" % t for t in sorted(ts)), med)
    return med, src, note


def host_overhead():
    rows = list(csv.DictReader(open(CPU_CSV)))
    rows = [r for r in rows if r["tensor_parallel_degree"] == "1"]
    comps = ["schedule_median", "prepare_inputs_e2e_median", "sampler_e2e_median", "process_model_outputs_median"]
    xs = [float(r["batch_size"]) for r in rows]
    ys = [sum(float(r[c]) for c in comps) for r in rows]
    ys3 = [sum(float(r[c]) for c in comps if c != "sampler_e2e_median") for r in rows]

    def fit(xs, ys):
        n = len(xs)
        mx, my = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        b = sxy / sxx
        a = my - b * mx
        res = [(a + b * x - y) / y for x, y in zip(xs, ys)]
        return a, b, math.sqrt(sum(e * e for e in res) / n)

    a, b, rms = fit(xs, ys)
    a3, b3, _ = fit(xs, ys3)
    models = sorted(set(r["model_name"] for r in rows))
    return dict(step_ms=a, seq_ms=b, rms=rms, step3_ms=a3, seq3_ms=b3, n=len(rows), models=models,
                bmin=min(xs), bmax=max(xs))


# ---------------------------------------------------------------- assemble
def build():
    h100, h200, a100, b200 = PROF["h100-sxm"], PROF["h200-sxm"], PROF["a100-sxm-80gb"], PROF["b200"]
    frag = {}

    # --- GEMM bf16 (vidur) and memory-bound GEMM points
    h100_bf16, h100_gmem = vidur_gemm_curve("H100", h100, "published")
    a100_bf16, a100_gmem = vidur_gemm_curve("A100", a100, "published")
    for lst in (h100_gmem, a100_gmem):
        for e in lst:
            e["op"] = e["rec"]["what"].split()[1] + " " + model_of(e["rec"]) + " TP%d" % tp_of(e["rec"])

    def carry(pts, note_prefix):
        out = []
        for p in pts:
            q = dict(p)
            q["status"] = "assumed"
            q["note"] = clip(note_prefix + p["note"], "note")
            out.append(q)
        return out

    # --- GEMM fp8 (Azure cuBLASLt)
    h100_fp8, d1 = cublas_curve(azure_gemm("H100-SXM5", "fp8"), h100["peak"]["fp8"], h100["hbm"], 1, "published", "", "H100 SXM fp8 peak")
    h200_fp8, d2 = cublas_curve(azure_gemm("H200-SXM", "fp8"), h200["peak"]["fp8"], h200["hbm"], 1, "published", "", "H200 fp8 peak")
    b200_fp8, d3 = cublas_curve(azure_gemm("GB200", "fp8"), b200["peak"]["fp8"], b200["hbm"], 1, "published",
                                "measured on GB200 (1200 W; its own dense FP8 peak is quoted 4.5-5 PFLOP/s), divided by the B200 profile peak: ",
                                "may overstate B200 (1000 W)")
    fp4_peak = b200["peak"].get("fp4", B200_FP4_PEAK)
    fp4_where = "profile peak_flops.fp4" if "fp4" in b200["peak"] else "HGX B200 spec; profile has no peak_flops.fp4"
    b200_fp4, d4 = cublas_curve(azure_gemm("GB200", "fp4"), fp4_peak, b200["hbm"], 0.5, "published",
                                "measured on GB200, divided by B200 dense FP4 %.4g PFLOP/s (%s): " % (fp4_peak / 1e15, fp4_where),
                                "may overstate B200 (1000 W)")
    for nm, d in (("H100 fp8", d1), ("H200 fp8", d2), ("GB200 fp8", d3), ("GB200 fp4", d4)):
        for s, why in d:
            log("gemm %s dropped %s: %s" % (nm, s, why))
    # DeepGEMM H800 cross-check (diagnostic only)
    dg = [gemm_eval(r, h100["peak"]["fp8"], h100["hbm"], 1) for r in KY["gemm"]
          if r["what"].startswith("DeepGEMM FP8 GEMM")]
    for M in (64, 128, 4096):
        es = [e for e in dg if e and e["M"] == M]
        log("DeepGEMM H800 M=%d: kinds %s effs %s median %.3f" % (
            M, set(e["kind"] for e in es), ["%.3f" % e["eff"] for e in es], statistics.median(e["eff"] for e in es)))

    # --- memory curves: memory-bound GEMMs (weight streaming) + one large HBM streaming anchor per GPU
    for gpu, desc, e in RIDGE:
        log("gemm %s vidur dropped near the ridge (t_mem/t_comp %.2f, within x%.1f): %s eff_comp %.3f eff_mem %.3f" % (
            gpu, e["ratio"], MARGIN, desc, e["eff_c"], e["eff_m"]))
    h100_gm = binned_curve(gemm_memory_points(h100_gmem), "published", h100["hbm"], "gemm")
    a100_gm = binned_curve(gemm_memory_points(a100_gmem), "published", a100["hbm"], "gemm")
    anc = {}
    for pn, pre in (("h100-sxm", "H100"), ("a100-sxm-80gb", "A100"), ("h200-sxm", "H200"), ("b200", "B200")):
        anc[pn], rec = hbm_anchor(pre, PROF[pn])
        log("memory anchor %s: %s = %.3f of %s" % (pn, anc[pn]["x"], anc[pn]["value"], rec["gpu"]))
    gm_carry = "carried from H100 as a fraction of peak (no %s weight-streaming data); "
    h100_mem = h100_gm + [anc["h100-sxm"]]
    a100_mem = a100_gm + [anc["a100-sxm-80gb"]]
    h200_mem = binned_curve(gemm_memory_points(h100_gmem), "assumed", h100["hbm"], "gemm", gm_carry % "H200") + [anc["h200-sxm"]]
    b200_mem = binned_curve(gemm_memory_points(h100_gmem), "assumed", h100["hbm"], "gemm", gm_carry % "B200") + [anc["b200"]]
    for nm, c in (("H100", h100_mem), ("A100", a100_mem), ("H200", h200_mem), ("B200", b200_mem)):
        monotone_report("memory " + nm, c)
    # DeepGEMM H800 memory-bound points (cross-check only: another SKU, block-scaled fp8)
    for M in (64, 128):
        es = [e for e in dg if e and e["M"] == M and e["kind"] == "memory"]
        log("cross-check DeepGEMM H800 fp8 M=%d memory-bound: bytes %s effs %s" % (
            M, [hb(e["bytes"]) for e in es], ["%.3f" % e["eff"] for e in es]))
    # Azure odd-shape fp8 GEMM 802816x192x768 diagnostic (not used: output dtype not stated)
    for r in azure_gemm("H200-SXM", "fp8") + azure_gemm("H100-SXM5", "fp8"):
        pn = "h200-sxm" if r["gpu"].startswith("H200") else "h100-sxm"
        e = gemm_eval(r, PROF[pn]["peak"]["fp8"], PROF[pn]["hbm"], 1)
        if e["kind"] != "compute":
            log("diag %s cuBLASLt fp8 %s %s (t_mem/t_comp %.2f): %s" % (e["kind"], r["gpu"][:8], r["shape"], e["ratio"], e["arith"]))

    # --- small_ops curves: vidur norm/add/act/rope/emb kernels whose working set exceeds the profile's L2
    h100_so_pts, h100_so_drop = small_ops_points("H100", h100)
    a100_so_pts, a100_so_drop = small_ops_points("A100", a100)
    b200_so_pts, b200_so_drop = small_ops_points("H100", dict(h100, l2=b200["l2"]))  # H100 kernels, B200's L2
    for nm, d in (("H100", h100_so_drop), ("A100", a100_so_drop)):
        for p, why in d:
            log("small_ops %s dropped (%s): %s" % (nm, why, p[2]))
    h100_so = binned_curve(h100_so_pts, "published", h100["hbm"], "small")
    a100_so = binned_curve(a100_so_pts, "published", a100["hbm"], "small")
    h200_so = binned_curve(h100_so_pts, "assumed", h100["hbm"], "small",
                           "carried from H100 as a fraction of peak (no H200 small-op data; same 50 MiB L2); ")
    b200_so = binned_curve(b200_so_pts, "assumed", h100["hbm"], "small",
                           "carried from H100 (no B200 small-op data), fraction of peak; H100 kernels above B200's 126.5MiB L2 only; ")
    for nm, c in (("H100", h100_so), ("A100", a100_so), ("B200", b200_so)):
        monotone_report("small_ops " + nm, c)

    # --- attention prefill
    h100_pf = mk(prefill_h100_fa3(h100["peak"]["bf16"]), "published")
    h100_pf8 = mk(prefill_h100_fa3_fp8(), "assumed")
    # A100: Azure FA2 point + shape from H100 Triton-FA2 ratios
    az = [r for r in KY["attention_prefill"] if r["what"] == "FlashAttention 2.0 fwd (Azure benchmark)" and r["gpu"].startswith("A100")][0]
    a_eff = az["value"] * 1e12 / a100["peak"]["bf16"]
    ratios, tri = triton_fa2_ratios()
    a100_pf = []
    for S in sorted(ratios):
        if S == 8192:
            a100_pf.append(point(8192, a_eff, "published",
                                 src_of(az, "Flash Attention 2.0, batch 2, seqlen 8192, head_dim 64, %s TFLOP/s" % az["value"]),
                                 "%.4g TFLOP/s / 312 = %.3f; head_dim 64 (no A100 hd128 point), causal not stated; dtype assumed fp16" % (az["value"], a_eff)))
        else:
            v = a_eff * ratios[S]
            a100_pf.append(point(S, v, "assumed",
                                 "estimate: Azure/AI-benchmarking-guide @8fd0c6e1bd0f Azure_Results/ND_A100_v4_results.md (FA2 seqlen 8192) scaled by pytorch/benchmark commit ff65cb675209d2308f7d27c6920af8a32de9aa90 Triton FA2-style kernel H100 rows (seqlen %d vs 8192)" % S,
                                 "A100 FA2 0.575 at 8192 × H100 Triton-FA2 ratio %.4g/%.4g TFLOP/s = %.3f -> %.3f; shape of the curve borrowed from H100, level from A100" % (tri[S], tri[8192], ratios[S], v)))
    # B200: FA4 causal at 8192 + shape from H100 FA3 ratios
    fa4 = [r for r in KY["attention_prefill"] if r["what"] == "attention fwd, FA4 CuTe-DSL (SM100)"]
    fa4c = [r for r in fa4 if r["shape"].get("causal") is True][0]
    fa4n = [r for r in fa4 if r["shape"].get("causal") is False][0]
    b_eff = fa4c["value"] * 1e12 / b200["peak"]["bf16"]
    f3r, f3 = fa3_ratios()
    b200_pf = []
    for S in sorted(f3r):
        if S == 8192:
            b200_pf.append(point(8192, b_eff, "published",
                                 "Dao-AILab/flash-attention PR #2280 (https://github.com/Dao-AILab/flash-attention/pull/2280, 2026-02-27); row FA4 CuTe-DSL SM100 fwd batch 4, heads 16, seqlen 8192, head_dim 128, causal, %s TFLOP/s (%s)" % (fa4c["value"], fa4c.get("note", "")),
                                 "%.5g TFLOP/s (causal FLOPs halved by the source) / 2250 = %.3f; non-causal same shape %.5g -> %.3f; GPU B200/GB200 class (SKU not stated)" % (
                                     fa4c["value"], b_eff, fa4n["value"], fa4n["value"] * 1e12 / b200["peak"]["bf16"])))
        else:
            v = b_eff * f3r[S]
            b200_pf.append(point(S, v, "assumed",
                                 "estimate: FA4 causal seqlen-8192 point (Dao-AILab/flash-attention PR #2280) scaled by pytorch/benchmark commit ff65cb675209d2308f7d27c6920af8a32de9aa90 H100 flash_v3 rows (seqlen %d vs 8192)" % S,
                                 "B200 FA4 %.3f at 8192 × H100 FA3 ratio %.4g/%.4g = %.3f -> %.3f; curve shape borrowed from Hopper FA3 (non-causal)" % (b_eff, f3[S], f3[8192], f3r[S], v)))

    # --- decode attention
    h100_dec = mk(decode_h100(h100["hbm"]), "published")

    # --- allreduce
    ar_h100 = allreduce_azure("H100-SXM5 x8", h100["nvlink"], "published", "algo NVLS")
    ar_h200 = allreduce_azure("H200-SXM x8", h200["nvlink"], "published", "algo NVLS")
    ar_a100 = allreduce_azure("A100-SXM4-80GB x8", a100["nvlink"], "published", "algo labelled NVLS by source (A100: ring/tree)",
                              "A100 has no NVLS (source label copied from H100 page): ring/tree; ")
    ar_b200 = allreduce_azure("GB200 x4", b200["nvlink"], "published", "algo Ring",
                              "measured on 4 GB200 (one NVL host, Ring, NVLink 5 same 900 GB/s per direction as HGX B200; 8-GPU HGX with NVLS may differ); ")

    # --- floors, host overhead
    fl = {g: small_op_floor(g) for g in ("H100", "A100")}
    ho = host_overhead()
    ho_src = ("microsoft/vidur data/profiling/a100/cpu_overheads.csv @6d98aa8f71696520acc603d87439e77cc78160a7 (A100 host, vidur's sarathi/vLLM-derived engine, decode batches %d-%d); "
              "rows tensor_parallel_degree=1 (%s); columns schedule/prepare_inputs_e2e/sampler_e2e/process_model_outputs _median (ms)") % (
        ho["bmin"], ho["bmax"], ", ".join(m.split("/")[-1] for m in ho["models"]))
    ho_note_step = ("least-squares intercept of sum of 4 medians vs batch over %d rows = %.3f ms (rms rel. residual %.2f); without sampler %.3f ms; "
                    "engine of early 2024, CUDA-graph use not stated; newer engines overlap more") % (ho["n"], ho["step_ms"], ho["rms"], ho["step3_ms"])
    ho_note_seq = ("least-squares slope of sum of 4 medians vs batch size = %.1f us per sequence (without sampler %.1f us); "
                   "dominated by schedule and process_model_outputs, which grow linearly with running sequences") % (ho["seq_ms"] * 1e3, ho["seq3_ms"] * 1e3)

    def us(v_ms):
        u = v_ms * 1e3
        return "%dus" % round(u) if u >= 10 else "%.3gus" % u

    def fig(value, status, source, note):
        return {"value": value, "status": status, "source": clip(source, "source"), "note": clip(note, "note")}

    def extras(gpu_floor, status_floor, floor_prefix, status_host, host_prefix):
        med, src, note = fl[gpu_floor]
        return {
            "small_op_floor": fig(us(med / 1e3), status_floor, src, floor_prefix + note),
            "host_overhead": {
                "step": fig(us(ho["step_ms"]), status_host, ho_src, host_prefix + ho_note_step),
                "sequence": fig(us(ho["seq_ms"]), status_host, ho_src, host_prefix + ho_note_seq),
            },
        }

    cpu_carry = "carried from vidur's A100 host measurement: CPU cost depends on host CPU and engine, not on the GPU; "

    # A100
    frag["a100-sxm-80gb"] = {
        "figures_extra": extras("A100", "published", "", "published", ""),
        "curves": {
            "gemm": {"bf16": a100_bf16},
            "memory": a100_mem,
            "small_ops": a100_so,
            "attention_prefill": {"bf16": a100_pf},
            "attention_decode": carry(h100_dec, "carried from H100 (no A100 decode-attention data), same fraction of HBM peak; "),
            "allreduce": ar_a100,
        },
    }
    # H100
    frag["h100-sxm"] = {
        "figures_extra": extras("H100", "published", "", "assumed", cpu_carry),
        "curves": {
            "gemm": {"bf16": h100_bf16, "fp8": h100_fp8},
            "memory": h100_mem,
            "small_ops": h100_so,
            "attention_prefill": {"bf16": h100_pf, "fp8": h100_pf8},
            "attention_decode": h100_dec,
            "allreduce": ar_h100,
        },
    }
    # H200
    hop = "carried from H100 (same 132 SMs and clocks); "
    frag["h200-sxm"] = {
        "figures_extra": extras("H100", "assumed", hop, "assumed", cpu_carry),
        "curves": {
            "gemm": {"bf16": carry(h100_bf16, hop), "fp8": h200_fp8},
            "memory": h200_mem,
            "small_ops": h200_so,
            "attention_prefill": {"bf16": carry(h100_pf, hop + "Azure FA2 hd128 seqlen 8192 is 329.3 (H200) vs 327.9 (H100) TFLOP/s; "),
                                  "fp8": carry(h100_pf8, hop)},
            "attention_decode": carry(h100_dec, "carried from H100 as a fraction of HBM peak; small batches are latency-bound and likely lower on H200; "),
            "allreduce": ar_h200,
        },
    }
    # B200
    bw = "carried from H100 (no B200 data), as a fraction of peak; "
    frag["b200"] = {
        "figures_extra": extras("H100", "assumed", "carried from H100 (no B200 small-op data); ", "assumed", cpu_carry),
        "curves": {
            "gemm": {"bf16": carry(h100_bf16, bw), "fp8": b200_fp8, "fp4": b200_fp4},
            "memory": b200_mem,
            "small_ops": b200_so,
            "attention_prefill": {"bf16": b200_pf},
            "attention_decode": carry(h100_dec, bw),
            "allreduce": ar_b200,
        },
    }
    return frag


# ---------------------------------------------------------------- emit
def q(s):
    return json.dumps(s, ensure_ascii=False)


def emit_point(p, ind):
    return "%s- {x: %s, value: %s, status: %s, source: %s, note: %s}\n" % (
        ind, p["x"], repr(p["value"]), p["status"], q(p["source"]), q(p["note"]))


def emit_fig(name, f, ind):
    return "%s%s: {value: %s, status: %s, source: %s, note: %s}\n" % (
        ind, name, f["value"], f["status"], q(f["source"]), q(f["note"]))


def check_curve(name, pts):
    assert 1 <= len(pts) <= 24, (name, len(pts))
    xs = [bytes_of(p["x"]) for p in pts]
    assert all(a < b for a, b in zip(xs, xs[1:])), (name, xs)
    for p in pts:
        assert p["value"] > 0, (name, p)
        if name != "allreduce":
            assert p["value"] <= 1, (name, p)
        assert len(p["source"]) <= LIMIT and len(p["note"]) <= LIMIT


def emit(name, fr):
    out = "# kvtier curve fragment for %s, generated by fit_curves.py from validation/sources/kernels.yaml\n" % name
    out += "# plus kernels_additions.yaml (kernel/microbenchmark data only) and vidur's A100 cpu_overheads.csv.\n"
    out += "# Paste under the profile.\n"
    out += "figures_extra:\n"
    fe = fr["figures_extra"]
    out += emit_fig("small_op_floor", fe["small_op_floor"], "  ")
    out += "  host_overhead:\n"
    out += emit_fig("step", fe["host_overhead"]["step"], "    ")
    out += emit_fig("sequence", fe["host_overhead"]["sequence"], "    ")
    out += "curves:\n"
    for cname in ("gemm", "memory", "small_ops", "attention_prefill", "attention_decode", "allreduce"):
        c = fr["curves"][cname]
        out += "  %s:\n" % cname
        if isinstance(c, dict):
            for dt, pts in c.items():
                check_curve(cname, pts)
                out += "    %s:\n" % dt
                for p in pts:
                    out += emit_point(p, "      ")
        else:
            check_curve(cname, c)
            for p in c:
                out += emit_point(p, "    ")
    yaml.safe_load(out)  # must parse
    return out


def main():
    frag = build()
    for name in PROFILES:
        txt = emit(name, frag[name])
        with open(os.path.join(OUT, name + ".yaml"), "w") as f:
            f.write(txt)
        print(txt)


if __name__ == "__main__":
    main()
