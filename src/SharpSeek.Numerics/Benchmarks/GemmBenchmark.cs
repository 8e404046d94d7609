// `sharpseek bench gemm`: GFLOP/s of every Gemm kernel at M=N=K ∈ sizes and at the decode shape (M=1, N=K=8192),
// for one thread and all threads, next to the FMA peak measured in the same run. Each case is warmed up once,
// then repeated until it has run for the given seconds per case (default 0.3; at least MinRepeats and at most
// MaxRepeats times); best-of and median are kept.
// `--training` runs the shapes the training step issues instead (TrainingCases).
using System.Diagnostics;

namespace SharpSeek.Numerics.Benchmarks;

public sealed record GemmBenchResult(string Kernel, int M, int N, int K, int Threads, double Gflops,
    double MedianGflops, double RatioToPeak, double Gbps, int Groups = 0);

/// <summary>One benchmark case. For grouped_f32, M is the total token rows and RowOffsets (G+1 entries) splits
/// them into expert groups; null means <see cref="GemmBenchmark.GroupedExperts"/> uneven groups.</summary>
public sealed record GemmBenchCase(string Kernel, int M, int N, int K, int[]? RowOffsets = null)
{
    public int Groups => Kernel == "grouped_f32" ? (RowOffsets?.Length ?? GemmBenchmark.GroupedExperts + 1) - 1 : 0;
}

public static class GemmBenchmark
{
    public static readonly string[] Kernels = ["f32_nn", "f32_nt", "f32_tn", "bf16w", "fp8_block", "fp8w_decode", "grouped_f32"];
    public static readonly int[] DefaultSizes = [256, 512, 1024, 2048];
    public const int DecodeSize = 8192;
    public const int GroupedExperts = 8;
    public const double DefaultSeconds = 0.3;
    private const int MinRepeats = 3, MaxRepeats = 1000;

    /// <summary>Runs every (kernel, shape) case on <paramref name="pool"/>; <paramref name="peakGflops"/> is that
    /// pool's FMA peak (for ratio_to_peak).</summary>
    public static List<GemmBenchResult> Run(WorkerPool pool, double peakGflops, IReadOnlyList<string> kernels,
        IReadOnlyList<(int M, int N, int K)> shapes, double seconds = DefaultSeconds)
    {
        var cases = new List<GemmBenchCase>();
        foreach (var (m, n, k) in shapes)
            foreach (string kernel in kernels)
                if (kernel != "grouped_f32" || m > 1)   // one token routes to one expert: that is f32_nt
                    cases.Add(new GemmBenchCase(kernel, m, n, k));
        return Run(pool, peakGflops, cases, seconds);
    }

    /// <summary>Runs the given cases in order (operands are shared by consecutive cases of one shape).</summary>
    public static List<GemmBenchResult> Run(WorkerPool pool, double peakGflops, IReadOnlyList<GemmBenchCase> cases,
        double seconds = DefaultSeconds)
    {
        var results = new List<GemmBenchResult>();
        Operands? operands = null;
        foreach (GemmBenchCase c in cases)
        {
            int[] offsets = c.RowOffsets ?? UnevenGroups(c.M, GroupedExperts);
            if (operands == null || !operands.Fits(c.M, c.N, c.K, c.Kernel == "grouped_f32" ? offsets : null))
                operands = new Operands(c.M, c.N, c.K, c.Kernel == "grouped_f32" ? offsets : null);
            Action call = operands.Call(pool, c.Kernel);
            (double best, double median) = Time(call, seconds);
            double flops = 2.0 * c.M * c.N * c.K;
            results.Add(new GemmBenchResult(c.Kernel, c.M, c.N, c.K, pool.Threads, flops / best / 1e9, flops / median / 1e9,
                flops / best / 1e9 / peakGflops, operands.Bytes(c.Kernel) / best / 1e9, c.Groups));
        }
        return results;
    }

