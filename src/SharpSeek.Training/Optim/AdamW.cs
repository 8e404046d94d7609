// AdamW — Adam with decoupled weight decay (Loshchilov & Hutter), in PyTorch's formulation, over the FP32 master
// weights of a ParameterStore. For each trained parameter p with gradient g (already scaled, see Step):
//
//   t  ← t + 1
//   m  ← β1 m + (1 − β1) g                       (N,)  first moment
//   v  ← β2 v + (1 − β2) g²                      (N,)  second moment
//   p  ← p − lr · wd · p                         only for ParameterTreatment.Decay
//   p  ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
//
// The DeepSeek-V3 report: β1 = 0.9, β2 = 0.95, wd = 0.1, and m and v kept in BF16 "without observable performance
// degradation" (§3.3.3): with Bf16Moments they are stored as BF16 (round to nearest even) and widened to FP32 for the
// update — the FP32 update's arithmetic in between; 4 instead of 8 bytes of state and 24 instead of 32 bytes of
// optimizer traffic per parameter. Gradient accumulation, the global-norm clip and the update
// are fused: Step takes the summed micro-batch gradients, computes ‖g/M‖ in FP64, and applies
// g_eff = g · (1/M) · min(1, clip / (‖g/M‖ + 1e-6)) on the fly — one read of g, no extra pass, no allocation.
// Both passes run over fixed 64K-element chunks of the trained slots, on a WorkerPool when one is given; the chunks
// depend only on the shapes, so the FP64 norm (per chunk, then in chunk order) has the same bits for any thread count.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SharpSeek.Numerics;

namespace SharpSeek.Training;

public sealed record AdamWSettings(double Beta1 = 0.9, double Beta2 = 0.95, double Epsilon = 1e-8,
    double WeightDecay = 0.1, double GradClip = 1.0, bool Bf16Moments = false);

/// <summary>What one optimizer step saw: the gradient norm before clipping and the scale applied to g.</summary>
public readonly record struct StepReport(double GradNorm, double GradScale);

public sealed class AdamW : IDisposable
{
    private readonly ParameterStore _store;
    private readonly NativeBuffer<float>? _m, _v;       // (N,) same layout as the store: FP32 moments
    private readonly NativeBuffer<ushort>? _m16, _v16;  // (N,) or BF16 moments (Settings.Bf16Moments)
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
        if (Settings.Bf16Moments)
        {
            _m16 = new NativeBuffer<ushort>(store.ElementCount);
            _v16 = new NativeBuffer<ushort>(store.ElementCount);
        }
        else
        {
            _m = new NativeBuffer<float>(store.ElementCount);
            _v = new NativeBuffer<float>(store.ElementCount);
        }
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

    /// <summary>First moment m of a parameter slot (for checkpoints), FP32 moments only.</summary>
    public Span<float> FirstMoment(int slot) => Floats(_m).Slice(_store.Slots[slot].Offset, _store.Slots[slot].Length);
    /// <summary>Second moment v of a parameter slot (for checkpoints), FP32 moments only.</summary>
    public Span<float> SecondMoment(int slot) => Floats(_v).Slice(_store.Slots[slot].Offset, _store.Slots[slot].Length);
    /// <summary>First moment m of a parameter slot as BF16 codes (for checkpoints), BF16 moments only.</summary>
    public Span<ushort> FirstMomentBf16(int slot) => Codes(_m16).Slice(_store.Slots[slot].Offset, _store.Slots[slot].Length);
    /// <summary>Second moment v of a parameter slot as BF16 codes (for checkpoints), BF16 moments only.</summary>
    public Span<ushort> SecondMomentBf16(int slot) => Codes(_v16).Slice(_store.Slots[slot].Offset, _store.Slots[slot].Length);

    private static NativeBuffer<float> Floats(NativeBuffer<float>? b) =>
        b ?? throw new InvalidOperationException("this optimizer keeps its moments in BF16 (FirstMomentBf16 / SecondMomentBf16).");
    private static NativeBuffer<ushort> Codes(NativeBuffer<ushort>? b) =>
        b ?? throw new InvalidOperationException("this optimizer keeps its moments in FP32 (FirstMoment / SecondMoment).");

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
            UpdateConstants kc = o._store.Slots[c.Slot].Treatment == ParameterTreatment.Decay ? k with { Decay = decay } : k;
            Span<float> p = o._store.Weights(c.Slot).Slice(c.Start, c.Length);
            ReadOnlySpan<float> g = o._store.Grads(c.Slot).Slice(c.Start, c.Length);
            if (o.Settings.Bf16Moments)
            {
                Span<ushort> m = o.FirstMomentBf16(c.Slot).Slice(c.Start, c.Length), v = o.SecondMomentBf16(c.Slot).Slice(c.Start, c.Length);
                if (o.UseReferenceKernel) UpdateBf16Reference(p, g, m, v, kc);
                else UpdateBf16(p, g, m, v, kc);
            }
            else
            {
                Span<float> m = o.FirstMoment(c.Slot).Slice(c.Start, c.Length), v = o.SecondMoment(c.Slot).Slice(c.Start, c.Length);
                if (o.UseReferenceKernel) UpdateReference(p, g, m, v, kc);
                else Update(p, g, m, v, kc);
            }
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
            var c = new VectorConstants(k);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> pi = Vector256.Create(p.Slice(i, 8)), mi = Vector256.Create(m.Slice(i, 8)), vi = Vector256.Create(v.Slice(i, 8));
                c.Apply(ref pi, Vector256.Create(grad.Slice(i, 8)), ref mi, ref vi);
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

