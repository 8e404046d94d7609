using SharpSeek.Inference;
using SharpSeek.Inference.RefCheck;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

public class InferenceTests
{
    private static (ModelConfig, ModelWeights) Tiny() => CheckpointLoader.Load(Path.Combine(RefCheckTests.Fixture("tiny"), "checkpoint"));

    [Fact]
    public void GreedyGeneration_ReproducesTheOfficialDecodeTokens_AndStopsAtEos()
    {
        var (config, weights) = Tiny();
        using var _ = weights;
        var (req, _) = RefCheckRequest.Load(Path.Combine(RefCheckTests.Fixture("tiny"), "request.json"));
        using var pool = new WorkerPool(2);
        using var engine = new InferenceEngine(weights, new ForwardContext(pool), 1, 32, 16);
        int[] official = [464, 236, 263, 499, 359, 291, 295, 434];   // golden.json decode.token_ids
        var streamed = new List<int>();
        var result = Generator.Generate(engine, req.PromptIds, 8, new SamplingOptions(), eosTokenId: null, streamed.Add);
        Assert.Equal(official, result.Tokens);
        Assert.Equal(official, streamed);
        Assert.False(result.StoppedAtEos);
        Assert.Equal(480, result.KvBytesPerToken);   // (32 + 8) × 3 layers × 4 bytes
        Assert.Equal(480L * (12 + 7), result.KvBytesUsed);

        var stopped = Generator.Generate(engine, req.PromptIds, 8, new SamplingOptions(), eosTokenId: 263);
        Assert.Equal(official[..3], stopped.Tokens);
        Assert.True(stopped.StoppedAtEos);
    }

