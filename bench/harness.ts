// Shared pieces of the benchmarks, one module a concern under bench/harness/: the closed-loop load
// generator and percentiles (load), the raw grpc-js unary and streaming references (echo,
// raw-stream), a throw-away store per run (store), options and tables (output), the run frame
// with machine state and the server start (run), raw ObserveSession clients (observe) and the
// driver-level statement meter (sql-meter, installed by the server start, not on import).

export * from './harness/echo.js';
export * from './harness/load.js';
export * from './harness/observe.js';
export * from './harness/output.js';
export * from './harness/raw-stream.js';
export * from './harness/run.js';
export * from './harness/sql-meter.js';
export * from './harness/store.js';
