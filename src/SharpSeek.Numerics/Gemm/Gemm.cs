// Gemm — the matrix products every layer runs on. All matrices are row-major and dense; C is (M,N).
//
//   F32          NN: C = A (M,K) · B (K,N)      NT: C = A (M,K) · Bᵀ, B (N,K)      TN: C = Aᵀ · B, A (K,M), B (K,N)
//   Bf16Weights  y (M,N) = x (M,K) · Wᵀ, W bf16 (N,K)
//   Fp8Block     C (M,N) = A · Bᵀ, A e4m3 (M,K) with 1x128 scales (M, ceil(K/128)),
//                B e4m3 (N,K) with 128x128 scales (ceil(N/128), ceil(K/128)); FP32 accumulation per 128-wide K block
//   Fp8Weights   y (M,N) = x (M,K) · dequant(W)ᵀ, W e4m3 (N,K) + weight_scale_inv (ceil(N/128), ceil(K/128))
//   GroupedF32   one GEMM per MoE expert, all in one call (see the method)
//
// Every kernel here has a naive twin in GemmReference (the test oracle). Spans may be longer than the shape
// needs; the extra elements are ignored.
namespace SharpSeek.Numerics;

public static class Gemm
{
    /// <summary>C (M,N) = op(A)·op(B) in the given layout (see <see cref="GemmLayout"/>), overwriting or adding into C.</summary>
    public static void F32(WorkerPool pool, GemmLayout layout, int m, int n, int k, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> c, GemmOutput output = GemmOutput.Overwrite)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmArgs.F32(layout, m, n, k, a.Length, b.Length, c.Length);
        GemmReference.F32(layout, m, n, k, a, b, c, output);
    }

    /// <summary>y (M,N) = x (M,K) · Wᵀ with BF16 weights W (N,K) (ushort bit patterns); FP32 accumulation.</summary>
    public static void Bf16Weights(WorkerPool pool, int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<ushort> w,
        Span<float> y, GemmOutput output = GemmOutput.Overwrite)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmReference.Bf16Weights(m, n, k, x, w, y, output);
    }

    /// <summary>C (M,N) = A·Bᵀ for block-scaled FP8 E4M3 operands: each 128-wide K block is accumulated in FP32,
    /// then multiplied by aScales[i,kb]·bScales[j/128,kb] and added to the FP32 result (DeepSeek-V3's promotion).</summary>
    public static void Fp8Block(WorkerPool pool, int m, int n, int k, ReadOnlySpan<byte> a, ReadOnlySpan<float> aScales,
        ReadOnlySpan<byte> b, ReadOnlySpan<float> bScales, Span<float> c)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmReference.Fp8Block(m, n, k, a, aScales, b, bScales, c);
    }

    /// <summary>y (M,N) = x (M,K) · dequant(W)ᵀ with FP8 E4M3 weights W (N,K) and their weight_scale_inv
    /// (ceil(N/128), ceil(K/128)), dequantized on the fly. Small M (decode) streams W once at memory bandwidth.</summary>
    public static void Fp8Weights(WorkerPool pool, int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<byte> w,
        ReadOnlySpan<float> wScaleInv, Span<float> y, GemmOutput output = GemmOutput.Overwrite)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmReference.Fp8Weights(m, n, k, x, w, wScaleInv, y, output);
    }

    /// <summary>Grouped GEMM for MoE experts: G = rowOffsets.Length-1 groups, group g owns rows
    /// [rowOffsets[g], rowOffsets[g+1]) of the token-major operands (tokens sorted by expert). N and K are the
    /// expert weight's dimensions, W_g (N,K) = out × in, stacked (G,N,K):
    /// <list type="bullet">
    /// <item>NT (forward):  a (rows,K), b = W (G,N,K), c (rows,N):  C_g = A_g · W_gᵀ</item>
    /// <item>NN (dgrad):    a (rows,N), b = W (G,N,K), c (rows,K):  C_g = A_g · W_g  (dX = dY · W)</item>
    /// <item>TN (wgrad):    a (rows,N), b (rows,K), c = dW (G,N,K): C_g = A_gᵀ · B_g  (dW = dYᵀ · X)</item>
    /// </list>
    /// Groups with no rows are skipped (for TN with Overwrite their C_g is zeroed).</summary>
    public static void GroupedF32(WorkerPool pool, GemmLayout layout, int n, int k, ReadOnlySpan<int> rowOffsets,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, GemmOutput output = GemmOutput.Overwrite)
    {
        ArgumentNullException.ThrowIfNull(pool);
        GemmReference.GroupedF32(layout, n, k, rowOffsets, a, b, c, output);
    }
}
