using SharpSeek.Inference;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

/// <summary>Internal consistency over the config space: naive vs absorbed MLA, cached decode vs full recomputation,
/// a batch of different lengths vs separate runs, multi-depth MTP vs its definition.</summary>
public class ModelConsistencyTests
{
    public static TheoryData<string> Variants() => new(TestConfigs.Variants.Keys);

    private static readonly int[] Ids = [5, 17, 42, 3, 88, 61, 7, 29, 50, 11, 2, 73, 64];

    private static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    private static float[] FullLogits(DeepSeekV3 model, int[] ids, MlaPath path, LatentKvCache? cache = null)
    {
        var batch = new ForwardBatch(ids.Length, 1);
        batch.Add(0, 0, ids);
        model.Forward(batch, cache, path);
        var logits = new float[ids.Length * model.Vocab];
        model.Logits(Enumerable.Range(0, ids.Length).ToArray(), logits);
        return logits;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void NaiveAndAbsorbedMla_AgreeTo1e5(string variant)
    {
        var c = TestConfigs.Make(variant);
        using var w = TestConfigs.RandomWeights(c);
        using var pool = new WorkerPool(2);
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(Ids.Length, 1, Ids.Length));
        float[] naive = FullLogits(model, Ids, MlaPath.Naive);
        float[] absorbed = FullLogits(model, Ids, MlaPath.Absorbed);
        Assert.True(naive.Max(Math.Abs) > 0.1f, "logits are degenerate");
        Assert.True(MaxAbsDiff(naive, absorbed) <= 1e-5f, $"{variant}: naive vs absorbed max|Δ| {MaxAbsDiff(naive, absorbed):E3}");
    }