    [Fact]
    public void DecodeBenchmark_FlopsPerStep_CountTwoPerWeightElementATokenUses_PlusTheLatentAttention()
    {
        var (c, weights) = Tiny();
        using var _ = weights;
        using var pool = new WorkerPool(1);
        using var engine = new InferenceEngine(weights, new ForwardContext(pool), 3, 32, 16);
        int d = c.HiddenSize, h = c.NumAttentionHeads, rkv = c.KvLoraRank, dr = c.QkRopeHeadDim, context = 10;
        double perToken = (double)c.VocabSize * d;
        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            double q = c.QLoraRank is int rq ? (double)rq * d + (double)h * c.QkHeadDim * rq : (double)h * c.QkHeadDim * d;
            perToken += q + (double)(rkv + dr) * d + (double)h * (c.QkNopeHeadDim + c.VHeadDim) * rkv + (double)d * h * c.VHeadDim;
            perToken += (double)h * context * (2 * rkv + dr);
            perToken += c.IsMoeLayer(layer)
                ? (double)c.NRoutedExperts * d + 3.0 * d * c.MoeIntermediateSize * (c.NSharedExperts + c.NumExpertsPerTok)
                : 3.0 * d * c.IntermediateSize;
        }
        Assert.Equal(2 * perToken, DecodeBenchmark.FlopsOfLastStep(engine.Model, 1, context));
        Assert.Equal(3 * 2 * perToken, DecodeBenchmark.FlopsOfLastStep(engine.Model, 3, context));
    }

    [Fact]
    public void DecodeStep_AllocatesNothing()
    {
        var (_, weights) = Tiny();
        using var _w = weights;
        using var pool = new WorkerPool(1);
        using var engine = new InferenceEngine(weights, new ForwardContext(pool), 2, 32, 16);
        var logits = new float[2 * engine.Vocab];
        engine.Prefill([(0, [1, 2, 3]), (1, [4, 5])], logits);
        int[] slots = [0, 1], tokens = [7, 8];
        engine.Decode(slots, tokens, logits);   // warm-up (JIT, lazily created pool scratch)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 4; i++) engine.Decode(slots, tokens, logits);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Sampler_GreedyAtZeroTemperature_SeededOtherwise_RespectsTopK()
    {
        float[] logits = [0.1f, 2.0f, 1.9f, -1f, 0.5f];
        Assert.Equal(1, new Sampler(new SamplingOptions()).Next(logits));
        var a = new Sampler(new SamplingOptions(1.0, 1.0, 0, Seed: 42));
        var b = new Sampler(new SamplingOptions(1.0, 1.0, 0, Seed: 42));
        var drawsA = Enumerable.Range(0, 50).Select(_ => a.Next(logits)).ToArray();
        Assert.Equal(drawsA, Enumerable.Range(0, 50).Select(_ => b.Next(logits)).ToArray());
        Assert.True(drawsA.Distinct().Count() > 2);
        var topK = new Sampler(new SamplingOptions(5.0, 1.0, TopK: 2, Seed: 1));
        Assert.All(Enumerable.Range(0, 200).Select(_ => topK.Next(logits)), t => Assert.Contains(t, new[] { 1, 2 }));
        var topP = new Sampler(new SamplingOptions(1.0, TopP: 0.01, Seed: 1));
        Assert.All(Enumerable.Range(0, 50).Select(_ => topP.Next(logits)), t => Assert.Equal(1, t));
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions(TopP: 0)));
    }

    [Fact]
    public void Sampler_TopK_DrawsExactlyTheKLargestLogits_TiesByLowerIndex_NeverNaN()
    {
        // 1000 logits on a coarse grid (many ties) and some NaN: at a high temperature the top-k draw is near
        // uniform over its k tokens, so 4000 seeded draws must hit every one of them and nothing else.
        var rng = new Random(7);
        float[] logits = Enumerable.Range(0, 1000).Select(_ => (float)rng.Next(-300, 300) / 8).ToArray();
        for (int i = 0; i < 1000; i += 97) logits[i] = float.NaN;
        const int k = 40;
        var expected = Enumerable.Range(0, logits.Length).Where(i => !float.IsNaN(logits[i]))
            .OrderByDescending(i => logits[i]).ThenBy(i => i).Take(k).ToHashSet();
        var sampler = new Sampler(new SamplingOptions(1e4, 1.0, TopK: k, Seed: 3));
        var drawn = Enumerable.Range(0, 4000).Select(_ => sampler.Next(logits)).ToHashSet();
        Assert.Equal(expected.OrderBy(i => i), drawn.OrderBy(i => i));
        // top-k ∘ top-p: a tiny top-p leaves the single largest logit (the lowest index among equals).
        var nucleus = new Sampler(new SamplingOptions(1.0, TopP: 1e-6, TopK: k, Seed: 3));
        int best = expected.OrderByDescending(i => logits[i]).ThenBy(i => i).First();
        Assert.All(Enumerable.Range(0, 20).Select(_ => nucleus.Next(logits)), t => Assert.Equal(best, t));
        Assert.Equal(0, new Sampler(new SamplingOptions(1.0, TopK: 3)).Next([float.NaN, float.NaN, float.NaN, float.NaN]));
    }

    [Fact]
    public void Sampler_TopP_DrawsExactlyTheNucleus_TiesByLowerIndex_NeverNaN()
    {
        // Near-uniform weights (T = 1e4) over logits with many ties: the nucleus is the first ⌈top_p·V⌉ or so tokens
        // in (descending logit, ascending index) order, as a full sort finds it; 4000 draws hit all and only those.
        var rng = new Random(11);
        float[] logits = Enumerable.Range(0, 1000).Select(_ => (float)rng.Next(-300, 300) / 8).ToArray();
        for (int i = 0; i < 1000; i += 89) logits[i] = float.NaN;
        const double temperature = 1e4, topP = 0.04;
        int[] ranked = Enumerable.Range(0, logits.Length).Where(i => !float.IsNaN(logits[i]))
            .OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();
        double[] w = ranked.Select(i => Math.Exp((logits[i] - logits[ranked[0]]) / temperature)).ToArray();
        double sum = w.Sum(), cum = 0;
        var nucleus = new HashSet<int>();
        for (int r = 0; r < ranked.Length && cum < topP; r++) { cum += w[r] / sum; nucleus.Add(ranked[r]); }
        Assert.InRange(nucleus.Count, 30, 50);
        var sampler = new Sampler(new SamplingOptions(temperature, topP, Seed: 5));
        var drawn = Enumerable.Range(0, 4000).Select(_ => sampler.Next(logits)).ToHashSet();
        Assert.Equal(nucleus.OrderBy(i => i), drawn.OrderBy(i => i));
        Assert.Equal(0, new Sampler(new SamplingOptions(1.0, TopP: 0.5)).Next([float.NaN, float.NaN]));
        var whole = new Sampler(new SamplingOptions(temperature, Seed: 5));
        var topK = new Sampler(new SamplingOptions(temperature, TopK: 40, Seed: 5));
        whole.Next(logits);
        topK.Next(logits);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) { sampler.Next(logits); whole.Next(logits); topK.Next(logits); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Sampler_NoTopKOrTopP_DrawsEveryTokenButNaN_InProportion()
    {
        float[] logits = Enumerable.Range(0, 100).Select(i => i % 10 == 3 ? float.NaN : (i % 2 == 0 ? 0f : MathF.Log(3))).ToArray();
        var sampler = new Sampler(new SamplingOptions(1.0, Seed: 9));
        int[] counts = new int[logits.Length];
        for (int d = 0; d < 40000; d++) counts[sampler.Next(logits)]++;
        for (int i = 0; i < logits.Length; i++)
            if (float.IsNaN(logits[i])) Assert.Equal(0, counts[i]);
            else Assert.True(counts[i] > 0, $"token {i} never drawn");
        // odd tokens weigh 3, even 1; the NaN ones (i % 10 == 3) are odd: 40 odd and 50 even finite tokens, so
        // 120/170 of the draws are odd (±6 standard deviations)
        double odd = Enumerable.Range(0, 100).Where(i => i % 2 == 1).Sum(i => counts[i]) / 40000.0;
        Assert.InRange(odd, 120.0 / 170 - 0.014, 120.0 / 170 + 0.014);
    }

    [Fact]
    public void ArgMax_IsTheFirstLargestNonNaN_AsTheScalarDefinition_AtEveryLength()
    {
        var rng = new Random(3);
        float[] pool = [0f, -0f, 1f, -1f, 2f, float.NaN, float.NegativeInfinity, float.PositiveInfinity, 1e-30f, -3.5f];
        for (int n = 0; n <= 70; n++)
            for (int trial = 0; trial < 40; trial++)
            {
                // few distinct values, so ties, ±0, NaN (also at index 0) and infinities are common
                float[] x = [.. Enumerable.Range(0, n).Select(_ => trial % 2 == 0 ? pool[rng.Next(pool.Length)] : (float)rng.NextDouble())];
                Assert.Equal(Sampler.ArgMaxReference(x), Sampler.ArgMax(x));
            }
        Assert.Equal(0, Sampler.ArgMax([float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN]));
        Assert.Equal(3, Sampler.ArgMax([float.NaN, -1f, -2f, 5f, 5f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 5f]));
        Assert.Equal(1, Sampler.ArgMax([float.NaN, float.NegativeInfinity]));
    }

    [Fact]
    public void Sampler_InfiniteOrNaNLogits_NeverThrow_PlusInfinityWins()
    {
        // softmax of a row holding +∞ is NaN everywhere; every path must still return a valid token (the +∞ one)
        float[] logits = [1f, float.NaN, float.PositiveInfinity, -2f, float.NegativeInfinity, float.PositiveInfinity];
        foreach (var options in new[]
        {
            new SamplingOptions(0.8, Seed: 1), new SamplingOptions(0.8, TopP: 0.5, Seed: 1),
            new SamplingOptions(0.8, TopK: 3, Seed: 1), new SamplingOptions(0.8, TopP: 0.5, TopK: 3, Seed: 1),
        })
            Assert.Equal(2, new Sampler(options).Next(logits));
        // no +∞: −∞ and NaN logits are never drawn
        float[] finite = [float.NegativeInfinity, 0.5f, float.NaN, 0.25f, float.NegativeInfinity];
        foreach (var options in new[] { new SamplingOptions(5.0, Seed: 2), new SamplingOptions(5.0, TopP: 0.99, Seed: 2), new SamplingOptions(5.0, TopK: 4, Seed: 2) })
        {
            var sampler = new Sampler(options);
            Assert.All(Enumerable.Range(0, 200).Select(_ => sampler.Next(finite)), t => Assert.Contains(t, new[] { 1, 3 }));
        }
    }
}
