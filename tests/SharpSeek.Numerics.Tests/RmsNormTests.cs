namespace SharpSeek.Numerics.Tests;

public class RmsNormTests
{
    private const float Eps = 1e-6f;

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void ForwardAndBackward_MatchTheReferenceAtEveryLength(SimdLevel level)
    {
        var rng = new Random(11);
        const int rows = 3;
        foreach (int dim in TestSupport.Lengths())
        {
            float[] x = TestSupport.RandomFloats(rng, rows * dim, 3f), w = TestSupport.RandomFloats(rng, dim, 2f);
            float[] dy = TestSupport.RandomFloats(rng, rows * dim), dw0 = TestSupport.RandomFloats(rng, dim);
            float[] y = new float[rows * dim], r = new float[rows], yRef = new float[rows * dim], rRef = new float[rows];
            RmsNorm.Forward(rows, dim, x, w, Eps, y, r, level);
            RowKernelsReference.RmsNormForward(rows, dim, x, w, Eps, yRef, rRef);
            Approx.Equal(yRef, y, 2e-6, $"{level} y dim={dim}");
            if (dim == 0) continue;
            Approx.Equal(rRef, r, 2e-6, $"{level} rstd dim={dim}");

            float[] dx = new float[rows * dim], dxRef = new float[rows * dim];
            float[] dw = (float[])dw0.Clone(), dwRef = (float[])dw0.Clone();
            RmsNorm.Backward(rows, dim, dy, x, w, r, dx, dw, level);
            RowKernelsReference.RmsNormBackward(rows, dim, dy, x, w, Eps, dxRef, dwRef);
            Approx.Equal(dxRef, dx, 1e-5, $"{level} dx dim={dim}");
            Approx.Equal(dwRef, dw, 1e-5, $"{level} dweight (accumulated) dim={dim}");
        }
    }

    [Fact]
    public void Backward_MatchesFiniteDifferencesOfTheForward()
    {
        var rng = new Random(3);
        const int rows = 2, dim = 37;
        float[] x = TestSupport.RandomFloats(rng, rows * dim, 2f), w = TestSupport.RandomFloats(rng, dim, 2f);
        float[] c = TestSupport.RandomFloats(rng, rows * dim);            // L = Σ c ⊙ y, so dy = c
        double Loss(float[] xs, float[] ws)
        {
            float[] y = new float[rows * dim], r = new float[rows];
            RowKernelsReference.RmsNormForward(rows, dim, xs, ws, Eps, y, r);
            double l = 0;
            for (int i = 0; i < y.Length; i++) l += (double)c[i] * y[i];
            return l;
        }
        float[] yOut = new float[rows * dim], rstd = new float[rows], dx = new float[rows * dim], dw = new float[dim];
        RmsNorm.Forward(rows, dim, x, w, Eps, yOut, rstd);
        RmsNorm.Backward(rows, dim, c, x, w, rstd, dx, dw);
        for (int i = 0; i < x.Length; i += 5) Approx.Equal(Approx.Derivative(x, i, xs => Loss(xs, w)), dx[i], 2e-3, $"dx[{i}]");
        for (int i = 0; i < dim; i += 3) Approx.Equal(Approx.Derivative(w, i, ws => Loss(x, ws)), dw[i], 2e-3, $"dw[{i}]");
    }

    [Fact]
    public void Forward_OfAConstantRowIsTheWeight()
    {
        float[] x = [-4f, -4f, -4f, -4f], w = [1f, 2f, 3f, 4f], y = new float[4], r = new float[1];
        RmsNorm.Forward(1, 4, x, w, 0f, y, r);
        Assert.Equal(new[] { -1f, -2f, -3f, -4f }, y);
        Assert.Equal(0.25f, r[0]);
    }

    [Fact]
    public void ShortBuffers_AreRejectedNamingTheArgument()
    {
        var e = Assert.Throws<ArgumentException>(() => RmsNorm.Forward(2, 4, new float[8], new float[3], Eps, new float[8], new float[2]));
        Assert.Contains("weight", e.Message);
    }
}
