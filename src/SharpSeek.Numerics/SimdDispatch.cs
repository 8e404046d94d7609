// One place that turns a SimdLevel into a vector width and, given a WorkerPool, into parallel work: a kernel
// packs its arguments into a struct job over independent units (rows, tiles, element blocks) and
// RowsDispatch.Run instantiates the job's generic body for VecScalar / Vec128 / Vec256 / Vec512 on unit ranges.
// Jobs are structs, so each instantiation is specialised and inlined by the JIT (no delegates, no allocation).
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

/// <summary>A kernel over independent units (rows, tiles, element blocks): Run processes units [begin, end).
/// Each unit's result depends only on its own inputs, so any split gives the same bits.</summary>
internal interface IRowsJob
{
    void Run<V>(long begin, long end) where V : unmanaged, IVec<V>;
}

/// <summary>Runs an IRowsJob on the calling thread or split into contiguous unit ranges over a WorkerPool.
/// Units are independent, so the output is bit-identical to the single-thread run for every thread count.</summary>
internal static class RowsDispatch
{
    /// <summary>Below this many elements of work a call stays on the calling thread (dispatch costs ~µs).</summary>
    public const long MinParallelElements = 1 << 15;

    public static void Run<TJob>(WorkerPool? pool, SimdLevel level, long units, long elementsPerUnit, ref TJob job)
        where TJob : struct, IRowsJob
    {
        Simd.Require(level);
        if (pool is null || pool.Threads == 1 || units < 2 || units * elementsPerUnit < MinParallelElements)
        {
            RunRange(level, ref job, 0, units);
            return;
        }
        var parallel = new ParallelRows<TJob> { Job = job, Level = level, Units = units, Tasks = (int)Math.Min(units, 4L * pool.Threads) };
        pool.Run(parallel.Tasks, ref parallel);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RunRange<TJob>(SimdLevel level, ref TJob job, long begin, long end) where TJob : struct, IRowsJob
    {
        switch (level)
        {
            case SimdLevel.Vector512: job.Run<Vec512>(begin, end); break;
            case SimdLevel.Vector256: job.Run<Vec256>(begin, end); break;
            case SimdLevel.Vector128: job.Run<Vec128>(begin, end); break;
            default: job.Run<VecScalar>(begin, end); break;
        }
    }

    private struct ParallelRows<TJob> : IParallelJob where TJob : struct, IRowsJob
    {
        public TJob Job;
        public SimdLevel Level;
        public long Units;
        public int Tasks;

        public readonly void Execute(int task, int worker)
        {
            TJob job = Job;
            RunRange(Level, ref job, Units * task / Tasks, Units * (task + 1) / Tasks);
        }
    }
}

/// <summary>Vectorized reductions and maps over one contiguous row, shared by the row kernels.</summary>
internal static unsafe class RowOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max<V>(float* x, int n) where V : unmanaged, IVec<V>
    {
        float max = float.NegativeInfinity;
        int i = 0;
        if (n >= V.Count)
        {
            V acc = V.Load(x);
            for (i = V.Count; i <= n - V.Count; i += V.Count) acc = V.Max(acc, V.Load(x + i));
            max = V.MaxAcross(acc);
        }
        for (; i < n; i++) max = x[i] > max ? x[i] : max;
        return max;
    }

    /// <summary>y[i] = exp(x[i] - shift); returns Σ y (FP32 lanes, summed in a fixed order). shift is the row's
    /// maximum (x − shift ≤ 0), so the vector body uses <see cref="IVec{TSelf}.ExpNonPositive"/>. Not inlined: a
    /// caller that also inlines the row's max and scale loops (the cross-entropy rows) ran out of JIT inlining budget
    /// and called the exp out of line for every vector; as its own method the exp inlines into the loop.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static float ExpShifted<V>(float* x, float shift, float* y, int n) where V : unmanaged, IVec<V>
    {
        V s = V.Broadcast(shift), acc = V.Broadcast(0);
        int i = 0;
        for (; i <= n - V.Count; i += V.Count)
        {
            V e = V.ExpNonPositive(V.Sub(V.Load(x + i), s));
            V.Store(e, y + i);
            acc = V.Add(acc, e);
        }
        float sum = V.Sum(acc);
        for (; i < n; i++)
        {
            float e = MathF.Exp(x[i] - shift);
            y[i] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>Σ exp(x[i] - shift) without storing (not inlined, as <see cref="ExpShifted{V}"/>).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static float SumExpShifted<V>(float* x, float shift, int n) where V : unmanaged, IVec<V>
    {
        V s = V.Broadcast(shift), acc = V.Broadcast(0);
        int i = 0;
        for (; i <= n - V.Count; i += V.Count) acc = V.Add(acc, V.ExpNonPositive(V.Sub(V.Load(x + i), s)));
        float sum = V.Sum(acc);
        for (; i < n; i++) sum += MathF.Exp(x[i] - shift);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale<V>(float* x, float factor, float* y, int n) where V : unmanaged, IVec<V>
    {
        V f = V.Broadcast(factor);
        int i = 0;
        for (; i <= n - V.Count; i += V.Count) V.Store(V.Mul(V.Load(x + i), f), y + i);
        for (; i < n; i++) y[i] = x[i] * factor;
    }

    /// <summary>Σ a[i]·b[i] with FMA into FP32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot<V>(float* a, float* b, int n) where V : unmanaged, IVec<V>
    {
        V acc = V.Broadcast(0);
        int i = 0;
        for (; i <= n - V.Count; i += V.Count) acc = V.Fma(V.Load(a + i), V.Load(b + i), acc);
        float sum = V.Sum(acc);
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
        return sum;
    }
}
