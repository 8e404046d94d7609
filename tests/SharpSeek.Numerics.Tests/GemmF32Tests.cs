using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

public class GemmF32Tests
{
    [Fact]
    public void Reference_NN_MatchesHandComputedProduct()
    {
        // A (2,3) · B (3,2)
        float[] a = [1, 2, 3, 4, 5, 6], b = [7, 8, 9, 10, 11, 12];
        var c = new float[4];
        GemmReference.F32(GemmLayout.NN, 2, 2, 3, a, b, c);
        Assert.Equal([58f, 64f, 139f, 154f], c);
    }

    [Fact]
    public void Reference_NTAndTN_MatchNNOnTransposedOperands()
    {
        int m = 5, n = 4, k = 3;
        float[] a = Floats(m * k, 1), b = Floats(k * n, 2);
        float[] aT = Transpose(a, m, k), bT = Transpose(b, k, n);
        float[] nn = new float[m * n], nt = new float[m * n], tn = new float[m * n];
        GemmReference.F32(GemmLayout.NN, m, n, k, a, b, nn);
        GemmReference.F32(GemmLayout.NT, m, n, k, a, bT, nt);
        GemmReference.F32(GemmLayout.TN, m, n, k, aT, b, tn);
        Assert.Equal(nn, nt);
        Assert.Equal(nn, tn);
    }

    public static TheoryData<GemmLayout, int> LayoutsAndThreads()
    {
        var data = new TheoryData<GemmLayout, int>();
        foreach (GemmLayout layout in Enum.GetValues<GemmLayout>())
            foreach (int threads in new[] { 1, 2 }) data.Add(layout, threads);
        return data;
    }

    public static TheoryData<GemmLayout, int, SimdLevel> LayoutsThreadsAndLevels()
    {
        var data = new TheoryData<GemmLayout, int, SimdLevel>();
        foreach (GemmLayout layout in Enum.GetValues<GemmLayout>())
            foreach (int threads in new[] { 1, 2 })
                foreach (SimdLevel level in Simd.Supported) data.Add(layout, threads, level);
        return data;
    }

    [Theory]
    [MemberData(nameof(LayoutsThreadsAndLevels))]
    public void F32_MatchesReference_AtRaggedShapes(GemmLayout layout, int threads, SimdLevel level)
    {
        foreach (var (m, n, k) in Shapes)
        {
            float[] a = Floats(m * k, m + 7 * k), b = Floats(k * n, n + 3 * k);
            var expected = new float[m * n];
            var actual = Floats(m * n, 99);          // garbage that Overwrite must replace
            GemmReference.F32(layout, m, n, k, a, b, expected);
            Gemm.F32(Pool(threads), layout, m, n, k, a, b, actual, GemmOutput.Overwrite, level);
            AssertClose(expected, actual, Tolerance(k), $"{layout} {m}x{n}x{k} threads={threads} {level}");
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void F32_LargerThanOneCacheBlock_MatchesReference(SimdLevel level)
    {
        // Crosses KC=256 twice, MC=120 several times and leaves ragged MR/NR edges.
        int m = 250, n = 70, k = 530;
        float[] a = Floats(m * k, 21), b = Floats(n * k, 22);
        float[] expected = new float[m * n], actual = new float[m * n];
        GemmReference.F32(GemmLayout.NT, m, n, k, a, b, expected);
        Gemm.F32(Pool2, GemmLayout.NT, m, n, k, a, b, actual, GemmOutput.Overwrite, level);
        AssertClose(expected, actual, Tolerance(k), $"NT {m}x{n}x{k} {level}");
    }

    [Theory]
    [MemberData(nameof(LayoutsAndThreads))]
    public void F32_Accumulate_AddsProductToExistingC(GemmLayout layout, int threads)
    {
        foreach (var (m, n, k) in new[] { (7, 17, 129), (13, 33, 300), (1, 5, 3) })
        {
            float[] a = Floats(m * k, 11), b = Floats(k * n, 12), c0 = Floats(m * n, 13);
            float[] expected = (float[])c0.Clone(), actual = (float[])c0.Clone();
            GemmReference.F32(layout, m, n, k, a, b, expected, GemmOutput.Accumulate);
            foreach (SimdLevel level in Simd.Supported)
            {
                float[] perLevel = (float[])c0.Clone();
                Gemm.F32(Pool(threads), layout, m, n, k, a, b, perLevel, GemmOutput.Accumulate, level);
                AssertClose(expected, perLevel, Tolerance(k), $"{layout} accumulate {m}x{n}x{k} {level}");
            }
            Gemm.F32(Pool(threads), layout, m, n, k, a, b, actual, GemmOutput.Accumulate);
            AssertClose(expected, actual, Tolerance(k), $"{layout} accumulate {m}x{n}x{k}");
        }
    }

    [Fact]
    public void F32_ZeroK_OverwriteZeroesAndAccumulateKeepsC()
    {
        float[] c = [1, 2, 3, 4, 5, 6];
        Gemm.F32(Pool2, GemmLayout.NN, 2, 3, 0, [], [], c, GemmOutput.Accumulate);
        Assert.Equal([1f, 2, 3, 4, 5, 6], c);
        Gemm.F32(Pool2, GemmLayout.NN, 2, 3, 0, [], [], c);
        Assert.All(c, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void F32_SameInputs_GiveSameBits_ForAnyThreadCountAndRepeat()
    {
        int m = 300, n = 70, k = 600;   // K crosses KC: per-task packing on every thread count (each task packs all of B)
        float[] a = Floats(m * k, 5), b = Floats(n * k, 6);
        float[] first = new float[m * n], again = new float[m * n], oneThread = new float[m * n];
        Gemm.F32(Pool2, GemmLayout.NT, m, n, k, a, b, first);
        Gemm.F32(Pool2, GemmLayout.NT, m, n, k, a, b, again);
        Gemm.F32(Pool1, GemmLayout.NT, m, n, k, a, b, oneThread);
        Assert.Equal(first, again);
        Assert.Equal(first, oneThread);
        using var pool3 = new WorkerPool(3);
        var threeThreads = new float[m * n];
        Gemm.F32(pool3, GemmLayout.NT, m, n, k, a, b, threeThreads);
        Assert.Equal(first, threeThreads);
    }

    [Fact]
    public void F32_AfterWarmUp_AllocatesNothing()
    {
        int m = 64, n = 64, k = 64;
        float[] a = Floats(m * k, 1), b = Floats(k * n, 2), c = new float[m * n];
        Assert.Equal(0, TestSupport.AllocatedBy(() =>
        {
            for (int i = 0; i < 20; i++) Gemm.F32(Pool2, GemmLayout.NN, m, n, k, a, b, c);
        }));
    }

    [Fact]
    public void F32_TooShortOperand_ThrowsArgumentExceptionNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Gemm.F32(Pool1, GemmLayout.NN, 4, 4, 4, new float[15], new float[16], new float[16]));
        Assert.Contains("a (M,K)", e.Message);
    }

    internal static float[] Transpose(float[] x, int rows, int cols)
    {
        var t = new float[x.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c];
        return t;
    }
}
