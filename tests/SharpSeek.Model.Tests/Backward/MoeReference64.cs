// Naive FP64 forwards of the MoE-side layers for the gradient checks (plain loops in double, parameters from
// Params64 so tests can perturb them), and the random inputs those tests use.
//
//   Mlp   down_g(silu(gate_g x) ⊙ up_g x)                       one row, expert / group g
//   Moe   Σ_k w_tk · expert_{e_tk}(x_t) + shared(x_t)           experts e_tk held fixed (no gradient through top-k)
//         w = c · s[e] / Σ_topK s (normalised sigmoid) or c · s[e]; s = sigmoid(x·W_gᵀ) or softmax
//
// Tolerance of the MoE checks: 1e-3 of the gradient's scale (GradCheck.AssertClose). The FP64 differences are exact
// to ~1e-8; the FP32 backward chains a few GEMMs (~1e-6 relative each); a dropped −Σ dw·w / S term fails by 1e-1.
namespace SharpSeek.Model.Tests.Backward;

internal static class Reference64
{
    public const double Tolerance = 1e-3;

    /// <summary>y (N) = W_g (N, K) · x (K), W stored (G, N, K).</summary>
    private static double[] Linear(double[] w, int g, int n, int k, ReadOnlySpan<double> x)
    {
        var y = new double[n];
        long baseAt = (long)g * n * k;
        for (int o = 0; o < n; o++)
        {
            double s = 0;
            for (int i = 0; i < k; i++) s += w[baseAt + (long)o * k + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    public static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    /// <summary>SwiGLU MLP: gate/up (G, I, D), down (G, D, I); x (D) → (D).</summary>
    public static double[] Mlp(double[] gate, double[] up, double[] down, int g, int d, int inter, ReadOnlySpan<double> x)
    {
        double[] gv = Linear(gate, g, inter, d, x), uv = Linear(up, g, inter, d, x);
        var a = new double[inter];
        for (int i = 0; i < inter; i++) a[i] = gv[i] * Sigmoid(gv[i]) * uv[i];
        return Linear(down, g, d, inter, a);
    }

    /// <summary>Router scores s (E) of one row: sigmoid or softmax of x · W_gateᵀ.</summary>
    public static double[] Scores(ModelConfig c, double[] gate, ReadOnlySpan<double> x)
    {
        int e = c.NRoutedExperts;
        double[] s = Linear(gate, 0, e, c.HiddenSize, x);
        if (c.ScoringFunc == "sigmoid")
        {
            for (int i = 0; i < e; i++) s[i] = Sigmoid(s[i]);
            return s;
        }
        double m = s.Max(), z = s.Sum(v => Math.Exp(v - m));
        for (int i = 0; i < e; i++) s[i] = Math.Exp(s[i] - m) / z;
        return s;
    }

    /// <summary>The FFN of layer <paramref name="prefix"/> ("…mlp.") on x (T, D): dense MLP, or MoE with the expert ids
    /// (T, K) the FP32 forward chose. scores (T, E), when given, receives the router scores.</summary>
    public static double[] Ffn(ModelConfig c, Params64 p, string prefix, bool moe, double[] x, int tokens,
        ReadOnlySpan<int> experts, double[]? scores = null)
    {
        int d = c.HiddenSize;
        var y = new double[tokens * d];
        if (!moe)
        {
            for (int t = 0; t < tokens; t++)
                Mlp(p[prefix + "gate_proj.weight"], p[prefix + "up_proj.weight"], p[prefix + "down_proj.weight"], 0, d,
                    c.IntermediateSize, x.AsSpan(t * d, d)).CopyTo(y, t * d);
            return y;
        }
        int k = c.NumExpertsPerTok, e = c.NRoutedExperts, shared = c.MoeIntermediateSize * c.NSharedExperts;
        bool normalise = c.ScoringFunc == "sigmoid";
        for (int t = 0; t < tokens; t++)
        {
            ReadOnlySpan<double> xt = x.AsSpan(t * d, d);
            double[] s = Scores(c, p[prefix + "gate.weight"], xt);
            if (scores is not null) s.CopyTo(scores, t * e);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += s[experts[t * k + j]];
            Span<double> yt = y.AsSpan(t * d, d);
            for (int j = 0; j < k; j++)
            {
                int ex = experts[t * k + j];
                double wt = c.RoutedScalingFactor * s[ex] / (normalise ? sum : 1);
                double[] o = Mlp(p[prefix + "experts.gate_proj.weight"], p[prefix + "experts.up_proj.weight"],
                    p[prefix + "experts.down_proj.weight"], ex, d, c.MoeIntermediateSize, xt);
                for (int i = 0; i < d; i++) yt[i] += wt * o[i];
            }
            if (shared == 0) continue;
            double[] so = Mlp(p[prefix + "shared_experts.gate_proj.weight"], p[prefix + "shared_experts.up_proj.weight"],
                p[prefix + "shared_experts.down_proj.weight"], 0, d, shared, xt);
            for (int i = 0; i < d; i++) yt[i] += so[i];
        }
        return y;
    }

    /// <summary>n normal samples N(0, std²) (Box–Muller).</summary>
    public static float[] Gaussian(Random rng, int n, double std = 1)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return v;
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
