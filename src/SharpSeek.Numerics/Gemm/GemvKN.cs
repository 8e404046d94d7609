// GemvKN — small-M product with a K-major weight: y (M,N) (+)= x (M,K) · W for M ≤ MaxRows, W (K,N) row-major in
// FP32, BF16 or FP8 E4M3. Absorbed MLA's query map is one: q_c[h] (T, Rkv) = q_nope[h] (T, Dn) · W_k[h], where
// W_k[h] (Dn, Rkv) is a block of kv_b_proj's rows as the checkpoint stores them.
//
// GemvNT computes such a map from a transposed copy (Rkv rows of Dn), one dot per output: with Dn = 64-128 a dot is
// four to eight vector FMAs and then a horizontal reduction, so the reductions and the per-tile stores cost more
// than the dots (batch-8 decode on `small`: the absorbed maps were ≈9% of the step for ≈1% of its FLOPs). Here the
// outputs lie in the vector lanes instead: a tile of ≤ 4 tokens × 4 vectors of columns keeps 16 accumulators, and
// each weight row segment is widened once and multiplied by each token's broadcast x[t, k] (one FMA per token and
// vector), so there is no reduction and the tile is stored as it stands. Each output is one FMA chain over k in
// order, whatever the tile, thread count or vector width.
//
//   FP8   y[t,n] = 2^(120-s) · Σ_k xs[t,k] · bits(W[k,n])    xs[t,k] = x[t,k] · scale_inv[(r0+k)/128, n/128] · 2^s
// with bits(c) and s as in GemvNT (the block scale and 2^s folded into a per-task copy of x, one per 128-column
// block); r0 = ScaleRowOffset, where W's first row lies within its 128-row scale block (a head's rows inside
// kv_b). A NaN code makes its output column NaN, as the dequantized product would.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

/// <summary>One small-M product y (M,N) (+)= x (M,K) · W with W (K,N) row-major in <see cref="Format"/> (a K-major
/// weight). FP8 weights need <see cref="Scales"/>: (ceil((ScaleRowOffset + K)/128), ceil(N/128)) row-major, whose
/// first row holds W's row 0 at offset <see cref="ScaleRowOffset"/> (0..127).</summary>
public unsafe struct GemvKNProblem
{
    public int M, N, K;
    public float* X;          // (M, K)
    public float* Y;          // (M, N)
    public void* W;           // (K, N) in Format
    public float* Scales;     // FP8 only
    public int ScaleRowOffset;
    public WeightFormat Format;
    /// <summary>FP8: W was checked free of NaN codes, so the final scan for them is skipped.</summary>
    public bool NoNaNCodes;
}

internal static unsafe class GemvKN
{
    private const int Block = GemmArgs.ScaleBlock;

    /// <summary>Runs every problem (validated by the caller) on the pool, one task per problem.</summary>
    public static void Run(WorkerPool pool, GemvKNProblem* problems, int count, bool accumulate, GemmKernel kernel)
    {
        if (count == 0) return;
        var job = new Job
        {
            Problems = problems, Accumulate = accumulate, Kernel = kernel,
            Scratch = NeedsScratch(problems, count) ? pool.GetScratch(static pool => new GemvScratch(pool.Threads)) : null,
        };
        pool.Run(count, ref job);

        static bool NeedsScratch(GemvKNProblem* problems, int count)
        {
            for (int i = 0; i < count; i++)
                if (problems[i].Format == WeightFormat.Fp8E4M3) return true;
            return false;
        }
    }

    private struct Job : IParallelJob
    {
        public GemvKNProblem* Problems;
        public bool Accumulate;
        public GemmKernel Kernel;
        public GemvScratch? Scratch;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Execute(int task, int worker)
        {
            GemvKNProblem p = Problems[task];
            switch (p.Format)
            {
                case WeightFormat.F32: Product<F32Weights>(p, p.X, 0, 1f, Accumulate, Kernel); break;
                case WeightFormat.Bf16: Product<Bf16Weights>(p, p.X, 0, 1f, Accumulate, Kernel); break;
                default:
                    long perBlock = (long)p.M * p.K;
                    float* xs = Scratch!.Claim(worker, GemmArgs.Blocks(p.N) * perBlock);   // GemvNT's per-worker copies, marked as no longer its own
                    float factor = ScaleX(p, xs);
                    Product<Fp8FiniteWeights>(p, xs, perBlock, factor, Accumulate, Kernel);
                    if (!p.NoNaNCodes) MarkNaNColumns(p);
                    break;
            }
        }
    }

