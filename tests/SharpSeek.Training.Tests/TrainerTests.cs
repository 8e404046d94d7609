using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Training.Checkpoints;
using SharpSeek.Training.Data;

namespace SharpSeek.Training.Tests;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpseek-trainer-").FullName;
    private readonly TokenShard _train, _val;

    public TrainerTests()
    {
        // A learnable stream: token t+1 = (5·t + 3) mod 97 with a 10% random token, vocabulary 512 (only 97 used).
        var rng = new Random(7);
        int[] Stream(int n)
        {
            var s = new int[n];
            for (int i = 1; i < n; i++) s[i] = rng.NextDouble() < 0.1 ? rng.Next(97) : (5 * s[i - 1] + 3) % 97;
            return s;
        }
        TokenShard.Write(Path.Combine(_dir, "train.tokens"), Stream(4000), 512, new byte[32]);
        TokenShard.Write(Path.Combine(_dir, "val.tokens"), Stream(500), 512, new byte[32]);
        _train = TokenShard.Open(Path.Combine(_dir, "train.tokens"));
        _val = TokenShard.Open(Path.Combine(_dir, "val.tokens"));
    }

    public void Dispose()
    {
        _train.Dispose();
        _val.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    internal static ModelConfig Micro() => AdamWTests.TinyForTests() with { NumHiddenLayers = 2 };

    private static TrainingOptions Options(long steps) => new()
    {
        Steps = steps, Batch = 4, MicroBatches = 2, Seq = 16, Lr = 3e-3, WarmupSteps = 2, EvalInterval = 0, EvalBatches = 2,
        AuxAlpha = 0.01, BiasGamma = 0.01, Threads = 2,
    };

    [Fact]
    public void Steps_LowerTrainingAndValidationLoss()
    {
        using var pool = new WorkerPool(2);
        using var trainer = new Trainer(Options(30), Micro(), _train, _val, pool);
        trainer.InitializeWeights();
        double val0 = trainer.ValidationLoss();
        Assert.InRange(val0, Math.Log(512) - 0.1, Math.Log(512) + 0.1);   // init std 0.006: near-uniform logits
        var first = trainer.Step();
        StepResult last = first;
        for (int i = 1; i < 30; i++) last = trainer.Step();
        double val = trainer.ValidationLoss();
        Assert.True(last.Loss < first.Loss - 1.0, $"train loss {first.Loss:F3} → {last.Loss:F3}");
        Assert.True(val < val0 - 1.0, $"validation loss {val0:F3} → {val:F3}");
        Assert.True(last.MtpLoss > 0 && last.BalanceLoss > 0);
        Assert.Equal(30, trainer.StepCount);
        Assert.All(trainer.LastLayerLoads(), l => Assert.InRange(l.MaxOverMean, 1.0, 8.0 / 2));
    }

    [Fact]
    public void Resume_FromCheckpoint_IsBitExact()
    {
        using var pool = new WorkerPool(2);
        var opts = Options(6);
        double[] straight;
        using (var t = new Trainer(opts, Micro(), _train, _val, pool))
        {
            t.InitializeWeights();
            straight = Enumerable.Range(0, 6).Select(_ => t.Step().Loss).ToArray();
        }
        string run = Path.Combine(_dir, "run");
        var resumed = new List<double>();
        using (var t = new Trainer(opts, Micro(), _train, _val, pool))
        {
            t.InitializeWeights();
            for (int i = 0; i < 3; i++) resumed.Add(t.Step().Loss);
            t.Save(run, null, new TrainerState());
            t.Step(); // work after the save is lost, as in a crash
        }
        using (var t = new Trainer(opts, Micro(), _train, _val, pool))
        {
            TrainerState state = t.Resume(run);
            Assert.Equal(3, state.Step);
            for (int i = 0; i < 3; i++) resumed.Add(t.Step().Loss);
        }
        Assert.Equal(straight, resumed);   // exact double equality
    }

    [Fact]
    public void Resume_WithDifferentSetting_NamesTheFlag()
    {
        using var pool = new WorkerPool(2);
        string run = Path.Combine(_dir, "run2");
        using (var t = new Trainer(Options(4), Micro(), _train, _val, pool))
        {
            t.InitializeWeights();
            t.Step();
            t.Save(run, null, new TrainerState());
        }
        using var other = new Trainer(Options(4) with { Lr = 1e-3 }, Micro(), _train, _val, pool);
        var e = Assert.Throws<TrainingOptionsException>(() => other.Resume(run));
        Assert.Contains("--lr", e.Message);
    }

    [Fact]
    public void Step_AfterWarmup_AllocatesNoManagedMemory()
    {
        using var pool = new WorkerPool(2);
        using var trainer = new Trainer(Options(10), Micro(), _train, _val, pool);
        trainer.InitializeWeights();
        trainer.Step();
        trainer.Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        trainer.Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"a training step after warm-up allocated {allocated} managed bytes");
    }

    [Fact]
    public void BiasUpdate_WithTheDefaultGamma_LowersMaxOverMeanLoad_AgainstGammaZero_AtEqualBudget()
    {
        using var pool = new WorkerPool(2);
        var options = Options(40) with { AuxAlpha = 0, BiasGamma = new TrainingOptions().BiasGamma };
        BalanceComparisonResult r = BalanceComparison.Run(options, Micro(), "micro", _train, _val, pool);
        Assert.Equal([1, 2], r.Layers);                                  // the MoE decoder layer and the MTP block
        Assert.All(r.GammaZero.BiasRange, b => Assert.Equal(0, b));      // γ = 0 never moves the bias
        Assert.All(r.WithGamma.BiasRange, b => Assert.True(b > 0));
        Assert.True(r.GammaZero.MeanMaxOverMean > 1.5, $"γ = 0 should leave the routers unbalanced (max/mean {r.GammaZero.MeanMaxOverMean:F2})");
        Assert.True(r.LoadRatio < 0.75,
            $"max/mean expert load over the last 10 of 40 steps: γ = 0 {r.GammaZero.MeanMaxOverMean:F2}, γ = {options.BiasGamma} {r.WithGamma.MeanMaxOverMean:F2}");
        Assert.Equal(r.GammaZero.LastLoss, BalanceComparison.Run(options, Micro(), "micro", _train, _val, pool).GammaZero.LastLoss); // seeded
    }

    [Fact]
    public void MtpEmbeddingAndHead_AreSharedWithTheMainModel()
    {
        using var pool = new WorkerPool(2);
        using var t = new Trainer(Options(3), Micro(), _train, _val, pool);
        t.InitializeWeights();
        var pairs = Trainer.SharedCopies(t.Config).ToArray();
        Assert.Equal(2, pairs.Length);
        float[] before = t.Store.Weights("lm_head.weight").ToArray();
        for (int i = 0; i < 3; i++) t.Step();
        Assert.False(before.AsSpan().SequenceEqual(t.Store.Weights("lm_head.weight")));
        foreach (var (main, copy) in pairs)
        {
            Assert.True(t.Store.Weights(main).SequenceEqual(t.Store.Weights(copy)), $"{copy} is not {main}");
            Assert.Equal(ParameterTreatment.Frozen, t.Store.Slots[t.Store.IndexOf(copy)].Treatment);
        }
        long copies = pairs.Sum(p => (long)t.Store.Slots[t.Store.IndexOf(p.Copy)].Length);
        long all = t.Store.Slots.Where(s => !s.Name.EndsWith("e_score_correction_bias", StringComparison.Ordinal)).Sum(s => (long)s.Length);
        Assert.Equal(all - copies, t.TrainedParameters);
    }
}
