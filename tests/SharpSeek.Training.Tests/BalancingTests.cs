using SharpSeek.Training;

namespace SharpSeek.Training.Tests;

public class BalancingTests
{
    private static double[] Scores(int rows, int experts, int seed)
    {
        var rng = new Random(seed);
        var s = new double[rows * experts];
        for (int i = 0; i < s.Length; i++) s[i] = 1 / (1 + Math.Exp(-(rng.NextDouble() * 6 - 3))); // sigmoid of a logit
        return s;
    }

    private static int[] TopK(ReadOnlySpan<double> scores, int rows, int experts, int k)
    {
        var idx = new int[rows * k];
        for (int r = 0; r < rows; r++)
        {
            double[] row = scores.Slice(r * experts, experts).ToArray();
            int[] order = Enumerable.Range(0, experts).OrderByDescending(i => row[i]).ThenBy(i => i).Take(k).ToArray();
            order.CopyTo(idx, r * k);
        }
        return idx;
    }

    [Fact]
    public void Forward_MatchesHandComputedValue()
    {
        // One sequence, T = 2, E = 2, K = 1. Token 0 scores (1, 3) picks expert 1; token 1 (1, 1) picks expert 0.
        double[] s = [1, 3, 1, 1];
        int[] topK = [1, 0];
        var f = new double[2];
        double loss = SequenceBalanceLoss.Forward<double>(s, topK, 1, 2, 2, 1, alpha: 0.5, f);
        // f_i = E/(K·T)·count = 2/2·1 = 1 for both; P = ((1/4 + 1/2)/2, (3/4 + 1/2)/2) = (0.375, 0.625).
        Assert.Equal([1.0, 1.0], f);
        Assert.Equal(0.5 * (0.375 + 0.625), loss, 14);
    }

