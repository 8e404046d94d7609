namespace SharpSeek.Numerics.Tests;

public class SoftmaxTests
{
    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void ForwardAndBackward_MatchTheReferenceAtEveryLength(SimdLevel level)
    {
        var rng = new Random(31);
        const int rows = 3;
        foreach (int n in TestSupport.Lengths())
        {
            float[] x = TestSupport.RandomFloats(rng, rows * n, 20f), dy = TestSupport.RandomFloats(rng, rows * n);
            if (n > 3) { x[1] = float.NegativeInfinity; x[2] = 1000f; }     // a masked logit and a huge one
            float[] y = new float[rows * n], yRef = new float[rows * n];
            Softmax.Forward(rows, n, x, y, level);
            RowKernelsReference.SoftmaxForward(rows, n, x, yRef);
            Approx.Equal(yRef, y, 2e-6, $"{level} y n={n}");
            float[] dx = new float[rows * n], dxRef = new float[rows * n];
            Softmax.Backward(rows, n, y, dy, dx, level);
            RowKernelsReference.SoftmaxBackward(rows, n, y, dy, dxRef);
            Approx.Equal(dxRef, dx, 2e-6, $"{level} dx n={n}");
        }
    }

    [Fact]
    public void Forward_IsShiftInvariantAndSumsToOneForHugeLogits()
    {
        float[] x = [1e30f, 1e30f, -1e30f, 1e30f - 1e24f], y = new float[4];
        Softmax.Forward(1, 4, x, y);
        Assert.Equal(1.0, y.Sum(v => (double)v), 6);
        Assert.Equal(y[0], y[1]);
        Assert.Equal(0f, y[2]);
    }

    [Fact]
    public void Forward_WorksInPlace()
    {
        float[] x = [0f, MathF.Log(3f)], expected = [0.25f, 0.75f];
        Softmax.Forward(1, 2, x, x);
        Approx.Equal(expected, x, 1e-6, "in place");
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences()
    {
        var rng = new Random(32);
        const int n = 29;
        float[] x = TestSupport.RandomFloats(rng, n, 3f), c = TestSupport.RandomFloats(rng, n);
        double Loss(float[] xs)
        {
            float[] y = new float[n];
            RowKernelsReference.SoftmaxForward(1, n, xs, y);
            return y.Select((v, i) => (double)v * c[i]).Sum();
        }
        float[] yOut = new float[n], dx = new float[n];
        Softmax.Forward(1, n, x, yOut);
        Softmax.Backward(1, n, yOut, c, dx);
        for (int i = 0; i < n; i++) Approx.Equal(Approx.Derivative(x, i, Loss, 1e-3f), dx[i], 1e-3, $"dx[{i}]");
    }
}
