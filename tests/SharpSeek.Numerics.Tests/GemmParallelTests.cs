using SharpSeek.Numerics;
using static SharpSeek.Numerics.Tests.GemmTestData;

namespace SharpSeek.Numerics.Tests;

/// <summary>The multi-threaded GEMM paths: the pipelined shared-B driver (one large problem: B blocks packed by
/// all threads one block ahead of the compute, row chunks claimed dynamically) and grouped task lists ordered
/// largest-first. Each must equal the reference and give the same bits for 1, 2 and 3 threads.</summary>
public class GemmParallelTests
{
    private static readonly WorkerPool Pool3 = new(3);

    public static TheoryData<GemmLayout, GemmOutput> LayoutsAndOutputs()
    {
        var data = new TheoryData<GemmLayout, GemmOutput>();
        foreach (GemmLayout layout in Enum.GetValues<GemmLayout>())
            foreach (GemmOutput output in Enum.GetValues<GemmOutput>()) data.Add(layout, output);
        return data;
    }

    [Theory]
    [MemberData(nameof(LayoutsAndOutputs))]
    public void SharedB_SeveralNBlocks_MatchesReference_AndOneThreadBits(GemmLayout layout, GemmOutput output)
    {
        // M ≥ Threads·MC, M ≥ N and one K block take the shared-B path on 2 and 3 threads; N crosses NC (two jc
        // blocks through the pipeline, the second ragged), K is one ragged KC block, M leaves a ragged MR edge.
        int m = GemmDriver.NC + 53, n = GemmDriver.NC + 37, k = GemmDriver.KC - 29;
        Assert.True(GemmDriver.UsesSharedB(2, m, n, k, GemmDriver.KC) && GemmDriver.UsesSharedB(3, m, n, k, GemmDriver.KC));
        float[] a = Floats(m * k, 31), b = Floats(k * n, 32), c0 = Floats(m * n, 33);
        float[] one = (float[])c0.Clone(), two = (float[])c0.Clone(), three = (float[])c0.Clone();
        Gemm.F32(Pool1, layout, m, n, k, a, b, one, output);
        Gemm.F32(Pool2, layout, m, n, k, a, b, two, output);
        Gemm.F32(Pool3, layout, m, n, k, a, b, three, output);
        // The full FP64 reference is ~250M multiply-adds; every 3rd row and column checks every block edge.
        for (int i = 0; i < m; i += 3)
            for (int j = 0; j < n; j += 3)
            {
                double dot = output == GemmOutput.Accumulate ? c0[i * n + j] : 0;
                for (int p = 0; p < k; p++)
                {
                    float ai = layout == GemmLayout.TN ? a[p * m + i] : a[i * k + p];
                    float bj = layout == GemmLayout.NT ? b[j * k + p] : b[p * n + j];
                    dot += (double)ai * bj;
                }
                AssertClose([(float)dot], [two[i * n + j]], Tolerance(k), $"{layout} {output} {m}x{n}x{k} C[{i},{j}] on 2 threads");
            }
        Assert.Equal(one, two);
        Assert.Equal(one, three);
    }

    [Theory]
    [InlineData(4 * 128 + 40)]   // five 128-wide K blocks (the last ragged): per-task packing on 2 threads
    [InlineData(100)]            // one K block: the shared-B pipeline on 2 threads
    public void Fp8Block_TallProblem_TwoThreads_MatchesReference_AndOneThreadBits(int k)
    {
        int m = 2 * GemmDriver.MC + 11, n = 150;
        Assert.Equal(k <= GemmArgs.ScaleBlock, GemmDriver.UsesSharedB(2, m, n, k, GemmArgs.ScaleBlock));
        byte[] a = Fp8(m * k, 41), b = Fp8(n * k, 42);
        float[] aScales = PositiveScales(m * GemmArgs.Blocks(k), 43), bScales = PositiveScales(GemmArgs.Blocks(n) * GemmArgs.Blocks(k), 44);
        float[] expected = new float[m * n], one = new float[m * n], two = Floats(m * n, 45);
        GemmReference.Fp8Block(m, n, k, a, aScales, b, bScales, expected);
        Gemm.Fp8Block(Pool1, m, n, k, a, aScales, b, bScales, one);
        Gemm.Fp8Block(Pool2, m, n, k, a, aScales, b, bScales, two);
        AssertClose(expected, two, Tolerance(k), $"fp8 block {m}x{n}x{k} on 2 threads");
        Assert.Equal(one, two);
    }

