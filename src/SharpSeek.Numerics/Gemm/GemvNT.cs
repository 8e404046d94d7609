// GemvNT — small-M GEMV for decode: y (M,N) (+)= x (M,K) · Wᵀ for M ≤ MaxRows, W (N,K) row-major in FP32, BF16
// or FP8 E4M3 with weight_scale_inv (ceil(N/128), ceil(K/128)). Memory-bound at M = 1: every weight row is streamed
// once from DRAM, widened in registers and reduced in FP32 — no packing, which would triple the traffic.
//
//   F32, BF16   y[i,j] = Σ_k x[i,k] · W[j,k]                       (BF16 widened by a 16-bit shift)
//   FP8         y[i,j] = 2^(120-s) · Σ_k xs[i,k] · bits(W[j,k])   xs[i,k] = x[i,k] · scale_inv[j/128, k/128] · 2^s
// bits(c) = ((int)(sbyte)c << 20) & 0x87F00000 reinterpreted as FP32 is the E4M3 value times 2^-120 (sign, exponent
// and mantissa moved into place; subnormal codes become FP32 denormals, so one rule covers every finite code). The
// 2^120 and the block scale are folded into a copy of x made once per task (all rows of a task share one 128-row
// scale block), so the inner loop is load-widen-shift-and-FMA with no per-element multiply and no per-block
// promotion. s = 120 unless |x·scale| could overflow, then smaller; s = 120 gives exactly the products x·W.
// A NaN code (S.1111.111) makes its output column NaN, as the dequantized product would.
//
// Tiles: a task (one problem, ≤ RowsPerTask rows) walks its rows in register tiles — 1 token × 4 rows (2 chains
// each), 2 tokens × 4 rows, 3-4 tokens × 2 rows — so each weight row is read once per group of ≤ 4 tokens and each
// x vector once per group of rows. Many problems (MoE experts, gate and up, q_a and kv_a) share one pool run.
// Every output element is computed by the same instructions whatever the thread count or task split.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

/// <summary>How a GEMV weight matrix is stored.</summary>
public enum WeightFormat
{
    F32,
    Bf16,
    /// <summary>E4M3 codes with FP32 weight_scale_inv per 128x128 block (<see cref="GemvProblem.Scales"/>).</summary>
    Fp8E4M3,
}

/// <summary>One small-M product of a GEMV batch: y (M,N) (+)= x (M,K) · Wᵀ with W (N,K) row-major in
/// <see cref="Format"/>; FP8 weights also need <see cref="Scales"/> (ceil(N/128), ceil(K/128)).</summary>
public unsafe struct GemvProblem
{
    public int M, N, K;
    public float* X;          // (M, K)
    public float* Y;          // (M, N)
    public void* W;           // (N, K) in Format
    public float* Scales;     // FP8 only
    public WeightFormat Format;
}

internal static unsafe class GemvNT
{
    /// <summary>Largest M served by the GEMV (weights are re-read from L1/L2 per group of 4 tokens; beyond this the
    /// packed GEMM, which reuses each weight over 6 rows in registers, wins).</summary>
    public const int MaxRows = 8;
    private const int RowsPerTask = 32;          // divides the 128-row FP8 scale block
    private const int MaxStackProblems = 512;
    // Rows of a small matrix (K = 256..1024) end before the hardware prefetcher ramps up, so every tile prefetches
    // the same offsets PrefetchRows rows further on (measured on `small`'s decode shapes: ≈0.47 → ≈0.65 of the
    // read bandwidth on 1 thread).
    private const int PrefetchRows = 8;

