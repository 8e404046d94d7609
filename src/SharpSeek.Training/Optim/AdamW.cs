// AdamW — Adam with decoupled weight decay (Loshchilov & Hutter), in PyTorch's formulation, over the FP32 master
// weights of a ParameterStore. For each trained parameter p with gradient g (already scaled, see Step):
//
//   t  ← t + 1
//   m  ← β1 m + (1 − β1) g                       (N,)  first moment
//   v  ← β2 v + (1 − β2) g²                      (N,)  second moment
//   p  ← p − lr · wd · p                         only for ParameterTreatment.Decay
//   p  ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
//
// The DeepSeek-V3 report: β1 = 0.9, β2 = 0.95, wd = 0.1. Gradient accumulation, the global-norm clip and the update
// are fused: Step takes the summed micro-batch gradients, computes ‖g/M‖ in FP64, and applies
// g_eff = g · (1/M) · min(1, clip / (‖g/M‖ + 1e-6)) on the fly — one read of g, no extra pass, no allocation.
// Both passes run over fixed 64K-element chunks of the trained slots, on a WorkerPool when one is given; the chunks
// depend only on the shapes, so the FP64 norm (per chunk, then in chunk order) has the same bits for any thread count.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SharpSeek.Numerics;

namespace SharpSeek.Training;

public sealed record AdamWSettings(double Beta1 = 0.9, double Beta2 = 0.95, double Epsilon = 1e-8,
    double WeightDecay = 0.1, double GradClip = 1.0);

/// <summary>What one optimizer step saw: the gradient norm before clipping and the scale applied to g.</summary>
public readonly record struct StepReport(double GradNorm, double GradScale);

public sealed class AdamW : IDisposable
{
    private readonly ParameterStore _store;
    private readonly NativeBuffer<float> _m; // (N,) same layout as the store
    private readonly NativeBuffer<float> _v; // (N,)
    private readonly WorkerPool? _pool;
    private readonly Chunk[] _chunks;        // the trained elements in fixed pieces: a function of the shapes only
    private readonly double[] _chunkSquares; // (chunks,) Σ g² per chunk, summed in chunk order afterwards

    /// <summary>Elements per parallel task; fixed, so the FP64 norm's summation order never depends on threads.</summary>
    public const int ChunkElements = 1 << 16;

    private readonly record struct Chunk(int Slot, int Start, int Length);

    public AdamWSettings Settings { get; }
    /// <summary>Benchmarks only: run the naive scalar kernel instead of the vectorised one.</summary>
    internal bool UseReferenceKernel { get; set; }

    /// <summary>Optimizer steps taken (t); part of the serialised state.</summary>
    public long StepCount { get; set; }

    /// <summary>An optimizer over <paramref name="store"/>; with a <paramref name="pool"/> the norm and the update run
    /// on its workers (same bits for any thread count: the work is split into fixed chunks).</summary>
    public AdamW(ParameterStore store, AdamWSettings? settings = null, WorkerPool? pool = null)
    {
        _store = store;
        _pool = pool;
        Settings = settings ?? new AdamWSettings();
        if (!(Settings.Beta1 is >= 0 and < 1) || !(Settings.Beta2 is >= 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(settings), "β1 and β2 must be in [0, 1).");
        if (!(Settings.Epsilon > 0) || !(Settings.WeightDecay >= 0) || !(Settings.GradClip > 0))
            throw new ArgumentOutOfRangeException(nameof(settings), "ε and the clip norm must be > 0, weight decay >= 0.");
        _m = new NativeBuffer<float>(store.ElementCount);
        _v = new NativeBuffer<float>(store.ElementCount);
        var chunks = new List<Chunk>();
        for (int i = 0; i < store.Slots.Count; i++)
        {
            if (store.Slots[i].Treatment == ParameterTreatment.Frozen) continue;
            for (int start = 0; start < store.Slots[i].Length; start += ChunkElements)
                chunks.Add(new Chunk(i, start, Math.Min(ChunkElements, store.Slots[i].Length - start)));
        }
        _chunks = [.. chunks];
        _chunkSquares = new double[_chunks.Length];
    }

    /// <summary>First moment m of a parameter slot (for checkpoints).</summary>
    public Span<float> FirstMoment(int slot) => _m.Slice(_store.Slots[slot].Offset, _store.Slots[slot].Length);
    /// <summary>Second moment v of a parameter slot (for checkpoints).</summary>
    public Span<float> SecondMoment(int slot) => _v.Slice(_store.Slots[slot].Offset, _store.Slots[slot].Length);

    /// <summary>L2 norm of the trained parameters' gradients, in FP64: per fixed chunk, then summed in chunk order.</summary>
    public double GradientNorm()
    {
        var job = new NormJob(this);
        RunChunks(ref job);
        double sum = 0;
        foreach (double x in _chunkSquares) sum += x;
        return Math.Sqrt(sum);
    }

    /// <summary>One AdamW step with learning rate <paramref name="lr"/> over gradients summed across
    /// <paramref name="microBatches"/> micro-batches: scale by 1/M, clip to the global norm, update. Allocates nothing.</summary>
    public StepReport Step(double lr, int microBatches = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatches, 1);
        if (!(lr >= 0) || !double.IsFinite(lr)) throw new ArgumentOutOfRangeException(nameof(lr), lr, "learning rate must be finite and >= 0.");
        double accumScale = 1.0 / microBatches;
        double norm = GradientNorm() * accumScale;
        if (!double.IsFinite(norm))
            throw new ArithmeticException($"gradient norm is {norm} at step {StepCount + 1}; the loss diverged (lower --lr or check the data).");
        double clip = Math.Min(1.0, Settings.GradClip / (norm + 1e-6));
        double gradScale = accumScale * clip;

        StepCount++;
        double bc1 = 1 - Math.Pow(Settings.Beta1, StepCount);
        double bc2 = 1 - Math.Pow(Settings.Beta2, StepCount);
        var k = new UpdateConstants(
            G: (float)gradScale, B1: (float)Settings.Beta1, B2: (float)Settings.Beta2,
            StepSize: (float)(lr / bc1), InvSqrtBc2: (float)(1 / Math.Sqrt(bc2)), Eps: (float)Settings.Epsilon, Decay: 1f);
        float decay = (float)(1 - lr * Settings.WeightDecay);

        var job = new UpdateJob(this, k, decay);
        RunChunks(ref job);
        return new StepReport(norm, gradScale);
    }

