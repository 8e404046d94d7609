// `sharpseek bench attention`: the training attention core (CausalAttention forward and backward over B
// sequences × H heads, MLA operand layout: q (T, H, Dq), [k_nope, v] (T, H, Dn + Dv), shared k_pe (T, Dr)) on a
// pool, in GFLOP/s of the causal work (the masked half is not counted), next to the naive reference timed on one
// (sequence, head) in the same run. Each case is warmed up once, then repeated for at least MinSeconds; best and
// median wall time and the median CPU time are kept (on a loaded machine, quote ratios within one run).
using System.Diagnostics;

namespace SharpSeek.Numerics.Benchmarks;

/// <summary>Gflops: causal FLOPs per median wall second; CpuGflops: per median CPU second of the process (all
/// threads); SpeedupVsReference: the reference's CPU time over the kernel's, for all B·H tasks.</summary>
public sealed record AttentionBenchResult(string Pass, int Threads, double BestSeconds, double MedianSeconds,
    double Gflops, double CpuGflops, double SpeedupVsReference);

public static unsafe class AttentionBenchmark
{
    private const double MinSeconds = 0.5, WarmUpSeconds = 1.0;
    private const int MinRepeats = 3, MaxRepeats = 50;

    /// <summary>Forward and backward of <paramref name="batch"/> × <paramref name="heads"/> causal heads of length
    /// <paramref name="seq"/> (Dq = dn + dr, Dv) on <paramref name="pool"/>.</summary>
    public static List<AttentionBenchResult> Run(WorkerPool pool, int batch, int seq, int heads, int dn, int dr, int dv)
    {
        if (batch < 1 || seq < 1 || heads < 1 || dn < 0 || dr < 0 || dn + dr < 1 || dv < 1)
            throw new ArgumentException($"attention bench needs batch, seq, heads, Dq = Dn + Dr and Dv ≥ 1; got B={batch} T={seq} H={heads} Dn={dn} Dr={dr} Dv={dv}.");
        using var data = new Operands(pool.Threads, batch, seq, heads, dn, dr, dv);
        double pairs = (double)seq * (seq + 1) / 2 * batch * heads;          // causal (query, key) pairs
        double fwdFlops = 2 * pairs * (dn + dr + dv), bwdFlops = 2 * fwdFlops;
        var fwd = new Job(data, backward: false);
        var bwd = new Job(data, backward: true);
        int tasks = batch * heads;
        long warm = Stopwatch.GetTimestamp();   // past tier-0 code: the trainer's steady state runs tier-1
        while (Stopwatch.GetElapsedTime(warm).TotalSeconds < WarmUpSeconds)
        {
            pool.Run(tasks, ref fwd);
            pool.Run(tasks, ref bwd);
        }
        (double f, double fm, double fc) = Time(() => pool.Run(tasks, ref fwd));
        (double b, double bm, double bc) = Time(() => pool.Run(tasks, ref bwd));
        // reference: one (sequence, head) on this thread, scaled to all tasks, against the kernel's CPU time
        CausalAttentionArgs one = data.Args(0, 0, backward: true);
        (_, _, double rf) = Time(() => CausalAttentionReference.Forward(one), maxRepeats: 3);
        (_, _, double rb) = Time(() => CausalAttentionReference.Backward(one), maxRepeats: 3);
        rf *= tasks; rb *= tasks;
        return
        [
            new("forward", pool.Threads, f, fm, fwdFlops / fm / 1e9, fwdFlops / fc / 1e9, rf / fc),
            new("backward", pool.Threads, b, bm, bwdFlops / bm / 1e9, bwdFlops / bc / 1e9, rb / bc),
        ];
    }

    /// <summary>Best and median wall seconds of <paramref name="call"/>, and the median process CPU seconds (on a
    /// loaded machine the CPU time of a 1-thread run is the steadier figure).</summary>
    private static (double Best, double Median, double CpuMedian) Time(Action call, int maxRepeats = MaxRepeats)
    {
        call();
        var times = new List<double>();
        var cpu = new List<double>();
        using var process = Process.GetCurrentProcess();
        long start = Stopwatch.GetTimestamp();
        while (times.Count < Math.Min(MinRepeats, maxRepeats) || (Stopwatch.GetElapsedTime(start).TotalSeconds < MinSeconds && times.Count < maxRepeats))
        {
            process.Refresh();
            TimeSpan c0 = process.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            call();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            process.Refresh();
            cpu.Add((process.TotalProcessorTime - c0).TotalSeconds);
        }
        times.Sort();
        cpu.Sort();
        return (times[0], times[times.Count / 2], cpu[cpu.Count / 2]);
    }

