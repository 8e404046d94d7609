// GradCheck — central finite differences in FP64 for the backward tests.
//
// A test writes a naive FP64 forward of the layer (plain loops, same weights) and a scalar L = Σ g ⊙ y with a
// fixed random g. Central differences (L(θ+h) − L(θ−h)) / 2h have truncation error O(h²·L''') and, in double,
// round-off ~1e-16·|L|/h; with h = 1e-4 and O(1) values both are < 1e-7, far below the FP32 analytical
// gradient's own error (~1e-6 relative per GEMM), so the comparison measures the FP32 backward alone.
namespace SharpSeek.Model.Tests.Backward;

public static class GradCheck
{
    public const double Step = 1e-4;

    /// <summary>dL/dθ_i for every i by central differences; θ is perturbed in place and restored.</summary>
    public static double[] Central(double[] theta, Func<double> loss, double h = Step)
    {
        var grad = new double[theta.Length];
        for (int i = 0; i < theta.Length; i++)
        {
            double keep = theta[i];
            theta[i] = keep + h;
            double up = loss();
            theta[i] = keep - h;
            double down = loss();
            theta[i] = keep;
            grad[i] = (up - down) / (2 * h);
        }
        return grad;
    }

    /// <summary>max_i |a_i − n_i| / max_i |n_i| ≤ tol: error relative to the gradient's scale (element-wise relative
    /// error is meaningless for entries that are ~0 by cancellation).</summary>
    public static void AssertClose(ReadOnlySpan<float> analytic, ReadOnlySpan<double> numeric, double tol, string what)
    {
        Assert.Equal(numeric.Length, analytic.Length);
        double scale = 0, err = 0;
        for (int i = 0; i < numeric.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(numeric[i]));
            err = Math.Max(err, Math.Abs(analytic[i] - numeric[i]));
        }
        Assert.True(scale > 1e-6, $"{what}: the reference gradient is ~0 (max |g| {scale:E2}); the check would prove nothing");
        Assert.True(err <= tol * scale, $"{what}: max |analytic − numeric| = {err:E3}, scale {scale:E3}, relative {err / scale:E3} > {tol:E1}");
    }

    /// <summary>Bitwise-or-near equality of two FP32 results computed by different call orders.</summary>
    public static void AssertSame(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float tol, string what)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= tol, $"{what}[{i}]: {a[i]} vs {b[i]}");
    }

    public static float[] Random(Random rng, long n, double scale = 1.0)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    public static double[] ToDouble(ReadOnlySpan<float> a)
    {
        var d = new double[a.Length];
        for (int i = 0; i < a.Length; i++) d[i] = a[i];
        return d;
    }
}

public static class SampledCheck
{
    /// <summary>Compares analytic ∂L/∂θ with central differences at up to <paramref name="count"/> random entries.</summary>
    public static void Check(string what, double[] theta, ReadOnlySpan<float> analytic, Func<double> loss, Random rng, int count, double tol)
    {
        Assert.Equal(theta.Length, analytic.Length);
        // half of the entries where the analytic gradient is non-zero (sparse gradients such as embedding rows),
        // half anywhere (zeros must be right too)
        var nonZero = new List<int>();
        for (int i = 0; i < analytic.Length; i++) if (analytic[i] != 0) nonZero.Add(i);
        int[] at = theta.Length <= count ? Enumerable.Range(0, theta.Length).ToArray()
            : nonZero.OrderBy(_ => rng.Next()).Take(count / 2)
                .Concat(Enumerable.Range(0, theta.Length).OrderBy(_ => rng.Next()).Take(count - count / 2))
                .Distinct().Order().ToArray();
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
        GradCheck.AssertClose(picked, numeric, tol, what);
    }
}
