// Backward of the MoE side (router, routed experts, shared experts, dense MLP) against FP64 finite differences of
// naive reference forwards, plus the B/W split contract the pipeline schedules rely on.
using System.Text.Json.Nodes;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

public class MoeBackwardTests
{
    private const int Tokens = 6;
    private const int Samples = 40;

    internal static ModelConfig Config(string overrides)
    {
        var node = JsonNode.Parse(TestConfigs.Base)!.AsObject();
        foreach (var (k, v) in JsonNode.Parse(overrides)!.AsObject()) node[k] = v?.DeepClone();
        return ModelConfig.Parse(node.ToJsonString(), "backward test config");
    }

    internal static ModelWeights TrainableWeights(ModelConfig c, int seed = 3)
    {
        var w = TestConfigs.RandomWeights(c, WeightDType.F32, seed);
        w.EnableGradients();
        return w;
    }

    public static TheoryData<string, string> RouterVariants() => new()
    {
        { "sigmoid_normalised_groups", "{}" },
        { "sigmoid_unnormalised", """{"norm_topk_prob": false}""" },
        { "softmax_no_groups", """{"scoring_func": "softmax", "topk_method": "greedy", "n_group": 1, "topk_group": 1}""" },
        { "two_shared_top3", """{"n_shared_experts": 2, "num_experts_per_tok": 3, "n_group": 2, "topk_group": 1}""" },
    };

    [Theory]
    [MemberData(nameof(RouterVariants))]
    public void MoeLayer_Backward_MatchesFiniteDifferences(string name, string overrides)
    {
        var c = Config(overrides);
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        const string prefix = "model.layers.1.mlp.";
        using var layer = new MoeLayer(c, w, prefix, Tokens);
        int d = c.HiddenSize, e = c.NRoutedExperts, k = c.NumExpertsPerTok;
        var rng = new Random(11);
        float[] x = SampledGrad.Gaussian(rng, Tokens * d), gy = SampledGrad.Gaussian(rng, Tokens * d);
        float[] gs = SampledGrad.Gaussian(rng, Tokens * e, 0.5);   // stands in for the balance-loss gradient on s

        var y = new float[Tokens * d];
        layer.Forward(ctx, x, Tokens, y);
        gs.CopyTo(layer.Router.ExtraScoreGradOf(Tokens));
        var dx = new float[Tokens * d];
        layer.Backward(ctx, x, gy, Tokens, dx);

        // FP64 reference with the FP32 forward's expert choice held fixed (no gradient flows through top-k)
        int[] chosen = layer.Router.Experts.AsSpan(0, Tokens * k).ToArray();
        double[] xd = GradCheck.ToDouble(x);
        double[] router = SampledGrad.Read(layer.Router.Gate);
        double[] eg = SampledGrad.Read(layer.Experts.Gate), eu = SampledGrad.Read(layer.Experts.Up), ed = SampledGrad.Read(layer.Experts.Down);
        DenseMlp? sh = layer.Shared;
        double[] sg = sh is null ? [] : SampledGrad.Read(sh.Gate), su = sh is null ? [] : SampledGrad.Read(sh.Up), sd = sh is null ? [] : SampledGrad.Read(sh.Down);
        bool sigmoid = c.ScoringFunc == "sigmoid", normalise = sigmoid && c.NormTopkProb;
        double scale = c.RoutedScalingFactor;
        int im = c.MoeIntermediateSize, si = sh?.Inter ?? 0;

        double Loss()
        {
            double l = 0;
            for (int t = 0; t < Tokens; t++)
            {
                var xt = new ReadOnlySpan<double>(xd, t * d, d);
                double[] s = Reference64.Linear(router, 0, e, d, xt);
                if (sigmoid) for (int i = 0; i < e; i++) s[i] = Reference64.Sigmoid(s[i]);
                else
                {
                    double m = s.Max(), z = s.Sum(v => Math.Exp(v - m));
                    for (int i = 0; i < e; i++) s[i] = Math.Exp(s[i] - m) / z;
                }
                double sum = 0;
                for (int j = 0; j < k; j++) sum += s[chosen[t * k + j]];
                var yt = new double[d];
                for (int j = 0; j < k; j++)
                {
                    int ex = chosen[t * k + j];
                    double wt = scale * s[ex] / (normalise ? sum : 1);
                    double[] o = Reference64.Mlp(eg, eu, ed, ex, d, im, xt);
                    for (int i = 0; i < d; i++) yt[i] += wt * o[i];
                }
                if (sh is not null)
                {
                    double[] o = Reference64.Mlp(sg, su, sd, 0, d, si, xt);
                    for (int i = 0; i < d; i++) yt[i] += o[i];
                }
                l += SampledGrad.Dot(yt, gy.AsSpan(t * d, d)) + SampledGrad.Dot(s, gs.AsSpan(t * e, e));
            }
            return l;
        }

        // the reference forward reproduces the layer's output (sanity of the reference itself)
        double lossFromLayer = 0;
        for (int i = 0; i < y.Length; i++) lossFromLayer += (double)y[i] * gy[i];
        for (int i = 0; i < gs.Length; i++) lossFromLayer += (double)layer.Router.ScoresOf(Tokens)[i] * gs[i];
        Assert.Equal(Loss(), lossFromLayer, 1e-3);

        Check($"{name} dx", xd, dx);
        Check($"{name} dW router", router, layer.Router.Gate.Gradient.Span);
        Check($"{name} dW expert gate", eg, layer.Experts.Gate.Gradient.Span);
        Check($"{name} dW expert up", eu, layer.Experts.Up.Gradient.Span);
        Check($"{name} dW expert down", ed, layer.Experts.Down.Gradient.Span);
        if (sh is not null)
        {
            Check($"{name} dW shared gate", sg, sh.Gate.Gradient.Span);
            Check($"{name} dW shared up", su, sh.Up.Gradient.Span);
            Check($"{name} dW shared down", sd, sh.Down.Gradient.Span);
        }

        void Check(string what, double[] theta, ReadOnlySpan<float> analytic) => SampledGrad.Check(what, theta, analytic, Loss, rng, Samples);
    }

