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
// Tiles: a task (one problem, ≤ RowsPerTask rows) walks its rows in register tiles — 1 token × 8 rows, 2 tokens × 4
// rows, 3-8 tokens × 2 rows (5-8 on AVX-512 only; elsewhere groups of ≤ 4) — so each weight row is read once per tile
// of tokens and each x vector once per group of rows. One token's BF16 and FP8 rows of ≥ 256 bytes are read one row
// after the other instead (Tile1x8Sequential), so the weights stream from DRAM as one run; one token's FP8 rows on
// AVX-512 and AVX2 widen their codes in-lane instead (Tile1x8Fp8InLane, Tile1x8Fp8InLane256, and on AVX-512
// Tile1x8Fp8InLaneShort for rows under 256 bytes; x interleaved to match, once per task), and so do two tokens' on
// AVX-512 (Tile2x4Fp8InLane) — all in GemvNTFp8InLane.cs. A tile's eight accumulators are reduced together by one
// transposing add tree (IVec.Sum8: the grouping and bits of eight lane sums, which had cost more instructions than the
// dot products at K = 64). Every other tile is one body for every vector width through IVec (Vec512 on AVX-512:
// vpmovzxwd / vpmovsxbd widen 16 weights at a time; Vec256 the AVX2 tiles; Vec128), and the scalar level runs one dot
// per output.
// Many problems (MoE experts, gate and up, q_a and kv_a) share one pool run; an FP8 task reuses its worker's scaled
// copy of x when the previous task of that worker had the same problem and 128-row scale block.
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
    /// <summary>FP8: the caller has checked that W holds no NaN code (S.1111.111), so the tiles skip their NaN scan
    /// (≈15-20% of the FP8 tile's instructions). Leave false when unsure: NaN codes then still give NaN outputs.</summary>
    public bool NoNaNCodes;
}

internal static unsafe partial class GemvNT
{
    /// <summary>Largest M served by the GEMV (weights are re-read from L1/L2 per group of 4 tokens; beyond this the
    /// packed GEMM, which reuses each weight over 6 rows in registers, wins).</summary>
    public const int MaxRows = 8;
    // Rows per task: longer tasks are longer sequential runs per core (consecutive tasks go to different cores) and
    // fewer first-rows ramps. `small` decode alternating per step, 2 threads, 64 → 256 rows: batch 1 FP8 1.071×,
    // BF16 1.107×, batch 8 FP8 1.123×, BF16 1.092× (1 thread 1.015×); 128 → 256 1.004–1.035×, 256 → 512
    // 0.94–0.98× (too few tasks to balance); training steps (F32 experts of ≤ 8 tokens) 1.009×. An FP8 task scales x
    // once per 128-row scale block it covers.
    private const int RowsPerTask = 256;
    private const int MaxStackProblems = 512;
    // Rows of a small matrix (K = 256..1024) end before the hardware prefetcher ramps up, so every tile prefetches
    // the same offsets PrefetchRows rows further on (measured on `small`'s decode shapes: ≈0.47 → ≈0.65 of the
    // read bandwidth on 1 thread). The hints go to L2 (prefetcht1): on a Zen 4 host, L1 hints for 8 interleaved
    // rows stalled on the core's L1 miss buffers at ≈10 GB/s from DRAM, L2 hints reach ≈17-20 GB/s (a sequential
    // read ≈25), and on Zen 5 they measured the same as L1 hints.
    private const int PrefetchRows = 8;
    // ... but at least MinAheadBytes: eight short rows (absorbed MLA's per-head maps, K = 64-128 in FP8) are only
    // 8-16 cache lines, too near to cover DRAM latency (batch-1 decode on `small`, alternating per step: FP8
    // 1.029-1.045×, BF16 1.014-1.023×, 1 and 2 threads; 8 KB measured the same as 4 KB; batch 8 unchanged).
    private const int MinAheadBytes = 4096;
    private const int SequentialRowBytes = 256;   // rows at least this long take Tile1x8Sequential (BF16, FP8)

