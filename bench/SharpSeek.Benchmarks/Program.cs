// BenchmarkDotNet suite for the numerics kernels: `dotnet run -c Release --project bench/SharpSeek.Benchmarks -- --filter '*Gemm*'`
// (add `--inProcess` on a busy machine, where building the out-of-process boilerplate can time out).
// `sharpseek bench gemm` is the quick, self-calibrating view (ratios to this machine's FMA peak); this suite gives
// BenchmarkDotNet's statistics (error, allocation) for the same kernels, one SIMD level per job parameter.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