    [Fact]
    public void AbsorbedMla_OverSeveralContextBlocks_MatchesNaive_WithTheSameBitsOnAnyThreadCount()
    {
        // 75 positions: two full 32-position blocks of the absorbed core and a partial one; 1, 2 and 3 threads
        // group the heads differently (all in one task, two halves, uneven thirds).
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c);
        int[] ids = Enumerable.Range(0, 75).Select(i => (i * 37 + 11) % c.VocabSize).ToArray();
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var pool = new WorkerPool(threads);
            using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(ids.Length, 1, ids.Length));
            float[] absorbed = FullLogits(model, ids, MlaPath.Absorbed);
            if (first is null)
            {
                float[] naive = FullLogits(model, ids, MlaPath.Naive);
                Assert.True(MaxAbsDiff(naive, absorbed) <= 1e-5f, $"naive vs absorbed max|Δ| {MaxAbsDiff(naive, absorbed):E3}");
                first = absorbed;
            }
            else Assert.Equal(first, absorbed);
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void CachedDecode_EqualsFullRecomputation(string variant)
    {
        var c = TestConfigs.Make(variant);
        using var w = TestConfigs.RandomWeights(c);
        using var pool = new WorkerPool(2);
        int prompt = 5, V = c.VocabSize;
        float[] full;
        using (var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(Ids.Length, 1, Ids.Length)))
            full = FullLogits(model, Ids, MlaPath.Naive);
        using var engine = new InferenceEngine(w, new ForwardContext(pool), 1, Ids.Length, maxPrefillTokens: prompt);
        var logits = new float[V];
        engine.Prefill([(0, Ids[..prompt])], logits);
        Assert.True(MaxAbsDiff(logits, full.AsSpan((prompt - 1) * V, V)) <= 1e-5f);
        for (int t = prompt; t < Ids.Length; t++)
        {
            engine.Decode([0], [Ids[t]], logits);
            float d = MaxAbsDiff(logits, full.AsSpan(t * V, V));
            Assert.True(d <= 1e-5f, $"{variant}: position {t}: cached decode vs full max|Δ| {d:E3}");
        }
        Assert.Equal(Ids.Length, engine.Length(0));
    }

    [Theory]
    [InlineData("base")]
    [InlineData("yarn")]
    [InlineData("groups_2_keep_1")]
    public void BatchOfDifferentLengths_EqualsSeparateRuns(string variant)
    {
        var c = TestConfigs.Make(variant);
        using var w = TestConfigs.RandomWeights(c);
        using var pool = new WorkerPool(2);
        int V = c.VocabSize;
        int[][] prompts = [Ids[..3], Ids[2..11], Ids[..1], Ids[4..9]];
        int[] next = [9, 31, 77, 4];

        // separate: one sequence at a time
        var expectedPrefill = new float[prompts.Length][];
        var expectedDecode = new float[prompts.Length][];
        using (var single = new InferenceEngine(w, new ForwardContext(pool), 1, 16, maxPrefillTokens: 16))
            for (int s = 0; s < prompts.Length; s++)
            {
                single.Reset(0);
                expectedPrefill[s] = new float[V];
                single.Prefill([(0, prompts[s])], expectedPrefill[s]);
                expectedDecode[s] = new float[V];
                single.Decode([0], [next[s]], expectedDecode[s]);
            }

        // batched: all prompts in one prefill (chunked at 8 tokens), then one decode step for all
        using var engine = new InferenceEngine(w, new ForwardContext(pool), prompts.Length, 16, maxPrefillTokens: 8);
        var prefill = new float[prompts.Length * V];
        engine.Prefill(prompts.Select((p, s) => (s, p)).ToList(), prefill);
        var decode = new float[prompts.Length * V];
        engine.Decode([0, 1, 2, 3], next, decode);
        for (int s = 0; s < prompts.Length; s++)
        {
            Assert.True(MaxAbsDiff(prefill.AsSpan(s * V, V), expectedPrefill[s]) <= 1e-5f, $"prefill of sequence {s}");
            Assert.True(MaxAbsDiff(decode.AsSpan(s * V, V), expectedDecode[s]) <= 1e-5f, $"decode of sequence {s}");
        }
    }

    [Fact]
    public void MtpDepthTwo_UsesDepthOneOutputAndShiftedTokens()
    {
        var c = TestConfigs.Make("mtp_2");
        using var w = TestConfigs.RandomWeights(c);
        using var pool = new WorkerPool(2);
        int T = Ids.Length, V = c.VocabSize, D = c.HiddenSize;
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(T, 1, T));
        var batch = ForwardBatch.Single(Ids);
        model.Forward(batch, null, MlaPath.Naive);
        var all = new float[2 * T * V];
        int[] counts = model.MtpForward(batch, all);
        Assert.Equal([T - 1, T - 2], counts);

        // depth 2 by hand: its input rows are depth 1's normalised outputs 0..T-3 and tokens t[i+2]
        float[] depth1Normed = model.Mtp[0].Head.Normed.Span[..((T - 1) * D)].ToArray();
        var depth2Batch = ForwardBatch.Single(Ids[2..]);
        model.Mtp[1].Forward(model.Context, depth2Batch, depth1Normed.AsSpan(0, (T - 2) * D));
        var logits = new float[(T - 2) * V];
        model.Mtp[1].Head.Logits(model.Context, Enumerable.Range(0, T - 2).ToArray(), logits);
        Assert.True(MaxAbsDiff(logits, all.AsSpan((T - 1) * V, (T - 2) * V)) == 0);
    }

    [Fact]
    public void NegativeBiasedScores_MaskGroupsWithMinusInfinity()
    {
        // With all biases strongly negative every biased score is < 0; masking with 0 instead of -inf would make
        // the masked groups win. Every chosen expert must lie in a kept group.
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c, biasStd: 0);
        foreach (var spec in w.Manifest.Where(s => s.Name.EndsWith("e_score_correction_bias")))
        {
            var b = w.Vector(spec.Name).Span;
            for (int e = 0; e < b.Length; e++) b[e] = -5f - 0.1f * e;
        }
        using var pool = new WorkerPool(1);
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(Ids.Length, 1, Ids.Length));
        model.Forward(ForwardBatch.Single(Ids), null, MlaPath.Naive);
        var router = model.Blocks[1].Moe!.Router;
        int per = c.ExpertsPerGroup;
        for (int t = 0; t < Ids.Length; t++)
        {
            var biased = router.Biased.Span.Slice(t * c.NRoutedExperts, c.NRoutedExperts);
            int masked = 0;
            foreach (float v in biased) if (float.IsNegativeInfinity(v)) masked++;
            Assert.Equal((c.NGroup - c.TopkGroup) * per, masked);
            float wsum = 0;
            for (int k = 0; k < router.TopK; k++)
            {
                int e = router.Experts[t * router.TopK + k];
                Assert.False(float.IsNegativeInfinity(biased[e]), $"token {t} chose expert {e} from a masked group");
                Assert.True(biased[e] < 0);
                wsum += router.Weights[t * router.TopK + k];
            }
            Assert.Equal((float)c.RoutedScalingFactor, wsum, 4);
        }
    }

    [Theory]
    [InlineData("{}", true)]
    [InlineData("""{"norm_topk_prob": false}""", true)]
    [InlineData("""{"scoring_func": "softmax", "topk_method": "greedy", "n_group": 1, "topk_group": 1}""", false)]
    public void RouterWeights_NormalisedExactlyWhenScoringIsSigmoid_AsOfficialCode(string overrides, bool normalised)
    {
        // inference/model.py divides the top-k weights by their sum iff score_func == "sigmoid"; it has no
        // norm_topk_prob switch, so a sigmoid config with norm_topk_prob = false is still normalised.
        var c = TestConfigs.With(overrides);
        using var w = TestConfigs.RandomWeights(c);
        using var pool = new WorkerPool(1);
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(Ids.Length, 1, Ids.Length));
        model.Forward(ForwardBatch.Single(Ids), null, MlaPath.Naive);
        var router = model.Blocks.First(b => b.Moe is not null).Moe!.Router;
        for (int t = 0; t < Ids.Length; t++)
        {
            double wsum = 0, ssum = 0;
            for (int k = 0; k < router.TopK; k++)
            {
                int e = router.Experts[t * router.TopK + k];
                wsum += router.Weights[t * router.TopK + k];
                ssum += router.Scores.Span[t * c.NRoutedExperts + e];
            }
            double expected = normalised ? c.RoutedScalingFactor : c.RoutedScalingFactor * ssum;
            Assert.Equal(expected, wsum, 4);
        }
    }
}
