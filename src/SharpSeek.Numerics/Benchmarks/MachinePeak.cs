// Machine ceilings the kernel benchmarks are judged against, measured on this machine in the same run:
//   FMA peak   register-only FMA chains (no loads): FmaGflops with Vector256, FmaGflops512 with Vector512 where
//              AVX-512 exists (2x on Zen 5); FmaGflopsWidest is the machine's ceiling, the one MFU is read against
//   memory     read / copy / triad over buffers far larger than the last-level cache (STREAM-style)
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics.Benchmarks;

/// <summary>GB/s of three streaming kernels; bytes counted as in STREAM (copy 2 arrays, triad 3).</summary>
public sealed record MemoryBandwidth(int Threads, long BufferBytes, double ReadGbps, double CopyGbps, double TriadGbps);

public static unsafe class MachinePeak
{
    private const int Chains = 12;              // independent FMA chains: > latency (4-5) × 2 FMA pipes

    /// <summary>Best-of-<paramref name="repeats"/> FMA throughput in GFLOP/s with one task per pool thread.</summary>
    public static double FmaGflops(WorkerPool pool, int repeats = 5, long iterations = 20_000_000)
    {
        if (!Fma.IsSupported) return FmaGflopsPortable(pool, repeats, iterations / 4);
        return FmaGflops<Vec256>(pool, repeats, iterations);
    }

    /// <summary>Best-of-<paramref name="repeats"/> FMA throughput of 512-bit chains in GFLOP/s, one task per pool
    /// thread; null where AVX-512F is absent. On a core with full-width 512-bit FMA units this is twice
    /// <see cref="FmaGflops"/>, and it is the ceiling an MFU figure should be read against there.</summary>
    public static double? FmaGflops512(WorkerPool pool, int repeats = 5, long iterations = 20_000_000)
    {
        if (!Avx512F.IsSupported) return null;
        return FmaGflops<Vec512>(pool, repeats, iterations);
    }

    /// <summary>The machine's FMA ceiling: the 512-bit peak where AVX-512F exists, else the 256-bit one (or the
    /// portable one), with the register width it was timed at.</summary>
    public static (double Gflops, int Bits) FmaGflopsWidest(WorkerPool pool, int repeats = 5, long iterations = 20_000_000) =>
        FmaGflops512(pool, repeats, iterations) is double wide ? (wide, 512) : (FmaGflops(pool, repeats, iterations), 256);

    private static double FmaGflops<V>(WorkerPool pool, int repeats, long iterations) where V : unmanaged, IVec<V> =>
        Best(pool, new FmaJob<V> { Iterations = iterations }, pool.Threads, repeats, pool.Threads * iterations * Chains * V.Count * 2);

    private struct FmaJob<V> : IParallelJob where V : unmanaged, IVec<V>
    {
        public long Iterations;
        public readonly void Execute(int task, int worker) => s_sink += FmaChains<V>(Iterations) * 1e-30f;
    }

    /// <summary><see cref="Chains"/> independent a = a·m + c chains of V-wide FMAs, no loads; the lane sum keeps them live.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float FmaChains<V>(long iterations) where V : unmanaged, IVec<V>
    {
        V m = V.Broadcast(0.99999f), add = V.Broadcast(1e-6f);
        V a0 = V.Broadcast(0.10f), a1 = V.Broadcast(0.11f), a2 = V.Broadcast(0.12f), a3 = V.Broadcast(0.13f);
        V a4 = V.Broadcast(0.14f), a5 = V.Broadcast(0.15f), a6 = V.Broadcast(0.16f), a7 = V.Broadcast(0.17f);
        V a8 = V.Broadcast(0.18f), a9 = V.Broadcast(0.19f), a10 = V.Broadcast(0.20f), a11 = V.Broadcast(0.21f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = V.Fma(a0, m, add); a1 = V.Fma(a1, m, add); a2 = V.Fma(a2, m, add); a3 = V.Fma(a3, m, add);
            a4 = V.Fma(a4, m, add); a5 = V.Fma(a5, m, add); a6 = V.Fma(a6, m, add); a7 = V.Fma(a7, m, add);
            a8 = V.Fma(a8, m, add); a9 = V.Fma(a9, m, add); a10 = V.Fma(a10, m, add); a11 = V.Fma(a11, m, add);
        }
        return V.Sum(V.Add(V.Add(V.Add(a0, a1), V.Add(a2, a3)), V.Add(V.Add(a4, a5), V.Add(a6, a7))))
             + V.Sum(V.Add(V.Add(a8, a9), V.Add(a10, a11)));
    }