    [Fact]
    public void DenseMlp_Backward_MatchesFiniteDifferences()
    {
        var c = Config("{}");
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        using var mlp = new DenseMlp(w, "model.layers.0.mlp.", Tokens);
        int d = c.HiddenSize, inter = mlp.Inter;
        var rng = new Random(5);
        float[] x = SampledGrad.Gaussian(rng, Tokens * d), gy = SampledGrad.Gaussian(rng, Tokens * d);
        var y = new float[Tokens * d];
        mlp.Forward(ctx, x, Tokens, y);
        var dx = new float[Tokens * d];
        mlp.Backward(ctx, x, gy, Tokens, dx);

        double[] xd = GradCheck.ToDouble(x), g = SampledGrad.Read(mlp.Gate), u = SampledGrad.Read(mlp.Up), dn = SampledGrad.Read(mlp.Down);
        double Loss()
        {
            double l = 0;
            for (int t = 0; t < Tokens; t++)
                l += SampledGrad.Dot(Reference64.Mlp(g, u, dn, 0, d, inter, new ReadOnlySpan<double>(xd, t * d, d)), gy.AsSpan(t * d, d));
            return l;
        }
        foreach (var (what, theta, analytic) in new (string, double[], float[])[]
                 { ("dx", xd, dx), ("dW gate", g, mlp.Gate.Gradient.Span.ToArray()), ("dW up", u, mlp.Up.Gradient.Span.ToArray()),
                   ("dW down", dn, mlp.Down.Gradient.Span.ToArray()) })
            SampledGrad.Check(what, theta, analytic, Loss, rng, Samples);
    }

    /// <summary>Runs two stacked MoE layers forward and backward, either with B and W interleaved per layer
    /// (Backward) or with both B steps first and the W steps afterwards in reverse (what zero-bubble schedules do);
    /// returns dx and every weight gradient.</summary>
    private static float[] TwoLayerGradients(bool deferWeights)
    {
        var c = Config("{}");
        using var w = TrainableWeights(c);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool);
        using var l1 = new MoeLayer(c, w, "model.layers.1.mlp.", Tokens);
        using var l2 = new MoeLayer(c, w, "model.layers.2.mlp.", Tokens);
        int d = c.HiddenSize;
        var rng = new Random(2);
        float[] x = SampledGrad.Gaussian(rng, Tokens * d), gy = SampledGrad.Gaussian(rng, Tokens * d);
        float[] h = new float[Tokens * d], y = new float[Tokens * d], dh = new float[Tokens * d], dx = new float[Tokens * d];
        l1.Forward(ctx, x, Tokens, h);
        l2.Forward(ctx, h, Tokens, y);
        if (deferWeights)
        {
            l2.BackwardInput(ctx, gy, Tokens, dh);
            l1.BackwardInput(ctx, dh, Tokens, dx);
            Array.Clear(dh);                       // the caller may reuse its gradient buffers before W runs
            l2.BackwardWeights(ctx, h, Tokens);
            l1.BackwardWeights(ctx, x, Tokens);
        }
        else
        {
            l2.Backward(ctx, h, gy, Tokens, dh);
            l1.Backward(ctx, x, dh, Tokens, dx);
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
    public void MoeAndHeadTrainingStep_AfterWarmUp_AllocatesNoManagedMemory()
    {
        var c = Config("{}");
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
    public void MoeLayer_BackwardOnBf16Weights_ThrowsNotSupported()
    {
        var c = Config("{}");
        using var w = TestConfigs.RandomWeights(c, WeightDType.Bf16);
        using var pool = new WorkerPool(1);
        var ctx = new ForwardContext(pool);
        using var layer = new MoeLayer(c, w, "model.layers.1.mlp.", Tokens);
        var x = SampledGrad.Gaussian(new Random(1), Tokens * c.HiddenSize);
        var y = new float[x.Length];
        layer.Forward(ctx, x, Tokens, y);
        Assert.Throws<NotSupportedException>(() => layer.BackwardInput(ctx, y, Tokens, new float[x.Length]));
    }
}
