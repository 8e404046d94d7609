// Rotary position embedding on interleaved pairs (2i, 2i+1), as DeepSeek-V3 stores q_pe / k_pe:
//   (x₂ᵢ, x₂ᵢ₊₁) ← (x₂ᵢ cos θ − x₂ᵢ₊₁ sin θ,  x₂ᵢ sin θ + x₂ᵢ₊₁ cos θ),   θ = pos · invFreq[i]
// Backward is the rotation by −θ (the transpose of a rotation). Applied in place to (tokens, heads, dim) rows
// at a row stride, so q_pe can be rotated inside a (T, H, qk_nope + qk_rope) tensor by passing a slice.
// The table is built from inverse frequencies (YaRN-corrected by the model when rope_scaling is set) and stores
// per position cos duplicated [c₀ c₀ c₁ c₁ …] and sin signed [−s₀ s₀ −s₁ s₁ …] so a vector step is
//   out = x ⊙ cos + swap_pairs(x) ⊙ sin.
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

public sealed class RopeTable
{
    /// <summary>Builds cos/sin for positions 0 .. maxPositions−1 and dim = 2 · invFreq.Length rotary dims.
    /// θ = (float)pos · invFreq[i] is formed in FP32 as the reference (torch.outer in float32) forms it.</summary>
    public RopeTable(ReadOnlySpan<float> inverseFrequencies, int maxPositions)
    {
        if (inverseFrequencies.Length == 0)
            throw new ArgumentException("RoPE needs at least one inverse frequency (dim = 2 · frequencies).", nameof(inverseFrequencies));
        if (maxPositions <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxPositions), maxPositions, "maxPositions must be positive.");
        Dim = 2 * inverseFrequencies.Length;
        MaxPositions = maxPositions;
        Cos = new float[(long)maxPositions * Dim];
        Sin = new float[(long)maxPositions * Dim];
        for (int p = 0; p < maxPositions; p++)
        {
            for (int i = 0; i < inverseFrequencies.Length; i++)
            {
                float theta = p * inverseFrequencies[i];
                float c = (float)Math.Cos(theta), s = (float)Math.Sin(theta);
                long o = (long)p * Dim + 2 * i;
                Cos[o] = c; Cos[o + 1] = c;
                Sin[o] = -s; Sin[o + 1] = s;
            }
        }
    }

    /// <summary>Rotary dimensions (even).</summary>
    public int Dim { get; }
    public int MaxPositions { get; }
    /// <summary>(MaxPositions, Dim): cos θ duplicated per pair.</summary>
    public float[] Cos { get; }
    /// <summary>(MaxPositions, Dim): [−sin θ, +sin θ] per pair.</summary>
    public float[] Sin { get; }

    /// <summary>Standard RoPE inverse frequencies base^(−2i/dim), i = 0 .. dim/2 − 1.</summary>
    public static float[] InverseFrequencies(int dim, double theta)
    {
        if (dim <= 0 || dim % 2 != 0) throw new ArgumentException($"RoPE dim must be positive and even; got {dim}.", nameof(dim));
        var f = new float[dim / 2];
        for (int i = 0; i < f.Length; i++) f[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / dim));
        return f;
    }
}

public static unsafe class Rope
{
    /// <summary>Rotates x in place: row (t, h) starts at ((t · heads) + h) · stride and its first table.Dim
    /// elements are rotated by the angles of positions[t]. x covers tokens · heads rows.</summary>
    public static void Forward(int tokens, int heads, int stride, ReadOnlySpan<int> positions, RopeTable table, Span<float> x,
        WorkerPool? pool = null) => Rotate(tokens, heads, stride, positions, table, x, inverse: false, Simd.Active, pool);

    public static void Forward(int tokens, int heads, int stride, ReadOnlySpan<int> positions, RopeTable table, Span<float> x,
        SimdLevel level, WorkerPool? pool = null) => Rotate(tokens, heads, stride, positions, table, x, inverse: false, level, pool);

    /// <summary>Rotates the gradient in place by −θ: dx = Rᵀ dy.</summary>
    public static void Backward(int tokens, int heads, int stride, ReadOnlySpan<int> positions, RopeTable table, Span<float> dx,
        WorkerPool? pool = null) => Rotate(tokens, heads, stride, positions, table, dx, inverse: true, Simd.Active, pool);

    public static void Backward(int tokens, int heads, int stride, ReadOnlySpan<int> positions, RopeTable table, Span<float> dx,
        SimdLevel level, WorkerPool? pool = null) => Rotate(tokens, heads, stride, positions, table, dx, inverse: true, level, pool);

    private static void Rotate(int tokens, int heads, int stride, ReadOnlySpan<int> positions, RopeTable table, Span<float> x,
        bool inverse, SimdLevel level, WorkerPool? pool)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (tokens < 0 || heads < 0 || stride < table.Dim)
            throw new ArgumentOutOfRangeException(nameof(stride), $"Need tokens, heads >= 0 and stride >= rotary dim {table.Dim}; got ({tokens}, {heads}, {stride}).");
        RowChecks.Vector(tokens, positions.Length, nameof(positions));
        long rows = (long)tokens * heads;
        if (rows > 0 && x.Length < (rows - 1) * stride + table.Dim)
            throw new ArgumentException($"x must cover {rows} rows at stride {stride} plus {table.Dim} rotary dims; it has {x.Length} elements.", nameof(x));
        foreach (int p in positions[..tokens])
            if ((uint)p >= (uint)table.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(positions), p, $"Position {p} is outside the RoPE table (0 .. {table.MaxPositions - 1}); build a longer table.");
        fixed (float* px = x) fixed (int* pp = positions) fixed (float* pc = table.Cos) fixed (float* ps = table.Sin)
        {
            var job = new RotateJob { Heads = heads, Stride = stride, Dim = table.Dim, Positions = pp, Cos = pc, Sin = ps, X = px, SinSign = inverse ? -1f : 1f };
            RowsDispatch.Run(pool, level, tokens, (long)heads * table.Dim, ref job);
        }
    }

    private struct RotateJob : IRowsJob
    {
        public int Heads, Stride, Dim;
        public int* Positions;      // (tokens)
        public float* Cos, Sin;     // (MaxPositions, Dim)
        public float* X;            // rows (tokens · Heads) at Stride
        public float SinSign;       // +1 forward, −1 backward

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            int dim = Dim;
            V sign = V.Broadcast(SinSign);
            for (long t = begin; t < end; t++)
            {
                float* cos = Cos + (long)Positions[t] * dim, sin = Sin + (long)Positions[t] * dim;
                for (long h = 0; h < Heads; h++)
                {
                    float* x = X + (t * Heads + h) * Stride;
                    int i = 0;
                    if (V.Count >= 2)
                        for (; i <= dim - V.Count; i += V.Count)
                        {
                            V v = V.Load(x + i);
                            V.Store(V.Fma(V.SwapPairs(v), V.Mul(V.Load(sin + i), sign), V.Mul(v, V.Load(cos + i))), x + i);
                        }
                    for (; i < dim; i += 2)
                    {
                        float a = x[i], b = x[i + 1], c = cos[i], s = sin[i + 1] * SinSign;
                        x[i] = a * c - b * s;
                        x[i + 1] = a * s + b * c;
                    }
                }
            }
        }
    }
}
