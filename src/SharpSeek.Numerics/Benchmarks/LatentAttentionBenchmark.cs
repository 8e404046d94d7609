// `sharpseek bench attention --context L`: the decode attention over the latent cache (LatentAttention) of B rows ×
// H heads, each row over L positions of c_kv (Rkv) and k_pe (Dr), on a pool: GFLOP/s (scores and p · c_kv, 2 per
// multiply-add) and the cache's read rate. "hot" reuses one cache (in L2/L3 when it fits); "cold" cycles through
// copies totalling ≥ 64 MB, as decode finds the cache after a step has streamed the weights. Next to the naive
// reference timed on one row in the same run.
using System.Diagnostics;

namespace SharpSeek.Numerics.Benchmarks;

/// <summary>One case of <see cref="LatentAttentionBenchmark"/>: median wall seconds per call, GFLOP/s, the KV
/// cache's bytes per median second, and the reference's time over the kernel's (both per row and CPU-second).</summary>
public sealed record LatentAttentionBenchResult(string Cache, int Rows, int Context, int Threads, double MedianSeconds,
    double Gflops, double KvGbps, double SpeedupVsReference);

public static unsafe class LatentAttentionBenchmark
{
    private const double MinSeconds = 0.5, WarmUpSeconds = 0.5;
    private const long ColdBytes = 64L << 20;

    public static List<LatentAttentionBenchResult> Run(WorkerPool pool, int rows, int context, int heads, int rkv, int dr)
    {
        if (rows < 1 || context < 1 || heads < 1 || rkv < 1 || dr < 0)
            throw new ArgumentException($"latent attention bench needs rows, context, heads, Rkv ≥ 1 and Dr ≥ 0; got B={rows} L={context} H={heads} Rkv={rkv} Dr={dr}.");
        long kvBytes = (long)rows * context * (rkv + dr) * sizeof(float);
        int copies = (int)Math.Max(1, (ColdBytes + kvBytes - 1) / kvBytes);
        var buffers = new List<NativeBuffer<float>>();
        try
        {
            NativeBuffer<float> Rand(long n)
            {
                var b = new NativeBuffer<float>(Math.Max(n, 1));
                new Xoshiro256(11 + (ulong)buffers.Count).FillNormal(b.Span, 1.0);
                buffers.Add(b);
                return b;
            }
            var a = new LatentAttentionArgs
            {
                Heads = heads, Rkv = rkv, Dr = dr, Scale = 1f / MathF.Sqrt(rkv + dr),
                Qc = Rand((long)heads * rows * rkv).Pointer, QcHead = (long)rows * rkv, QcRow = rkv,
                Qpe = Rand((long)rows * heads * dr).Pointer, QpeHead = dr, QpeRow = (long)heads * dr,
                O = Rand((long)heads * rows * rkv).Pointer, OHead = (long)rows * rkv, ORow = rkv,
            };
            var sets = new LatentRow[copies][];
            for (int c = 0; c < copies; c++)
            {
                sets[c] = new LatentRow[rows];
                for (int r = 0; r < rows; r++)
                    sets[c][r] = new LatentRow { Ckv = Rand((long)context * rkv).Pointer, Kpe = Rand((long)context * dr).Pointer, Length = context, Row = r };
            }
            double flops = 2.0 * rows * heads * context * (rkv + dr + rkv);
            long warm = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(warm).TotalSeconds < WarmUpSeconds) LatentAttention.Forward(pool, a, sets[0]);
            LatentAttentionRowReference(a, sets[0][0]);   // warm-up
            double reference = Median(() => LatentAttentionRowReference(a, sets[0][0])) * rows;   // one thread, all rows
            var results = new List<LatentAttentionBenchResult>();
            foreach (bool cold in copies > 1 ? new[] { false, true } : new[] { false })
            {
                int next = 0;
                double median = Median(() => LatentAttention.Forward(pool, a, sets[cold ? next++ % copies : 0]));
                results.Add(new(cold ? "cold" : "hot", rows, context, pool.Threads, median, flops / median / 1e9, kvBytes / median / 1e9,
                    reference / (median * pool.Threads)));
            }
            return results;
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    private static void LatentAttentionRowReference(in LatentAttentionArgs a, LatentRow row) =>
        LatentAttentionReference.Forward(a, new ReadOnlySpan<LatentRow>(in row));

    /// <summary>Median wall seconds of back-to-back calls. Not AttentionBenchmark.Time: its per-call reads of the
    /// process CPU time (/proc, tens of µs) leave gaps in which the pool's worker goes to sleep, and a decode-sized
    /// call (≈70 µs at L = 64) would then time the worker's wake-up too.</summary>
    private static double Median(Action call)
    {
        var times = new List<double>();
        long start = Stopwatch.GetTimestamp();
        while (times.Count < 5 || Stopwatch.GetElapsedTime(start).TotalSeconds < MinSeconds && times.Count < 2000)
        {
            long t0 = Stopwatch.GetTimestamp();
            call();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
