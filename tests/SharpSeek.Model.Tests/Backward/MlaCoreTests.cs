using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>The MLA attention core (CausalAttention per (sequence, head) task) inside the layer: ragged batches
/// (sequences longer than one 6×16 tile and not a multiple of it), bit-identical results for 1 and 2 threads and
/// across runs, and the same gradients whether the forward kept P (training) or the backward recomputes it.</summary>
public class MlaCoreTests
{
    private const string Prefix = "model.layers.0.self_attn.";

    private static ForwardBatch Ragged(int vocab)
    {
        int[] lengths = [7, 23, 1, 18];
        var b = new ForwardBatch(lengths.Sum(), lengths.Length);
        var rng = new Random(3);
        for (int s = 0; s < lengths.Length; s++)
            b.Add(s, 0, Enumerable.Range(0, lengths[s]).Select(_ => rng.Next(vocab)).ToArray());
        return b;
    }

    private static float[][] Run(ModelConfig c, ForwardBatch batch, float[] x, float[] g, int threads, bool gradients)
    {
        int T = batch.Tokens, D = c.HiddenSize;
        using var w = TestConfigs.RandomWeights(c);
        MlaBackwardTests.RandomizeNorms(w, 11);
        if (gradients) w.EnableGradients();
        using var pool = new WorkerPool(threads);
        var ctx = new ForwardContext(pool);
        using var mla = new MlaAttention(c, w, Prefix, new RotaryEmbedding(c, 32), new ForwardCapacity(T, batch.SequenceCount, 32));
        var y = new float[T * D];
        var dx = new float[T * D];
        mla.Forward(ctx, batch, x, y, null, 0, MlaPath.Naive);
        if (!gradients)
        {
            mla.BackwardInput(ctx, batch, g, dx);
            return [y, dx];
        }
        mla.Backward(ctx, batch, x, g, dx);
        return [y, dx, .. w.TrainableParameters().Where(t => t.Name.StartsWith("model.layers.0.")).Select(t => t.GradientSpan.ToArray())];
    }

    /// <summary>The base config, the ragged batch, and random x, dy (T, D).</summary>
    private static (ModelConfig C, ForwardBatch Batch, float[] X, float[] G) Inputs(int seed)
    {
        var c = TestConfigs.Make("base");
        var batch = Ragged(c.VocabSize);
        var rng = new Random(seed);
        return (c, batch, GradCheck.Random(rng, batch.Tokens * c.HiddenSize), GradCheck.Random(rng, batch.Tokens * c.HiddenSize));
    }

    [Fact]
    public void Mla_RaggedBatch_ForwardMatchesFp64Reference()
    {
        var (c, batch, x, g) = Inputs(4);
        float[] y = Run(c, batch, x, g, 2, gradients: true)[0];
        using var w = TestConfigs.RandomWeights(c);
        MlaBackwardTests.RandomizeNorms(w, 11);
        double[] expected = Ref64.Mla(c, new Params64(w), Prefix, GradCheck.ToDouble(x), batch);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-5 * scale, $"y[{i}]: expected {expected[i]}, got {y[i]}");
    }

    [Fact]
    public void Mla_RaggedBatch_BitIdenticalFor1And2Threads_AndKeptOrRecomputedP()
    {
        var (c, batch, x, g) = Inputs(5);
        float[][] one = Run(c, batch, x, g, 1, gradients: true), two = Run(c, batch, x, g, 2, gradients: true);
        float[][] again = Run(c, batch, x, g, 2, gradients: true), recomputed = Run(c, batch, x, g, 2, gradients: false);
        Assert.Equal(one.Length, two.Length);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(two[i], again[i]);
        }
        Assert.Equal(one[0], recomputed[0]);   // y
        Assert.Equal(one[1], recomputed[1]);   // dx
        Assert.Contains(one[1], v => v != 0);
    }
}
