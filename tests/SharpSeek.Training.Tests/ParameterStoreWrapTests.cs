using SharpSeek.Model;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;
using SharpSeek.Training;
using SharpSeek.Training.Checkpoints;

namespace SharpSeek.Training.Tests;

public class ParameterStoreWrapTests
{
    [Fact]
    public void Wrap_PointsIntoTheModel_OptimizerUpdatesItInPlace_CheckpointRoundTrips()
    {
        ModelConfig config = AdamWTests.TinyForTests();
        using var model = ModelWeights.Allocate(config, WeightDType.F32);
        model.EnableGradients();
        using var store = ParameterStore.Wrap(model);
        Assert.Equal(TensorManifest.Build(config).Select(t => t.Name), store.Slots.Select(s => s.Name));
        ParameterInit.Initialize(store, 3, 0.006);

        // Expert 5's slot is group 5 of the layer's (E, N, K) stack, weights and gradients alike.
        const string expert = "model.layers.2.mlp.experts.5.up_proj.weight";
        var (linear, group) = model.Slot(expert);
        Assert.Equal(5, group);
        store.Grads(expert)[3] = 0.25f;
        Assert.Equal(0.25f, linear.Gradient.Span[(int)(5 * linear.GroupElements) + 3]);
        Assert.Equal(store.Weights(expert)[7], linear.F32Values.Span[(int)(5 * linear.GroupElements) + 7]);
        Assert.Equal(1f, model.Vector("model.norm.weight").Span[0]);

        // The router bias has no gradient: frozen, and the balancer writes the model's own vector.
        string bias = ExpertBalancer.BiasName(1);
        Assert.Equal(ParameterTreatment.Frozen, store.Slots[store.IndexOf(bias)].Treatment);
        Assert.Throws<InvalidOperationException>(() => store.Grads(bias));
        var balancer = ExpertBalancer.ForModel(config, 0.5);
        balancer.Record(0, [0, 0]);
        balancer.ApplyAndReset(store);
        Assert.Equal(-0.5f, model.Vector(bias).Span[0]);

        float before = store.Weights(expert)[3];
        using var opt = new AdamW(store);
        opt.Step(1e-2);
        Assert.NotEqual(before, linear.F32Values.Span[(int)(5 * linear.GroupElements) + 3]);
        store.ZeroGradients();
        Assert.Equal(0f, linear.Gradient.Span[(int)(5 * linear.GroupElements) + 3]);

        using var tmp = new TempDir();
        string dir = TrainingCheckpoint.Save(tmp.Path, config, store, opt, null, new TrainerState());
        var (_, loaded) = CheckpointLoader.Load(dir, WeightDType.F32);
        using (loaded)
        {
            Assert.True(loaded.Slot(expert).Weight.F32Values.Span.SequenceEqual(linear.F32Values.Span));
            Assert.Equal(-0.5f, loaded.Vector(bias).Span[0]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ZeroGradientsOnThePool_ClearsEveryGradientElement(bool wrapped)
    {
        ModelConfig config = AdamWTests.TinyForTests();
        using var model = ModelWeights.Allocate(config, WeightDType.F32);
        model.EnableGradients();
        using var store = wrapped ? ParameterStore.Wrap(model) : ParameterStore.ForModel(config);
        using var pool = new Numerics.WorkerPool(3);
        for (int i = 0; i < store.Slots.Count; i++)
            if (store.Slots[i].Treatment != ParameterTreatment.Frozen) store.Grads(i).Fill(1.5f);
        store.ZeroGradients(pool);
        for (int i = 0; i < store.Slots.Count; i++)
            if (store.Slots[i].Treatment != ParameterTreatment.Frozen)
                Assert.True(store.Grads(i).IndexOfAnyExcept(0f) < 0, $"{store.Slots[i].Name} still has non-zero gradients");
    }

    [Fact]
    public void Wrap_WithoutGradients_SaysWhatToDo()
    {
        using var model = ModelWeights.Allocate(AdamWTests.TinyForTests(), WeightDType.F32);
        var e = Assert.Throws<InvalidOperationException>(() => ParameterStore.Wrap(model));
        Assert.Contains("EnableGradients", e.Message);
    }
}
