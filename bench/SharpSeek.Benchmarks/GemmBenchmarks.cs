using BenchmarkDotNet.Attributes;
using SharpSeek.Numerics;

namespace SharpSeek.Benchmarks;

/// <summary>Every Gemm kernel at M=N=K=Size on a pool of Threads, for each micro-kernel SIMD level.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private WorkerPool _pool = null!;
    private float[] _a = [], _b = [], _c = [], _aScales = [], _bScales = [];
    private ushort[] _bf16 = [];
    private byte[] _a8 = [], _b8 = [];

    [Params(256, 1024)] public int Size { get; set; }
    [Params(1, 2)] public int Threads { get; set; }
    [ParamsSource(nameof(Levels))] public SimdLevel Level { get; set; }

    public static IEnumerable<SimdLevel> Levels() => Simd.Supported.Where(l => l != SimdLevel.Scalar);

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(Threads);
        var rng = new Random(42);
        int n = Size, blocks = (n + 127) / 128;
        _a = Floats(rng, n * n);
        _b = Floats(rng, n * n);
        _c = new float[n * n];
        _bf16 = Array.ConvertAll(_b, v => Bf16.FromFloat(v));
        _a8 = new byte[n * n];
        _b8 = new byte[n * n];
        Fp8E4M3.FromFloat(_a, _a8);
        Fp8E4M3.FromFloat(_b, _b8);
        _aScales = Enumerable.Repeat(1f, n * blocks).ToArray();
        _bScales = Enumerable.Repeat(1f, blocks * blocks).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark(Baseline = true)]
    public void F32NN() => Gemm.F32(_pool, GemmLayout.NN, Size, Size, Size, _a, _b, _c, GemmOutput.Overwrite, Level);

    [Benchmark]
    public void F32NT() => Gemm.F32(_pool, GemmLayout.NT, Size, Size, Size, _a, _b, _c, GemmOutput.Overwrite, Level);

    [Benchmark]
    public void F32TN() => Gemm.F32(_pool, GemmLayout.TN, Size, Size, Size, _a, _b, _c, GemmOutput.Overwrite, Level);

    [Benchmark]
    public void Bf16Weights() => Gemm.Bf16Weights(_pool, Size, Size, Size, _a, _bf16, _c, GemmOutput.Overwrite, Level);

    [Benchmark]
    public void Fp8Block() => Gemm.Fp8Block(_pool, Size, Size, Size, _a8, _aScales, _b8, _bScales, _c, Level);

    [Benchmark]
    public void Fp8WeightsDecode() => Gemm.Fp8Weights(_pool, 1, Size, Size, _a, _b8, _bScales, _c, GemmOutput.Overwrite, Level);

    private static float[] Floats(Random rng, int count)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }
}
