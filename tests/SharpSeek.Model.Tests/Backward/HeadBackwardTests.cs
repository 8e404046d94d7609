// Backward of the model's ends: the LM head (final RMSNorm + head + cross-entropy) against FP64 finite differences,
// and the embedding's scatter-add.
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

public class HeadBackwardTests
{
    private const int Tokens = 5;

    [Fact]
    public void LmHead_CrossEntropyBackward_MatchesFiniteDifferences()
    {
        var c = TestConfigs.With("{}");
        using var w = MoeBackwardTests.TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        var rng = new Random(9);
        int d = c.HiddenSize, v = c.VocabSize;
        Span<float> normWeight = w.Vector("model.norm.weight").Span;
        float[] nw = Reference64.Gaussian(rng, d, 0.2);
        for (int i = 0; i < d; i++) normWeight[i] = 1 + nw[i];   // non-trivial norm weight
        using var head = new LmHead(w, "model.norm.weight", "lm_head.weight", Tokens);
        float[] h = Reference64.Gaussian(rng, Tokens * d, 2);
        int[] targets = [7, CrossEntropy.IgnoreIndex, 95, 0, 42];
        const float lossGradient = 0.7f;
        float[] gn = Reference64.Gaussian(rng, Tokens * d, 0.1);   // stands in for what MTP adds into ∂L/∂n

        head.Forward(ctx, h, Tokens);
        double loss = head.Loss(ctx, targets, Tokens);
        gn.CopyTo(head.NormedGradOf(Tokens));
        var dh = new float[Tokens * d];
        head.Backward(ctx, h, Tokens, lossGradient, dh);

        double[] hd = GradCheck.ToDouble(h);
        var p = new Params64(w);
        double[] wn = p["model.norm.weight"], wh = p["lm_head.weight"];
        double eps = c.RmsNormEps;
        double CrossEntropyMean()
        {
            double[] z = Ref64.Linear(Ref64.RmsNorm(hd, Tokens, wn, eps), Tokens, wh, v, d);
            double total = 0;
            int valid = 0;
            for (int t = 0; t < Tokens; t++)
            {
                if (targets[t] == CrossEntropy.IgnoreIndex) continue;
                ReadOnlySpan<double> zt = z.AsSpan(t * v, v);
                double m = double.NegativeInfinity, sum = 0;
                foreach (double a in zt) m = Math.Max(m, a);
                foreach (double a in zt) sum += Math.Exp(a - m);
                total += m + Math.Log(sum) - zt[targets[t]];
                valid++;
            }
            return total / valid;
        }
        double Loss() => lossGradient * CrossEntropyMean() + Reference64.Dot(Ref64.RmsNorm(hd, Tokens, wn, eps), gn);

        Assert.Equal(CrossEntropyMean(), loss, 1e-4);
        SampledCheck.Check("dh", hd, dh, Loss, rng, 48, Reference64.Tolerance);
        SampledCheck.Check("dW head", wh, head.Head.Gradient.Span, Loss, rng, 48, Reference64.Tolerance);
        SampledCheck.Check("dw norm", wn, w.VectorGradient("model.norm.weight").Span, Loss, rng, 48, Reference64.Tolerance);
    }

    [Fact]
    public void Embedding_Backward_ScatterAddsIntoUsedRowsOnly()
    {
        var c = TestConfigs.With("{}");
        using var w = MoeBackwardTests.TrainableWeights(c);
        var embed = new Embedding(w.Linear("model.embed_tokens.weight"));
        int d = c.HiddenSize;
        int[] ids = [4, 9, 4, 0, 95];
        float[] dh = Reference64.Gaussian(new Random(4), ids.Length * d);
        embed.Backward(ids, dh);
        embed.Backward(ids, dh);   // gradients accumulate across micro-batches
        ReadOnlySpan<float> grad = embed.Table.Gradient.Span;
        for (int row = 0; row < c.VocabSize; row++)
            for (int i = 0; i < d; i++)
            {
                double expected = 0;
                for (int t = 0; t < ids.Length; t++) if (ids[t] == row) expected += 2.0 * dh[t * d + i];
                Assert.Equal(expected, grad[row * d + i], 1e-5);
            }
    }

    [Fact]
    public void Embedding_OnThePool_GivesTheSameBitsAsOneThread()
    {
        var c = TestConfigs.With("{}");
        using var serialW = MoeBackwardTests.TrainableWeights(c);
        using var pooledW = MoeBackwardTests.TrainableWeights(c);
        using var pool = new WorkerPool(3);
        var serial = new Embedding(serialW.Linear("model.embed_tokens.weight"));
        var pooled = new Embedding(pooledW.Linear("model.embed_tokens.weight"));
        int d = c.HiddenSize, tokens = 1024;                    // 1024 · 48 floats ≥ 2^15: split over the pool
        var rng = new Random(5);
        int[] ids = Enumerable.Range(0, tokens).Select(_ => rng.Next(c.VocabSize)).ToArray();   // many repeats
        float[] hSerial = new float[tokens * d], hPooled = new float[tokens * d];
        serial.Forward(ids, hSerial);
        pooled.Forward(ids, hPooled, pool);
        Assert.Equal(hSerial, hPooled);
        float[] dh = Reference64.Gaussian(rng, tokens * d);
        serial.Backward(ids, dh);
        pooled.Backward(ids, dh, pool);
        Assert.Contains(serial.Table.Gradient.Span.ToArray(), v => v != 0);
        Assert.True(serial.Table.Gradient.Span.SequenceEqual(pooled.Table.Gradient.Span));
    }
}
