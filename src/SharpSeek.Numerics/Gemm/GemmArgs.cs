// Argument checks shared by Gemm and GemmReference: validate once at entry, with messages that say what to fix.
using System.Diagnostics.CodeAnalysis;

namespace SharpSeek.Numerics;

internal static class GemmArgs
{
    public const int ScaleBlock = 128;   // FP8 scaling block (1x128 activation tiles, 128x128 weight blocks)

    public static int Blocks(int n) => (n + ScaleBlock - 1) / ScaleBlock;

    public static void Dims(int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0)
            ThrowDims(m, n, k);
    }

    /// <summary>Operand <paramref name="name"/> must hold at least rows·cols elements.</summary>
    public static void Size(string name, int length, long rows, long cols)
    {
        if (length < rows * cols) ThrowSize(name, length, rows, cols);
    }

    public static void Layout(GemmLayout layout)
    {
        if ((uint)layout > (uint)GemmLayout.TN)
            throw new ArgumentOutOfRangeException(nameof(layout), layout, "Use GemmLayout.NN, NT or TN.");
    }

    public static void F32(GemmLayout layout, int m, int n, int k, int a, int b, int c)
    {
        Layout(layout);
        Dims(m, n, k);
        if (layout == GemmLayout.TN) Size("a (K,M)", a, k, m); else Size("a (M,K)", a, m, k);
        if (layout == GemmLayout.NT) Size("b (N,K)", b, n, k); else Size("b (K,N)", b, k, n);
        Size("c (M,N)", c, m, n);
    }

    public static void Fp8Block(int m, int n, int k, int a, int aScales, int b, int bScales, int c)
    {
        Dims(m, n, k);
        Size("a (M,K) e4m3", a, m, k);
        Size("aScales (M, ceil(K/128))", aScales, m, Blocks(k));
        Size("b (N,K) e4m3", b, n, k);
        Size("bScales (ceil(N/128), ceil(K/128))", bScales, Blocks(n), Blocks(k));
        Size("c (M,N)", c, m, n);
    }

    public static void Fp8Weights(int m, int n, int k, int x, int w, int wScaleInv, int y)
    {
        Dims(m, n, k);
        Size("x (M,K)", x, m, k);
        Size("w (N,K) e4m3", w, n, k);
        Size("wScaleInv (ceil(N/128), ceil(K/128))", wScaleInv, Blocks(n), Blocks(k));
        Size("y (M,N)", y, m, n);
    }

    public static void Grouped(GemmLayout layout, int n, int k, ReadOnlySpan<int> rowOffsets, int a, int b, int c)
    {
        Layout(layout);
        Dims(0, n, k);
        if (rowOffsets.Length < 1 || rowOffsets[0] != 0)
            throw new ArgumentException("rowOffsets must start with 0 and hold G+1 entries (group g owns rows [rowOffsets[g], rowOffsets[g+1])).", nameof(rowOffsets));
        for (int g = 1; g < rowOffsets.Length; g++)
            if (rowOffsets[g] < rowOffsets[g - 1])
                throw new ArgumentException($"rowOffsets must be non-decreasing (tokens sorted by expert); rowOffsets[{g}]={rowOffsets[g]} < rowOffsets[{g - 1}]={rowOffsets[g - 1]}.", nameof(rowOffsets));
        long rows = rowOffsets[^1], groups = rowOffsets.Length - 1;
        switch (layout)
        {
            case GemmLayout.NT: Size("a (rows,K)", a, rows, k); Size("b (G,N,K)", b, groups * n, k); Size("c (rows,N)", c, rows, n); break;
            case GemmLayout.NN: Size("a (rows,N)", a, rows, n); Size("b (G,N,K)", b, groups * n, k); Size("c (rows,K)", c, rows, k); break;
            default: Size("a (rows,N)", a, rows, n); Size("b (rows,K)", b, rows, k); Size("c (G,N,K)", c, groups * n, k); break;
        }
    }

    [DoesNotReturn]
    private static void ThrowDims(int m, int n, int k) =>
        throw new ArgumentOutOfRangeException(nameof(m), $"GEMM dimensions must be >= 0, got M={m}, N={n}, K={k}.");

    [DoesNotReturn]
    private static void ThrowSize(string name, int length, long rows, long cols) =>
        throw new ArgumentException($"GEMM operand {name} has {length} elements but the shape ({rows},{cols}) needs {rows * cols}; pass a dense row-major span of at least that length.", name);
}
