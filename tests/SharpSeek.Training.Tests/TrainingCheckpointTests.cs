using SharpSeek.Model;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;
using SharpSeek.Training;
using SharpSeek.Training.Checkpoints;
using SharpSeek.Training.Data;

namespace SharpSeek.Training.Tests;

public class TrainingCheckpointTests
{
    private static readonly ModelConfig Config = AdamWTests.TinyForTests();

    /// <summary>A real objective without the model: L = ½ Σ (w − target(window))², whose gradient w − target
    /// depends on the sampled tokens, so weights, moments, schedule and data position must all resume exactly.</summary>
    private sealed class QuadraticRun : IDisposable
    {
        public readonly ParameterStore Store = ParameterStore.ForModel(Config);
        public readonly AdamW Optimizer;
        public readonly WindowSampler Sampler;
        public readonly ExpertBalancer Balancer = ExpertBalancer.ForModel(Config, 0.01);
        private readonly TokenBatch _batch = new(2, 8, 1);
        private readonly LearningRateSchedule _lr = new(1e-2, 3, 6, 6, 1e-3);

        public QuadraticRun(TokenShard shard, bool bf16Moments = false)
        {
            ParameterInit.Initialize(Store, 7, 0.006);
            Optimizer = new AdamW(Store, new AdamWSettings(Bf16Moments: bf16Moments));
            Sampler = new WindowSampler(shard, 99);
        }

        public void Step()
        {
            Sampler.Next(_batch);
            Store.ZeroGradients();
            for (int i = 0; i < Store.Slots.Count; i++)
            {
                Span<float> w = Store.Weights(i), g = Store.Grads(i);
                for (int j = 0; j < w.Length; j++) g[j] = w[j] - 0.01f * _batch.Windows[j % _batch.Windows.Length];
            }
            for (int m = 0; m < Balancer.MoeLayers.Count; m++) Balancer.Record(m, _batch.Inputs.Select(t => t % Config.NRoutedExperts).ToArray());
            Optimizer.Step(_lr.At(Optimizer.StepCount));
            Balancer.ApplyAndReset(Store);
        }

        public TrainerState State => new() { Step = Optimizer.StepCount, DataPosition = Sampler.Position, Seed = 99 };

        public void Dispose()
        {
            Optimizer.Dispose();
            Store.Dispose();
        }
    }

    private static TokenShard Shard(TempDir tmp)
    {
        string path = Path.Combine(tmp.Path, "t.tokens");
        TokenShard.Write(path, Enumerable.Range(0, 3000).Select(i => i * 31 % 500).ToArray(), 512, new byte[32]);
        return TokenShard.Open(path);
    }

