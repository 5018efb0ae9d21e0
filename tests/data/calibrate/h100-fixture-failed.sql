-- h100-fixture-failed.sql — applied after h100-fixture.sql: run 1 as a run in which benchmarks failed.
--
-- NOT measured: it edits the synthetic fixture so that
--   * gemm failed: its samples were rolled back (none are left) and the failure
--     is recorded in calib_failures, as kvtier-calibrate does;
--   * launch measured one sequence length only, so no line t(n) = latency +
--     n x per_kernel can be fitted to launch/eager (or graph).
-- Known answers (tests/test_calibrate.c, tests/test_calibrate_cli.c): the
-- derivation still succeeds; hbm_bandwidth, pcie_bandwidth, the prefill,
-- decode and memory curves are measured as from the full fixture, except that
-- the memory curve now rests on the 13 HBM reads alone; gemm.bf16 and
-- gemm.fp8 keep the base profile's curves; launch_overhead keeps the base's
-- figure and is named among the failed fits.

DELETE FROM calib_samples WHERE run_id = 1 AND bench = 'gemm';
DELETE FROM calib_samples WHERE run_id = 1 AND bench = 'launch' AND x > 1;
INSERT INTO calib_failures (run_id, bench, message)
VALUES (1, 'gemm', 'cublasLtMatmul: CUBLAS_STATUS_EXECUTION_FAILED (synthetic)');
