namespace SharpSeek.Numerics.Tests;

public class TopKTests
{
    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void Rows_MatchTheSortingReferenceAtEveryLength(SimdLevel level)
    {
        var rng = new Random(61);
        const int rows = 3;
        foreach (int n in TestSupport.Lengths())
        {
            foreach (int k in new[] { 0, 1, 2, 8, 16, n }.Where(k => k <= n && k <= 300).Distinct())
            {
                // Few distinct values so ties are everywhere; a NaN and infinities in some rows.
                float[] values = new float[rows * n];
                for (int i = 0; i < values.Length; i++) values[i] = rng.Next(-6, 7) * 0.5f;
                if (n > 5) { values[3] = float.NaN; values[4] = float.PositiveInfinity; values[n + 5] = float.NegativeInfinity; }
                float[] topV = new float[rows * k];
                int[] topI = new int[rows * k];
                TopK.Rows(rows, n, k, values, topV, topI, level);
                for (int r = 0; r < rows; r++)
                {
                    float[] refV = new float[k];
                    int[] refI = new int[k];
                    RowKernelsReference.TopK(values.AsSpan(r * n, n), k, refV, refI);
                    Assert.True(refI.AsSpan().SequenceEqual(topI.AsSpan(r * k, k)), $"{level} n={n} k={k} row {r}: indices differ");
                    for (int j = 0; j < k; j++) Assert.True(TestSupport.SameBits(refV[j], topV[r * k + j]));
                }
            }
        }
    }

    [Fact]
    public void Select_TiesGoToTheLowerIndex()
    {
        float[] v = [1f, 3f, 2f, 3f, 3f, 0f], top = new float[3];
        int[] idx = new int[3];
        TopK.Select(v, 3, top, idx);
        Assert.Equal(new[] { 1, 3, 4 }, idx);
        Assert.Equal(new[] { 3f, 3f, 3f }, top);
    }

    [Fact]
    public void Select_RouterSized_8Of256()
    {
        var rng = new Random(62);
        float[] v = TestSupport.RandomFloats(rng, 256), top = new float[8], refTop = new float[8];
        int[] idx = new int[8], refIdx = new int[8];
        TopK.Select(v, 8, top, idx);
        RowKernelsReference.TopK(v, 8, refTop, refIdx);
        Assert.Equal(refIdx, idx);
        Assert.Equal(refTop, top);
    }

    [Fact]
    public void KLargerThanN_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TopK.Select([1f, 2f], 3, new float[3], new int[3]));
}
