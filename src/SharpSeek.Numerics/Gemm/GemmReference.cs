// Naive GEMM references: the test oracle for every fast kernel in Gemm and the fallback where no fast path
// applies. Plain triple loops, accumulating in FP64 so the oracle is more accurate than any kernel under test.
//
// Shapes (all row-major, dense):
//   F32          NN: C (M,N) = A (M,K) · B (K,N)   NT: C = A (M,K) · Bᵀ, B (N,K)   TN: C = Aᵀ · B, A (K,M), B (K,N)
//   Bf16Weights  y (M,N) = x (M,K) · Wᵀ, W bf16 (N,K)
//   Fp8Block     C (M,N) = A · Bᵀ, A e4m3 (M,K) scales (M, ceil(K/128)); B e4m3 (N,K) scales (ceil(N/128), ceil(K/128))
//   Fp8Weights   y (M,N) = x (M,K) · dequant(W)ᵀ, W e4m3 (N,K), scale_inv (ceil(N/128), ceil(K/128))
//   GroupedF32   see Gemm.GroupedF32
namespace SharpSeek.Numerics;

public static class GemmReference
{
    public static void F32(GemmLayout layout, int m, int n, int k, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        Span<float> c, GemmOutput output = GemmOutput.Overwrite)
    {
        GemmArgs.F32(layout, m, n, k, a.Length, b.Length, c.Length);
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int p = 0; p < k; p++)
            {
                float av = layout == GemmLayout.TN ? a[p * m + i] : a[i * k + p];
                float bv = layout == GemmLayout.NT ? b[j * k + p] : b[p * n + j];
                sum += (double)av * bv;
            }
            Store(c, i * n + j, sum, output);
        }
    }

    public static void Bf16Weights(int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<ushort> w, Span<float> y,
        GemmOutput output = GemmOutput.Overwrite)
    {
        GemmArgs.Dims(m, n, k);
        GemmArgs.Size("x (M,K)", x.Length, m, k);
        GemmArgs.Size("w (N,K)", w.Length, n, k);
        GemmArgs.Size("y (M,N)", y.Length, m, n);
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int p = 0; p < k; p++) sum += (double)x[i * k + p] * Bf16.ToFloat(w[j * k + p]);
            Store(y, i * n + j, sum, output);
        }
    }

    /// <summary>DeepSeek's promotion: each 128-wide K block is summed, then scaled by aScale[i,kb]·bScale[j/128,kb]
    /// and added to the FP32 accumulator.</summary>
    public static void Fp8Block(int m, int n, int k, ReadOnlySpan<byte> a, ReadOnlySpan<float> aScales,
        ReadOnlySpan<byte> b, ReadOnlySpan<float> bScales, Span<float> c)
    {
        GemmArgs.Fp8Block(m, n, k, a.Length, aScales.Length, b.Length, bScales.Length, c.Length);
        int kb = GemmArgs.Blocks(k);
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int blk = 0; blk < kb; blk++)
            {
                double block = 0;
                int end = Math.Min(k, (blk + 1) * GemmArgs.ScaleBlock);
                for (int p = blk * GemmArgs.ScaleBlock; p < end; p++)
                    block += (double)Fp8E4M3.ToFloat(a[i * k + p]) * Fp8E4M3.ToFloat(b[j * k + p]);
                sum += block * aScales[i * kb + blk] * bScales[j / GemmArgs.ScaleBlock * kb + blk];
            }
            c[i * n + j] = (float)sum;
        }
    }

    public static void Fp8Weights(int m, int n, int k, ReadOnlySpan<float> x, ReadOnlySpan<byte> w,
        ReadOnlySpan<float> wScaleInv, Span<float> y, GemmOutput output = GemmOutput.Overwrite)
    {
        GemmArgs.Fp8Weights(m, n, k, x.Length, w.Length, wScaleInv.Length, y.Length);
        int kb = GemmArgs.Blocks(k);
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int p = 0; p < k; p++)
                sum += (double)x[i * k + p] * (Fp8E4M3.ToFloat(w[j * k + p]) * wScaleInv[j / GemmArgs.ScaleBlock * kb + p / GemmArgs.ScaleBlock]);
            Store(y, i * n + j, sum, output);
        }
    }

    public static void GroupedF32(GemmLayout layout, int n, int k, ReadOnlySpan<int> rowOffsets, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> c, GemmOutput output = GemmOutput.Overwrite)
    {
        GemmArgs.Grouped(layout, n, k, rowOffsets, a.Length, b.Length, c.Length);
        for (int g = 0; g + 1 < rowOffsets.Length; g++)
        {
            GroupedSlices(layout, n, k, rowOffsets, g, out var gm, out var gn, out var gk, out var ra, out var rb, out var rc);
            F32(layout, gm, gn, gk, a.Slice(ra.Start, ra.Length), b.Slice(rb.Start, rb.Length), c.Slice(rc.Start, rc.Length), output);
        }
    }

    /// <summary>Group g of a grouped GEMM as a plain GEMM: its (M,N,K) and the element ranges of a, b and c.</summary>
    internal static void GroupedSlices(GemmLayout layout, int n, int k, ReadOnlySpan<int> rowOffsets, int g,
        out int gm, out int gn, out int gk, out (int Start, int Length) ra, out (int Start, int Length) rb, out (int Start, int Length) rc)
    {
        int r0 = rowOffsets[g], rows = rowOffsets[g + 1] - rowOffsets[g];
        int weight = checked(n * k);
        switch (layout)
        {
            case GemmLayout.NT:   // forward: C_g (M_g,N) = A_g (M_g,K) · W_gᵀ, W_g (N,K)
                (gm, gn, gk) = (rows, n, k);
                ra = (r0 * k, rows * k); rb = (g * weight, weight); rc = (r0 * n, rows * n);
                break;
            case GemmLayout.NN:   // dgrad: C_g (M_g,K) = A_g (M_g,N) · W_g, W_g (N,K)
                (gm, gn, gk) = (rows, k, n);
                ra = (r0 * n, rows * n); rb = (g * weight, weight); rc = (r0 * k, rows * k);
                break;
            default:              // wgrad: C_g (N,K) = A_gᵀ · B_g, A_g (M_g,N), B_g (M_g,K)
                (gm, gn, gk) = (n, k, rows);
                ra = (r0 * n, rows * n); rb = (r0 * k, rows * k); rc = (g * weight, weight);
                break;
        }
    }

    private static void Store(Span<float> c, int index, double sum, GemmOutput output) =>
        c[index] = output == GemmOutput.Accumulate ? (float)(c[index] + sum) : (float)sum;
}
