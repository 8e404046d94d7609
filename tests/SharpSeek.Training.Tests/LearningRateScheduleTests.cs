using SharpSeek.Training;

namespace SharpSeek.Training.Tests;

public class LearningRateScheduleTests
{
    private static readonly LearningRateSchedule S = new(peak: 1e-3, warmupSteps: 10, decayStart: 50, decaySteps: 40, floor: 1e-4);

    [Fact]
    public void WarmUp_RisesLinearly_ReachesPeakOnLastWarmUpStep()
    {
        Assert.Equal(1e-4, S.At(0), 15);
        Assert.Equal(5e-4, S.At(4), 15);
        Assert.Equal(1e-3, S.At(9), 15);
        Assert.True(S.At(8) < S.At(9));
    }

    [Fact]
    public void Constant_BetweenWarmUpAndDecay()
    {
        for (long s = 10; s <= 50; s++) Assert.Equal(1e-3, S.At(s), 15);
    }

    [Fact]
    public void Cosine_HalfwayIsMidpoint_EndsAtFloor_ThenHolds()
    {
        Assert.Equal(1e-3, S.At(50), 15);
        Assert.Equal((1e-3 + 1e-4) / 2, S.At(70), 15);
        Assert.True(S.At(89) > 1e-4 && S.At(89) < 1.02e-4);
        Assert.Equal(1e-4, S.At(90), 15);
        Assert.Equal(1e-4, S.At(10_000), 15);
        for (long s = 51; s < 90; s++) Assert.True(S.At(s) < S.At(s - 1));
    }

    [Fact]
    public void NoWarmUp_NoDecay_IsConstant()
    {
        var s = new LearningRateSchedule(3e-4, 0, 0, 0, 0);
        Assert.Equal(3e-4, s.At(0));
        Assert.Equal(3e-4, s.At(1_000_000));
    }

    [Fact]
    public void InvalidShapes_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 10, 5, 10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 0, 0, 10, 2e-3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0, 0, 0, 10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => S.At(-1));
    }

    [Fact]
    public void FromOptions_DecayEndsOnLastStep()
    {
        var o = new TrainingOptions { Steps = 1000, WarmupSteps = 100, Lr = 2e-3, MinLrRatio = 0.1 };
        LearningRateSchedule s = o.Schedule();
        Assert.Equal(720, s.DecaySteps);        // 80% of the 900 post-warm-up steps
        Assert.Equal(280, s.DecayStart);
        Assert.Equal(2e-4, s.At(1000), 15);
        Assert.True(s.At(999) > 2e-4);
    }
}
