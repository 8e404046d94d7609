// `sharpseek bench gemm`: GFLOP/s of every Gemm kernel at M=N=K ∈ sizes and at the decode shape (M=1, N=K=8192),
// for one thread and all threads, next to the FMA peak measured in the same run. Each case is warmed up once,
// then repeated until it has run for MinSeconds (at least MinRepeats times); best-of and median are kept.
using System.Diagnostics;

namespace SharpSeek.Numerics.Benchmarks;

public sealed record GemmBenchResult(string Kernel, int M, int N, int K, int Threads, double Gflops,
    double MedianGflops, double RatioToPeak, double Gbps);

public static class GemmBenchmark
{
    public static readonly string[] Kernels = ["f32_nn", "f32_nt", "f32_tn", "bf16w", "fp8_block", "fp8w_decode", "grouped_f32"];
    public static readonly int[] DefaultSizes = [256, 512, 1024, 2048];
    public const int DecodeSize = 8192;
    public const int GroupedExperts = 8;
    private const double MinSeconds = 0.3;
    private const int MinRepeats = 3, MaxRepeats = 50;

    /// <summary>Runs every (kernel, shape) case on <paramref name="pool"/>; <paramref name="peakGflops"/> is that
    /// pool's FMA peak (for ratio_to_peak).</summary>
    public static List<GemmBenchResult> Run(WorkerPool pool, double peakGflops, IReadOnlyList<string> kernels,
        IReadOnlyList<(int M, int N, int K)> shapes)
    {
        var results = new List<GemmBenchResult>();
        foreach (var (m, n, k) in shapes)
        {
            var operands = new Operands(m, n, k, kernels.Contains("grouped_f32") && m > 1 ? GroupedExperts : 0);
            foreach (string kernel in kernels)
            {
                if (kernel == "grouped_f32" && m == 1) continue;   // one token routes to one expert: that is f32_nt
                Action call = operands.Call(pool, kernel);
                (double best, double median) = Time(call);
                double flops = 2.0 * m * n * k;
                results.Add(new GemmBenchResult(kernel, m, n, k, pool.Threads, flops / best / 1e9, flops / median / 1e9,
                    flops / best / 1e9 / peakGflops, operands.Bytes(kernel) / best / 1e9));
            }
        }
        return results;
    }

    private static (double Best, double Median) Time(Action call)
    {
        call();
        var times = new List<double>();
        long start = Stopwatch.GetTimestamp();
        while (times.Count < MinRepeats || (Stopwatch.GetElapsedTime(start).TotalSeconds < MinSeconds && times.Count < MaxRepeats))
        {
            long t0 = Stopwatch.GetTimestamp();
            call();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return (times[0], times[times.Count / 2]);
    }

    /// <summary>Random operands of one shape, shared by every kernel (each reads them in its own format).</summary>
    private sealed class Operands
    {
        private readonly int _m, _n, _k, _experts;
        private readonly float[] _a, _b, _c, _aScales, _bScales, _groupedB;
        private readonly ushort[] _bf16;
        private readonly byte[] _a8, _b8;
        private readonly int[] _rowOffsets;

        public Operands(int m, int n, int k, int experts)
        {
            (_m, _n, _k, _experts) = (m, n, k, experts);
            var rng = new Random(1234);
            _a = Random(rng, (long)m * k);
            _b = Random(rng, (long)k * n);
            _c = new float[(long)m * n];
            _bf16 = Array.ConvertAll(_b, v => (ushort)(BitConverter.SingleToInt32Bits(v) >>> 16));
            _a8 = RandomFp8(rng, (long)m * k);
            _b8 = RandomFp8(rng, (long)n * k);
            _aScales = Scales(m * GemmArgs.Blocks(k));
            _bScales = Scales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k));
            _groupedB = experts > 0 ? Random(rng, (long)experts * n * k) : [];
            // Uneven expert loads (as a router gives), summing to M rows.
            _rowOffsets = new int[experts + 1];
            for (int g = 1; g <= experts; g++) _rowOffsets[g] = (int)((long)m * g * (g + 1) / (experts * (experts + 1)));
        }

        public Action Call(WorkerPool pool, string kernel) => kernel switch
        {
            "f32_nn" => () => Gemm.F32(pool, GemmLayout.NN, _m, _n, _k, _a, _b, _c),
            "f32_nt" => () => Gemm.F32(pool, GemmLayout.NT, _m, _n, _k, _a, _b, _c),
            "f32_tn" => () => Gemm.F32(pool, GemmLayout.TN, _m, _n, _k, _a, _b, _c),
            "bf16w" => () => Gemm.Bf16Weights(pool, _m, _n, _k, _a, _bf16, _c),
            "fp8_block" => () => Gemm.Fp8Block(pool, _m, _n, _k, _a8, _aScales, _b8, _bScales, _c),
            "fp8w_decode" => () => Gemm.Fp8Weights(pool, _m, _n, _k, _a, _b8, _bScales, _c),
            "grouped_f32" => () => Gemm.GroupedF32(pool, GemmLayout.NT, _n, _k, _rowOffsets, _a, _groupedB, _c),
            _ => throw new ArgumentException($"Unknown GEMM kernel '{kernel}'; use one of {string.Join(", ", Kernels)}."),
        };

        /// <summary>Bytes of operands one call streams: A, B (in its storage format), C written, scales.</summary>
        public double Bytes(string kernel)
        {
            double mk = (double)_m * _k, nk = (double)_n * _k, mn = (double)_m * _n;
            return kernel switch
            {
                "bf16w" => mk * 4 + nk * 2 + mn * 4,
                "fp8_block" => mk + nk + mn * 4 + (_aScales.Length + _bScales.Length) * 4.0,
                "fp8w_decode" => mk * 4 + nk + mn * 4 + _bScales.Length * 4.0,
                "grouped_f32" => mk * 4 + nk * 4 * _experts + mn * 4,
                _ => mk * 4 + nk * 4 + mn * 4,
            };
        }

        private static float[] Random(Random rng, long count)
        {
            var v = GC.AllocateUninitializedArray<float>(checked((int)count));
            for (int i = 0; i < v.Length; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
            return v;
        }

        private static byte[] RandomFp8(Random rng, long count)
        {
            var v = new byte[checked((int)count)];
            rng.NextBytes(v);
            for (int i = 0; i < v.Length; i++) if ((v[i] & 0x7F) == 0x7F) v[i] ^= 1;   // no NaN codes
            return v;
        }

        private static float[] Scales(int count)
        {
            var v = new float[count];
            Array.Fill(v, 1f / 448);
            return v;
        }
    }
}