    /// <summary>Runs every problem (M ≤ MaxRows each; validated by the caller) as one task list on the pool.</summary>
    [SkipLocalsInit]
    public static void Run(WorkerPool pool, GemvProblem* problems, int count, bool accumulate, GemmKernel kernel)
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
                Kernel = kernel,
                Scratch = problemsNeedScratch(problems, count) ? pool.GetScratch(static pool => new GemvScratch(pool.Threads)) : null,
            };
            if (job.Scratch != null) job.Run = job.Scratch.NewRun();
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
        public bool Accumulate;
        public GemmKernel Kernel;       // the tiles' vector width (Scalar: one dot per output)
        public GemvScratch? Scratch;
        public int Run;               // this run's id: scaled copies of x made by other runs are stale

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
                case WeightFormat.F32: Rows<F32Weights>(p, p.X, 1f, j0, j1, Accumulate, Kernel); break;
                case WeightFormat.Bf16: Rows<Bf16Weights>(p, p.X, 1f, j0, j1, Accumulate, Kernel); break;
                default:
                    // xs depends only on (problem, 128-row scale block): a task scales x once per block it covers,
                    // and a worker reuses its copy for a next task in the same block
                    float* xs = Scratch!.Buffer(worker, (long)p.M * p.K);
                    for (int b0 = j0; b0 < j1;)
                    {
                        int block = b0 / GemmArgs.ScaleBlock, b1 = Math.Min(j1, (block + 1) * GemmArgs.ScaleBlock);
                        if (!Scratch.Holds(worker, Run, lo, block, out float factor))
                        {
                            factor = ScaleX(p, XMax[lo], b0, xs);
                            int lanes = Kernel switch { GemmKernel.Vector512 => 16, GemmKernel.Vector256 => 8, _ => 0 };
                            if (InLaneRows(p, lanes))
                                for (int t = 0; t < p.M; t++) InterleaveSteps(xs + (long)t * p.K, p.K, lanes);
                            Scratch.Filled(worker, Run, lo, block, factor);
                        }
                        if (p.NoNaNCodes) Rows<Fp8FiniteWeights>(p, xs, factor, b0, b1, Accumulate, Kernel);
                        else Rows<Fp8Weights>(p, xs, factor, b0, b1, Accumulate, Kernel);
                        b0 = b1;
                    }
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
        int s = ScaleExponent(xMax, sMax);
        ScaleBlocks(p.X, p.M, k, xs, 0, scaleRow, 1, s);
        return MathF.ScaleB(1f, 120 - s);
    }

    /// <summary>The s of xs = x · scale · 2^s: |xs| ≤ xMax·sMax·2^s must stay below 2^126 (room for the FMA sums);
    /// non-finite inputs keep s = 120 and propagate as the reference would.</summary>
    internal static int ScaleExponent(float xMax, float sMax)
    {
        float bound = xMax * sMax;
        return float.IsFinite(bound) && bound > 0 ? Math.Min(120, 125 - Math.ILogB(bound)) : 120;
    }

    /// <summary>xs (M,K) = x (M,K) · scales[b · stride] · 2^s for k in 128-block b, the blocks counted from k = −offset
    /// (offset 0..127: where x's first column lies in its block).</summary>
    internal static void ScaleBlocks(float* x, int m, int k, float* xs, int offset, float* scales, int stride, int s)
    {
        for (int b = 0; b * GemmArgs.ScaleBlock - offset < k; b++)
        {
            // x·(scale·2^s) rounds exactly like (x·scale)·2^s while scale·2^s is a finite normal float
            float scale = scales[(long)b * stride];
            double f = Math.ScaleB((double)scale, s);
            bool exact = f == 0 || (Math.Abs(f) >= 1.1754943508222875e-38 && Math.Abs(f) <= float.MaxValue);
            float fs = exact ? (float)f : scale, up = exact ? 1f : MathF.ScaleB(1f, s);
            int c0 = Math.Max(0, b * GemmArgs.ScaleBlock - offset), c1 = Math.Min(k, (b + 1) * GemmArgs.ScaleBlock - offset);
            for (int i = 0; i < m; i++)
            {
                float* src = x + (long)i * k, dst = xs + (long)i * k;
                int c = c0;
                if (Avx.IsSupported)
                    for (Vector256<float> v = Vector256.Create(fs); c + 8 <= c1; c += 8)
                        Avx.Store(dst + c, Avx.LoadVector256(src + c) * v);
                for (; c < c1; c++) dst[c] = src[c] * fs;
                if (!exact) for (c = c0; c < c1; c++) dst[c] *= up;
            }
        }
    }

    private static void Rows<TW>(in GemvProblem p, float* x, float factor, int j0, int j1, bool accumulate, GemmKernel kernel)
        where TW : IGemvWeights
    {
        switch (kernel)
        {
            case GemmKernel.Vector512: Rows<TW, Vec512>(p, x, factor, j0, j1, accumulate); break;
            case GemmKernel.Vector256: Rows<TW, Vec256>(p, x, factor, j0, j1, accumulate); break;
            case GemmKernel.Vector128: Rows<TW, Vec128>(p, x, factor, j0, j1, accumulate); break;
            default: Rows<TW, VecScalar>(p, x, factor, j0, j1, accumulate); break;
        }
    }

    /// <summary>Rows [j0, j1) of one problem for all its tokens, in tiles of ≤ 4 tokens of width V (VecScalar: the
    /// portable dot per output). Tile sums are (token, row) at sums[t * SumStride + r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<TW, V>(in GemvProblem p, float* x, float factor, int j0, int j1, bool accumulate)
        where TW : IGemvWeights where V : unmanaged, IVec<V>
    {
        int k = p.K;
        long rowBytes = (long)k * TW.Bytes;
        float* sums = stackalloc float[8 * SumStride];
        bool inLane = TW.Bytes == 1 && InLaneRows(p, V.Count);   // FP8 whose x Execute interleaved: the in-lane tiles
        byte** w = stackalloc byte*[8];
        // The tiles prefetch PrefetchRows rows ahead as they go, so a task's first rows would arrive by demand
        // loads alone: hint them all into L2 up front. On 2 threads consecutive tasks go to different cores, so no
        // earlier tile of this core prefetched them (small's 384×512 experts from DRAM, alternating passes in one
        // process: FP8 +3–12%, BF16 +6–10% on 2 threads; unchanged on 1).
        if (V.Count > 1 && Sse.IsSupported)
        {
            byte* first = (byte*)p.W + (long)j0 * k * TW.Bytes;
            byte* end = first + Math.Min(AheadBytes<TW>(k), (long)(j1 - j0) * k * TW.Bytes);
            for (byte* a = first; a < end; a += 64) Sse.Prefetch1(a);
        }
        for (int t0 = 0; t0 < p.M; )
        {
            // 5-8 tokens take one 16-accumulator tile where the registers hold it (AVX-512's 32), else groups of ≤ 4
            int tokens = Math.Min(V.Count == 16 ? 8 : 4, p.M - t0);
            float* xt = x + (long)t0 * k;
            int rows = tokens == 1 ? 8 : tokens == 2 ? 4 : 2;
            for (int j = j0; j < j1; j += rows)
            {
                int valid = Math.Min(rows, j1 - j);
                byte* row = (byte*)p.W + (long)j * rowBytes;
                for (int r = 0; r < rows; r++, row += r < valid ? rowBytes : 0) w[r] = row;   // past the last valid row: repeat it, drop the sums
                bool nan = false;
                if (V.Count == 1) Scalar<TW>(xt, tokens, k, w, rows, sums);
                else if (tokens == 1 && TW.Bytes < 4 && rowBytes >= SequentialRowBytes)
                {
                    if (inLane) nan = V.Count == 16 ? Tile1x8Fp8InLane<TW>(xt, k, w, sums) : Tile1x8Fp8InLane256<TW>(xt, k, w, sums);
                    else nan = Tile1x8Sequential<TW, V>(xt, k, w, sums);
                }
                else if (tokens == 1 && inLane) nan = Tile1x8Fp8InLaneShort<TW>(xt, k, w, sums);
                else if (tokens == 1) nan = Tile1x8<TW, V>(xt, k, w, sums);
                else if (tokens == 2 && inLane) nan = Tile2x4Fp8InLane<TW>(xt, k, w, sums);
                else if (tokens == 2) nan = Tile2x4<TW, V>(xt, k, w, sums);
                else if (tokens == 3) nan = Tile3to8x2<TW, Three, V>(xt, k, w, sums);
                else if (tokens == 4) nan = Tile3to8x2<TW, Four, V>(xt, k, w, sums);
                else if (tokens == 5) nan = Tile3to8x2<TW, Five, V>(xt, k, w, sums);
                else if (tokens == 6) nan = Tile3to8x2<TW, Six, V>(xt, k, w, sums);
                else if (tokens == 7) nan = Tile3to8x2<TW, Seven, V>(xt, k, w, sums);
                else nan = Tile3to8x2<TW, Eight, V>(xt, k, w, sums);
                if (nan) MarkNaNRows<TW>(k, w, rows, tokens, sums);   // rare: which rows hold the NaN codes
                if (tokens == 1 && valid == 8 && Avx.IsSupported)
                {   // one token's full tile: its eight outputs are adjacent (and the sums one 8-float store back)
                    float* y = p.Y + (long)t0 * p.N + j;
                    Vector256<float> v = Avx.LoadVector256(sums) * factor;
                    Avx.Store(y, accumulate ? Avx.LoadVector256(y) + v : v);
                    continue;
                }
                for (int t = 0; t < tokens; t++)
                    for (int r = 0; r < valid; r++)
                    {
                        float* y = p.Y + (long)(t0 + t) * p.N + j + r;
                        float v = factor * sums[t * SumStride + r];
                        *y = accumulate ? *y + v : v;
                    }
            }
            t0 += tokens;
        }
    }

    private const int SumStride = 8;

    /// <summary>Portable path (and the NaN fallback): one dot per (token, row), same xs and bits as the tiles.</summary>
    private static void Scalar<TW>(float* x, int tokens, int k, byte** w, int rows, float* sums) where TW : IGemvWeights
    {
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                for (int p = 0; p < k; p++) s += x[(long)t * k + p] * TW.Load1(w[r], p);
                sums[t * SumStride + r] = s;
            }
    }

    /// <summary>Sets the sums of every row holding a NaN code to NaN (the tiles only know that some row does).</summary>
    private static void MarkNaNRows<TW>(int k, byte** w, int rows, int tokens, float* sums) where TW : IGemvWeights
    {
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < k; p++)
                if (float.IsNaN(TW.Load1(w[r], p)))
                {
                    for (int t = 0; t < tokens; t++) sums[t * SumStride + r] = float.NaN;
                    break;
                }
    }

    /// <summary>The k % (4·V.Count) tail of a tile, added to its sums.</summary>
    private static void Tail<TW>(float* x, int tokens, int k, int from, byte** w, int rows, float* sums) where TW : IGemvWeights
    {
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                for (int p = from; p < k; p++) s += x[(long)t * k + p] * TW.Load1(w[r], p);
                sums[t * SumStride + r] += s;
            }
    }

    private static bool TailHasNaN<TW>(int k, int from, byte** w, int rows) where TW : IGemvWeights
    {
        for (int r = 0; r < rows; r++)
            for (int p = from; p < k; p++)
                if (float.IsNaN(TW.Load1(w[r], p))) return true;
        return false;
    }

    // ---- Vector tiles, one body for every width V (Vec256: ymm; Vec512: zmm). Each returns whether a NaN weight
    // code was seen (FP8 only). Loops step 4·V.Count elements (32 at 256 bits, 64 at 512). ----

    /// <summary>1 token × 8 rows, one FMA chain per row (8 accumulators: FMA latency × 2 pipes), so each x vector
    /// is loaded once per 8 rows and the per-tile costs (sums, NaN check) are shared by 8 rows. Inlined into Rows
    /// (batch-1 decode on `small`, alternating per step in one process: 1.008–1.032× over a call per tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Tile1x8<TW, V>(float* x, int k, byte** w, float* sums) where TW : IGemvWeights where V : unmanaged, IVec<V>
    {
        int n = V.Count, step = 4 * n;
        byte* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7];
        V a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        V nan = NaNNone<V>();
        int p = 0;
        long ahead = AheadBytes<TW>(k);
        for (; p + step <= k; p += step)
        {
            long at = ahead + (long)p * TW.Bytes;
            PrefetchAhead(at, step * TW.Bytes, w0, w1, w2, w3);
            PrefetchAhead(at, step * TW.Bytes, w4, w5, w6, w7);
            for (int h = 0; h < step; h += n)
            {
                V xv = V.Load(x + p + h);
                a0 = V.Fma(xv, TW.Load<V>(w0, p + h), a0); a1 = V.Fma(xv, TW.Load<V>(w1, p + h), a1);
                a2 = V.Fma(xv, TW.Load<V>(w2, p + h), a2); a3 = V.Fma(xv, TW.Load<V>(w3, p + h), a3);
                a4 = V.Fma(xv, TW.Load<V>(w4, p + h), a4); a5 = V.Fma(xv, TW.Load<V>(w5, p + h), a5);
                a6 = V.Fma(xv, TW.Load<V>(w6, p + h), a6); a7 = V.Fma(xv, TW.Load<V>(w7, p + h), a7);
            }
            if (TW.HasNaNCodes)
            {
                nan = TW.NaNScan(w0 + p, nan); nan = TW.NaNScan(w1 + p, nan); nan = TW.NaNScan(w2 + p, nan); nan = TW.NaNScan(w3 + p, nan);
                nan = TW.NaNScan(w4 + p, nan); nan = TW.NaNScan(w5 + p, nan); nan = TW.NaNScan(w6 + p, nan); nan = TW.NaNScan(w7 + p, nan);
            }
        }
        V.Sum8(a0, a1, a2, a3, a4, a5, a6, a7, sums);
        if (p < k) Tail<TW>(x, 1, k, p, w, 8, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w, 8));
    }

    /// <summary>1 token × 8 rows read one row after the other (each row's dot in 4 FMA chains folded to one vector, the
    /// eight row vectors then reduced by Sum8), so the tile's weights arrive as one sequential run instead of eight
    /// streams a row apart. Taken for BF16 and FP8 rows of ≥ SequentialRowBytes, which decode streams from DRAM
    /// (`small` batch 1, alternating per step in one process: FP8 1.098× on 2 threads and 1.123× on 1, BF16
    /// 1.073×; extending it to rows of 256 bytes: 1.019× / 1.011×, to shorter rows: 0.986–1.011×). In cache the
    /// per-row reductions cost more than they save (hot F32 and FP8 rows of K = 64-128: 0.71-0.80×), so F32 — the
    /// training path, whose expert weights sit in L2 — keeps Tile1x8. FP8 on AVX-512 and AVX2 reads its rows in the
    /// same order through Tile1x8Fp8InLane / Tile1x8Fp8InLane256 instead.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Tile1x8Sequential<TW, V>(float* x, int k, byte** w, float* sums) where TW : IGemvWeights where V : unmanaged, IVec<V>
    {
        V nan = NaNNone<V>();
        V* r = stackalloc V[8];
        int p = 0;
        for (int i = 0; i < 8; i++) p = RowDot<TW, V>(x, k, w[i], ref nan, out r[i]);
        V.Sum8(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], sums);
        if (p < k) Tail<TW>(x, 1, k, p, w, 8, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w, 8));
    }

    /// <summary>One row's dot with x over whole 4·V.Count steps, as one vector of partial sums; returns where the
    /// tail starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RowDot<TW, V>(float* x, int k, byte* row, ref V nan, out V dot) where TW : IGemvWeights where V : unmanaged, IVec<V>
    {
        int n = V.Count, step = 4 * n;
        long ahead = AheadBytes<TW>(k);
        V a0 = default, a1 = default, a2 = default, a3 = default;
        int p = 0;
        for (; p + step <= k; p += step)
        {
            byte* at = row + ahead + (long)p * TW.Bytes;
            if (Sse.IsSupported) for (int o = 0; o < step * TW.Bytes; o += 64) Sse.Prefetch1(at + o);
            a0 = V.Fma(V.Load(x + p), TW.Load<V>(row, p), a0);
            a1 = V.Fma(V.Load(x + p + n), TW.Load<V>(row, p + n), a1);
            a2 = V.Fma(V.Load(x + p + 2 * n), TW.Load<V>(row, p + 2 * n), a2);
            a3 = V.Fma(V.Load(x + p + 3 * n), TW.Load<V>(row, p + 3 * n), a3);
            if (TW.HasNaNCodes) nan = TW.NaNScan(row + p, nan);
        }
        dot = V.Add(V.Add(a0, a1), V.Add(a2, a3));
        return p;
    }

    /// <summary>2 tokens × 4 rows (8 accumulators).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Tile2x4<TW, V>(float* x, int k, byte** w, float* sums) where TW : IGemvWeights where V : unmanaged, IVec<V>
    {
        int n = V.Count, step = 4 * n;
        byte* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        V a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        V nan = NaNNone<V>();
        float* x1p = x + k;
        long ahead = AheadBytes<TW>(k);
        int p = 0;
        for (; p + step <= k; p += step)
        {
            PrefetchAhead(ahead + (long)p * TW.Bytes, step * TW.Bytes, w0, w1, w2, w3);
            for (int h = 0; h < step; h += n)
            {
                V x0 = V.Load(x + p + h), x1 = V.Load(x1p + p + h), c;
                c = TW.Load<V>(w0, p + h); a00 = V.Fma(x0, c, a00); a10 = V.Fma(x1, c, a10);
                c = TW.Load<V>(w1, p + h); a01 = V.Fma(x0, c, a01); a11 = V.Fma(x1, c, a11);
                c = TW.Load<V>(w2, p + h); a02 = V.Fma(x0, c, a02); a12 = V.Fma(x1, c, a12);
                c = TW.Load<V>(w3, p + h); a03 = V.Fma(x0, c, a03); a13 = V.Fma(x1, c, a13);
            }
            if (TW.HasNaNCodes)
            {
                nan = TW.NaNScan(w0 + p, nan); nan = TW.NaNScan(w1 + p, nan);
                nan = TW.NaNScan(w2 + p, nan); nan = TW.NaNScan(w3 + p, nan);
            }
        }
        V.Sum8(a00, a01, a02, a03, a10, a11, a12, a13, sums);   // token 1's four sums move to its row of sums
        sums[SumStride + 3] = sums[7]; sums[SumStride + 2] = sums[6]; sums[SumStride + 1] = sums[5]; sums[SumStride] = sums[4];
        if (p < k) Tail<TW>(x, 2, k, p, w, 4, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w, 4));
    }

    /// <summary>3-8 tokens × 2 rows (≤ 16 accumulators; 5-8 tokens only on AVX-512, whose 32 registers hold them), so
    /// each weight vector is widened once per tile of tokens. Each (token, row) sum is one FMA chain over the row
    /// reduced by Sum8, whatever the token count, so a batch of 8 gives the bits of two batches of 4 (batch-8 decode
    /// on `small`, alternating per step in one process: 1.003–1.031× over two 4-token tiles, FP8 and BF16, 1 and 2
    /// threads). The vector steps are written out through Step3to8x2: as an inner loop the JIT spilled two of the
    /// sixteen accumulators in it (0.95×).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Tile3to8x2<TW, TT, V>(float* x, int k, byte** w, float* sums)
        where TW : IGemvWeights where TT : ITokenCount where V : unmanaged, IVec<V>
    {
        int n = V.Count, step = 4 * n;
        byte* w0 = w[0], w1 = w[1];
        V a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        V a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
        V nan = NaNNone<V>();
        long ahead = AheadBytes<TW>(k);
        int p = 0;
        for (; p + step <= k; p += step)
        {
            PrefetchAhead(ahead + (long)p * TW.Bytes, step * TW.Bytes, w0, w1, w0, w1);
            if (TW.HasNaNCodes)
            {
                nan = TW.NaNScan(w0 + p, nan); nan = TW.NaNScan(w1 + p, nan);
            }
            // the four vector steps written out: as a loop the JIT spilled two accumulators in it
            Step3to8x2<TW, TT, V>(x, k, p, w0, w1, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31, ref a40, ref a41, ref a50, ref a51, ref a60, ref a61, ref a70, ref a71);
            Step3to8x2<TW, TT, V>(x, k, p + n, w0, w1, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31, ref a40, ref a41, ref a50, ref a51, ref a60, ref a61, ref a70, ref a71);
            Step3to8x2<TW, TT, V>(x, k, p + 2 * n, w0, w1, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31, ref a40, ref a41, ref a50, ref a51, ref a60, ref a61, ref a70, ref a71);
            Step3to8x2<TW, TT, V>(x, k, p + 3 * n, w0, w1, ref a00, ref a01, ref a10, ref a11, ref a20, ref a21, ref a30, ref a31, ref a40, ref a41, ref a50, ref a51, ref a60, ref a61, ref a70, ref a71);
        }
        if (TT.Value > 4)
        {
            float* hi = sums + 4 * SumStride;
            V.Sum8(a40, a41, a50, a51, a60, a61, a70, a71, hi);    // tokens 4-7 first: their pairs land in rows 4 and 5
            for (int t = TT.Value - 1; t >= 4; t--) { sums[t * SumStride] = hi[2 * (t - 4)]; sums[t * SumStride + 1] = hi[2 * (t - 4) + 1]; }
        }
        V.Sum8(a00, a01, a10, a11, a20, a21, a30, a31, sums);    // pairs (token t, rows 0-1) move to row t of sums
        for (int t = Math.Min(TT.Value, 4) - 1; t > 0; t--) { sums[t * SumStride] = sums[2 * t]; sums[t * SumStride + 1] = sums[2 * t + 1]; }
        if (p < k) Tail<TW>(x, TT.Value, k, p, w, 2, sums);
        return TW.HasNaNCodes && (NaNSeen(nan) || TailHasNaN<TW>(k, p, w, 2));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step3to8x2<TW, TT, V>(float* x, int k, int p, byte* w0, byte* w1, ref V a00, ref V a01, ref V a10, ref V a11,
        ref V a20, ref V a21, ref V a30, ref V a31, ref V a40, ref V a41, ref V a50, ref V a51, ref V a60, ref V a61, ref V a70, ref V a71)
        where TW : IGemvWeights where TT : ITokenCount where V : unmanaged, IVec<V>
    {
        V c0 = TW.Load<V>(w0, p), c1 = TW.Load<V>(w1, p), xv;
        xv = V.Load(x + p); a00 = V.Fma(xv, c0, a00); a01 = V.Fma(xv, c1, a01);
        xv = V.Load(x + k + p); a10 = V.Fma(xv, c0, a10); a11 = V.Fma(xv, c1, a11);
        xv = V.Load(x + 2L * k + p); a20 = V.Fma(xv, c0, a20); a21 = V.Fma(xv, c1, a21);
        if (TT.Value >= 4) { xv = V.Load(x + 3L * k + p); a30 = V.Fma(xv, c0, a30); a31 = V.Fma(xv, c1, a31); }
        if (TT.Value >= 5) { xv = V.Load(x + 4L * k + p); a40 = V.Fma(xv, c0, a40); a41 = V.Fma(xv, c1, a41); }
        if (TT.Value >= 6) { xv = V.Load(x + 5L * k + p); a50 = V.Fma(xv, c0, a50); a51 = V.Fma(xv, c1, a51); }
        if (TT.Value >= 7) { xv = V.Load(x + 6L * k + p); a60 = V.Fma(xv, c0, a60); a61 = V.Fma(xv, c1, a61); }
        if (TT.Value == 8) { xv = V.Load(x + 7L * k + p); a70 = V.Fma(xv, c0, a70); a71 = V.Fma(xv, c1, a71); }
    }

    /// <summary>Prefetches <paramref name="bytes"/> bytes (one loop step) at byte offset <paramref name="at"/> of each
    /// tile row into L2, a hint per cache line (past the matrix end the hint is dropped, never faults). Two identical row
    /// pointers cost redundant hints.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchAhead(long at, int bytes, byte* w0, byte* w1, byte* w2, byte* w3)
    {
        if (!Sse.IsSupported) return;   // a JIT-time constant: no hints where x86's prefetch does not exist
        for (int o = 0; o < bytes; o += 64)
        {
            Sse.Prefetch1(w0 + at + o); Sse.Prefetch1(w1 + at + o); Sse.Prefetch1(w2 + at + o); Sse.Prefetch1(w3 + at + o);
        }
    }

    /// <summary>How far ahead the tiles prefetch, in bytes: PrefetchRows rows of K elements, at least MinAheadBytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long AheadBytes<TW>(int k) where TW : IGemvWeights => Math.Max((long)PrefetchRows * k * TW.Bytes, MinAheadBytes);

    /// <summary>A NaNScan accumulator before any scan: every byte 0x80 (codes OR 0x80 are never below it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V NaNNone<V>() where V : unmanaged, IVec<V> => V.Bits(0x80808080u);

    /// <summary>Whether a NaNScan accumulator saw a NaN code, i.e. some byte is 0xFF, in registers: every byte is
    /// ≥ 0x80, so adding 0x01 to each byte clears a byte's top bit only where it (or, through a carry, a byte
    /// below it that is itself 0xFF) overflowed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool NaNSeen<V>(V nan) where V : unmanaged, IVec<V>
    {
        V top = V.And(V.AddBits(nan, V.Bits(0x01010101u)), V.Bits(0x80808080u));
        V clean = V.EqualBits(top, V.Bits(0x80808080u));            // all-ones lanes (NaN as floats) where no byte overflowed
        return V.GreaterThanMask(V.Broadcast(1f), clean) != 0;      // 1 > 0.0 holds only in a lane that overflowed
    }

}

