using SharpSeek.Model;
using SharpSeek.Training;

namespace SharpSeek.Training.Tests;

public class TrainingOptionsTests
{
    private static readonly ModelConfig Tiny = ModelConfig.FromPreset("tiny");

    [Fact]
    public void Defaults_AreValid_AndFollowTheReport()
    {
        var o = new TrainingOptions();
        o.Validate(Tiny);
        Assert.Equal((0.9, 0.95, 0.1, 1.0), (o.Beta1, o.Beta2, o.WeightDecay, o.GradClip));
        Assert.Equal((0.006, 0.3, 0.0001), (o.InitStd, o.MtpWeight, o.AuxAlpha));
        Assert.Equal(0.01, o.BiasGamma);   // the report's 0.001 is for 14.8T tokens; runs of hundreds of steps need 0.01 (TrainingOptions)
        Assert.Equal(1, o.EffectiveMtpDepth(Tiny));
    }

    [Theory]
    [InlineData("--steps")]
    [InlineData("--batch")]
    [InlineData("--seq")]
    [InlineData("--lr")]
    [InlineData("--mtp-depth")]
    [InlineData("--bias-gamma")]
    [InlineData("--aux-alpha")]
    [InlineData("--micro-batches")]
    [InlineData("--threads")]
    [InlineData("--decay-steps")]
    [InlineData("--warmup-steps")]
    [InlineData("--init-std")]
    [InlineData("--data")]
    [InlineData("--tokenizer")]
    [InlineData("--moments")]
    public void Invalid_ThrowsNamingTheFlag(string flag)
    {
        TrainingOptions o = flag switch
        {
            "--steps" => new() { Steps = 0 },
            "--batch" => new() { Batch = -1 },
            "--seq" => new() { Seq = 1_000_000 },
            "--lr" => new() { Lr = double.NaN },
            "--mtp-depth" => new() { MtpDepth = 2 },
            "--bias-gamma" => new() { BiasGamma = -0.1 },
            "--aux-alpha" => new() { AuxAlpha = 2 },
            "--micro-batches" => new() { Batch = 8, MicroBatches = 3 },
            "--threads" => new() { Threads = -2 },
            "--decay-steps" => new() { Steps = 100, WarmupSteps = 50, DecaySteps = 60 },
            "--warmup-steps" => new() { Steps = 5 },   // the default warm-up (20) in a short run had blamed --decay-steps
            "--init-std" => new() { InitStd = 0 },
            "--data" => new() { Data = "/nonexistent/corpus.txt" },
            "--tokenizer" => new() { Tokenizer = "/nonexistent" },
            "--moments" => new() { Moments = "fp8" },
            _ => throw new InvalidOperationException(flag),
        };
        var e = Assert.Throws<TrainingOptionsException>(() => o.Validate(Tiny));
        Assert.StartsWith(flag, e.Message);
        Assert.IsAssignableFrom<ArgumentException>(e);
    }

    [Fact]
    public void MtpDepthZero_IsAllowed()
    {
        new TrainingOptions { MtpDepth = 0 }.Validate(Tiny);
    }

    [Fact]
    public void EffectiveOut_DefaultsToRunsPreset()
    {
        Assert.Equal(Path.Combine("runs", "small"), new TrainingOptions { Preset = "small" }.EffectiveOut);
        Assert.Equal(Path.Combine("runs", "my"), new TrainingOptions { Preset = "/x/my.json" }.EffectiveOut);
        Assert.Equal("o", new TrainingOptions { Out = "o" }.EffectiveOut);
    }

    [Fact]
    public void Resume_WithSameSettings_IsAllowed_DisplayFlagsMayChange()
    {
        var saved = new TrainingOptions { Batch = 4, Seed = 3 };
        new TrainingOptions { Batch = 4, Seed = 3, Json = true, SaveInterval = 7, Out = "elsewhere", Resume = true }.CheckResumableFrom(saved);
    }

    [Theory]
    [InlineData("--batch")]
    [InlineData("--seed")]
    [InlineData("--steps")]
    [InlineData("--bias-gamma")]
    [InlineData("--threads")]
    [InlineData("--moments")]
    public void Resume_WithChangedComputation_ThrowsNamingTheFlag(string flag)
    {
        var saved = new TrainingOptions();
        TrainingOptions now = flag switch
        {
            "--batch" => saved with { Batch = 16 },
            "--seed" => saved with { Seed = 1 },
            "--steps" => saved with { Steps = 3000 },
            "--bias-gamma" => saved with { BiasGamma = 0 },
            "--threads" => saved with { Threads = 1 },
            "--moments" => saved with { Moments = "bf16" },
            _ => throw new InvalidOperationException(flag),
        };
        var e = Assert.Throws<TrainingOptionsException>(() => now.CheckResumableFrom(saved));
        Assert.StartsWith(flag, e.Message);
    }
}
