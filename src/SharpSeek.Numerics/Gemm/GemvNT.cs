// Small-M GEMV for the decode path: y (M,N) (+)= x (M,K) · Wᵀ for M ≤ MaxRows, W (N,K) row-major in FP32, BF16 or
// FP8 E4M3 with weight_scale_inv (ceil(N/128), ceil(K/128)). Memory-bound: each weight row is read once per row of
// x (it stays in L1 for the next), widened in registers and reduced into FP32 — no packing, which would triple the
// traffic. FP8 follows the block structure of its scales:
//   y[i,j] = Σ_kb scale_inv[j/128, kb] · Σ_{k in kb} x[i,k] · fp8(W[j,k])
// Rows of W are split into fixed chunks of RowsPerTask (deterministic), claimed by the pool's workers.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

/// <summary>dot(x (K), row j of W (N,K)) for one weight format; <c>vector</c> selects the AVX2 body.</summary>
internal unsafe interface IRowDot
{
    static abstract float Dot(float* x, void* w, int row, int k, float* scaleRow, bool vector);
}

internal static unsafe class GemvNT
{
    /// <summary>Largest M served by the GEMV (W is re-read from L1 per row of x; beyond this the packed GEMM wins).</summary>
    public const int MaxRows = 4;
    private const int RowsPerTask = 32;

    /// <summary><paramref name="scales"/> is FP8's weight_scale_inv (ceil(N/128), ceil(K/128)) or null.</summary>
    public static void Run<TDot>(WorkerPool pool, int m, int n, int k, float* x, void* w, float* scales, float* y,
        bool accumulate, bool vector) where TDot : IRowDot
    {
        var problem = new GemvProblem { M = m, X = x, W = w, Y = y };
        RunMany<TDot>(pool, &problem, 1, n, k, scales, accumulate, vector);
    }

    /// <summary>Several GEMVs of the same N, K (MoE experts with ≤ MaxRows tokens each) in one pool run.
    /// The W pointers are in elements of the weight format (passed through to TDot).</summary>
    public static void RunMany<TDot>(WorkerPool pool, GemvProblem* problems, int count, int n, int k, float* scales,
        bool accumulate, bool vector) where TDot : IRowDot
    {
        int chunks = (n + RowsPerTask - 1) / RowsPerTask;
        var job = new Job<TDot>
        {
            Problems = problems, Count = count, Chunks = chunks, N = n, K = k, Scales = scales, Accumulate = accumulate,
            Vector = vector && Avx2.IsSupported && Fma.IsSupported,
        };
        pool.Run(count * chunks, ref job);
    }

    private struct Job<TDot> : IParallelJob where TDot : IRowDot
    {
        public GemvProblem* Problems;
        public int Count, Chunks, N, K;
        public float* Scales;
        public bool Accumulate, Vector;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
        public readonly void Execute(int task, int worker)
        {
            GemvProblem p = Problems[task / Chunks];
            int chunk = task % Chunks;
            int kb = GemmArgs.Blocks(K);
            int end = Math.Min(N, (chunk + 1) * RowsPerTask);
            for (int j = chunk * RowsPerTask; j < end; j++)
            {
                float* scaleRow = Scales == null ? null : Scales + (j >> 7) * kb;
                for (int i = 0; i < p.M; i++)
                {
                    float dot = TDot.Dot(p.X + (long)i * K, p.W, j, K, scaleRow, Vector);
                    float* yij = p.Y + (long)i * N + j;
                    *yij = Accumulate ? *yij + dot : dot;
                }
            }
        }
    }
}

/// <summary>One small-M GEMV: x (M,K), W (N,K), y (M,N).</summary>
internal unsafe struct GemvProblem
{
    public int M;
    public float* X, Y;
    public void* W;
}

/// <summary>FP32 or BF16 rows: four independent FMA chains of 8 lanes.</summary>
internal readonly unsafe struct ElementRowDot<TElem> : IRowDot where TElem : IGemmElement
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* x, void* w, int row, int k, float* scaleRow, bool vector)
    {
        long r = (long)row * k;
        int p = 0;
        float sum = 0;
        if (vector)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; p + 32 <= k; p += 32)
            {
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(x + p), TElem.Load8(w, r + p), a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(x + p + 8), TElem.Load8(w, r + p + 8), a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(x + p + 16), TElem.Load8(w, r + p + 16), a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(x + p + 24), TElem.Load8(w, r + p + 24), a3);
            }
            for (; p + 8 <= k; p += 8) a0 = Fma.MultiplyAdd(Avx.LoadVector256(x + p), TElem.Load8(w, r + p), a0);
            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; p < k; p++) sum += x[p] * TElem.Load(w, r + p);
        return sum;
    }
}

/// <summary>FP8 E4M3 rows with 128-wide scale blocks: each block's sum is scaled once.</summary>
internal readonly unsafe struct E4M3ScaledRowDot : IRowDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* x, void* w, int row, int k, float* scaleRow, bool vector)
    {
        byte* wr = (byte*)w + (long)row * k;
        if (!vector) return DotScalar(x, wr, scaleRow, k);
        int k0 = k / GemmArgs.ScaleBlock * GemmArgs.ScaleBlock;
        float full = DotAvx2(x, wr, scaleRow, k0 / GemmArgs.ScaleBlock);
        return k0 < k ? full + DotScalar(x + k0, wr + k0, scaleRow + k0 / GemmArgs.ScaleBlock, k - k0) : full;
    }

    private static float DotScalar(float* x, byte* w, float* scales, int k)
    {
        float total = 0;
        for (int k0 = 0, b = 0; k0 < k; k0 += GemmArgs.ScaleBlock, b++)
        {
            int end = Math.Min(k, k0 + GemmArgs.ScaleBlock);
            float block = 0;
            for (int p = k0; p < end; p++) block += x[p] * Fp8E4M3.ToFloat(w[p]);
            total += block * scales[b];
        }
        return total;
    }

    /// <summary>The full 128-wide blocks. No calls inside, so nothing forces the JIT to spill the accumulators.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float DotAvx2(float* x, byte* w, float* scales, int fullBlocks)
    {
        Vector256<float> total = Vector256<float>.Zero;
        Vector256<byte> nanCodes = Vector256<byte>.Zero;
        for (int b = 0; b < fullBlocks; b++)
        {
            // Four independent chains hide the FMA latency; 128 = 4 steps × 32 codes. NaN codes are detected per
            // 32 bytes (3 instructions) rather than blended per element, which keeps this loop memory-bound.
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            float* xb = x + b * GemmArgs.ScaleBlock;
            sbyte* wb = (sbyte*)w + b * GemmArgs.ScaleBlock;
            for (int p = 0; p < GemmArgs.ScaleBlock; p += 32)
            {
                nanCodes |= GemmFormats.NaNCodes32(wb + p);
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(xb + p), GemmFormats.E4M3ToFloat8IgnoringNaN(wb + p), a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(xb + p + 8), GemmFormats.E4M3ToFloat8IgnoringNaN(wb + p + 8), a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(xb + p + 16), GemmFormats.E4M3ToFloat8IgnoringNaN(wb + p + 16), a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(xb + p + 24), GemmFormats.E4M3ToFloat8IgnoringNaN(wb + p + 24), a3);
            }
            total = Fma.MultiplyAdd((a0 + a1) + (a2 + a3), Vector256.Create(scales[b]), total);
        }
        return nanCodes == Vector256<byte>.Zero ? Vector256.Sum(total) : float.NaN;
    }
}
