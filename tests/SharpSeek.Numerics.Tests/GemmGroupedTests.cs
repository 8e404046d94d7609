using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

public class GemmGroupedTests
{
    public static TheoryData<GemmLayout, int, SimdLevel> LayoutsThreadsAndLevels() => GemmF32Tests.LayoutsThreadsAndLevels();

    [Theory]
    [MemberData(nameof(LayoutsThreadsAndLevels))]
    public void GroupedF32_EqualsOneF32PerGroup(GemmLayout layout, int threads, SimdLevel level)
    {
        int n = 33, k = 70;
        int[] rowOffsets = [0, 5, 5, 18, 19, 60, 61];   // includes an empty group and single rows
        int groups = rowOffsets.Length - 1, rows = rowOffsets[^1];
        (int aLen, int bLen, int cLen) = layout switch
        {
            GemmLayout.NT => (rows * k, groups * n * k, rows * n),
            GemmLayout.NN => (rows * n, groups * n * k, rows * k),
            _ => (rows * n, rows * k, groups * n * k),
        };
        float[] a = Floats(aLen, 1), b = Floats(bLen, 2), c0 = Floats(cLen, 3);
        foreach (GemmOutput output in new[] { GemmOutput.Overwrite, GemmOutput.Accumulate })
        {
            float[] expected = (float[])c0.Clone(), actual = (float[])c0.Clone();
            for (int g = 0; g < groups; g++)
            {
                int r0 = rowOffsets[g], gRows = rowOffsets[g + 1] - r0, w = n * k;
                switch (layout)
                {
                    case GemmLayout.NT:
                        GemmReference.F32(layout, gRows, n, k, a.AsSpan(r0 * k, gRows * k), b.AsSpan(g * w, w), expected.AsSpan(r0 * n, gRows * n), output);
                        break;
                    case GemmLayout.NN:
                        GemmReference.F32(layout, gRows, k, n, a.AsSpan(r0 * n, gRows * n), b.AsSpan(g * w, w), expected.AsSpan(r0 * k, gRows * k), output);
                        break;
                    default:
                        GemmReference.F32(layout, n, k, gRows, a.AsSpan(r0 * n, gRows * n), b.AsSpan(r0 * k, gRows * k), expected.AsSpan(g * w, w), output);
                        break;
                }
            }
            Gemm.GroupedF32(Pool(threads), layout, n, k, rowOffsets, a, b, actual, output, level);
            AssertClose(expected, actual, Tolerance(Math.Max(k, rows)), $"grouped {layout} {output}");
        }
    }

    [Fact]
    public void GroupedF32_NT_GroupRowsUseTheirOwnExpertWeights()
    {
        // Two experts, K=1, N=1: expert 0 weight 2, expert 1 weight 3; rows [0,1) -> expert 0, [1,3) -> expert 1.
        float[] x = [1, 1, 10], w = [2, 3], y = new float[3];
        Gemm.GroupedF32(Pool2, GemmLayout.NT, 1, 1, [0, 1, 3], x, w, y);
        Assert.Equal([2f, 3f, 30f], y);
    }

    [Fact]
    public void GroupedF32_MoreGroupsThanTheStackHolds_MatchesReference()
    {
        int groups = 300, n = 3, k = 5;
        int[] rowOffsets = new int[groups + 1];
        for (int g = 0; g < groups; g++) rowOffsets[g + 1] = rowOffsets[g] + g % 9;   // 0..8 rows: GEMV and packed
        int rows = rowOffsets[^1];
        float[] x = Floats(rows * k, 1), w = Floats(groups * n * k, 2);
        float[] expected = new float[rows * n], actual = new float[rows * n];
        GemmReference.GroupedF32(GemmLayout.NT, n, k, rowOffsets, x, w, expected);
        Gemm.GroupedF32(Pool2, GemmLayout.NT, n, k, rowOffsets, x, w, actual);
        AssertClose(expected, actual, Tolerance(k), "300 groups");
    }

    [Fact]
    public void GroupedF32_AfterWarmUp_AllocatesNothing()
    {
        int n = 32, k = 48;
        int[] rowOffsets = [0, 1, 1, 9, 40];
        float[] x = Floats(40 * k, 1), w = Floats(4 * n * k, 2), y = new float[40 * n];
        Assert.Equal(0, TestSupport.AllocatedBy(() =>
        {
            for (int i = 0; i < 20; i++) Gemm.GroupedF32(Pool2, GemmLayout.NT, n, k, rowOffsets, x, w, y);
        }));
    }

    [Fact]
    public void GroupedF32_DecreasingRowOffsets_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Gemm.GroupedF32(Pool1, GemmLayout.NT, 2, 2, [0, 3, 1], new float[6], new float[8], new float[6]));
        Assert.Contains("non-decreasing", e.Message);
    }
}