/// <summary>Marker types for the token count of a tile (<c>Tile3to8x2</c>, GemvKN's <c>Tile</c>): a constant the JIT folds.</summary>
internal interface ITokenCount
{
    static abstract int Value { get; }
}

internal readonly struct One : ITokenCount { public static int Value => 1; }
internal readonly struct Two : ITokenCount { public static int Value => 2; }
internal readonly struct Three : ITokenCount { public static int Value => 3; }
internal readonly struct Four : ITokenCount { public static int Value => 4; }
internal readonly struct Five : ITokenCount { public static int Value => 5; }
internal readonly struct Six : ITokenCount { public static int Value => 6; }
internal readonly struct Seven : ITokenCount { public static int Value => 7; }
internal readonly struct Eight : ITokenCount { public static int Value => 8; }

/// <summary>One weight storage format as the GEMV tiles see it.</summary>
internal unsafe interface IGemvWeights
{
    static abstract int Bytes { get; }
    /// <summary>Whether codes can be NaN patterns that FP32 arithmetic would not propagate (FP8).</summary>
    static abstract bool HasNaNCodes { get; }
    static abstract float Load1(byte* row, int p);
    /// <summary>Elements p..p+V.Count-1 of a row widened to FP32.</summary>
    static abstract V Load<V>(byte* row, int p) where V : unmanaged, IVec<V>;
    /// <summary>Folds the 4·V.Count codes at <paramref name="codes"/> into a running NaN detector.</summary>
    static abstract V NaNScan<V>(byte* codes, V seen) where V : unmanaged, IVec<V>;
}