    private static double FmaGflopsPortable(WorkerPool pool, int repeats, long iterations)
    {
        double best = 0;
        for (int r = 0; r <= repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            pool.Run(pool.Threads, _ =>
            {
                Vector128<float> a = Vector128.Create(0.1f), b = Vector128.Create(0.2f), m = Vector128.Create(0.99999f);
                for (long i = 0; i < iterations; i++) { a = a * m + m; b = b * m + m; }
                Sink(Vector256.Create(a, b));
            });
            if (r > 0) best = Math.Max(best, pool.Threads * iterations * 2 * 4 * 2 / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
        }
        return best;
    }

    private static float s_sink;
    private static void Sink(Vector256<float> v) => s_sink += Vector256.Sum(v) * 1e-30f;

    /// <summary>Best-of-<paramref name="repeats"/> read / copy / triad bandwidth over three buffers of
    /// <paramref name="bufferBytes"/> each, split evenly over the pool's threads.</summary>
    public static MemoryBandwidth Memory(WorkerPool pool, long bufferBytes = 256L << 20, int repeats = 5)
    {
        long n = bufferBytes / sizeof(float) / 64 * 64;
        using NativeBuffer<float> bufA = new(n), bufB = new(n), bufC = new(n);
        float* a = bufA.Pointer, b = bufB.Pointer, c = bufC.Pointer;
        new Span<float>(b, (int)n).Fill(1f);
        new Span<float>(c, (int)n).Fill(2f);
        double read = Best(pool, new StreamJob { Kind = 0, A = a, B = b, C = c, N = n, Tasks = pool.Threads }, pool.Threads, repeats, n * 4L);
        double copy = Best(pool, new StreamJob { Kind = 1, A = a, B = b, C = c, N = n, Tasks = pool.Threads }, pool.Threads, repeats, n * 8L);
        double triad = Best(pool, new StreamJob { Kind = 2, A = a, B = b, C = c, N = n, Tasks = pool.Threads }, pool.Threads, repeats, n * 12L);
        return new MemoryBandwidth(pool.Threads, n * sizeof(float), read, copy, triad);
    }

    /// <summary>Best-of-<paramref name="repeats"/> read bandwidth over a caller's buffer (its contents are
    /// irrelevant; a benchmark that probes every round allocates and faults its pages in once), timed by
    /// <paramref name="clockSeconds"/> (default wall time; e.g. process CPU time, which a loaded machine's time
    /// slicing does not inflate, counting every thread's seconds).</summary>
    public static double ReadGbps(WorkerPool pool, NativeBuffer<float> buffer, int repeats, Func<double>? clockSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        long n = buffer.Length / 64 * 64;
        return Best(pool, new StreamJob { Kind = 0, B = buffer.Pointer, N = n, Tasks = pool.Threads }, pool.Threads, repeats, n * 4L, clockSeconds);
    }

    /// <summary>Runs <paramref name="job"/> once to warm up (tiering, clocks), then <paramref name="repeats"/> times;
    /// the best <paramref name="units"/> (FLOPs or bytes) per run over the fastest run's seconds, in giga-units.</summary>
    private static double Best<TJob>(WorkerPool pool, TJob job, int tasks, int repeats, long units, Func<double>? clockSeconds = null)
        where TJob : struct, IParallelJob
    {
        clockSeconds ??= static () => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
        pool.Run(tasks, ref job);
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            double t0 = clockSeconds();
            pool.Run(tasks, ref job);
            best = Math.Max(best, units / (clockSeconds() - t0) / 1e9);
        }
        return best;
    }

    private struct StreamJob : IParallelJob
    {
        public int Kind, Tasks;
        public float* A, B, C;
        public long N;

        public readonly void Execute(int task, int worker)
        {
            long start = N * task / Tasks / 8 * 8, end = N * (task + 1) / Tasks / 8 * 8;
            int len = (int)(end - start);
            switch (Kind)
            {
                case 0: Sink(Vector256.Create(ReadSum(B + start, len))); break;
                case 1: new ReadOnlySpan<float>(B + start, len).CopyTo(new Span<float>(A + start, len)); break;
                default: Triad(A + start, B + start, C + start, len); break;
            }
        }
    }

    /// <summary>a = b + 3·c.</summary>
    private static void Triad(float* a, float* b, float* c, int len)
    {
        Vector256<float> s = Vector256.Create(3f);
        int i = 0;
        for (; i + 8 <= len; i += 8) Vector256.Store(Vector256.MultiplyAddEstimate(Vector256.Load(c + i), s, Vector256.Load(b + i)), a + i);
        for (; i < len; i++) a[i] = b[i] + 3f * c[i];
    }

    private static float ReadSum(float* p, int len)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        int i = 0;
        for (; i + 32 <= len; i += 32)
        {
            s0 += Vector256.Load(p + i); s1 += Vector256.Load(p + i + 8);
            s2 += Vector256.Load(p + i + 16); s3 += Vector256.Load(p + i + 24);
        }
        float tail = 0;
        for (; i < len; i++) tail += p[i];
        return Vector256.Sum((s0 + s1) + (s2 + s3)) + tail;
    }
}
