using SharpSeek.Model;
using SharpSeek.Planner.Pipeline;

namespace SharpSeek.Planner.Tests;

public class DeploymentTests
{
    private static readonly ModelConfig V3 = ModelConfig.FromPreset("deepseek-v3");
    private static readonly ParallelLayout ReportLayout = new(16, 1, 128, 64, ScheduleKind.DualPipe);

    [Theory]
    [InlineData(ScheduleKind.OneFOneB, 1)]
    [InlineData(ScheduleKind.DualPipe, 2)]
    [InlineData(ScheduleKind.DualPipeV, 1)] // 2 of 16 stages per device: each stage once, 2× a PP-8 stage
    public void StageSplit_CoversEveryTrainedParameter_OncePerStageCopy(ScheduleKind kind, int copies)
    {
        var layout = new ParallelLayout(8, 1, 1, 1, kind);
        long held = TrainingMemory.AllRanks(V3, layout, 4096).Sum(m => m.DenseParams + m.ExpertParams);
        var counts = ParameterCounts.Of(V3);
        long trained = counts.Total + counts.Mtp - counts.MtpEmbedding - counts.MtpHead; // MTP shares embedding and head
        Assert.Equal(copies * trained, held);
    }

    [Fact]
    public void MemoryLines_FollowTheReportPrecisions_AndZeRO1Shards()
    {
        var m = TrainingMemory.ForRank(V3, ReportLayout, 4096, 3);
        double held = m.DenseParams + m.ExpertParams;
        Assert.Equal(2 * held, m.Lines[0].Bytes, tolerance: 1e3);  // BF16 weights
        Assert.Equal(4 * held, m.Lines[1].Bytes, tolerance: 1e3);  // FP32 gradients
        double sharded = m.DenseParams / 128.0 + m.ExpertParams / 2.0; // DP 128; experts: 128 / EP 64 = 2 replicas
        Assert.Equal(4 * sharded, m.Lines[2].Bytes, tolerance: 1e3);
        Assert.Equal(17, m.ActivationsInFlight);       // DualPipe: PP + 1
        var wider = TrainingMemory.ForRank(V3, ReportLayout with { DP = 256, EP = 128 }, 4096, 3);
        Assert.True(wider.Lines[2].Bytes < m.Lines[2].Bytes);
    }

    [Fact]
    public void ReportLayout_FitsInH800Memory_ButWithoutPipelineDoesNot()
    {
        // The report trains PP16 × EP64 × ZeRO-1 DP without TP on 80 GB GPUs: the estimate must fit.
        Assert.InRange(TrainingMemory.WorstGpu(V3, ReportLayout, 4096).TotalBytes, 40e9, GpuSpec.H800.MemoryBytes);
        var noPipeline = new ParallelLayout(1, 1, 2048, 64, ScheduleKind.OneFOneB);
        Assert.True(TrainingMemory.WorstGpu(V3, noPipeline, 4096).TotalBytes > GpuSpec.H800.MemoryBytes);
    }

    [Fact]
    public void Layout_ExpertParallelMustDivide_Throws()
    {
        Assert.Throws<ArgumentException>(() => TrainingMemory.WorstGpu(V3, ReportLayout with { EP = 48 }, 4096));
        Assert.Throws<ArgumentException>(() => TrainingMemory.WorstGpu(V3, new ParallelLayout(16, 1, 4, 64, ScheduleKind.DualPipe), 4096));
    }

    [Fact]
    public void ServingUnits_AreTheReports_AndBoundsFollowFromTheirInputs()
    {
        var acct = new ModelAccounting(V3);
        var prefill = InferencePlan.Estimate(acct, ServingUnit.Prefill(V3), GpuSpec.H800, 4096);
        var decode = InferencePlan.Estimate(acct, ServingUnit.Decode(V3), GpuSpec.H800, 4096);
        Assert.Equal((32, 4, 8, 9.0), (prefill.Unit.Gpus, prefill.Unit.AttentionTp, prefill.Unit.AttentionDp, prefill.Unit.ExpertsPerGpu));
        Assert.Equal((320, 4, 80, 1.0), (decode.Unit.Gpus, decode.Unit.AttentionTp, decode.Unit.AttentionDp, decode.Unit.ExpertsPerGpu));
        Assert.Equal(70_272, decode.KvBytesPerToken);
        Assert.Equal((80e9 - decode.WeightBytesPerGpu - 8e9) / 70_272, decode.KvTokensPerGpu, 3);
        Assert.True(prefill.WeightBytesPerGpu > decode.WeightBytesPerGpu); // 9 experts vs 1 per GPU
        double flops = 2.0 * acct.MatmulParamsPerToken + acct.AbsorbedDecodeAttentionFlopsPerToken(4096);
        Assert.Equal(320 * 1978.9e12 / flops, decode.ComputeTokensPerSecond, 3);
        Assert.True(decode.MemoryTokensPerSecond < decode.ComputeTokensPerSecond); // decode is bandwidth-bound
        Assert.Null(prefill.MemoryTokensPerSecond);
    }
}