    private static void AssertSameBits(ParameterStore a, AdamW oa, ParameterStore b, AdamW ob)
    {
        for (int i = 0; i < a.Slots.Count; i++)
        {
            Assert.True(a.Weights(i).SequenceEqual(b.Weights(i)), $"weights of {a.Slots[i].Name} differ");
            if (a.Slots[i].Treatment == ParameterTreatment.Frozen) continue;
            bool same = oa.Settings.Bf16Moments
                ? oa.FirstMomentBf16(i).SequenceEqual(ob.FirstMomentBf16(i)) && oa.SecondMomentBf16(i).SequenceEqual(ob.SecondMomentBf16(i))
                : oa.FirstMoment(i).SequenceEqual(ob.FirstMoment(i)) && oa.SecondMoment(i).SequenceEqual(ob.SecondMoment(i));
            Assert.True(same, $"m or v of {a.Slots[i].Name} differs");
        }
        Assert.Equal(oa.StepCount, ob.StepCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SaveThenResume_ContinuesBitExactly_LikeAnUninterruptedRun(bool bf16Moments)
    {
        using var tmp = new TempDir();
        using var shard = Shard(tmp);
        using var straight = new QuadraticRun(shard, bf16Moments);
        for (int s = 0; s < 10; s++) straight.Step();

        string outDir = Path.Combine(tmp.Path, "run");
        using (var first = new QuadraticRun(shard, bf16Moments))
        {
            for (int s = 0; s < 4; s++) first.Step();
            TrainingCheckpoint.Save(outDir, Config, first.Store, first.Optimizer, null, first.State);
        }
        using (var opt = SafetensorsFile.Open(Path.Combine(CheckpointDirectory.Resolve(outDir)!, TrainingCheckpoint.OptimizerFile)))
        {
            Assert.All(opt.Tensors.Values, t => Assert.Equal(bf16Moments ? SafetensorsDType.BF16 : SafetensorsDType.F32, t.DType));
            Assert.Equal(bf16Moments ? "bf16" : "f32", opt.Metadata["moments"]);
        }
        using var resumed = new QuadraticRun(shard, bf16Moments);
        TrainerState state = TrainingCheckpoint.Load(CheckpointDirectory.Resolve(outDir)!, resumed.Store, resumed.Optimizer);
        Assert.Equal(4, state.Step);
        resumed.Sampler.Position = state.DataPosition;
        for (long s = state.Step; s < 10; s++) resumed.Step();

        AssertSameBits(straight.Store, straight.Optimizer, resumed.Store, resumed.Optimizer);
        Assert.NotEqual(0f, straight.Store.Weights(ExpertBalancer.BiasName(1))[0]); // the balancer's bias travelled too
    }

    [Fact]
    public void SavedCheckpoint_LoadsThroughTheModelsCheckpointLoader()
    {
        using var tmp = new TempDir();
        using var shard = Shard(tmp);
        using var run = new QuadraticRun(shard);
        run.Step();
        var tokenizerDir = Directory.CreateDirectory(Path.Combine(tmp.Path, "tok")).FullName;
        File.WriteAllText(Path.Combine(tokenizerDir, "tokenizer.json"), "{}");
        string dir = TrainingCheckpoint.Save(Path.Combine(tmp.Path, "run"), Config, run.Store, run.Optimizer, tokenizerDir, run.State);
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer.json")));
        Assert.False(File.Exists(Path.Combine(dir, "tokenizer_config.json")));

        var (config, weights) = CheckpointLoader.Load(dir, WeightDType.F32);
        using (weights)
        {
            Assert.Equal(Config.HiddenSize, config.HiddenSize);
            Span<float> norm = weights.Vector("model.norm.weight").Span;
            Assert.True(norm.SequenceEqual(run.Store.Weights("model.norm.weight")));
        }
    }

    [Fact]
    public void CrashAfterModelFile_ResumesFromThePreviousCheckpoint()
    {
        using var tmp = new TempDir();
        using var shard = Shard(tmp);
        using var run = new QuadraticRun(shard);
        string outDir = Path.Combine(tmp.Path, "run");
        run.Step();
        TrainingCheckpoint.Save(outDir, Config, run.Store, run.Optimizer, null, run.State);
        float[] savedNorm = [.. run.Store.Weights("model.layers.0.input_layernorm.weight")];
        run.Step();
        Assert.ThrowsAny<Exception>(() => TrainingCheckpoint.Save(outDir, Config, run.Store, run.Optimizer, null, run.State,
            stage => { if (stage == "file:" + SafetensorsFormat.SingleFileName) throw new IOException("disk full (simulated)"); }));

        using var fresh = new QuadraticRun(shard);
        TrainerState state = TrainingCheckpoint.Load(CheckpointDirectory.Resolve(outDir)!, fresh.Store, fresh.Optimizer);
        Assert.Equal(1, state.Step);
        Assert.Equal(savedNorm, fresh.Store.Weights("model.layers.0.input_layernorm.weight").ToArray());
    }

    [Fact]
    public void Load_IntoADifferentModel_SaysWhichTensorIsMissing()
    {
        using var tmp = new TempDir();
        using var shard = Shard(tmp);
        using var run = new QuadraticRun(shard);
        string dir = TrainingCheckpoint.Save(Path.Combine(tmp.Path, "run"), Config, run.Store, run.Optimizer, null, run.State);
        using var other = ParameterStore.ForModel(Config with { HiddenSize = 32 });
        using var opt = new AdamW(other);
        var e = Assert.Throws<CheckpointException>(() => TrainingCheckpoint.Load(dir, other, opt));
        Assert.Contains("resume needs F32", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Load_WithTheOtherMomentPrecision_SaysSo(bool savedBf16)
    {
        using var tmp = new TempDir();
        using var shard = Shard(tmp);
        using var run = new QuadraticRun(shard, savedBf16);
        run.Step();
        string dir = TrainingCheckpoint.Save(Path.Combine(tmp.Path, "run"), Config, run.Store, run.Optimizer, null, run.State);
        using var other = new QuadraticRun(shard, !savedBf16);
        var e = Assert.Throws<CheckpointException>(() => TrainingCheckpoint.Load(dir, other.Store, other.Optimizer));
        Assert.Contains($"resume needs {(savedBf16 ? "F32" : "BF16")}", e.Message);
        Assert.Contains("--moments", e.Message);
    }
}
