namespace SharpSeek.Numerics.Tests;

public class CrossEntropyTests
{
    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void ForwardAndBackward_MatchTheReferenceAtEveryVocabSize(SimdLevel level)
    {
        var rng = new Random(51);
        const int rows = 4;
        foreach (int vocab in TestSupport.Lengths())
        {
            if (vocab == 0) continue;
            float[] logits = TestSupport.RandomFloats(rng, rows * vocab, 15f);
            int[] targets = [rng.Next(vocab), CrossEntropy.IgnoreIndex, rng.Next(vocab), vocab - 1];
            float[] losses = new float[rows];
            double[] lossesRef = new double[rows];
            double loss = CrossEntropy.Forward(rows, vocab, logits, targets, losses, level);
            double lossRef = RowKernelsReference.CrossEntropyForward(rows, vocab, logits, targets, lossesRef);
            Approx.Equal(lossRef, loss, 2e-6, $"{level} loss vocab={vocab}");
            Assert.Equal(0f, losses[1]);
            float[] d = new float[rows * vocab], dRef = new float[rows * vocab];
            CrossEntropy.Backward(rows, vocab, logits, targets, 0.5f, d, level);
            RowKernelsReference.CrossEntropyBackward(rows, vocab, logits, targets, 0.5f, dRef);
            Approx.Equal(dRef, d, 2e-6, $"{level} dlogits vocab={vocab}");
        }
    }

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void ForwardBackward_EqualsForwardThenBackward_BitForBit_AlsoInPlace(SimdLevel level)
    {
        var rng = new Random(53);
        const int rows = 5;
        using var pool = new WorkerPool(2);
        foreach (int vocab in TestSupport.Lengths())
        {
            if (vocab == 0) continue;
            float[] logits = TestSupport.RandomFloats(rng, rows * vocab, 15f);
            int[] targets = [rng.Next(vocab), CrossEntropy.IgnoreIndex, rng.Next(vocab), vocab - 1, 0];
            float[] losses = new float[rows], d = new float[rows * vocab];
            double loss = CrossEntropy.Forward(rows, vocab, logits, targets, losses, level);
            CrossEntropy.Backward(rows, vocab, logits, targets, 0.25f, d, level);

            float[] fusedLosses = new float[rows], fusedD = new float[rows * vocab];
            fusedD.AsSpan().Fill(float.NaN);
            double fused = CrossEntropy.ForwardBackward(rows, vocab, logits, targets, fusedLosses, 0.25f, fusedD, level);
            Assert.Equal(loss, fused);
            Assert.Equal(losses, fusedLosses);
            Assert.Equal(d, fusedD);

            float[] inPlace = (float[])logits.Clone();                 // dz over z, split over a pool
            float[] inPlaceLosses = new float[rows];
            double viaPool = CrossEntropy.ForwardBackward(rows, vocab, inPlace, targets, inPlaceLosses, 0.25f, inPlace, level, pool);
            Assert.Equal(loss, viaPool);
            Assert.Equal(losses, inPlaceLosses);
            Assert.Equal(d, inPlace);

            double[] lossesRef = new double[rows];
            float[] dRef = new float[rows * vocab];
            Approx.Equal(RowKernelsReference.CrossEntropyForward(rows, vocab, logits, targets, lossesRef), fused, 2e-6, $"{level} loss vocab={vocab}");
            RowKernelsReference.CrossEntropyBackward(rows, vocab, logits, targets, 0.25f, dRef);
            Approx.Equal(dRef, fusedD, 2e-6, $"{level} fused dlogits vocab={vocab}");
        }
    }

    [Fact]
    public void Forward_KnownValue_UniformLogitsGiveLogVocab()
    {
        float[] logits = new float[2 * 50];
        double loss = CrossEntropy.Forward(2, 50, logits, [3, 49], new float[2]);
        Assert.Equal(Math.Log(50), loss, 6);
    }

    [Fact]
    public void Backward_MatchesFiniteDifferencesOfTheMeanLoss()
    {
        var rng = new Random(52);
        const int rows = 3, vocab = 17;
        float[] logits = TestSupport.RandomFloats(rng, rows * vocab, 4f);
        int[] targets = [2, 16, CrossEntropy.IgnoreIndex];
        double Loss(float[] x) => RowKernelsReference.CrossEntropyForward(rows, vocab, x, targets, new double[rows]);
        float[] d = new float[rows * vocab];
        CrossEntropy.Backward(rows, vocab, logits, targets, 1f, d);
        for (int i = 0; i < logits.Length; i++) Approx.Equal(Approx.Derivative(logits, i, Loss, 1e-3f), d[i], 1e-3, $"dlogits[{i}]");
    }

    [Fact]
    public void TargetsOutsideTheVocabulary_AreRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(1, 4, new float[4], [4], new float[1]));
        Assert.Contains("-100", e.Message);
    }
}
