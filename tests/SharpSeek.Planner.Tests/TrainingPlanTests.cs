using SharpSeek.Model;

namespace SharpSeek.Planner.Tests;

public class TrainingPlanTests
{
    private static readonly ModelAccounting V3 = new(ModelConfig.FromPreset("deepseek-v3"));

    private static TrainingRequest Report(GpuSpec? gpu = null, double? mfu = null, double? calibrate = null) =>
        new(gpu ?? GpuSpec.H800, 2048, 14.8e12, 4096, (gpu ?? GpuSpec.H800).PricePerHourUsd, mfu, calibrate,
            Reference: DeepSeekV3Report.LaterStages);

    private static void Within2Percent(double expected, double actual) => Assert.InRange(actual / expected, 0.98, 1.02);

    [Fact]
    public void Defaults_ReproduceTheReport_Within2Percent()
    {
        var e = TrainingPlan.Estimate(V3, Report());
        Within2Percent(2_664_000, e.PretrainGpuHours);
        Within2Percent(3.7, e.DaysPerTrillion);
        Within2Percent(2_788_000, e.TotalGpuHours);
        Within2Percent(5_576_000, e.CostUsd);
    }

    [Fact]
    public void ImpliedMfu_IsModelFlopsOverPeak_AndRoundTrips()
    {
        var e = TrainingPlan.Estimate(V3, Report());
        double flops = V3.TrainingFlopsPerToken(4096).Total;
        Assert.Equal(flops * 1e12 / (180_000 * 3600 * 989.4e12), e.ImpliedMfuBf16, 12);
        Assert.Equal(e.ImpliedMfuBf16 / 2, e.ImpliedMfuFp8, 3); // FP8 peak = 2 × BF16 peak on Hopper
        Assert.InRange(e.ImpliedMfuBf16, 0.3, 0.5);

        var again = TrainingPlan.Estimate(V3, Report(mfu: e.Mfu));
        Assert.Equal(180_000, again.GpuHoursPerTrillion, 6);
    }

    [Fact]
    public void Calibration_CarriesTheMfuToAnotherGpu()
    {
        var h100 = TrainingPlan.Estimate(V3, Report(GpuSpec.H100));
        Assert.Equal(180_000, h100.GpuHoursPerTrillion, 6); // same dense peak as H800
        var b200 = TrainingPlan.Estimate(V3, Report(GpuSpec.B200));
        Assert.Equal(180_000 * 989.4 / 2250, b200.GpuHoursPerTrillion, 6);
        Assert.Equal(h100.Mfu, b200.Mfu, 12);
    }

    [Fact]
    public void LaterStages_ScaleWithThePlan_OrFallBackToFirstPrinciples()
    {
        var b200 = TrainingPlan.Estimate(V3, Report(GpuSpec.B200));
        double speedup = 2250 / 989.4;
        Assert.Equal(119_000 / speedup, b200.ContextExtensionGpuHours, 6);
        Assert.Equal(5_000 / speedup, b200.PostTrainingGpuHours, 6);
        Assert.Equal(b200.PretrainGpuHours + b200.ContextExtensionGpuHours + b200.PostTrainingGpuHours, b200.TotalGpuHours, 6);

        var noReference = TrainingPlan.Estimate(V3, Report() with { Reference = null });
        Assert.Equal(noReference.ContextExtensionFirstPrinciplesGpuHours, noReference.ContextExtensionGpuHours);
        Assert.Equal(0, noReference.PostTrainingGpuHours);
        var explicitHours = TrainingPlan.Estimate(V3, Report() with { ContextExtensionGpuHours = 1, PostTrainingGpuHours = 2 });
        Assert.Equal(2_664_000 + 3, explicitHours.TotalGpuHours, 6);
    }

    [Fact]
    public void ContextExtension_FirstPrinciples_IsSameOrderAsReport()
    {
        // 2 × 1000 steps of 62.9B tokens at 32K and 128K: attention dominates; the report's 119K includes a lower
        // long-context MFU, so the model-FLOPs estimate at the 4K MFU must come out below it but within 2×.
        var e = TrainingPlan.Estimate(V3, Report());
        Assert.InRange(e.ContextExtensionFirstPrinciplesGpuHours, 119_000 / 2.0, 119_000);
    }

    [Fact]
    public void BadInputs_ThrowArgumentException()
    {
        Assert.Throws<ArgumentException>(() => TrainingPlan.Estimate(V3, Report(mfu: 0.4, calibrate: 180_000)));
        Assert.Throws<ArgumentException>(() => TrainingPlan.Estimate(V3, Report(mfu: 1.5)));
        Assert.Throws<ArgumentException>(() => TrainingPlan.Estimate(V3, Report(calibrate: 1000))); // would need MFU > 100 %
        Assert.Throws<ArgumentException>(() => GpuSpec.FromName("tpu"));
    }

    [Theory]
    [InlineData("14.8T", 14.8e12)]
    [InlineData("500B", 500e9)]
    [InlineData("1e12", 1e12)]
    [InlineData("119K", 119e3)]
    [InlineData("2.5m", 2.5e6)]
    [InlineData("1_000", 1000)]
    public void Quantity_ParsesSuffixesAndExponents(string text, double expected) =>
        Assert.Equal(expected, Quantity.Parse(text), 6);

    [Theory]
    [InlineData("14.8X")]
    [InlineData("lots")]
    [InlineData("")]
    public void Quantity_Garbage_ThrowsFormatException(string text) =>
        Assert.Throws<FormatException>(() => Quantity.Parse(text, "--tokens"));

    [Theory]
    [InlineData(14.8e12, "14.8T")]
    [InlineData(37_552_297_472, "37.55B")]
    [InlineData(629_481, "629.5K")]
    [InlineData(12, "12")]
    public void Quantity_Format_IsCompact(double v, string expected) => Assert.Equal(expected, Quantity.Format(v));
}
