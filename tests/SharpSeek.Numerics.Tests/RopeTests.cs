namespace SharpSeek.Numerics.Tests;

public class RopeTests
{
    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void ForwardAndBackward_MatchTheReferenceForEveryEvenDim(SimdLevel level)
    {
        var rng = new Random(41);
        const int tokens = 3, heads = 2, maxPos = 600;
        int[] positions = [0, 7, 599];
        foreach (int length in TestSupport.Lengths())
        {
            int dim = length / 2 * 2;
            if (dim == 0 || length % 2 == 1) continue;
            float[] freqs = RopeTable.InverseFrequencies(dim, 10000);
            var table = new RopeTable(freqs, maxPos);
            int stride = dim + 5;                                   // rope part inside a wider row, as q_pe in q
            float[] x = TestSupport.RandomFloats(rng, tokens * heads * stride, 2f);
            float[] fast = (float[])x.Clone(), reference = (float[])x.Clone();
            Rope.Forward(tokens, heads, stride, positions, table, fast, level);
            RowKernelsReference.Rope(tokens, heads, stride, positions, freqs, reference, inverse: false);
            Approx.Equal(reference, fast, 2e-6, $"{level} forward dim={dim}");
            Rope.Backward(tokens, heads, stride, positions, table, fast, level);
            RowKernelsReference.Rope(tokens, heads, stride, positions, freqs, reference, inverse: true);
            Approx.Equal(reference, fast, 2e-6, $"{level} backward dim={dim}");
            Approx.Equal(x, fast, 1e-5, $"{level} backward undoes forward dim={dim}");
        }
    }

    [Fact]
    public void Forward_RotatesInterleavedPairsNotHalves()
    {
        // dim 4, one frequency pair (2i, 2i+1) = (0, 1) with θ = π/2 at position 1, pair (2, 3) with θ = 0.
        var table = new RopeTable([MathF.PI / 2, 0f], 2);
        float[] x = [1f, 2f, 3f, 4f];
        Rope.Forward(1, 1, 4, [1], table, x);
        Approx.Equal([-2f, 1f, 3f, 4f], x, 1e-6, "pairs (0,1) rotated by 90°, (2,3) unchanged");
    }

    [Fact]
    public void Backward_IsTheTransposeOfForward()
    {
        // <R x, y> = <x, Rᵀ y> for random x, y: proves Backward is the adjoint of Forward.
        var rng = new Random(42);
        const int dim = 64;
        var table = new RopeTable(RopeTable.InverseFrequencies(dim, 10000), 100);
        float[] x = TestSupport.RandomFloats(rng, dim), y = TestSupport.RandomFloats(rng, dim);
        float[] rx = (float[])x.Clone(), rty = (float[])y.Clone();
        Rope.Forward(1, 1, dim, [57], table, rx);
        Rope.Backward(1, 1, dim, [57], table, rty);
        double left = rx.Select((v, i) => (double)v * y[i]).Sum(), right = x.Select((v, i) => (double)v * rty[i]).Sum();
        Approx.Equal(left, right, 1e-5, "<Rx, y> = <x, Rᵀy>");
    }

    [Fact]
    public void PositionsOutsideTheTable_AreRejected()
    {
        var table = new RopeTable([1f], 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Forward(1, 1, 2, [4], table, new float[2]));
    }
}
