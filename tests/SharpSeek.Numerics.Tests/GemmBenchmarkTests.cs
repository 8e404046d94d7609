using SharpSeek.Numerics;
using SharpSeek.Numerics.Benchmarks;

namespace SharpSeek.Numerics.Tests;

/// <summary>The `bench gemm` case lists (not timings: performance is shown by the CLI, never asserted here).</summary>
public class GemmBenchmarkTests
{
    [Fact]
    public void TrainingCases_AreTheTrainingShapes_FilteredByKernel()
    {
        var all = GemmBenchmark.TrainingCases(GemmBenchmark.Kernels);
        Assert.Contains(all, c => (c.Kernel, c.M, c.N, c.K) == ("f32_nn", 2048, 768, 256));
        Assert.Contains(all, c => (c.Kernel, c.M, c.N, c.K) == ("f32_tn", 2048, 768, 256));
        Assert.Contains(all, c => (c.Kernel, c.M, c.N, c.K) == ("f32_nt", 2048, 8192, 256));
        var grouped = all.Where(c => c.Kernel == "grouped_f32").ToList();
        Assert.Equal([16, 32], grouped.Select(c => c.Groups));
        foreach (GemmBenchCase c in grouped)
        {
            int[] offsets = c.RowOffsets!;
            Assert.Equal(0, offsets[0]);
            Assert.Equal(c.M, offsets[^1]);                      // M is the groups' total rows
            for (int g = 0; g < c.Groups; g++) Assert.InRange(offsets[g + 1] - offsets[g], 100, 500);
        }
        Assert.Equal(256, grouped[0].RowOffsets![1]);
        Assert.All(GemmBenchmark.TrainingCases(["f32_tn"]), c => Assert.Equal("f32_tn", c.Kernel));
        Assert.Empty(GemmBenchmark.TrainingCases(["bf16w"]));
    }

    [Fact]
    public void Run_GivenGroups_ReportsThemAndAPositiveRate()
    {
        using var pool = new WorkerPool(1);
        var results = GemmBenchmark.Run(pool, peakGflops: 100, [new GemmBenchCase("grouped_f32", 30, 16, 8, [0, 10, 10, 30]), new GemmBenchCase("f32_nt", 30, 16, 8)]);
        Assert.Equal(2, results.Count);
        Assert.Equal((3, 0), (results[0].Groups, results[1].Groups));
        Assert.All(results, r => Assert.True(r.Gflops > 0 && r.RatioToPeak > 0, $"{r.Kernel}: {r.Gflops} GFLOP/s"));
    }

    [Fact]
    public void UnevenGroups_SumToM()
    {
        int[] offsets = GemmBenchmark.UnevenGroups(1000, 8);
        Assert.Equal(9, offsets.Length);
        Assert.Equal(1000, offsets[^1]);
        for (int g = 0; g < 8; g++) Assert.True(offsets[g + 1] >= offsets[g]);
    }
}
