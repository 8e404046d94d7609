namespace SharpSeek.Numerics.Tests;

public class ActivationTests
{
    private static float[] Inputs(Random rng, int n)
    {
        float[] x = TestSupport.RandomFloats(rng, n, 12f);
        // Exercise the saturated ends too: e^-x overflows and underflows.
        for (int i = 0; i < n; i += 17) x[i] = i % 2 == 0 ? 95f : -95f;
        return x;
    }

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void SiluAndSwiGlu_MatchTheReferenceAtEveryLength(SimdLevel level)
    {
        var rng = new Random(21);
        foreach (int n in TestSupport.Lengths())
        {
            float[] g = Inputs(rng, n), u = TestSupport.RandomFloats(rng, n, 3f), dh = TestSupport.RandomFloats(rng, n);
            float[] y = new float[n], dx = new float[n], h = new float[n], dg = new float[n], du = new float[n];
            Activations.SiluForward(g, y, level);
            Activations.SiluBackward(dh, g, dx, level);
            Activations.SwiGluForward(g, u, h, level);
            Activations.SwiGluBackward(dh, g, u, dg, du, level);
            float[] yRef = new float[n], dxRef = new float[n], hRef = new float[n], dgRef = new float[n], duRef = new float[n];
            for (int i = 0; i < n; i++)
            {
                yRef[i] = (float)RowKernelsReference.Silu(g[i]);
                dxRef[i] = (float)(dh[i] * RowKernelsReference.SiluGrad(g[i]));
                hRef[i] = (float)(RowKernelsReference.Silu(g[i]) * u[i]);
                dgRef[i] = (float)(dh[i] * u[i] * RowKernelsReference.SiluGrad(g[i]));
                duRef[i] = (float)(dh[i] * RowKernelsReference.Silu(g[i]));
            }
            Approx.Equal(yRef, y, 1e-6, $"{level} silu n={n}");
            Approx.Equal(dxRef, dx, 1e-6, $"{level} silu' n={n}");
            Approx.Equal(hRef, h, 1e-6, $"{level} swiglu n={n}");
            Approx.Equal(dgRef, dg, 1e-6, $"{level} dgate n={n}");
            Approx.Equal(duRef, du, 1e-6, $"{level} dup n={n}");
        }
    }

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void Add_IsTheExactSum_AtEveryLength_InPlace_AndOnThePool(SimdLevel level)
    {
        var rng = new Random(23);
        using var pool = new WorkerPool(3);
        foreach (int n in TestSupport.Lengths().Append(70_001))            // the last one splits over the pool
        {
            float[] a = TestSupport.RandomFloats(rng, n, 5f), b = TestSupport.RandomFloats(rng, n, 5f), y = new float[n];
            Activations.Add(a, b, y, level);
            for (int i = 0; i < n; i++) Assert.Equal(a[i] + b[i], y[i]);
            float[] inPlace = (float[])a.Clone();
            Activations.Add(inPlace, b, inPlace, level, pool);
            Assert.Equal(y, inPlace);
        }
        Assert.Throws<ArgumentException>(() => Activations.Add(new float[4], new float[3], new float[4], level));
    }

    [Fact]
    public void Sigmoid_MatchesTheReferenceAtEveryLength()
    {
        var rng = new Random(22);
        foreach (int n in TestSupport.Lengths())
        {
            float[] x = Inputs(rng, n), y = new float[n], yRef = new float[n];
            Activations.Sigmoid(x, y);
            for (int i = 0; i < n; i++) yRef[i] = (float)RowKernelsReference.Sigmoid(x[i]);
            Approx.Equal(yRef, y, 1e-6, $"sigmoid n={n}");
        }
    }

    [Fact]
    public void SwiGluBackward_MatchesFiniteDifferences()
    {
        var rng = new Random(23);
        const int n = 40;
        float[] g = TestSupport.RandomFloats(rng, n, 4f), u = TestSupport.RandomFloats(rng, n, 2f), c = TestSupport.RandomFloats(rng, n);
        double Loss(float[] gs, float[] us)
        {
            double l = 0;
            for (int i = 0; i < n; i++) l += c[i] * RowKernelsReference.Silu(gs[i]) * us[i];
            return l;
        }
        float[] dg = new float[n], du = new float[n];
        Activations.SwiGluBackward(c, g, u, dg, du);
        for (int i = 0; i < n; i++)
        {
            Approx.Equal(Approx.Derivative(g, i, gs => Loss(gs, u), 1e-3f), dg[i], 1e-3, $"dgate[{i}]");
            Approx.Equal(Approx.Derivative(u, i, us => Loss(g, us), 1e-3f), du[i], 1e-3, $"dup[{i}]");
        }
    }

    [Fact]
    public void Silu_IsStableAtTheSaturatedEnds()
    {
        float[] x = [-200f, -90f, 90f, 200f], y = new float[4], d = new float[4];
        foreach (SimdLevel level in Simd.Supported)
        {
            Activations.SiluForward(x, y, level);
            Activations.SiluBackward([1f, 1f, 1f, 1f], x, d, level);
            // the negative end is 0 or the true tiny value (silu(-90) = -7.4e-38; Vector128.Exp keeps subnormals)
            Assert.Equal(new[] { 0f, 0f, 90f, 200f }, y.Select(v => MathF.Abs(v) < 1e-30f ? 0f : v));
            Assert.Equal(new[] { 0f, 0f, 1f, 1f }, d.Select(v => MathF.Abs(v) < 1e-30f ? 0f : v));
        }
    }
}