internal readonly unsafe struct F32Weights : IGemvWeights
{
    public static int Bytes => 4;
    public static bool HasNaNCodes => false;
    public static float Load1(byte* row, int p) => ((float*)row)[p];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Load<V>(byte* row, int p) where V : unmanaged, IVec<V> => V.Load((float*)row + p);
    public static V NaNScan<V>(byte* codes, V seen) where V : unmanaged, IVec<V> => seen;
}

/// <summary>BF16 words zero-extended to dwords (vpmovzxwd) and shifted into the high half.</summary>
internal readonly unsafe struct Bf16Weights : IGemvWeights
{
    public static int Bytes => 2;
    public static bool HasNaNCodes => false;
    public static float Load1(byte* row, int p) => Bf16.ToFloat(((ushort*)row)[p]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Load<V>(byte* row, int p) where V : unmanaged, IVec<V> => V.ShiftLeftBits(V.LoadUShorts((ushort*)row + p), 16);
    public static V NaNScan<V>(byte* codes, V seen) where V : unmanaged, IVec<V> => seen;
}

/// <summary>E4M3 codes sign-extended to dwords (vpmovsxbd) as bits(c) = value · 2^-120 (see the file header); NaN
/// codes are detected per 4·V.Count bytes (OR 0x80 then unsigned byte max: a NaN code is the only one that becomes
/// 0xFF).</summary>
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
    public static V Load<V>(byte* row, int p) where V : unmanaged, IVec<V> =>
        V.And(V.ShiftLeftBits(V.LoadSBytes((sbyte*)row + p), 20), V.Bits(unchecked((uint)Mask)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V NaNScan<V>(byte* codes, V seen) where V : unmanaged, IVec<V> =>
        V.MaxBytes(seen, V.Or(V.Load((float*)codes), V.Bits(0x80808080u)));
}

/// <summary>E4M3 codes known to hold no NaN code (<see cref="GemvProblem.NoNaNCodes"/>): <see cref="Fp8Weights"/>
/// without the NaN scan.</summary>
internal readonly unsafe struct Fp8FiniteWeights : IGemvWeights
{
    public static int Bytes => 1;
    public static bool HasNaNCodes => false;
    public static float Load1(byte* row, int p) => Fp8Weights.Load1(row, p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Load<V>(byte* row, int p) where V : unmanaged, IVec<V> => Fp8Weights.Load<V>(row, p);
    public static V NaNScan<V>(byte* codes, V seen) where V : unmanaged, IVec<V> => seen;
}

/// <summary>Per-worker copies of x for FP8 problems (x scaled by one row block's scale_inv), grown on demand, and
/// which (run, problem, row block) each copy holds.</summary>
internal sealed unsafe class GemvScratch : IDisposable
{
    private readonly NativeBuffer<float>?[] _x;
    private readonly (int Run, int Problem, int Block, float Factor)[] _holds;
    private int _run;

    public GemvScratch(int threads)
    {
        _x = new NativeBuffer<float>?[threads];
        _holds = new (int, int, int, float)[threads];
    }

    /// <summary>A new run id, unique even when several threads share the pool (their runs interleave): copies made
    /// under another id are stale.</summary>
    public int NewRun() => Interlocked.Increment(ref _run);

    public bool Holds(int worker, int run, int problem, int block, out float factor)
    {
        var h = _holds[worker];
        factor = h.Factor;
        return h.Run == run && h.Problem == problem && h.Block == block;
    }

    public void Filled(int worker, int run, int problem, int block, float factor) => _holds[worker] = (run, problem, block, factor);

    public float* Buffer(int worker, long floats)
    {
        NativeBuffer<float>? b = _x[worker];
        if (b is null || b.Length < floats)
        {
            b?.Dispose();
            _x[worker] = b = new NativeBuffer<float>(Math.Max(floats, 8192));
            _holds[worker] = default;
        }
        return b.Pointer;
    }

    /// <summary>The worker's buffer for another use (GemvKN's scaled x): whatever copy it held is forgotten.</summary>
    public float* Claim(int worker, long floats)
    {
        float* b = Buffer(worker, floats);
        _holds[worker] = default;
        return b;
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