    /// <summary>Runs every problem (M ≤ MaxRows each; validated by the caller) as one task list on the pool.</summary>
    [SkipLocalsInit]
    public static void Run(WorkerPool pool, GemvProblem* problems, int count, bool accumulate, bool vector)
    {
        if (count == 0) return;
        bool onStack = count <= MaxStackProblems;
        int* stackStarts = stackalloc int[onStack ? count + 1 : 0];
        float* stackMax = stackalloc float[onStack ? count : 0];
        int* starts = onStack ? stackStarts : (int*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)(count + 1), sizeof(int));
        float* xMax = onStack ? stackMax : (float*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)count, sizeof(float));
        try
        {
            starts[0] = 0;
            for (int i = 0; i < count; i++)
            {
                GemvProblem p = problems[i];
                starts[i + 1] = starts[i] + (p.N + RowsPerTask - 1) / RowsPerTask;
                xMax[i] = p.Format == WeightFormat.Fp8E4M3   // MaxMagnitude returns the signed element
                    ? Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(p.X, p.M * p.K))) : 0f;
            }
            var job = new Job
            {
                Problems = problems, Starts = starts, XMax = xMax, Count = count, Accumulate = accumulate,
                Vector = vector && Avx2.IsSupported && Fma.IsSupported,
                Scratch = problemsNeedScratch(problems, count) ? pool.GetScratch(static pool => new GemvScratch(pool.Threads)) : null,
            };
            pool.Run(starts[count], ref job);
        }
        finally
        {
            if (!onStack)
            {
                System.Runtime.InteropServices.NativeMemory.Free(starts);
                System.Runtime.InteropServices.NativeMemory.Free(xMax);
            }
        }

        static bool problemsNeedScratch(GemvProblem* problems, int count)
        {
            for (int i = 0; i < count; i++)
                if (problems[i].Format == WeightFormat.Fp8E4M3) return true;
            return false;
        }
    }

    private struct Job : IParallelJob
    {
        public GemvProblem* Problems;
        public int* Starts;          // (Count + 1) first task of each problem
        public float* XMax;          // (Count) max |x| of FP8 problems
        public int Count;
        public bool Accumulate, Vector;
        public GemvScratch? Scratch;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
        public readonly void Execute(int task, int worker)
        {
            int lo = 0, hi = Count - 1;                 // the problem whose task range holds `task`
            while (lo < hi)
            {
                int mid = (lo + hi + 1) >> 1;
                if (Starts[mid] <= task) lo = mid; else hi = mid - 1;
            }
            GemvProblem p = Problems[lo];
            int j0 = (task - Starts[lo]) * RowsPerTask, j1 = Math.Min(p.N, j0 + RowsPerTask);
            switch (p.Format)
            {
                case WeightFormat.F32: Rows<F32Weights>(p, p.X, 1f, j0, j1, Accumulate, Vector); break;
                case WeightFormat.Bf16: Rows<Bf16Weights>(p, p.X, 1f, j0, j1, Accumulate, Vector); break;
                default:
                    float* xs = Scratch!.Buffer(worker, (long)p.M * p.K);
                    float factor = ScaleX(p, XMax[lo], j0, xs);
                    Rows<Fp8Weights>(p, xs, factor, j0, j1, Accumulate, Vector);
                    break;
            }
        }
    }

    /// <summary>xs (M,K) = x · scale_inv[j0/128, k/128] · 2^s; returns 2^(120-s), the factor of the sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ScaleX(in GemvProblem p, float xMax, int j0, float* xs)
    {
        int k = p.K, kb = GemmArgs.Blocks(k);
        float* scaleRow = p.Scales + (long)(j0 / GemmArgs.ScaleBlock) * kb;
        float sMax = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(scaleRow, kb)));
        // |xs| ≤ xMax·sMax·2^s must stay below 2^126 (room for the FMA sums); non-finite inputs keep s = 120 and
        // propagate as the reference would.
        float bound = xMax * sMax;
        int s = 120;
        if (float.IsFinite(bound) && bound > 0) s = Math.Min(120, 125 - Math.ILogB(bound));
        for (int b = 0; b < kb; b++)
        {
            // x·(scale·2^s) rounds exactly like (x·scale)·2^s while scale·2^s is a finite normal float
            double f = Math.ScaleB((double)scaleRow[b], s);
            bool exact = f == 0 || (Math.Abs(f) >= 1.1754943508222875e-38 && Math.Abs(f) <= float.MaxValue);
            float fs = exact ? (float)f : scaleRow[b], up = exact ? 1f : MathF.ScaleB(1f, s);
            int c0 = b * GemmArgs.ScaleBlock, c1 = Math.Min(k, c0 + GemmArgs.ScaleBlock);
            for (int i = 0; i < p.M; i++)
            {
                float* src = p.X + (long)i * k, dst = xs + (long)i * k;
                int c = c0;
                if (Avx.IsSupported)
                    for (Vector256<float> v = Vector256.Create(fs); c + 8 <= c1; c += 8)
                        Avx.Store(dst + c, Avx.LoadVector256(src + c) * v);
                for (; c < c1; c++) dst[c] = src[c] * fs;
                if (!exact) for (c = c0; c < c1; c++) dst[c] *= up;
            }
        }
        return MathF.ScaleB(1f, 120 - s);
    }

    /// <summary>Rows [j0, j1) of one problem for all its tokens, in tiles of ≤ 4 tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<TW>(in GemvProblem p, float* x, float factor, int j0, int j1, bool accumulate, bool vector)
        where TW : IGemvWeights
    {
        int k = p.K;
        float* sums = stackalloc float[16];           // (4 tokens, 4 rows)
        for (int t0 = 0; t0 < p.M; t0 += 4)
        {
            int tokens = Math.Min(4, p.M - t0);
            float* xt = x + (long)t0 * k;
            int rows = tokens <= 2 ? 4 : 2;
            for (int j = j0; j < j1; j += rows)
            {
                int valid = Math.Min(rows, j1 - j);
                byte* w0 = Row<TW>(p, j, 0, valid), w1 = Row<TW>(p, j, 1, valid), w2 = Row<TW>(p, j, 2, valid), w3 = Row<TW>(p, j, 3, valid);
                bool nan = false;
                if (!vector) Scalar<TW>(xt, tokens, k, w0, w1, w2, w3, rows, sums);
                else if (tokens == 1) nan = Tile1x4<TW>(xt, k, w0, w1, w2, w3, sums);
                else if (tokens == 2) nan = Tile2x4<TW>(xt, k, w0, w1, w2, w3, sums);
                else if (tokens == 3) nan = Tile34x2<TW, Three>(xt, k, w0, w1, sums);
                else nan = Tile34x2<TW, Four>(xt, k, w0, w1, sums);
                if (nan) MarkNaNRows<TW>(k, w0, w1, w2, w3, rows, tokens, sums);   // rare: which rows hold the NaN codes
                for (int t = 0; t < tokens; t++)
                    for (int r = 0; r < valid; r++)
                    {
                        float* y = p.Y + (long)(t0 + t) * p.N + j + r;
                        float v = factor * sums[t * 4 + r];
                        *y = accumulate ? *y + v : v;
                    }
            }
        }
    }

    /// <summary>Row j + r of W (rows past the last valid one repeat it: a partial tile computes and drops them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* Row<TW>(in GemvProblem p, int j, int r, int valid) where TW : IGemvWeights =>
        (byte*)p.W + ((long)j + Math.Min(r, valid - 1)) * p.K * TW.Bytes;

    /// <summary>Portable path (and the NaN fallback): one dot per (token, row), same xs and bits as the tiles.</summary>
    private static void Scalar<TW>(float* x, int tokens, int k, byte* w0, byte* w1, byte* w2, byte* w3, int rows, float* sums)
        where TW : IGemvWeights
    {
        byte** w = stackalloc byte*[4] { w0, w1, w2, w3 };
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                for (int p = 0; p < k; p++) s += x[(long)t * k + p] * TW.Load1(w[r], p);
                sums[t * 4 + r] = s;
            }
    }

    /// <summary>Sets the sums of every row holding a NaN code to NaN (the tiles only know that some row does).</summary>
    private static void MarkNaNRows<TW>(int k, byte* w0, byte* w1, byte* w2, byte* w3, int rows, int tokens, float* sums)
        where TW : IGemvWeights
    {
        byte** w = stackalloc byte*[4] { w0, w1, w2, w3 };
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < k; p++)
                if (float.IsNaN(TW.Load1(w[r], p)))
                {
                    for (int t = 0; t < tokens; t++) sums[t * 4 + r] = float.NaN;
                    break;
                }
    }

    /// <summary>The k % 32 tail of a tile, added to its sums.</summary>
    private static void Tail<TW>(float* x, int tokens, int k, int from, byte* w0, byte* w1, byte* w2, byte* w3, int rows, float* sums)
        where TW : IGemvWeights
    {
        byte** w = stackalloc byte*[4] { w0, w1, w2, w3 };
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                for (int p = from; p < k; p++) s += x[(long)t * k + p] * TW.Load1(w[r], p);
                sums[t * 4 + r] += s;
            }
    }

    // ---- AVX2 tiles. Each returns whether a NaN weight code was seen (FP8 only). Loops step 32 elements. ----

    /// <summary>1 token × 4 rows, two FMA chains per row (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Tile1x4<TW>(float* x, int k, byte* w0, byte* w1, byte* w2, byte* w3, float* sums) where TW : IGemvWeights
    {
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector256<byte> nan = default;
        int p = 0;
        long ahead = (long)PrefetchRows * k * TW.Bytes;
        for (; p + 32 <= k; p += 32)
        {
            PrefetchAhead<TW>(ahead + (long)p * TW.Bytes, w0, w1, w2, w3);
            for (int h = 0; h < 32; h += 16)
            {
                Vector256<float> x0 = Avx.LoadVector256(x + p + h), x1 = Avx.LoadVector256(x + p + h + 8);
                a00 = Fma.MultiplyAdd(x0, TW.Load8(w0, p + h), a00); a01 = Fma.MultiplyAdd(x1, TW.Load8(w0, p + h + 8), a01);
                a10 = Fma.MultiplyAdd(x0, TW.Load8(w1, p + h), a10); a11 = Fma.MultiplyAdd(x1, TW.Load8(w1, p + h + 8), a11);
                a20 = Fma.MultiplyAdd(x0, TW.Load8(w2, p + h), a20); a21 = Fma.MultiplyAdd(x1, TW.Load8(w2, p + h + 8), a21);
                a30 = Fma.MultiplyAdd(x0, TW.Load8(w3, p + h), a30); a31 = Fma.MultiplyAdd(x1, TW.Load8(w3, p + h + 8), a31);
            }
            if (TW.HasNaNCodes)
            {
                nan = TW.NaNScan(w0 + p, nan); nan = TW.NaNScan(w1 + p, nan);
                nan = TW.NaNScan(w2 + p, nan); nan = TW.NaNScan(w3 + p, nan);
            }
        }
        sums[0] = Vector256.Sum(a00 + a01); sums[1] = Vector256.Sum(a10 + a11);
        sums[2] = Vector256.Sum(a20 + a21); sums[3] = Vector256.Sum(a30 + a31);
        if (p < k) Tail<TW>(x, 1, k, p, w0, w1, w2, w3, 4, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w0, w1, w2, w3));
    }

    /// <summary>2 tokens × 4 rows (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Tile2x4<TW>(float* x, int k, byte* w0, byte* w1, byte* w2, byte* w3, float* sums) where TW : IGemvWeights
    {
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<byte> nan = default;
        float* x1p = x + k;
        long ahead = (long)PrefetchRows * k * TW.Bytes;
        int p = 0;
        for (; p + 32 <= k; p += 32)
        {
            PrefetchAhead<TW>(ahead + (long)p * TW.Bytes, w0, w1, w2, w3);
            for (int h = 0; h < 32; h += 8)
            {
                Vector256<float> x0 = Avx.LoadVector256(x + p + h), x1 = Avx.LoadVector256(x1p + p + h), c;
                c = TW.Load8(w0, p + h); a00 = Fma.MultiplyAdd(x0, c, a00); a10 = Fma.MultiplyAdd(x1, c, a10);
                c = TW.Load8(w1, p + h); a01 = Fma.MultiplyAdd(x0, c, a01); a11 = Fma.MultiplyAdd(x1, c, a11);
                c = TW.Load8(w2, p + h); a02 = Fma.MultiplyAdd(x0, c, a02); a12 = Fma.MultiplyAdd(x1, c, a12);
                c = TW.Load8(w3, p + h); a03 = Fma.MultiplyAdd(x0, c, a03); a13 = Fma.MultiplyAdd(x1, c, a13);
            }
            if (TW.HasNaNCodes)
            {
                nan = TW.NaNScan(w0 + p, nan); nan = TW.NaNScan(w1 + p, nan);
                nan = TW.NaNScan(w2 + p, nan); nan = TW.NaNScan(w3 + p, nan);
            }
        }
        sums[0] = Vector256.Sum(a00); sums[1] = Vector256.Sum(a01); sums[2] = Vector256.Sum(a02); sums[3] = Vector256.Sum(a03);
        sums[4] = Vector256.Sum(a10); sums[5] = Vector256.Sum(a11); sums[6] = Vector256.Sum(a12); sums[7] = Vector256.Sum(a13);
        if (p < k) Tail<TW>(x, 2, k, p, w0, w1, w2, w3, 4, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w0, w1, w2, w3));
    }

    /// <summary>3 or 4 tokens × 2 rows (≤ 8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Tile34x2<TW, TT>(float* x, int k, byte* w0, byte* w1, float* sums) where TW : IGemvWeights where TT : ITokenCount
    {
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector256<byte> nan = default;
        float* x1p = x + k, x2p = x + 2L * k, x3p = x + 3L * k;
        long ahead = (long)PrefetchRows * k * TW.Bytes;
        int p = 0;
        for (; p + 32 <= k; p += 32)
        {
            PrefetchAhead<TW>(ahead + (long)p * TW.Bytes, w0, w1, w0, w1);
            for (int h = 0; h < 32; h += 8)
            {
                Vector256<float> c0 = TW.Load8(w0, p + h), c1 = TW.Load8(w1, p + h), xv;
                xv = Avx.LoadVector256(x + p + h); a00 = Fma.MultiplyAdd(xv, c0, a00); a01 = Fma.MultiplyAdd(xv, c1, a01);
                xv = Avx.LoadVector256(x1p + p + h); a10 = Fma.MultiplyAdd(xv, c0, a10); a11 = Fma.MultiplyAdd(xv, c1, a11);
                xv = Avx.LoadVector256(x2p + p + h); a20 = Fma.MultiplyAdd(xv, c0, a20); a21 = Fma.MultiplyAdd(xv, c1, a21);
                if (TT.Value == 4)
                {
                    xv = Avx.LoadVector256(x3p + p + h); a30 = Fma.MultiplyAdd(xv, c0, a30); a31 = Fma.MultiplyAdd(xv, c1, a31);
                }
            }
            if (TW.HasNaNCodes)
            {
                nan = TW.NaNScan(w0 + p, nan); nan = TW.NaNScan(w1 + p, nan);
            }
        }
        sums[0] = Vector256.Sum(a00); sums[1] = Vector256.Sum(a01);
        sums[4] = Vector256.Sum(a10); sums[5] = Vector256.Sum(a11);
        sums[8] = Vector256.Sum(a20); sums[9] = Vector256.Sum(a21);
        if (TT.Value == 4) { sums[12] = Vector256.Sum(a30); sums[13] = Vector256.Sum(a31); }
        if (p < k) Tail<TW>(x, TT.Value, k, p, w0, w1, w0, w1, 2, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w0, w1, w0, w1));
    }

    /// <summary>Prefetches the 32 elements at byte offset <paramref name="at"/> of each tile row (past the matrix end
    /// the hint is dropped, never faults). Two identical row pointers cost one redundant hint.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchAhead<TW>(long at, byte* w0, byte* w1, byte* w2, byte* w3) where TW : IGemvWeights
    {
        Sse.Prefetch0(w0 + at); Sse.Prefetch0(w1 + at); Sse.Prefetch0(w2 + at); Sse.Prefetch0(w3 + at);
        if (TW.Bytes == 4)
        {
            Sse.Prefetch0(w0 + at + 64); Sse.Prefetch0(w1 + at + 64); Sse.Prefetch0(w2 + at + 64); Sse.Prefetch0(w3 + at + 64);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool NaNSeen(Vector256<byte> nan) => Avx2.CompareEqual(nan, Vector256<byte>.AllBitsSet) != Vector256<byte>.Zero;

    private static bool TailHasNaN<TW>(int k, int from, byte* w0, byte* w1, byte* w2, byte* w3) where TW : IGemvWeights
    {
        for (int p = from; p < k; p++)
            if (float.IsNaN(TW.Load1(w0, p)) || float.IsNaN(TW.Load1(w1, p)) || float.IsNaN(TW.Load1(w2, p)) || float.IsNaN(TW.Load1(w3, p)))
                return true;
        return false;
    }
}

/// <summary>Marker types for the token count of <c>Tile34x2</c> (a constant the JIT folds).</summary>
internal interface ITokenCount
{
    static abstract int Value { get; }
}

internal readonly struct Three : ITokenCount { public static int Value => 3; }
internal readonly struct Four : ITokenCount { public static int Value => 4; }

/// <summary>One weight storage format as the GEMV tiles see it.</summary>
internal unsafe interface IGemvWeights
{
    static abstract int Bytes { get; }
    /// <summary>Whether codes can be NaN patterns that FP32 arithmetic would not propagate (FP8).</summary>
    static abstract bool HasNaNCodes { get; }
    static abstract float Load1(byte* row, int p);
    /// <summary>Elements p..p+7 of a row widened to FP32 (AVX2 only).</summary>
    static abstract Vector256<float> Load8(byte* row, int p);
    /// <summary>Folds the 32 codes at <paramref name="codes"/> into a running NaN detector (AVX2 only).</summary>
    static abstract Vector256<byte> NaNScan(byte* codes, Vector256<byte> seen);
}

internal readonly unsafe struct F32Weights : IGemvWeights
{
    public static int Bytes => 4;
    public static bool HasNaNCodes => false;
    public static float Load1(byte* row, int p) => ((float*)row)[p];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int p) => Avx.LoadVector256((float*)row + p);
    public static Vector256<byte> NaNScan(byte* codes, Vector256<byte> seen) => seen;
}