    /// <summary>The update over BF16 moments, fused: 16 elements a step, m and v widened to FP32 (a 16-bit shift), updated
    /// with <see cref="Update"/>'s operations, rounded back to BF16 by <see cref="ToBf16"/> — the bits of
    /// <see cref="UpdateBf16Reference"/>.</summary>
    [SkipLocalsInit]
    internal static void UpdateBf16(Span<float> p, ReadOnlySpan<float> grad, Span<ushort> m, Span<ushort> v, in UpdateConstants k)
    {
        int n = p.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var c = new VectorConstants(k);
            for (; i <= n - 16; i += 16)
            {
                var (m0, m1) = Vector256.Widen(Vector256.Create(m.Slice(i, 16)));
                var (v0, v1) = Vector256.Widen(Vector256.Create(v.Slice(i, 16)));
                Vector256<float> mf0 = (m0 << 16).AsSingle(), mf1 = (m1 << 16).AsSingle(), vf0 = (v0 << 16).AsSingle(), vf1 = (v1 << 16).AsSingle();
                Vector256<float> p0 = Vector256.Create(p.Slice(i, 8)), p1 = Vector256.Create(p.Slice(i + 8, 8));
                c.Apply(ref p0, Vector256.Create(grad.Slice(i, 8)), ref mf0, ref vf0);
                c.Apply(ref p1, Vector256.Create(grad.Slice(i + 8, 8)), ref mf1, ref vf1);
                p0.CopyTo(p.Slice(i, 8)); p1.CopyTo(p.Slice(i + 8, 8));
                Vector256.Narrow(EncodeBf16(mf0), EncodeBf16(mf1)).CopyTo(m.Slice(i, 16));
                Vector256.Narrow(EncodeBf16(vf0), EncodeBf16(vf1)).CopyTo(v.Slice(i, 16));
            }
        }
        UpdateBf16Reference(p[i..], grad[i..], m[i..], v[i..], k);
    }

    /// <summary><see cref="ToBf16"/> on eight lanes (codes in the low 16 bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> EncodeBf16(Vector256<float> value)
    {
        Vector256<uint> x = value.AsUInt32();
        return (x + ((x >> 16) & Vector256.Create(1u)) + Vector256.Create(0x7FFFu)) >> 16;
    }

    /// <summary>A moment rounded to BF16, to nearest even. No saturation or NaN handling (SharpSeek's
    /// <see cref="Numerics.Bf16.FromFloat(float)"/> has both, at twice the instructions): a moment is finite — Step
    /// throws on a non-finite gradient norm before any update — and |m|, √v stay far below BF16's 3.4e38; a v that
    /// overflowed FP32 rounds to +∞ either way.</summary>
    internal static ushort ToBf16(float value)
    {
        uint x = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((x + ((x >> 16) & 1) + 0x7FFF) >> 16);
    }

    /// <summary>The vector body of both updates (FP32 moments, and BF16 ones once widened): the operations, in the
    /// order, of <see cref="UpdateReference"/>.</summary>
    private readonly struct VectorConstants(in UpdateConstants k)
    {
        private readonly Vector256<float> _g = Vector256.Create(k.G), _b1 = Vector256.Create(k.B1), _b1c = Vector256.Create(1 - k.B1),
            _b2 = Vector256.Create(k.B2), _b2c = Vector256.Create(1 - k.B2), _step = Vector256.Create(k.StepSize),
            _ibc2 = Vector256.Create(k.InvSqrtBc2), _eps = Vector256.Create(k.Eps), _decay = Vector256.Create(k.Decay);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref Vector256<float> p, Vector256<float> grad, ref Vector256<float> m, ref Vector256<float> v)
        {
            var g = grad * _g;
            m = _b1 * m + _b1c * g;
            v = _b2 * v + _b2c * (g * g);
            p = p * _decay - _step * m / (Vector256.Sqrt(v) * _ibc2 + _eps);
        }
    }

    /// <summary>The naive reference of <see cref="UpdateBf16"/>: one element at a time, widened, updated as
    /// <see cref="UpdateReference"/>, rounded back.</summary>
    internal static void UpdateBf16Reference(Span<float> p, ReadOnlySpan<float> grad, Span<ushort> m, Span<ushort> v, in UpdateConstants k)
    {
        Span<float> mi = stackalloc float[1], vi = stackalloc float[1];
        for (int i = 0; i < p.Length; i++)
        {
            mi[0] = Bf16.ToFloat(m[i]);
            vi[0] = Bf16.ToFloat(v[i]);
            UpdateReference(p.Slice(i, 1), grad.Slice(i, 1), mi, vi, k);
            m[i] = ToBf16(mi[0]);
            v[i] = ToBf16(vi[0]);
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
        _m?.Dispose();
        _v?.Dispose();
        _m16?.Dispose();
        _v16?.Dispose();
    }
}
