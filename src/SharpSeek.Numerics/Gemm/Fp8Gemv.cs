// FP8 weight-only GEMV for decode: y (M,N) (+)= x (M,K) · dequant(W)ᵀ for small M, W e4m3 (N,K) with
// weight_scale_inv (ceil(N/128), ceil(K/128)). Memory-bound: each weight byte is read once, widened in registers
// (GemmFormats.E4M3ToFloat8), multiplied into a per-128-block FP32 sum and scaled once per block:
//   y[i,j] = Σ_kb scale_inv[j/128, kb] · Σ_{k in kb} x[i,k] · fp8(W[j,k])
// Rows of W are split into fixed chunks of RowsPerTask (deterministic), claimed by the pool's workers.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

internal static unsafe class Fp8Gemv
{
    /// <summary>Largest M served by the GEMV (W is re-widened per row of x; beyond this the packed GEMM wins).</summary>
    public const int MaxRows = 4;
    private const int RowsPerTask = 32;

    public static void Run(WorkerPool pool, int m, int n, int k, float* x, byte* w, float* scaleInv, float* y,
        bool accumulate, bool vector)
    {
        var job = new Job
        {
            M = m, N = n, K = k, X = x, W = w, ScaleInv = scaleInv, Y = y, Accumulate = accumulate,
            Vector = vector && Avx2.IsSupported && Fma.IsSupported,
        };
        pool.Run((n + RowsPerTask - 1) / RowsPerTask, ref job);
    }

    private struct Job : IParallelJob
    {
        public int M, N, K;
        public float* X, ScaleInv, Y;
        public byte* W;
        public bool Accumulate, Vector;

        public void Execute(int task, int worker)
        {
            int kb = GemmArgs.Blocks(K);
            int end = Math.Min(N, (task + 1) * RowsPerTask);
            for (int j = task * RowsPerTask; j < end; j++)
            {
                byte* row = W + (long)j * K;
                float* scales = ScaleInv + (j >> 7) * kb;
                for (int i = 0; i < M; i++)
                {
                    float dot = Vector ? DotAvx2(X + (long)i * K, row, scales, K) : DotScalar(X + (long)i * K, row, scales, K);
                    float* yij = Y + (long)i * N + j;
                    *yij = Accumulate ? *yij + dot : dot;
                }
            }
        }
    }

    /// <summary>The portable body: the same block-wise reduction with the 256-entry table.</summary>
    internal static float DotScalar(float* x, byte* w, float* scales, int k)
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotAvx2(float* x, byte* w, float* scales, int k)
    {
        Vector256<float> total = Vector256<float>.Zero;
        Vector256<byte> nanCodes = Vector256<byte>.Zero;
        int fullBlocks = k / GemmArgs.ScaleBlock;
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
        int k0 = fullBlocks * GemmArgs.ScaleBlock;
        float tail = k0 < k ? DotScalar(x + k0, w + k0, scales + fullBlocks, k - k0) : 0f;
        float dot = Vector256.Sum(total) + tail;
        return nanCodes == Vector256<byte>.Zero ? dot : float.NaN;
    }
}