    private readonly struct Job(Operands d, bool backward) : IParallelJob
    {
        public void Execute(int task, int worker)
        {
            CausalAttentionArgs a = d.Args(task / d.H, task % d.H, backward);
            float* scratch = d.Scratch + worker * d.ScratchPerWorker;
            if (backward) CausalAttention.Backward(a, scratch, Simd.Active);
            else CausalAttention.Forward(a, scratch, Simd.Active);
        }
    }

    /// <summary>Random operands in the MLA layout, P kept (training).</summary>
    private sealed class Operands : IDisposable
    {
        public readonly int B, T, H, Dn, Dr, Dv, Lp;
        public readonly long ScratchPerWorker;
        private readonly NativeBuffer<float> _q, _kv, _kpe, _o, _p, _do, _dq, _dkv, _dkpe, _scratch;

        public Operands(int threads, int b, int t, int h, int dn, int dr, int dv)
        {
            B = b; T = t; H = h; Dn = dn; Dr = dr; Dv = dv; Lp = CausalAttention.PaddedLength(t);
            long rows = (long)b * t, dq = dn + dr;
            NativeBuffer<float> Rand(long n)
            {
                var buf = new NativeBuffer<float>(n);
                new Xoshiro256(7 + (ulong)n).FillNormal(buf.Span, 1.0);
                return buf;
            }
            _q = Rand(rows * h * dq); _kv = Rand(rows * h * (dn + dv)); _kpe = Rand(rows * dr); _do = Rand(rows * h * dv);
            _o = new NativeBuffer<float>(rows * h * dv); _p = new NativeBuffer<float>(rows * h * Lp);
            _dq = new NativeBuffer<float>(rows * h * dq); _dkv = new NativeBuffer<float>(rows * h * (dn + dv));
            _dkpe = new NativeBuffer<float>((long)h * rows * dr);
            ScratchPerWorker = CausalAttention.ScratchFloats(t, t, (int)dq, dv);
            _scratch = new NativeBuffer<float>(ScratchPerWorker * threads);
        }

        public float* Scratch => _scratch.Pointer;

        public CausalAttentionArgs Args(int s, int h, bool backward)
        {
            int dq = Dn + Dr, blk = Dn + Dv, kvw = H * blk;
            long f = (long)s * T, rowQ = f * H + h;
            float* kv = _kv.Pointer + f * kvw + h * blk, dkv = _dkv.Pointer + f * kvw + h * blk;
            return new CausalAttentionArgs
            {
                Lq = T, L = T, Dq = dq, Dk1 = Dn, Dv = Dv, Scale = 1f / MathF.Sqrt(dq),
                Q = _q.Pointer + rowQ * dq, LdQ = (long)H * dq, K1 = kv, LdK1 = kvw, K2 = _kpe.Pointer + f * Dr, LdK2 = Dr,
                V = kv + Dn, LdV = kvw, O = _o.Pointer + rowQ * Dv, LdO = (long)H * Dv,
                P = _p.Pointer + (f * H + (long)h * T) * Lp, LdP = Lp,
                DO = _do.Pointer + rowQ * Dv, LdDO = (long)H * Dv, DQ = _dq.Pointer + rowQ * dq, LdDQ = (long)H * dq,
                DK1 = dkv, LdDK1 = kvw, DK2 = _dkpe.Pointer + ((long)h * B * T + f) * Dr, LdDK2 = Dr, DV = dkv + Dn, LdDV = kvw,
            };
        }

        public void Dispose()
        {
            foreach (var b in new[] { _q, _kv, _kpe, _o, _p, _do, _dq, _dkv, _dkpe, _scratch }) b.Dispose();
        }
    }
}
