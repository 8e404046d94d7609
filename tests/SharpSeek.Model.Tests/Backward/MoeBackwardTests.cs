// Backward of the MoE side (router, routed experts, shared experts, dense MLP) against FP64 finite differences of
// naive reference forwards, plus the B/W split contract the pipeline schedules rely on.
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

public class MoeBackwardTests
{
    private const int Tokens = 6;
    private const int Samples = 40;

    internal static ModelWeights TrainableWeights(ModelConfig c, int seed = 3)
    {
        var w = TestConfigs.RandomWeights(c, WeightDType.F32, seed);
        w.EnableGradients();
        return w;
    }

    public static TheoryData<string, string> RouterVariants() => new()
    {
        { "sigmoid_normalised_groups", "{}" },
        { "sigmoid_norm_topk_prob_false", """{"norm_topk_prob": false}""" },   // still normalised, as the official code
        { "softmax_no_groups", """{"scoring_func": "softmax", "topk_method": "greedy", "n_group": 1, "topk_group": 1}""" },
        { "two_shared_top3", """{"n_shared_experts": 2, "num_experts_per_tok": 3, "n_group": 2, "topk_group": 1}""" },
    };

    [Theory]
    [MemberData(nameof(RouterVariants))]
    public void MoeLayer_Backward_MatchesFiniteDifferences(string name, string overrides)
    {
        var c = TestConfigs.With(overrides);
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        const string prefix = "model.layers.1.mlp.";
        using var layer = new MoeLayer(c, w, prefix, Tokens);
        int d = c.HiddenSize, e = c.NRoutedExperts, k = c.NumExpertsPerTok;
        var rng = new Random(11);
        float[] x = Reference64.Gaussian(rng, Tokens * d), gy = Reference64.Gaussian(rng, Tokens * d);
        float[] gs = Reference64.Gaussian(rng, Tokens * e, 0.5);   // stands in for the balance-loss gradient on s

        var y = new float[Tokens * d];
        layer.Forward(ctx, x, Tokens, y);
        gs.CopyTo(layer.Router.ExtraScoreGradOf(Tokens));
        var dx = new float[Tokens * d];
        layer.Backward(ctx, x, gy, Tokens, dx);

        // FP64 reference with the FP32 forward's expert choice held fixed (no gradient flows through top-k)
        int[] chosen = layer.Router.Experts.AsSpan(0, Tokens * k).ToArray();
        double[] xd = GradCheck.ToDouble(x);
        var p = new Params64(w);
        var scores = new double[Tokens * e];
        double Loss()
        {
            double[] yd = Reference64.Ffn(c, p, prefix, moe: true, xd, Tokens, chosen, scores);
            return Reference64.Dot(yd, gy) + Reference64.Dot(scores, gs);
        }

        // the reference reproduces the layer's output (a check of the reference itself)
        double lossFromLayer = Reference64.Dot(GradCheck.ToDouble(y), gy) + Reference64.Dot(GradCheck.ToDouble(layer.Router.ScoresOf(Tokens)), gs);
        Assert.True(Math.Abs(Loss() - lossFromLayer) < 1e-4 * Math.Abs(lossFromLayer), $"reference {Loss()} vs layer {lossFromLayer}");

        SampledCheck.Check($"{name} dx", xd, dx, Loss, rng, Samples, Reference64.Tolerance);
        foreach (var param in w.TrainableParameters().Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)))
            SampledCheck.Check($"{name} {param.Name}", p[param.Name], param.GradientSpan, Loss, rng, Samples, Reference64.Tolerance);
    }

    [Fact]
    public void WholeModel_WithMoeLayers_MatchesFiniteDifferences()
    {
        // a dense layer, a MoE layer and a MoE MTP block: router, routed and shared experts inside the real wiring
        var c = TestConfigs.With("""{"num_hidden_layers": 2, "first_k_dense_replace": 1, "num_nextn_predict_layers": 1}""");
        using var w = TestConfigs.RandomWeights(c, seed: 41);
        MlaBackwardTests.RandomizeNorms(w, 42);
        w.EnableGradients();
        var (batch, targets) = ModelBackwardTests.Data(c.VocabSize);
        using var pool = new WorkerPool(2);
        using var model = new DeepSeekV3(w, new ForwardContext(pool), new ForwardCapacity(batch.Tokens, 2, 16));
        const float lambda = ModelBackwardTests.Lambda;
        double total = model.ForwardLoss(batch, targets) + lambda * model.MtpLosses[0];
        model.Backward(lambda);
        Assert.NotNull(model.Blocks[1].Moe);
        Assert.NotNull(model.Mtp[0].Block.Moe);

        var chosen = new Dictionary<int, int[]>
        {
            [1] = model.Blocks[1].Moe!.Router.Experts.ToArray(),
            [2] = model.Mtp[0].Block.Moe!.Router.Experts.ToArray(),
        };
        var p = new Params64(w);
        double Loss() => ModelBackwardTests.ReferenceLoss(c, p, batch, targets, l => chosen.GetValueOrDefault(l, []));
        Assert.True(Math.Abs(Loss() - total) < 1e-4 * Math.Abs(total), $"FP64 reference loss {Loss()} vs model {total}");
        var rng = new Random(43);
        foreach (var param in w.TrainableParameters())
            SampledCheck.Check(param.Name, p[param.Name], param.GradientSpan, Loss, rng, 8, Reference64.Tolerance);
    }

    [Fact]
    public void DenseMlp_Backward_MatchesFiniteDifferences()
    {
        var c = TestConfigs.With("{}");
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        using var mlp = new DenseMlp(w, "model.layers.0.mlp.", Tokens);
        int d = c.HiddenSize, inter = mlp.Inter;
        var rng = new Random(5);
        float[] x = Reference64.Gaussian(rng, Tokens * d), gy = Reference64.Gaussian(rng, Tokens * d);
        var y = new float[Tokens * d];
        mlp.Forward(ctx, x, Tokens, y);
        var dx = new float[Tokens * d];
        mlp.Backward(ctx, x, gy, Tokens, dx);

        double[] xd = GradCheck.ToDouble(x);
        var p = new Params64(w);
        double Loss() => Reference64.Dot(Reference64.Ffn(c, p, "model.layers.0.mlp.", moe: false, xd, Tokens, []), gy);
        SampledCheck.Check("dense dx", xd, dx, Loss, rng, Samples, Reference64.Tolerance);
        foreach (var param in w.TrainableParameters().Where(t => t.Name.StartsWith("model.layers.0.mlp.", StringComparison.Ordinal)))
            SampledCheck.Check(param.Name, p[param.Name], param.GradientSpan, Loss, rng, Samples, Reference64.Tolerance);
    }

    /// <summary>Runs two stacked MoE layers forward and backward, either with B and W interleaved per layer
    /// (Backward) or with both B steps first and the W steps afterwards in reverse (what zero-bubble schedules do);
    /// returns dx and every weight gradient.</summary>
    private static float[] TwoLayerGradients(bool deferWeights, int threads = 2, int tokens = Tokens)
    {
        var c = TestConfigs.With("{}");
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(threads);
        var ctx = new ForwardContext(pool);
        using var l1 = new MoeLayer(c, w, "model.layers.1.mlp.", tokens);
        using var l2 = new MoeLayer(c, w, "model.layers.2.mlp.", tokens);
        int d = c.HiddenSize;
        var rng = new Random(2);
        float[] x = Reference64.Gaussian(rng, tokens * d), gy = Reference64.Gaussian(rng, tokens * d);
        float[] h = new float[tokens * d], y = new float[tokens * d], dh = new float[tokens * d], dx = new float[tokens * d];
        l1.Forward(ctx, x, tokens, h);
        l2.Forward(ctx, h, tokens, y);
        if (deferWeights)
        {
            l2.BackwardInput(ctx, gy, tokens, dh);
            l1.BackwardInput(ctx, dh, tokens, dx);
            Array.Clear(dh);                       // the caller may reuse its gradient buffers before W runs
            l2.BackwardWeights(ctx, h, tokens);
            l1.BackwardWeights(ctx, x, tokens);
        }
        else
        {
            l2.Backward(ctx, h, gy, tokens, dh);
            l1.Backward(ctx, x, dh, tokens, dx);
        }
        var all = new List<float>(dx);
        foreach (var p in w.TrainableParameters()) all.AddRange(p.GradientSpan.ToArray());
        return all.ToArray();
    }

    [Fact]
    public void MoeLayer_WeightStepAfterLaterLayersInputStep_EqualsBackward()
    {
        float[] together = TwoLayerGradients(deferWeights: false), deferred = TwoLayerGradients(deferWeights: true);
        Assert.Contains(together, v => v != 0);
        Assert.Equal(together, deferred);
    }

    [Fact]
    public void MoeLayer_Gradients_AreBitIdenticalForAnyThreadCount()
    {
        // 1280 tokens: enough rows per expert for the GEMMs to split work across the pool's workers, and enough
        // work (≥ 2^15 floats) for the experts' gather / combine / scatter loops and the router's per-token
        // routing (8 · E floats a token) and score gradients (4 · E) to run on the pool (RangeJobs)
        float[] one = TwoLayerGradients(deferWeights: false, threads: 1, tokens: 1280);
        Assert.Equal(one, TwoLayerGradients(deferWeights: false, threads: 2, tokens: 1280));
        Assert.Equal(one, TwoLayerGradients(deferWeights: false, threads: 3, tokens: 1280));
    }

    [Fact]
    public void MoeAndHeadTrainingStep_AfterWarmUp_AllocatesNoManagedMemory()
    {
        var c = TestConfigs.With("{}");
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        using var moe = new MoeLayer(c, w, "model.layers.1.mlp.", Tokens);
        using var head = new LmHead(w, "model.norm.weight", "lm_head.weight", Tokens);
        var embed = new Embedding(w.Linear("model.embed_tokens.weight"));
        int d = c.HiddenSize;
        int[] ids = [1, 5, 9, 5, 2, 7], targets = [5, 9, 5, 2, 7, 3];
        float[] x = new float[Tokens * d], y = new float[Tokens * d], dy = new float[Tokens * d], dx = new float[Tokens * d];

        void Step()
        {
            embed.Forward(ids, x);
            moe.Forward(ctx, x, Tokens, y);
            head.Forward(ctx, y, Tokens);
            head.Loss(ctx, targets, Tokens);
            head.Backward(ctx, y, Tokens, 1f, dy);
            moe.Backward(ctx, x, dy, Tokens, dx);
            embed.Backward(ids, dx);
        }

        Step();   // warm-up: backward scratch, loss buffers, pool scratch
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void FfnBackwardBenchmark_RunsEveryLayerKind_WithoutAllocating()
    {
        var r = FfnBackwardBenchmark.Run(TestConfigs.With("{}"), "test", tokens: 16, threads: 2, rounds: 2);
        Assert.Equal(["dense_mlp", "moe_layer", "lm_head_ce"], r.Layers.Select(l => l.Layer));
        Assert.All(r.Layers, l => Assert.True(l.GflopPerPhase > 0 && l.ForwardMs > 0 && l.BackwardInputMs > 0 && l.BackwardWeightsMs > 0));
        Assert.Equal(0, r.AllocatedBytesPerRound);
    }

    [Fact]
    public void MoeLayer_BackwardOnBf16Weights_ThrowsNotSupported()
    {
        var c = TestConfigs.With("{}");
        using var w = TestConfigs.RandomWeights(c, WeightDType.Bf16);
        using var pool = new WorkerPool(1);
        var ctx = new ForwardContext(pool);
        using var layer = new MoeLayer(c, w, "model.layers.1.mlp.", Tokens);
        var x = Reference64.Gaussian(new Random(1), Tokens * c.HiddenSize);
        var y = new float[x.Length];
        layer.Forward(ctx, x, Tokens, y);
        Assert.Throws<NotSupportedException>(() => layer.BackwardInput(ctx, y, Tokens, new float[x.Length]));
    }
}