    /// <summary>xs[cb] (M,K) = x · scale_inv[(r0+k)/128, cb] · 2^s for every 128-column block cb; returns 2^(120-s)
    /// (s as in GemvNT).</summary>
    private static float ScaleX(in GemvKNProblem p, float* xs)
    {
        int blocks = GemmArgs.Blocks(p.N), scaleRows = GemmArgs.Blocks(p.ScaleRowOffset + p.K);
        float xMax = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(p.X, p.M * p.K)));
        float sMax = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(p.Scales, scaleRows * blocks)));
        int s = GemvNT.ScaleExponent(xMax, sMax);
        for (int cb = 0; cb < blocks; cb++)
            GemvNT.ScaleBlocks(p.X, p.M, p.K, xs + (long)cb * p.M * p.K, p.ScaleRowOffset, p.Scales + cb, blocks, s);
        return MathF.ScaleB(1f, 120 - s);
    }

    private static void Product<TW>(in GemvKNProblem p, float* x, long xBlockStride, float factor, bool accumulate, GemmKernel kernel)
        where TW : IGemvWeights
    {
        switch (kernel)
        {
            case GemmKernel.Vector512: Product<TW, Vec512>(p, x, xBlockStride, factor, accumulate); break;
            case GemmKernel.Vector256: Product<TW, Vec256>(p, x, xBlockStride, factor, accumulate); break;
            case GemmKernel.Vector128: Product<TW, Vec128>(p, x, xBlockStride, factor, accumulate); break;
            default: Product<TW, VecScalar>(p, x, xBlockStride, factor, accumulate); break;
        }
    }

    /// <summary>All outputs in tiles of ≤ TokensPerTile tokens × 4 vectors of columns, then single vectors, then
    /// single columns. x of column block cb is at x + cb · xBlockStride (0: one x for all columns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Product<TW, V>(in GemvKNProblem p, float* x, long xBlockStride, float factor, bool accumulate)
        where TW : IGemvWeights where V : unmanaged, IVec<V>
    {
        int n = V.Count, wide = 4 * n, m = p.M, k = p.K, cols = p.N;
        int tokensPerTile = V.Count >= 16 ? 4 : 2;   // 16 accumulators need AVX-512's 32 registers; AVX2 takes 8
        byte* w = (byte*)p.W;
        long rowBytes = (long)cols * TW.Bytes;
        for (int t0 = 0; t0 < m; t0 += tokensPerTile)
        {
            int tokens = Math.Min(tokensPerTile, m - t0);
            int c = 0;
            for (; c + wide <= cols; c += wide)
            {
                float* xt = x + c / Block * xBlockStride + (long)t0 * k;
                float* y = p.Y + (long)t0 * cols + c;
                switch (tokens)
                {
                    case 1: Tile<TW, V, One>(xt, k, w + (long)c * TW.Bytes, rowBytes, y, cols, factor, accumulate); break;
                    case 2: Tile<TW, V, Two>(xt, k, w + (long)c * TW.Bytes, rowBytes, y, cols, factor, accumulate); break;
                    case 3: Tile<TW, V, Three>(xt, k, w + (long)c * TW.Bytes, rowBytes, y, cols, factor, accumulate); break;
                    default: Tile<TW, V, Four>(xt, k, w + (long)c * TW.Bytes, rowBytes, y, cols, factor, accumulate); break;
                }
            }
            for (; c + n <= cols && n > 1; c += n)
                for (int t = t0; t < t0 + tokens; t++)
                {
                    float* xt = x + c / Block * xBlockStride + (long)t * k;
                    V a = default;
                    for (int i = 0; i < k; i++) a = V.Fma(V.Broadcast(xt[i]), TW.Load<V>(w + i * rowBytes, c), a);
                    Store(a, p.Y + (long)t * cols + c, factor, accumulate);
                }
            for (; c < cols; c++)
                for (int t = t0; t < t0 + tokens; t++)
                {
                    float* xt = x + c / Block * xBlockStride + (long)t * k;
                    float a = 0;
                    for (int i = 0; i < k; i++) a = MathF.FusedMultiplyAdd(xt[i], TW.Load1(w + i * rowBytes, c), a);
                    float* y = p.Y + (long)t * cols + c;
                    *y = accumulate ? *y + factor * a : factor * a;
                }
        }
    }

    /// <summary>TT tokens × 4 vectors of columns: per row of W, four widened vectors, each FMA'd with every token's
    /// broadcast x (16 accumulators at four tokens).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TW, V, TT>(float* x, int k, byte* w, long rowBytes, float* y, int ldy, float factor, bool accumulate)
        where TW : IGemvWeights where V : unmanaged, IVec<V> where TT : ITokenCount
    {
        int n = V.Count;
        V a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        V a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
        float* x1 = x + k, x2 = x + 2L * k, x3 = x + 3L * k;
        for (int i = 0; i < k; i++, w += rowBytes)
        {
            if (Sse.IsSupported) Sse.Prefetch0(w + 8 * rowBytes);   // rows are short and a row apart: hint ahead
            V w0 = TW.Load<V>(w, 0), w1 = TW.Load<V>(w, n), w2 = TW.Load<V>(w, 2 * n), w3 = TW.Load<V>(w, 3 * n), b;
            b = V.Broadcast(x[i]); a00 = V.Fma(b, w0, a00); a01 = V.Fma(b, w1, a01); a02 = V.Fma(b, w2, a02); a03 = V.Fma(b, w3, a03);
            if (TT.Value >= 2) { b = V.Broadcast(x1[i]); a10 = V.Fma(b, w0, a10); a11 = V.Fma(b, w1, a11); a12 = V.Fma(b, w2, a12); a13 = V.Fma(b, w3, a13); }
            if (TT.Value >= 3) { b = V.Broadcast(x2[i]); a20 = V.Fma(b, w0, a20); a21 = V.Fma(b, w1, a21); a22 = V.Fma(b, w2, a22); a23 = V.Fma(b, w3, a23); }
            if (TT.Value >= 4) { b = V.Broadcast(x3[i]); a30 = V.Fma(b, w0, a30); a31 = V.Fma(b, w1, a31); a32 = V.Fma(b, w2, a32); a33 = V.Fma(b, w3, a33); }
        }
        Store(a00, y, factor, accumulate); Store(a01, y + n, factor, accumulate); Store(a02, y + 2 * n, factor, accumulate); Store(a03, y + 3 * n, factor, accumulate);
        if (TT.Value < 2) return;
        y += ldy;
        Store(a10, y, factor, accumulate); Store(a11, y + n, factor, accumulate); Store(a12, y + 2 * n, factor, accumulate); Store(a13, y + 3 * n, factor, accumulate);
        if (TT.Value < 3) return;
        y += ldy;
        Store(a20, y, factor, accumulate); Store(a21, y + n, factor, accumulate); Store(a22, y + 2 * n, factor, accumulate); Store(a23, y + 3 * n, factor, accumulate);
        if (TT.Value < 4) return;
        y += ldy;
        Store(a30, y, factor, accumulate); Store(a31, y + n, factor, accumulate); Store(a32, y + 2 * n, factor, accumulate); Store(a33, y + 3 * n, factor, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<V>(V a, float* y, float factor, bool accumulate) where V : unmanaged, IVec<V>
    {
        V v = V.Mul(a, V.Broadcast(factor));
        V.Store(accumulate ? V.Add(V.Load(y), v) : v, y);
    }

    /// <summary>Sets every output column whose weight column holds a NaN code (S.1111.111) to NaN.</summary>
    private static void MarkNaNColumns(in GemvKNProblem p)
    {
        byte* w = (byte*)p.W;
        for (int i = 0; i < p.K; i++)
        {
            var row = new ReadOnlySpan<byte>(w + (long)i * p.N, p.N);
            if (row.IndexOfAny((byte)0x7F, (byte)0xFF) < 0) continue;
            for (int c = 0; c < p.N; c++)
                if ((row[c] & 0x7F) == 0x7F)
                    for (int t = 0; t < p.M; t++) p.Y[(long)t * p.N + c] = float.NaN;
        }
    }
}
