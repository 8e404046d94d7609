// Helpers of the MoE/head backward tests: finite differences at SAMPLED entries (expert tensors are too large to
// difference every entry in a fast test), random inputs, weights read as doubles, and naive FP64 forwards of the
// MLP / MoE / head pieces (plain loops) from those doubles.
//
// Tolerance 1e-3 of the gradient's scale (GradCheck.AssertClose): the FP64 central differences are exact to ~1e-8
// here (see GradCheck); what remains is the FP32 rounding of the analytical backward (~1e-6 relative per GEMM,
// a few chained), so 1e-3 leaves a wide margin while a wrong term (a missing 1/S, a dropped expert) fails by >1e-1.
using SharpSeek.Model.Layers;

namespace SharpSeek.Model.Tests.Backward;

internal static class SampledGrad
{
    public const double Tolerance = 1e-3;

    /// <summary>Compares analytic ∂L/∂θ with central differences of <paramref name="loss"/> at <paramref name="count"/>
    /// random entries of θ (perturbed in place and restored).</summary>
    public static void Check(string what, double[] theta, ReadOnlySpan<float> analytic, Func<double> loss, Random rng, int count)
    {
        Assert.Equal(theta.Length, analytic.Length);
        int[] at = Sample(rng, theta.Length, count);
        var numeric = new double[at.Length];
        var picked = new float[at.Length];
        for (int i = 0; i < at.Length; i++)
        {
            double keep = theta[at[i]];
            theta[at[i]] = keep + GradCheck.Step;
            double up = loss();
            theta[at[i]] = keep - GradCheck.Step;
            double down = loss();
            theta[at[i]] = keep;
            numeric[i] = (up - down) / (2 * GradCheck.Step);
            picked[i] = analytic[at[i]];
        }
        GradCheck.AssertClose(picked, numeric, Tolerance, what);
    }

    /// <summary>Up to <paramref name="count"/> distinct random indices in [0, n), ascending.</summary>
    public static int[] Sample(Random rng, int n, int count)
    {
        if (n <= count) return Enumerable.Range(0, n).ToArray();
        var set = new HashSet<int>();
        while (set.Count < count) set.Add(rng.Next(n));
        return set.Order().ToArray();
    }

    /// <summary>n normal samples N(0, std²) (Box–Muller).</summary>
    public static float[] Gaussian(Random rng, int n, double std = 1)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return v;
    }

    /// <summary>All groups of a weight as doubles (G, N, K).</summary>
    public static double[] Read(LinearWeight w)
    {
        var all = new float[w.GroupElements * w.Groups];
        for (int g = 0; g < w.Groups; g++) w.ReadGroup(g, all.AsSpan((int)(g * w.GroupElements), (int)w.GroupElements));
        return GradCheck.ToDouble(all);
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}

/// <summary>Naive FP64 forwards of one row, weights as doubles.</summary>
internal static class Reference64
{
    /// <summary>y (N) = W_g (N, K) · x (K), W stored (G, N, K).</summary>
    public static double[] Linear(double[] w, int g, int n, int k, ReadOnlySpan<double> x)
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

    /// <summary>SwiGLU MLP: down_g(silu(gate_g x) ⊙ up_g x); gate/up (G, I, D), down (G, D, I); x (D).</summary>
    public static double[] Mlp(double[] gate, double[] up, double[] down, int g, int d, int inter, ReadOnlySpan<double> x)
    {
        double[] gv = Linear(gate, g, inter, d, x), uv = Linear(up, g, inter, d, x);
        var a = new double[inter];
        for (int i = 0; i < inter; i++) a[i] = gv[i] * Sigmoid(gv[i]) * uv[i];
        return Linear(down, g, d, inter, a);
    }

    /// <summary>RMSNorm: x / sqrt(mean(x²) + eps) ⊙ w; x, w (D).</summary>
    public static double[] RmsNorm(ReadOnlySpan<double> x, double[] w, double eps)
    {
        double ms = 0;
        foreach (double v in x) ms += v * v;
        double r = 1 / Math.Sqrt(ms / x.Length + eps);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * r * w[i];
        return y;
    }
}