internal readonly unsafe struct Bf16Weights : IGemvWeights
{
    public static int Bytes => 2;
    public static bool HasNaNCodes => false;
    public static float Load1(byte* row, int p) => Bf16.ToFloat(((ushort*)row)[p]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)row + p), 16).AsSingle();
    public static Vector256<byte> NaNScan(byte* codes, Vector256<byte> seen) => seen;
}

/// <summary>E4M3 codes as bits(c) = value · 2^-120 (see the file header); NaN codes are detected per 32 bytes
/// (OR 0x80 then unsigned max: a NaN code is the only one that becomes 0xFF).</summary>
internal readonly unsafe struct Fp8Weights : IGemvWeights
{
    private const int Mask = unchecked((int)0x87F00000);
    public static int Bytes => 1;
    public static bool HasNaNCodes => true;
    public static float Load1(byte* row, int p)
    {
        int c = (sbyte)row[p];
        return (c & 0x7F) == 0x7F ? float.NaN : BitConverter.Int32BitsToSingle((c << 20) & Mask);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, int p) =>
        (Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((sbyte*)row + p), 20) & Vector256.Create(Mask)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> NaNScan(byte* codes, Vector256<byte> seen) =>
        Avx2.Max(seen, Avx.LoadVector256(codes) | Vector256.Create((byte)0x80));
}

/// <summary>Per-worker copies of x for FP8 problems (x scaled by one row block's scale_inv), grown on demand.</summary>
internal sealed unsafe class GemvScratch : IDisposable
{
    private readonly NativeBuffer<float>?[] _x;

    public GemvScratch(int threads) => _x = new NativeBuffer<float>?[threads];

    public float* Buffer(int worker, long floats)
    {
        NativeBuffer<float>? b = _x[worker];
        if (b is null || b.Length < floats)
        {
            b?.Dispose();
            _x[worker] = b = new NativeBuffer<float>(Math.Max(floats, 8192));
        }
        return b.Pointer;
    }

    public void Dispose()
    {
        for (int w = 0; w < _x.Length; w++)
        {
            _x[w]?.Dispose();
            _x[w] = null;
        }
    }
}
