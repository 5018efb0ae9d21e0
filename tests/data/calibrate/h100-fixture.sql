-- h100-fixture.sql — synthetic calibration samples with known answers, for tests/test_calibrate.c.
--
-- NOT measured on a GPU: every sample below is computed from the formula
-- written next to it, times a deterministic noise factor
--     noise(i, r) = 1 + 0.01 * (((r + i) % 5) - 2)        -- -2% .. +2%
-- where i is the sweep point's index and r the repetition (0..6, 7 samples
-- per point as the benchmarks take at least). The medians of the 7 samples
-- then carry -1%, 0 or +1% of noise, so fits recover the parameters to
-- about 1%. Load into an empty sample database (schema of calibrate/calib_db.c);
-- the run gets id 1.
--
-- Known answers (the test checks them):
--   hbm/read        t = 3 us + bytes / 3.0 TB/s            -> hbm_bandwidth 3.0 TB/s
--   host/h2d/pinned t = 8 us + bytes / 50 GB/s             -> pcie_bandwidth 50 GB/s (slower direction)
--   host/d2h/pinned t = 9 us + bytes / 52 GB/s
--   host/bidir/pinned t = 12 us + 2 * bytes / 75 GB/s      -> pcie_duplex_bandwidth 75 GB/s (both at once)
--   launch/graph    t = 10 us + nodes * 1.0 us             -> launch_overhead 1000 ns (the default, graph)
--   launch/eager    t = 6 us + kernels * 2.5 us            -> launch.eager 2500 ns (information only)
--   launch/gap      t = 4 us + kernels * 0.8 us            -> launch.gap 800 ns (information only)
--   launch/busy/eager/d=2us   t = 5 us + kernels * 4.0 us  (no noise: host-bound, kernels of 2 us)
--   launch/busy/queued/d=2us  t = 3 us + kernels * 2.6 us  (no noise)
--                                                          -> launch.exposed/d=2us 4000 - 2600 = 1400 ns
--   launch/busy/eager/d=32us  t = 5 us + kernels * 32.7 us (no noise)
--   launch/busy/queued/d=32us t = 3 us + kernels * 32.7 us (no noise)
--                                                          -> launch.exposed/d=32us 0 ns
--   calib_clocks    gemm's end reading has sw power cap (0x4) -> gemm flagged throttled;
--                   hbm's readings have only gpu idle (0x1) and sync boost (0x10) -> not throttled
--   gemm/bf16/...   t = 2MNK / (989.4 TFLOP/s * E * M / (M + 512)), E per shape 0.70 0.74 0.78 0.80
--                                                          -> efficiency.gemm at M = 8192: 0.76 * 8192 / 8704
--   prefill/bf16    t = 2 * 32 * 128 * n * (n + 1) / (989.4 TFLOP/s * 0.45)
--                                                          -> efficiency.attention 0.45
--   decode/fp16/.../shuffled  t = 5 us + bytes / (E * 3.0 TB/s), E = 0.80 (page 16), 0.84 (page 64),
--                   bytes = 8 sequences * context * 8 KV heads * 2 (K, V) * 128 * 2 B
--                                                          -> efficiency.memory: median of the two
--                                                             at context 32768 over hbm_bandwidth
--   (decode identity and fp8 curves, gemm fp8 and hbm copy/triad are there to be
--    stored and tabled but must not change those figures)

INSERT INTO calib_runs (started_utc, tool_version, host, options, gpu_name, pci_bus_id, gpu_count,
    cc_major, cc_minor, driver_version, runtime_version, sm_count, l2_bytes, smem_per_sm_bytes,
    hbm_bytes, sm_clock_mhz, mem_clock_mhz, sm_clock_max_mhz, mem_clock_max_mhz, power_limit_w)
VALUES ('2025-01-15T00:00:00Z', 'fixture', 'fixture-host', 'tests/data/calibrate/h100-fixture.sql',
    'NVIDIA H100 80GB HBM3 (synthetic fixture)', '00000000:00:00.0', 1, 9, 0, 13000, 13000, 132,
    52428800, 233472, 85520809984, 1980, 2619, 1980, 2619, 700);

-- HBM streams: 1 MiB .. 4 GiB per array, 13 sizes.
WITH RECURSIVE
  sizes(i, x) AS (SELECT 0, 1048576 UNION ALL SELECT i + 1, x * 2 FROM sizes WHERE x < 4294967296),
  reps(r) AS (SELECT 0 UNION ALL SELECT r + 1 FROM reps WHERE r < 6)
INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns)
SELECT 1, 'hbm', 'read', x, x, r, (3000.0 + x / 3.0e12 * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM sizes, reps
UNION ALL
SELECT 1, 'hbm', 'copy', x, 2.0 * x, r, (3500.0 + 2.0 * x / 2.8e12 * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM sizes, reps
UNION ALL
SELECT 1, 'hbm', 'triad', x, 3.0 * x, r, (3500.0 + 3.0 * x / 2.85e12 * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM sizes, reps;

-- Host <-> device copies: 4 KiB .. 1 GiB, 19 sizes.
WITH RECURSIVE
  sizes(i, x) AS (SELECT 0, 4096 UNION ALL SELECT i + 1, x * 2 FROM sizes WHERE x < 1073741824),
  reps(r) AS (SELECT 0 UNION ALL SELECT r + 1 FROM reps WHERE r < 6)
INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns)
SELECT 1, 'host', 'h2d/pinned', x, x, r, (8000.0 + x / 50e9 * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM sizes, reps
UNION ALL
SELECT 1, 'host', 'd2h/pinned', x, x, r, (9000.0 + x / 52e9 * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM sizes, reps
UNION ALL
SELECT 1, 'host', 'bidir/pinned', x, 2.0 * x, r, (12000.0 + 2.0 * x / 75e9 * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM sizes, reps;

-- Kernel launches: 1 .. 1024 back-to-back kernels, 11 lengths.
WITH RECURSIVE
  lens(i, x) AS (SELECT 0, 1 UNION ALL SELECT i + 1, x * 2 FROM lens WHERE x < 1024),
  reps(r) AS (SELECT 0 UNION ALL SELECT r + 1 FROM reps WHERE r < 6)
INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns)
SELECT 1, 'launch', 'eager', x, x, r, (6000.0 + 2500.0 * x) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM lens, reps
UNION ALL
SELECT 1, 'launch', 'graph', x, x, r, (10000.0 + 1000.0 * x) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM lens, reps
UNION ALL
SELECT 1, 'launch', 'gap', x, x, r, (4000.0 + 800.0 * x) * (1 + 0.01 * (((r + i) % 5) - 2)) FROM lens, reps
UNION ALL
SELECT 1, 'launch', 'busy/eager/d=2us', x, x, r, 5000.0 + 4000.0 * x FROM lens, reps
UNION ALL
SELECT 1, 'launch', 'busy/queued/d=2us', x, x, r, 3000.0 + 2600.0 * x FROM lens, reps
UNION ALL
SELECT 1, 'launch', 'busy/eager/d=32us', x, x, r, 5000.0 + 32700.0 * x FROM lens, reps
UNION ALL
SELECT 1, 'launch', 'busy/queued/d=32us', x, x, r, 3000.0 + 32700.0 * x FROM lens, reps;

-- Clock readings at the start and end of two benchmarks (MHz, reason bits, C, W).
INSERT INTO calib_clocks (run_id, bench, phase, sm_mhz, mem_mhz, sm_max_mhz, mem_max_mhz, reasons, temp_c, power_w)
VALUES (1, 'hbm', 'start', 1980, 2619, 1980, 2619, 1, 40, 120),
       (1, 'hbm', 'end', 1980, 2619, 1980, 2619, 16, 55, 450),
       (1, 'gemm', 'start', 1980, 2619, 1980, 2619, 0, 50, 300),
       (1, 'gemm', 'end', 1755, 2619, 1980, 2619, 4, 70, 700);

-- GEMMs: M = 1 .. 16384 tokens, 15 values; Llama-3.1-8B's four shapes in BF16, one in FP8.
WITH RECURSIVE
  ms(i, m) AS (SELECT 0, 1 UNION ALL SELECT i + 1, m * 2 FROM ms WHERE m < 16384),
  reps(r) AS (SELECT 0 UNION ALL SELECT r + 1 FROM reps WHERE r < 6),
  shapes(name, n, k, e, peak) AS (VALUES
    ('bf16/n=6144/k=4096', 6144, 4096, 0.70, 989.4e12),
    ('bf16/n=4096/k=4096', 4096, 4096, 0.74, 989.4e12),
    ('bf16/n=28672/k=4096', 28672, 4096, 0.78, 989.4e12),
    ('bf16/n=4096/k=14336', 4096, 14336, 0.80, 989.4e12),
    ('fp8/n=6144/k=4096', 6144, 4096, 0.60, 1978.9e12))
INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns)
SELECT 1, 'gemm', name, m, 2.0 * m * n * k, r,
       2.0 * m * n * k / (peak * e * m / (m + 512.0)) * 1e9 * (1 + 0.01 * (((r + i) % 5) - 2))
FROM ms, reps, shapes;

-- Prefill attention: sequences of 512 .. 32768 tokens, 7 values, 32 heads of dim 128.
WITH RECURSIVE
  seqs(i, n) AS (SELECT 0, 512 UNION ALL SELECT i + 1, n * 2 FROM seqs WHERE n < 32768),
  reps(r) AS (SELECT 0 UNION ALL SELECT r + 1 FROM reps WHERE r < 6)
INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns)
SELECT 1, 'prefill', 'bf16/h=32/d=128/b=1', n, 2.0 * 32 * 128 * n * (n + 1), r,
       2.0 * 32 * 128 * n * (n + 1) / (989.4e12 * 0.45) * 1e9 * (1 + 0.01 * (((r + i) % 5) - 2))
FROM seqs, reps;

-- Paged decode attention: contexts of 512 .. 131072 tokens, 9 values, batch 8.
WITH RECURSIVE
  ctxs(i, c) AS (SELECT 0, 512 UNION ALL SELECT i + 1, c * 2 FROM ctxs WHERE c < 131072),
  reps(r) AS (SELECT 0 UNION ALL SELECT r + 1 FROM reps WHERE r < 6),
  cases(name, e, bpe) AS (VALUES
    ('fp16/page=16/g=4/d=128/b=8/shuffled', 0.80, 2),
    ('fp16/page=64/g=4/d=128/b=8/shuffled', 0.84, 2),
    ('fp16/page=16/g=4/d=128/b=8/identity', 0.90, 2),
    ('fp8/page=16/g=4/d=128/b=8/shuffled', 0.60, 1))
INSERT INTO calib_samples (run_id, bench, case_name, x, work, rep, ns)
SELECT 1, 'decode', name, c, 8.0 * c * 8 * 2 * 128 * bpe, r,
       (5000.0 + 8.0 * c * 8 * 2 * 128 * bpe / (e * 3.0e12) * 1e9) * (1 + 0.01 * (((r + i) % 5) - 2))
FROM ctxs, reps, cases;
