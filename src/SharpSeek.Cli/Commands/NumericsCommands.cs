using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using SharpSeek.Numerics;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek bench kernels</c>: conversions, quantization and row kernels at every SIMD level this CPU
/// runs, side by side in one process, so the speed-up of each variant over Scalar is a ratio measured here.</summary>
public static class NumericsCommands
{
    public static Command Create()
    {
        var command = new Command("kernels", "Benchmark FP8/BF16 conversions, block quantization and row kernels at every SIMD level.");
        var elements = new Option<int>("--elements")
        {
            Description = "Elements per kernel call (default 2^20: 4 MiB of FP32, larger than L2).",
            DefaultValueFactory = _ => 1 << 20,
        };
        var trials = new Option<int>("--trials") { Description = "Timed trials per kernel; the fastest is reported.", DefaultValueFactory = _ => 7 };
        var filter = new Option<string?>("--kernel") { Description = "Only kernels whose name contains this text." };
        var threads = new Option<int>("--threads")
        {
            Description = "Worker threads for the extra pooled run of each kernel at the active level (default: all processors; 1 skips it).",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON." };
        command.Options.Add(elements);
        command.Options.Add(threads);
        command.Options.Add(trials);
        command.Options.Add(filter);
        command.Options.Add(json);
        command.SetAction(parse =>
        {
            _ = Simd.Active;   // an invalid SHARPSEEK_SIMD fails here, before any work
            int n = parse.GetValue(elements);
            int t = parse.GetValue(trials);
            if (n < 1 << 14 || n % (1 << 14) != 0)
                throw new ArgumentException($"--elements must be a positive multiple of 16384 (the kernels' row sizes divide it); got {n}.");
            if (t < 1) throw new ArgumentException($"--trials must be at least 1; got {t}.");
            int threadCount = parse.GetValue(threads);
            if (threadCount < 1) throw new ArgumentException($"--threads must be at least 1; got {threadCount}.");
            using var pool = threadCount > 1 ? new WorkerPool(threadCount) : null;
            var results = Run(n, t, parse.GetValue(filter), pool);
            if (parse.GetValue(json))
                CliRunner.WriteJson(new { simd_active = Simd.Name(Simd.Active), supported = Simd.Supported.Select(Simd.Name), elements = n, threads = threadCount, results });
            else
                Print(results);
            return 0;
        });
        return command;
    }

    public sealed record KernelResult(string Kernel, string Level, int Threads, long Elements, double NsPerElement, double Gbps, double SpeedupVsScalar);

    private sealed class Case(string name, long bytesPerCall, Action<SimdLevel, WorkerPool?> run)
    {
        public string Name { get; } = name;
        public long BytesPerCall { get; } = bytesPerCall;
        public Action<SimdLevel, WorkerPool?> Run { get; } = run;
    }

    private static List<KernelResult> Run(int n, int trials, string? filter, WorkerPool? pool)
    {
        var rng = new Random(1);
        float[] x = new float[n], y = new float[n], z = new float[n], w = new float[n];
        for (int i = 0; i < n; i++) { x[i] = (float)(rng.NextDouble() * 8 - 4); z[i] = (float)(rng.NextDouble() - 0.5); }
        ushort[] h = new ushort[n];
        byte[] q = new byte[n];
        const int hidden = 7168, vocab = 16384, ropeDim = 64, experts = 256;
        float[] scales = new float[n / 128 + 128], weight = new float[hidden], dweight = new float[hidden], rstd = new float[n / hidden + 1];
        int rowsHidden = n / hidden, rowsVocab = n / vocab, ropeRows = n / ropeDim, routerRows = n / experts;
        int[] targets = Enumerable.Range(0, rowsVocab).Select(i => i * 7 % vocab).ToArray();
        int[] positions = Enumerable.Range(0, ropeRows).Select(i => i % 4096).ToArray();
        var rope = new RopeTable(RopeTable.InverseFrequencies(ropeDim, 10000), 4096);
        float[] topV = new float[routerRows * 8], losses = new float[rowsVocab];
        int[] topI = new int[routerRows * 8];
        Array.Fill(weight, 1f);
        int m128 = n / 1024;   // (m128, 1024) matrix for the 2-D quantizers
        var cases = new List<Case>
        {
            new("bf16_encode", 6L * n, (l, p) => Bf16.FromFloat(x, h, l, p)),
            new("bf16_decode", 6L * n, (l, p) => Bf16.ToFloat(h, y, l, p)),
            new("e4m3_encode", 5L * n, (l, p) => Fp8E4M3.FromFloat(x, q, l, p)),
            new("e4m3_decode", 5L * n, (l, p) => Fp8E4M3.ToFloat(q, y, l, p)),
            new("e5m2_encode", 5L * n, (l, p) => Fp8E5M2.FromFloat(x, q, l, p)),
            new("e5m2_decode", 5L * n, (l, p) => Fp8E5M2.ToFloat(q, y, l, p)),
            new("quant_1x128", 5L * n, (l, p) => BlockQuant.QuantizeRows1x128(m128, 1024, x, q, scales, l, p)),
            new("quant_128x128", 5L * n, (l, p) => BlockQuant.QuantizeBlocks128x128(m128, 1024, x, q, scales, l, p)),
            new("quant_128x1_transposed", 5L * n, (l, p) => BlockQuant.QuantizeTransposed128x1(m128, 1024, x, q, scales, l, p)),
            new("dequant_128x128", 5L * n, (l, p) => BlockQuant.DequantizeBlocks128x128(m128, 1024, q, scales, y, l, p)),
            new("rmsnorm_fwd", 8L * n, (l, p) => RmsNorm.Forward(rowsHidden, hidden, x, weight, 1e-6f, y, rstd, l, p)),
            new("rmsnorm_bwd", 12L * n, (l, p) => RmsNorm.Backward(rowsHidden, hidden, z, x, weight, rstd, y, dweight, l, p)),
            new("silu_fwd", 8L * n, (l, p) => Activations.SiluForward(x, y, l, p)),
            new("swiglu_fwd", 12L * n, (l, p) => Activations.SwiGluForward(x, z, y, l, p)),
            new("swiglu_bwd", 20L * n, (l, p) => Activations.SwiGluBackward(z, x, z, y, w, l, p)),
            new("softmax_fwd", 8L * n, (l, p) => Softmax.Forward(n / 4096, 4096, x, y, l, p)),
            new("softmax_bwd", 12L * n, (l, p) => Softmax.Backward(n / 4096, 4096, y, z, w, l, p)),
            new("rope_fwd", 8L * n, (l, p) => Rope.Forward(ropeRows, 1, ropeDim, positions, rope, y, l, p)),
            new("cross_entropy_fwd", 4L * n, (l, p) => CrossEntropy.Forward(rowsVocab, vocab, x, targets, losses, l, p)),
            new("cross_entropy_bwd", 8L * n, (l, p) => CrossEntropy.Backward(rowsVocab, vocab, x, targets, 1f, y, l, p)),
            new("topk_8_of_256", 4L * n, (l, p) => TopK.Rows(routerRows, experts, 8, x, topV, topI, l, p)),
        };
        var selected = cases.Where(c => filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToList();
        // Warm-up: every kernel at every level, twice with a pause, so the library methods they call (vector exp,
        // narrowing) have left tier 0 before anything is timed; otherwise the first kernel pays for the tiering.
        for (int round = 0; round < 2; round++)
        {
            foreach (Case c in selected)
                foreach (SimdLevel level in Simd.Supported) c.Run(level, null);
            Thread.Sleep(250);
        }
        var results = new List<KernelResult>();
        foreach (Case c in selected)
        {
            double scalarNs = 0;
            foreach (SimdLevel level in Simd.Supported)
            {
                double seconds = Time(c, level, null, trials);
                double ns = seconds * 1e9 / n;
                if (level == SimdLevel.Scalar) scalarNs = ns;
                results.Add(new KernelResult(c.Name, Simd.Name(level), 1, n, ns, c.BytesPerCall / seconds / 1e9, scalarNs / ns));
            }
            if (pool is not null)
            {
                double seconds = Time(c, Simd.Active, pool, trials);
                double ns = seconds * 1e9 / n;
                results.Add(new KernelResult(c.Name, Simd.Name(Simd.Active), pool.Threads, n, ns, c.BytesPerCall / seconds / 1e9, scalarNs / ns));
            }
        }
        return results;
    }

    /// <summary>Fastest of `trials` timed calls after warm-up calls (JIT tiers, page faults). Single-thread time is
    /// this thread's CPU time where the OS gives it (Linux), so other processes on a shared machine do not count;
    /// pooled runs are wall-clock (the other workers' time is what they save).</summary>
    private static double Time(Case c, SimdLevel level, WorkerPool? pool, int trials)
    {
        for (int i = 0; i < 3; i++) c.Run(level, pool);
        double best = double.MaxValue;
        for (int t = 0; t < trials; t++)
        {
            double start = pool is null ? ThreadSeconds() : WallSeconds();
            c.Run(level, pool);
            best = Math.Min(best, (pool is null ? ThreadSeconds() : WallSeconds()) - start);
        }
        return best;
    }

    private static double WallSeconds() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    private static double ThreadSeconds()
    {
        if (OperatingSystem.IsLinux() && clock_gettime(ClockThreadCpuTime, out Timespec ts) == 0) return ts.Seconds + ts.Nanoseconds * 1e-9;
        return WallSeconds();
    }

    private const int ClockThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int clock_gettime(int clock, out Timespec time);

    private static void Print(List<KernelResult> results)
    {
        Console.WriteLine("Times are the benchmark thread's CPU time (best of the trials); ratios are side by side in this run.");
        Console.WriteLine($"SIMD active: {Simd.Name(Simd.Active)}; supported: {string.Join(", ", Simd.Supported.Select(Simd.Name))}");
        Console.WriteLine($"{"kernel",-24} {"level",-7} {"threads",7} {"ns/elem",9} {"GB/s",8} {"x scalar",9}");
        foreach (KernelResult r in results)
            Console.WriteLine($"{r.Kernel,-24} {r.Level,-7} {r.Threads,7} {r.NsPerElement,9:F3} {r.Gbps,8:F2} {r.SpeedupVsScalar,9:F2}");
    }
}