    [Theory]
    [InlineData(GemmLayout.NT)]
    [InlineData(GemmLayout.NN)]
    [InlineData(GemmLayout.TN)]
    public void Grouped_UnevenGroups_LargestFirst_MatchesReference_AndSameBitsForAnyThreadCount(GemmLayout layout)
    {
        // Uneven groups in no size order (empty and single-row ones too): the task list is reordered by work.
        int[] rows = [40, 0, 131, 7, 1, 90, 64, 13, 200, 3];
        int n = 37, k = 70;
        int[] offsets = new int[rows.Length + 1];
        for (int g = 0; g < rows.Length; g++) offsets[g + 1] = offsets[g] + rows[g];
        int total = offsets[^1], groups = rows.Length;
        (int aLen, int bLen, int cLen) = layout switch
        {
            GemmLayout.NT => (total * k, groups * n * k, total * n),
            GemmLayout.NN => (total * n, groups * n * k, total * k),
            _ => (total * n, total * k, groups * n * k),
        };
        float[] a = Floats(aLen, 51), b = Floats(bLen, 52), c0 = Floats(cLen, 53);
        float[] expected = (float[])c0.Clone();
        GemmReference.GroupedF32(layout, n, k, offsets, a, b, expected, GemmOutput.Accumulate);
        float[] one = (float[])c0.Clone(), two = (float[])c0.Clone(), three = (float[])c0.Clone();
        Gemm.GroupedF32(Pool1, layout, n, k, offsets, a, b, one, GemmOutput.Accumulate);
        Gemm.GroupedF32(Pool2, layout, n, k, offsets, a, b, two, GemmOutput.Accumulate);
        Gemm.GroupedF32(Pool3, layout, n, k, offsets, a, b, three, GemmOutput.Accumulate);
        AssertClose(expected, two, Tolerance(Math.Max(k, total)), $"grouped {layout} on 2 threads");
        Assert.Equal(one, two);
        Assert.Equal(one, three);
    }

    [Theory]
    [InlineData(20, 4096, 2, 1, 2)]     // short and wide: columns (each chunk packs half of B, all of the small A)
    [InlineData(4096, 20, 2, 2, 1)]     // tall: rows
    [InlineData(4, 4096, 4, 1, 4)]
    [InlineData(100, 100, 3, 3, 1)]
    [InlineData(6, 20, 4, 1, 2)]        // too few NR units for 4 column chunks: 2, and 1 MR row unit
    [InlineData(30, 10, 8, 5, 1)]       // too few MR units for 8 row chunks: 5, and 1 NR column unit
    public void Cut_SplitsTheLongerSideFirst(int m, int n, int parts, int rows, int cols)
    {
        GemmDriver.Cut(m, n, parts, 6, 16, out int rowChunks, out int colChunks);
        Assert.Equal((rows, cols), (rowChunks, colChunks));
    }

    [Theory]
    [InlineData(GemmLayout.NN)]
    [InlineData(GemmLayout.NT)]
    [InlineData(GemmLayout.TN)]
    public void ShortAndWide_ColumnChunks_MatchReference_AndOneThreadBits(GemmLayout layout)
    {
        int m = 20, n = 333, k = 70;        // M < N and M < Threads·MC: column chunks of NR, the last ragged
        float[] a = Floats(m * k, 61), b = Floats(k * n, 62);
        float[] expected = new float[m * n], one = new float[m * n], two = new float[m * n], three = new float[m * n];
        GemmReference.F32(layout, m, n, k, a, b, expected);
        Gemm.F32(Pool1, layout, m, n, k, a, b, one);
        Gemm.F32(Pool2, layout, m, n, k, a, b, two);
        Gemm.F32(Pool3, layout, m, n, k, a, b, three);
        AssertClose(expected, two, Tolerance(k), $"{layout} {m}x{n}x{k} on 2 threads");
        Assert.Equal(one, two);
        Assert.Equal(one, three);
    }
}
