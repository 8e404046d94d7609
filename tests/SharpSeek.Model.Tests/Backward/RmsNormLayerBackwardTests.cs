using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>RmsNormLayer dgrad/wgrad against FP64 finite differences, gradient accumulation into the model's
/// vector gradient, and the B/W split.</summary>
public class RmsNormLayerBackwardTests
{
    // L = Σ g ⊙ (x · rsqrt(mean(x²) + eps) · w) in FP64.
    private static double Loss(double[] x, double[] w, double[] g, int rows, int n, double eps)
    {
        double l = 0;
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < n; i++) ms += x[r * n + i] * x[r * n + i];
            double rstd = 1 / Math.Sqrt(ms / n + eps);
            for (int i = 0; i < n; i++) l += g[r * n + i] * x[r * n + i] * rstd * w[i];
        }
        return l;
    }

    [Fact]
    public void RmsNormLayer_Backward_MatchesFiniteDifferences_AndAccumulates()
    {
        var c = TestConfigs.Make("base");
        using var weights = TestConfigs.RandomWeights(c);
        weights.EnableGradients();
        const string name = "model.layers.0.self_attn.kv_a_layernorm.weight";
        int n = c.KvLoraRank, rows = 4;
        var rng = new Random(7);
        GradCheck.Random(rng, n, 0.5).Select(v => 1 + v).ToArray().CopyTo(weights.Vector(name).Span);
        using var norm = new RmsNormLayer(weights, name, rows);
        float[] x = GradCheck.Random(rng, rows * n), g = GradCheck.Random(rng, rows * n), y = new float[rows * n];
        using var pool = new WorkerPool(1);
        norm.Forward(new ForwardContext(pool), x, rows, y);
        var dx = new float[rows * n];
        norm.Backward(pool, g, x, rows, dx);

        double[] xd = GradCheck.ToDouble(x), wd = GradCheck.ToDouble(weights.Vector(name).Span), gd = GradCheck.ToDouble(g);
        double eps = c.RmsNormEps;
        // FP32 row reductions over 20 elements: ~1e-6 relative; 1e-4 is a wide margin that still fails on any wrong term.
        GradCheck.AssertClose(dx, GradCheck.Central(xd, () => Loss(xd, wd, gd, rows, n, eps)), 1e-4, "dx");
        GradCheck.AssertClose(norm.Gradient.Span, GradCheck.Central(wd, () => Loss(xd, wd, gd, rows, n, eps)), 1e-4, "dw");

        // B now, W after another BackwardInput of a different layer: the gradient doubles exactly.
        float[] once = norm.Gradient.Span.ToArray();
        norm.BackwardInput(pool, g, x, rows, dx);
        using var other = new RmsNormLayer(weights, "model.layers.1.self_attn.kv_a_layernorm.weight", rows);
        other.Forward(new ForwardContext(pool), x, rows, y);
        other.BackwardInput(pool, x, x, rows, y);
        norm.BackwardWeights();
        for (int i = 0; i < n; i++) Assert.Equal(2 * once[i], norm.Gradient.Span[i], 5);
    }

    [Fact]
    public void RmsNormLayer_WithoutModelWeights_RefusesToTrain()
    {
        using var w = new NativeBuffer<float>(4);
        using var norm = new RmsNormLayer(w, 1e-6, 2);
        Assert.Throws<InvalidOperationException>(() => norm.Gradient);
    }
}
