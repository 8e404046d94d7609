using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>Backward buffers follow the ForwardCapacity: a batch of several sequences whose total exceeds the
/// context limit (MaxTokens > MaxContext) trains within bounds and gives the same gradients as a roomier capacity.</summary>
public class CapacityBackwardTests
{
    private static float[][] Gradients(int maxContext, int threads = 2)
    {
        var c = TestConfigs.With("""{"num_hidden_layers": 2, "first_k_dense_replace": 1}""");
        using var w = TestConfigs.RandomWeights(c);
        w.EnableGradients();
        var batch = new ForwardBatch(16, 2);
        batch.Add(0, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
        batch.Add(1, 0, [9, 10, 11, 12, 13, 14, 15, 16]);
        int[] targets = Enumerable.Range(2, 16).ToArray();
        using var pool = new WorkerPool(threads);
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(16, 2, maxContext));
        model.ForwardLoss(batch, targets);
        model.Backward(0.3f);
        return w.TrainableParameters().Select(p => p.GradientSpan.ToArray()).ToArray();
    }

    [Fact]
    public void TrainingStep_WithContextShorterThanTheBatch_MatchesALargerCapacity()
    {
        float[][] tight = Gradients(maxContext: 8), roomy = Gradients(maxContext: 32);
        Assert.Equal(roomy.Length, tight.Length);
        for (int i = 0; i < roomy.Length; i++) Assert.Equal(roomy[i], tight[i]);
        Assert.All(tight, g => Assert.All(g, v => Assert.True(float.IsFinite(v))));
    }

    [Fact]
    public void TrainingStep_GradientsAreBitIdenticalForOneAndTwoThreads()
    {
        // per-head partial sums (MLA dk_pe) and row-ordered scatter-adds (experts, embedding) keep the result
        // independent of the thread count
        float[][] one = Gradients(maxContext: 8, threads: 1), two = Gradients(maxContext: 8, threads: 2);
        for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], two[i]);
    }
}