    private void RunChunks<TJob>(ref TJob job) where TJob : struct, IParallelJob
    {
        if (_pool is null) for (int c = 0; c < _chunks.Length; c++) job.Execute(c, 0);
        else _pool.Run(_chunks.Length, ref job);
    }

    private readonly struct NormJob(AdamW o) : IParallelJob
    {
        public void Execute(int task, int worker)
        {
            Chunk c = o._chunks[task];
            o._chunkSquares[task] = SquaredSum(o._store.Grads(c.Slot).Slice(c.Start, c.Length));
        }
    }

    private readonly struct UpdateJob(AdamW o, UpdateConstants k, float decay) : IParallelJob
    {
        public void Execute(int task, int worker)
        {
            Chunk c = o._chunks[task];
            bool decays = o._store.Slots[c.Slot].Treatment == ParameterTreatment.Decay;
            if (o.UseReferenceKernel)
            {
                UpdateReference(o._store.Weights(c.Slot).Slice(c.Start, c.Length), o._store.Grads(c.Slot).Slice(c.Start, c.Length),
                    o.FirstMoment(c.Slot).Slice(c.Start, c.Length), o.SecondMoment(c.Slot).Slice(c.Start, c.Length),
                    decays ? k with { Decay = decay } : k);
                return;
            }
            Update(o._store.Weights(c.Slot).Slice(c.Start, c.Length), o._store.Grads(c.Slot).Slice(c.Start, c.Length),
                o.FirstMoment(c.Slot).Slice(c.Start, c.Length), o.SecondMoment(c.Slot).Slice(c.Start, c.Length),
                decays ? k with { Decay = decay } : k);
        }
    }

    internal readonly record struct UpdateConstants(float G, float B1, float B2, float StepSize, float InvSqrtBc2, float Eps, float Decay);

    /// <summary>The fused element-wise update: Vector256 body, scalar tail with the same operation order.</summary>
    [SkipLocalsInit]
    internal static void Update(Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, in UpdateConstants k)
    {
        int n = p.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vg = Vector256.Create(k.G); var vb1 = Vector256.Create(k.B1); var vb1c = Vector256.Create(1 - k.B1);
            var vb2 = Vector256.Create(k.B2); var vb2c = Vector256.Create(1 - k.B2); var vstep = Vector256.Create(k.StepSize);
            var vibc2 = Vector256.Create(k.InvSqrtBc2); var veps = Vector256.Create(k.Eps); var vdec = Vector256.Create(k.Decay);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var g = Vector256.Create(grad.Slice(i, 8)) * vg;
                var mi = vb1 * Vector256.Create(m.Slice(i, 8)) + vb1c * g;
                var vi = vb2 * Vector256.Create(v.Slice(i, 8)) + vb2c * (g * g);
                var pi = Vector256.Create(p.Slice(i, 8)) * vdec;
                pi -= vstep * mi / (Vector256.Sqrt(vi) * vibc2 + veps);
                mi.CopyTo(m.Slice(i, 8)); vi.CopyTo(v.Slice(i, 8)); pi.CopyTo(p.Slice(i, 8));
            }
        }
        UpdateReference(p[i..], grad[i..], m[i..], v[i..], k);
    }

    /// <summary>The naive reference of <see cref="Update"/>: one element at a time, the same operation order.</summary>
    internal static void UpdateReference(Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, in UpdateConstants k)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float g = grad[i] * k.G;
            float mi = k.B1 * m[i] + (1 - k.B1) * g;
            float vi = k.B2 * v[i] + (1 - k.B2) * (g * g);
            float pi = p[i] * k.Decay;
            p[i] = pi - k.StepSize * mi / (MathF.Sqrt(vi) * k.InvSqrtBc2 + k.Eps);
            m[i] = mi; v[i] = vi;
        }
    }

    /// <summary>Σ x² in FP64: four Vector256&lt;double&gt; lanes, then a scalar tail; fixed order.</summary>
    internal static double SquaredSum(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        var acc0 = Vector256<double>.Zero; var acc1 = Vector256<double>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(x.Slice(i, 8)));
                acc0 += lo * lo;
                acc1 += hi * hi;
            }
        }
        double sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += (double)x[i] * x[i];
        return sum;
    }

    public void Dispose()
    {
        _m.Dispose();
        _v.Dispose();
    }
}