    /// <summary>Shapes the training step issues (M = 2048 tokens; tiny/small dimensions): dense layers in all
    /// three layouts, skinny K (64) and skinny N (64, kv_a-like), the LM head with its input and weight gradients
    /// (2048×8192×256 NT, 2048×256×8192 NN, 8192×256×2048 TN), a weight gradient contracting over
    /// the tokens, and the MoE experts as grouped GEMMs (16 even groups of 256 rows as tiny's top-2 of 16 gives,
    /// and 32 uneven groups of 100-500 rows).</summary>
    public static IReadOnlyList<GemmBenchCase> TrainingCases(IReadOnlyList<string> kernels)
    {
        var all = new List<GemmBenchCase>
        {
            new("f32_nn", 2048, 768, 256), new("f32_nt", 2048, 768, 256), new("f32_tn", 2048, 768, 256),
            new("f32_nt", 2048, 8192, 256), new("f32_nn", 2048, 256, 8192), new("f32_tn", 8192, 256, 2048),
            new("f32_nt", 2048, 256, 64), new("f32_nt", 2048, 64, 256),
            new("f32_nn", 2048, 64, 256), new("f32_tn", 768, 256, 2048),
            new("grouped_f32", 16 * 256, 256, 256, EvenGroups(16, 256)),
            new("grouped_f32", 0, 384, 512, SpreadGroups(32, 100, 500)),
        };
        return all.Select(c => c.M == 0 ? c with { M = c.RowOffsets![^1] } : c).Where(c => kernels.Contains(c.Kernel)).ToList();
    }

    /// <summary>Uneven expert loads (as a router gives), summing to M rows: group g gets ∝ g+1.</summary>
    public static int[] UnevenGroups(int m, int groups)
    {
        var offsets = new int[groups + 1];
        for (int g = 1; g <= groups; g++) offsets[g] = (int)((long)m * g * (g + 1) / (groups * (groups + 1)));
        return offsets;
    }

    private static int[] EvenGroups(int groups, int rows)
    {
        var offsets = new int[groups + 1];
        for (int g = 1; g <= groups; g++) offsets[g] = g * rows;
        return offsets;
    }

    /// <summary>Groups whose sizes step evenly from <paramref name="min"/> to <paramref name="max"/> rows, in a
    /// shuffled (fixed) order.</summary>
    private static int[] SpreadGroups(int groups, int min, int max)
    {
        var offsets = new int[groups + 1];
        for (int g = 0; g < groups; g++)
        {
            int step = g * 7 % groups;             // 7 is coprime with 32: a fixed permutation of 0..groups-1
            offsets[g + 1] = offsets[g] + min + (max - min) * step / (groups - 1);
        }
        return offsets;
    }

    private static (double Best, double Median) Time(Action call, double seconds)
    {
        call();
        var times = new List<double>();
        long start = Stopwatch.GetTimestamp();
        while (times.Count < MinRepeats || (Stopwatch.GetElapsedTime(start).TotalSeconds < seconds && times.Count < MaxRepeats))
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
        private readonly int[]? _groups;
        private readonly float[] _a, _b, _c, _aScales, _bScales, _groupedB;
        private readonly ushort[] _bf16;
        private readonly byte[] _a8, _b8;
        private readonly int[] _rowOffsets;

        public Operands(int m, int n, int k, int[]? rowOffsets)
        {
            (_m, _n, _k, _groups) = (m, n, k, rowOffsets);
            int experts = _experts = rowOffsets == null ? 0 : rowOffsets.Length - 1;
            var rng = new Random(1234);
            _a = Gaussian(rng, (long)m * k);
            _b = Gaussian(rng, (long)k * n);
            _c = new float[(long)m * n];
            _bf16 = Array.ConvertAll(_b, Bf16.FromFloat);
            // FP8 operands as a checkpoint and the training recipe make them: activations in 1x128 tiles, weights
            // (read as (N,K)) in 128x128 blocks, both with amax/448 scales — so the code distribution is realistic
            // (E4M3 subnormals are rare; uniformly random codes would make 1 in 16 subnormal).
            _a8 = new byte[(long)m * k];
            _b8 = new byte[(long)n * k];
            _aScales = new float[m * GemmArgs.Blocks(k)];
            _bScales = new float[GemmArgs.Blocks(n) * GemmArgs.Blocks(k)];
            BlockQuant.QuantizeRows1x128(m, k, _a, _a8, _aScales);
            BlockQuant.QuantizeBlocks128x128(n, k, _b, _b8, _bScales);
            _groupedB = experts > 0 ? Gaussian(rng, (long)experts * n * k) : [];
            _rowOffsets = rowOffsets ?? [0];
        }

        /// <summary>Whether these operands serve a case of this shape (and these groups, for grouped_f32).</summary>
        public bool Fits(int m, int n, int k, int[]? rowOffsets) =>
            (m, n, k) == (_m, _n, _k) && (rowOffsets == null || (_groups != null && rowOffsets.AsSpan().SequenceEqual(_groups)));

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

        private static float[] Gaussian(Random rng, long count)
        {
            var v = GC.AllocateUninitializedArray<float>(checked((int)count));
            for (int i = 0; i < v.Length; i++)
                v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            return v;
        }
    }
}
