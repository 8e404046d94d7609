using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>LinearWeight dgrad/wgrad (single and grouped) against FP64 finite differences of y = x·Wᵀ, plus the
/// accumulation and B/W-split contracts the trainer and pipeline schedules rely on.</summary>
public class LinearWeightBackwardTests
{
    // L = Σ g ⊙ (x · Wᵀ) in FP64.
    private static double Loss(double[] x, double[] w, double[] g, int m, int n, int k)
    {
        double l = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double y = 0;
                for (int p = 0; p < k; p++) y += x[i * k + p] * w[j * k + p];
                l += g[i * n + j] * y;
            }
        return l;
    }

    [Fact]
    public void Linear_Backward_MatchesFiniteDifferences()
    {
        const int m = 5, n = 7, k = 6;
        var rng = new Random(3);
        float[] x = GradCheck.Random(rng, m * k), wv = GradCheck.Random(rng, n * k), g = GradCheck.Random(rng, m * n);
        using var pool = new WorkerPool(2);
        using var w = new LinearWeight(1, n, k, WeightDType.F32);
        w.WriteGroup(0, wv);
        w.EnableGradient();
        var dx = new float[m * k];
        w.Backward(pool, 0, x, g, m, dx);

        double[] xd = GradCheck.ToDouble(x), wd = GradCheck.ToDouble(wv), gd = GradCheck.ToDouble(g);
        // FP32 GEMM sums of 5-7 O(1) products: relative error ~1e-6; 1e-4 leaves room and still catches any wrong term.
        GradCheck.AssertClose(dx, GradCheck.Central(xd, () => Loss(xd, wd, gd, m, n, k)), 1e-4, "dx");
        GradCheck.AssertClose(w.Gradient.Span, GradCheck.Central(wd, () => Loss(xd, wd, gd, m, n, k)), 1e-4, "dW");
    }

    [Fact]
    public void Linear_GradientsAccumulate_AndDxCanAccumulate()
    {
        const int m = 4, n = 3, k = 5;
        var rng = new Random(4);
        float[] x = GradCheck.Random(rng, m * k), g = GradCheck.Random(rng, m * n);
        using var pool = new WorkerPool(2);
        using var w = new LinearWeight(1, n, k, WeightDType.F32);
        w.WriteGroup(0, GradCheck.Random(rng, n * k));
        w.EnableGradient();
        var dx1 = new float[m * k];
        w.Backward(pool, 0, x, g, m, dx1);
        float[] once = w.Gradient.Span.ToArray();
        var dx2 = (float[])dx1.Clone();
        w.Backward(pool, 0, x, g, m, dx2, GemmOutput.Accumulate);
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], w.Gradient.Span[i], 5);
        for (int i = 0; i < dx1.Length; i++) Assert.Equal(2 * dx1[i], dx2[i], 5);
    }

    [Fact]
    public void Grouped_Backward_EqualsPerGroupBackward_WithAnEmptyGroup()
    {
        const int n = 6, k = 4;
        int[] offsets = [0, 3, 3, 8];   // group 1 has no rows
        int rows = offsets[^1];
        var rng = new Random(5);
        float[] x = GradCheck.Random(rng, rows * k), dy = GradCheck.Random(rng, rows * n), wv = GradCheck.Random(rng, 3 * n * k);
        using var pool = new WorkerPool(2);
        using var grouped = new LinearWeight(3, n, k, WeightDType.F32);
        using var single = new LinearWeight(3, n, k, WeightDType.F32);
        for (int e = 0; e < 3; e++)
        {
            grouped.WriteGroup(e, wv.AsSpan(e * n * k, n * k));
            single.WriteGroup(e, wv.AsSpan(e * n * k, n * k));
        }
        grouped.EnableGradient();
        single.EnableGradient();
        var dxG = new float[rows * k];
        grouped.BackwardInputGrouped(pool, offsets, dy, dxG);
        grouped.BackwardWeightsGrouped(pool, offsets, x, dy);
        var dxS = new float[rows * k];
        for (int e = 0; e < 3; e++)
        {
            int r0 = offsets[e], r = offsets[e + 1] - r0;
            single.Backward(pool, e, x.AsSpan(r0 * k), dy.AsSpan(r0 * n), r, dxS.AsSpan(r0 * k));
        }
        GradCheck.AssertSame(dxG, dxS, 1e-5f, "grouped dx");
        GradCheck.AssertSame(grouped.Gradient.Span, single.Gradient.Span, 1e-5f, "grouped dW");
        Assert.All(grouped.GradientGroup(1).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Backward_OnBf16Weights_IsNotSupported()
    {
        using var pool = new WorkerPool(1);
        using var w = new LinearWeight(1, 2, 2, WeightDType.Bf16);
        var ex = Assert.Throws<NotSupportedException>(() => w.BackwardInput(pool, 0, new float[2], 1, new float[2]));
        Assert.Contains("FP32", ex.Message);
        Assert.Throws<NotSupportedException>(() => w.EnableGradient());
    }

    [Fact]
    public void TrainableParameters_CoverEveryTensorButTheRouterBias_OnceEach()
    {
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c);
        w.EnableGradients();
        var ps = w.TrainableParameters();
        Assert.Equal(ps.Count, ps.Select(p => p.Name).Distinct().Count());
        Assert.DoesNotContain(ps, p => p.Name.Contains("e_score_correction_bias"));
        long biases = w.Manifest.Where(s => s.Name.EndsWith("e_score_correction_bias")).Sum(s => s.ElementCount);
        Assert.True(biases > 0);
        Assert.Equal(w.Manifest.Sum(s => s.ElementCount) - biases, ps.Sum(p => p.Length));
        // Routed experts: one (E, N, K) entry per layer and projection, pointing at the weight's own memory.
        var experts = ps.Single(p => p.Name == "model.layers.1.mlp.experts.gate_proj.weight");
        Assert.Equal([c.NRoutedExperts, c.MoeIntermediateSize, c.HiddenSize], experts.Shape);
        var (lw, _) = w.Slot("model.layers.1.mlp.experts.3.gate_proj.weight");
        var row = new float[c.HiddenSize];
        lw.ReadRow(3, 0, row);
        Assert.Equal(row, experts.WeightSpan.Slice(3 * c.MoeIntermediateSize * c.HiddenSize, c.HiddenSize).ToArray());
        Assert.All(ps, p => Assert.Equal(p.Length, p.Shape.Aggregate(1L, (a, d) => a * d)));
        Assert.All(ps, p => Assert.All(p.GradientSpan.ToArray(), v => Assert.Equal(0f, v)));

        // ZeroGradients clears every gradient, allocation-free (the trainer calls it every step)
        foreach (var p in ps) p.GradientSpan.Fill(1f);
        w.ZeroGradients();
        long before = GC.GetAllocatedBytesForCurrentThread();
        w.ZeroGradients();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.All(ps, p => Assert.All(p.GradientSpan.ToArray(), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void EnableGradients_OnFp8Model_IsNotSupported()
    {
        using var w = ModelWeights.Allocate(TestConfigs.Make("base"), WeightDType.Fp8);
        Assert.Throws<NotSupportedException>(w.EnableGradients);
    }
}