    [Fact]
    public void Forward_AveragesOverSequences()
    {
        const int T = 5, E = 6, K = 2;
        double[] s = Scores(2 * T, E, 3);
        int[] topK = TopK(s, 2 * T, E, K);
        var f = new double[2 * E];
        double both = SequenceBalanceLoss.Forward<double>(s, topK, 2, T, E, K, 0.01, f);
        var f1 = new double[E];
        double first = SequenceBalanceLoss.Forward<double>(s.AsSpan(0, T * E), topK.AsSpan(0, T * K), 1, T, E, K, 0.01, f1);
        double second = SequenceBalanceLoss.Forward<double>(s.AsSpan(T * E), topK.AsSpan(T * K), 1, T, E, K, 0.01, f1);
        Assert.Equal((first + second) / 2, both, 14);
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_Fp64()
    {
        const int B = 2, T = 4, E = 8, K = 2;
        const double alpha = 0.3;
        double[] s = Scores(B * T, E, 7);
        int[] topK = TopK(s, B * T, E, K); // held fixed: f has no gradient
        var f = new double[B * E];
        SequenceBalanceLoss.Forward<double>(s, topK, B, T, E, K, alpha, f);
        var grad = new double[s.Length];
        SequenceBalanceLoss.Backward<double>(s, f, B, T, E, alpha, grad);

        const double h = 1e-6;
        var scratch = new double[B * E];
        for (int i = 0; i < s.Length; i++)
        {
            double keep = s[i];
            s[i] = keep + h;
            double up = SequenceBalanceLoss.Forward<double>(s, topK, B, T, E, K, alpha, scratch);
            s[i] = keep - h;
            double down = SequenceBalanceLoss.Forward<double>(s, topK, B, T, E, K, alpha, scratch);
            s[i] = keep;
            double fd = (up - down) / (2 * h);
            Assert.True(Math.Abs(fd - grad[i]) <= 1e-9 + 1e-6 * Math.Abs(fd), $"ds[{i}]: analytic {grad[i]}, finite difference {fd}");
        }
        Assert.Contains(grad, g => Math.Abs(g) > 1e-4); // the check compared something non-trivial
    }

    [Fact]
    public void Backward_Fp32_AgreesWithFp64_AndAccumulates()
    {
        const int B = 1, T = 3, E = 4, K = 2;
        double[] s = Scores(T * E, E, 11)[..(T * E)];
        int[] topK = TopK(s, T, E, K);
        var f64 = new double[E]; var g64 = new double[s.Length];
        SequenceBalanceLoss.Forward<double>(s, topK, B, T, E, K, 1, f64);
        SequenceBalanceLoss.Backward<double>(s, f64, B, T, E, 1, g64);
        float[] s32 = s.Select(x => (float)x).ToArray();
        var f32 = new float[E]; float[] g32 = Enumerable.Repeat(1f, s.Length).ToArray(); // pre-existing gradient
        SequenceBalanceLoss.Forward<float>(s32, topK, B, T, E, K, 1, f32);
        SequenceBalanceLoss.Backward<float>(s32, f32, B, T, E, 1, g32);
        for (int i = 0; i < s.Length; i++) Assert.Equal(1 + g64[i], g32[i], 5);
    }

    [Fact]
    public void Forward_RejectsBadShapesAndIndices()
    {
        var f = new double[2];
        Assert.Throws<ArgumentException>(() => SequenceBalanceLoss.Forward<double>(new double[3], new int[2], 1, 2, 2, 1, 1, f));
        Assert.Throws<ArgumentOutOfRangeException>(() => SequenceBalanceLoss.Forward<double>(new double[] { 1, 1, 1, 1 }, new[] { 0, 5 }, 1, 2, 2, 1, 1, f));
    }

    [Fact]
    public void BalanceLossAndBalancer_AfterWarmUp_AllocateNothing()
    {
        const int B = 2, T = 8, E = 8, K = 2;
        float[] s = Scores(B * T, E, 1).Select(x => (float)x).ToArray();
        int[] topK = TopK(Scores(B * T, E, 1), B * T, E, K);
        var f = new float[B * E];
        var ds = new float[s.Length];
        var config = AdamWTests.TinyForTests() with { NRoutedExperts = E };
        using var store = ParameterStore.ForModel(config);
        var balancer = ExpertBalancer.ForModel(config, 0.001);
        void Step()
        {
            SequenceBalanceLoss.Forward<float>(s, topK, B, T, E, K, 1e-4, f);
            SequenceBalanceLoss.Backward<float>(s, f, B, T, E, 1e-4, ds);
            for (int m = 0; m < balancer.MoeLayers.Count; m++) balancer.Record(m, topK);
            balancer.ApplyAndReset(store);
        }
        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void UpdateBias_RaisesUnderloaded_LowersOverloaded_LeavesMeanAlone()
    {
        float[] bias = [0, 0, 0, 0];
        long[] counts = [10, 2, 4, 0]; // mean 4
        ExpertBalancer.UpdateBias(bias, counts, 0.001);
        Assert.Equal([-0.001f, 0.001f, 0f, 0.001f], bias);
    }

    [Fact]
    public void MaxOverMean_Examples()
    {
        Assert.Equal(1.0, ExpertBalancer.MaxOverMean([3, 3, 3]));
        Assert.Equal(2.5, ExpertBalancer.MaxOverMean([10, 2, 4, 0]));
        Assert.Equal(0.0, ExpertBalancer.MaxOverMean([0, 0]));
    }

    [Fact]
    public void ApplyAndReset_UpdatesEveryMoeLayerBias_OnlyWhenGammaPositive()
    {
        var config = AdamWTests.TinyForTests();
        using var store = ParameterStore.ForModel(config);
        var on = ExpertBalancer.ForModel(config, 0.01);
        // tiny: 4 layers, first dense, plus one MTP module (decoder layer 4).
        Assert.Equal([1, 2, 3, 4], on.MoeLayers);
        int e = config.NRoutedExperts;
        on.Record(on.MoeIndex(2), Enumerable.Repeat(0, 10).ToArray()); // everything to expert 0
        Assert.Equal(e, on.Stats(on.MoeIndex(2)).MaxOverMean, 12);
        Assert.Equal(e, on.LayerLoads().Single(l => l.Layer == 2).MaxOverMean, 12);
        Assert.Equal(0, on.LayerLoads().Single(l => l.Layer == 1).MaxOverMean);
        on.ApplyAndReset(store);
        Span<float> b2 = store.Weights(ExpertBalancer.BiasName(2));
        Assert.Equal(-0.01f, b2[0]);
        Assert.Equal(0.01f, b2[1]);
        Assert.All(store.Weights(ExpertBalancer.BiasName(1)).ToArray(), x => Assert.Equal(0f, x)); // empty layer: all at mean
        Assert.Equal(0, on.Counts(on.MoeIndex(2))[0]);

        var off = ExpertBalancer.ForModel(config, 0);
        off.Record(0, [0, 0, 0]);
        off.ApplyAndReset(store);
        Assert.Equal(0f, store.Weights(ExpertBalancer.BiasName(1))[0]);
    }

    [Fact]
    public void BiasUpdate_InToyRouterWithSkewedAffinities_LowersMaxOverMeanLoad()
    {
        // A router whose experts have fixed, unequal mean affinities: without the bias a few experts take most
        // tokens; with γ > 0 the selection evens out over the steps.
        static double RunSteps(double gamma)
        {
            const int E = 16, K = 2, tokens = 256, steps = 200;
            var rng = new Random(5);
            double[] skew = Enumerable.Range(0, E).Select(i => 0.15 * i).ToArray();
            var bias = new float[E];
            var counts = new long[E];
            double last = 0;
            for (int step = 0; step < steps; step++)
            {
                Array.Clear(counts);
                var biased = new double[E];
                for (int t = 0; t < tokens; t++)
                {
                    for (int i = 0; i < E; i++) biased[i] = 1 / (1 + Math.Exp(-(skew[i] + rng.NextDouble() - 0.5))) + bias[i];
                    for (int pick = 0; pick < K; pick++)
                    {
                        int best = 0;
                        for (int i = 1; i < E; i++) if (biased[i] > biased[best]) best = i;
                        counts[best]++;
                        biased[best] = double.NegativeInfinity;
                    }
                }
                last = ExpertBalancer.MaxOverMean(counts);
                ExpertBalancer.UpdateBias(bias, counts, gamma);
            }
            return last;
        }
        double off = RunSteps(0), on = RunSteps(0.002);
        Assert.True(off > 3, $"γ = 0 should leave the load skewed (max/mean {off})");
        Assert.True(on < 0.5 * off, $"γ > 0 should lower max/mean load: {on} vs {off} with γ = 0");
    }
}
