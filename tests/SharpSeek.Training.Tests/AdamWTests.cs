using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Training;

namespace SharpSeek.Training.Tests;

public class AdamWTests
{
    private static ParameterStore Store(params (string Name, long[] Shape)[] tensors) => new(tensors);

    private static void Fill(Span<float> x, int seed, float scale)
    {
        var rng = new Random(seed);
        for (int i = 0; i < x.Length; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
    }

    /// <summary>PyTorch's AdamW (torch.optim.AdamW, foreach=False) written out per element in FP64.</summary>
    private sealed class NaiveAdamW(double b1, double b2, double eps, double wd)
    {
        private readonly Dictionary<string, (double[] M, double[] V)> _state = new();
        private int _t;

        public void Step(Dictionary<string, (double[] P, double[] G, bool Decay)> ps, double lr, double clip, int microBatches)
        {
            _t++;
            double sq = 0;
            foreach (var (_, (_, g, _)) in ps) foreach (double x in g) sq += x / microBatches * (x / microBatches);
            double norm = Math.Sqrt(sq);
            double coef = Math.Min(1.0, clip / (norm + 1e-6));
            foreach (var (name, (p, g, decay)) in ps)
            {
                if (!_state.TryGetValue(name, out var s)) _state[name] = s = (new double[p.Length], new double[p.Length]);
                for (int i = 0; i < p.Length; i++)
                {
                    double gi = g[i] / microBatches * coef;
                    s.M[i] = b1 * s.M[i] + (1 - b1) * gi;
                    s.V[i] = b2 * s.V[i] + (1 - b2) * gi * gi;
                    if (decay) p[i] *= 1 - lr * wd;
                    double mhat = s.M[i] / (1 - Math.Pow(b1, _t));
                    double vhat = s.V[i] / (1 - Math.Pow(b2, _t));
                    p[i] -= lr * mhat / (Math.Sqrt(vhat) + eps);
                }
            }
        }
    }

    [Fact]
    public void FirstStep_MatchesClosedForm()
    {
        // After one step m̂ = g and v̂ = g², so p1 = p0 (1 − lr·wd) − lr · g / (|g| + ε).
        using var store = Store(("w", [2, 3]), ("norm", [3]));
        float[] p0 = [0.5f, -0.25f, 1f, 0f, 2f, -3f];
        float[] g = [0.1f, -0.2f, 0.3f, -0.05f, 0f, 0.02f];
        p0.CopyTo(store.Weights("w")); g.CopyTo(store.Grads("w"));
        store.Weights("norm").Fill(1f); store.Grads("norm").Fill(0.01f);
        using var opt = new AdamW(store, new AdamWSettings(GradClip: 100));
        const double lr = 1e-2;
        StepReport r = opt.Step(lr);

        Assert.Equal(1.0, r.GradScale);
        for (int i = 0; i < p0.Length; i++)
        {
            double expected = p0[i] * (1 - lr * 0.1) - lr * g[i] / (Math.Abs(g[i]) + 1e-8);
            Assert.Equal(expected, store.Weights("w")[i], 6);
        }
        // No decay on the norm: 1 − lr · 1.
        foreach (float x in store.Weights("norm")) Assert.Equal(1 - lr, x, 6);
        Assert.Equal(1, opt.StepCount);
    }

    [Theory]
    [InlineData(1, 1.0)]   // no accumulation, clip active for the larger gradients
    [InlineData(4, 1.0)]   // four micro-batches summed
    [InlineData(2, 50.0)]  // clip never active
    public void Step_MatchesNaiveScalarAdamW_OverSeveralSteps(int microBatches, double clip)
    {
        (string, long[])[] shapes = [("a", [5, 7]), ("b", [17]), ("c", [64, 3]), ("router.e_score_correction_bias", [16])];
        using var store = Store(shapes);
        using var opt = new AdamW(store, new AdamWSettings(GradClip: clip));
        var naive = new NaiveAdamW(0.9, 0.95, 1e-8, 0.1);
        var reference = new Dictionary<string, (double[] P, double[] G, bool Decay)>();
        for (int s = 0; s < shapes.Length - 1; s++)
        {
            Fill(store.Weights(s), s, 1f);
            reference[shapes[s].Item1] = (store.Weights(s).ToArray().Select(x => (double)x).ToArray(),
                new double[store.Slots[s].Length], shapes[s].Item2.Length >= 2);
        }
        float[] frozenBefore = [.. store.Weights(3)];

        for (int step = 0; step < 6; step++)
        {
            double lr = 1e-3 * (step + 1);
            for (int s = 0; s < store.Slots.Count; s++)
            {
                Fill(store.Grads(s), 100 * step + s, 0.5f * (step % 3 + 1) * microBatches);
                if (s < shapes.Length - 1)
                    for (int i = 0; i < store.Slots[s].Length; i++) reference[shapes[s].Item1].G[i] = store.Grads(s)[i];
            }
            opt.Step(lr, microBatches);
            naive.Step(reference, lr, clip, microBatches);
        }
        for (int s = 0; s < shapes.Length - 1; s++)
        {
            double[] expected = reference[shapes[s].Item1].P;
            Span<float> actual = store.Weights(s);
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 2e-6,
                $"{shapes[s].Item1}[{i}]: expected {expected[i]}, got {actual[i]}");
        }
        Assert.Equal(frozenBefore, store.Weights(3).ToArray());
    }

    [Fact]
    public void Step_ClipsToGlobalNorm_AndReportsUnclippedNorm()
    {
        using var store = Store(("w", [4, 4]), ("b", [9]));
        store.Grads("w").Fill(2f);  // Σ g² = 16·4 = 64
        store.Grads("b").Fill(-1f); // Σ g² = 9  → ‖g‖ = √73
        using var opt = new AdamW(store);
        Assert.Equal(Math.Sqrt(73), opt.GradientNorm(), 12);
        StepReport r = opt.Step(1e-3, microBatches: 2);
        Assert.Equal(Math.Sqrt(73) / 2, r.GradNorm, 12);
        Assert.Equal(0.5 * 1.0 / (Math.Sqrt(73) / 2 + 1e-6), r.GradScale, 12);
    }

    [Fact]
    public void SquaredSum_IsFp64Accurate_WhereFp32WouldLoseDigits()
    {
        // 2^24 + many small terms: an FP32 running sum stalls at 2^24, FP64 does not.
        var x = new float[4097];
        x[0] = 4096f; // 4096² = 2^24
        for (int i = 1; i < x.Length; i++) x[i] = 0.5f; // each adds 0.25
        Assert.Equal(16777216.0 + 4096 * 0.25, AdamW.SquaredSum(x), 9);
    }

    [Fact]
    public void SquaredSum_MatchesNaiveFp64_AtEveryLength0To256()
    {
        var x = new float[256];
        Fill(x, 3, 10f);
        for (int n = 0; n <= 256; n++)
        {
            double naive = 0;
            for (int i = 0; i < n; i++) naive += (double)x[i] * x[i];
            Assert.Equal(naive, AdamW.SquaredSum(x.AsSpan(0, n)), 1e-12 * Math.Max(1, naive));
        }
    }

    [Fact]
    public void Step_SameInputs_SameBits()
    {
        float[] Run()
        {
            using var store = Store(("w", [33, 5]));
            Fill(store.Weights(0), 1, 1f);
            using var opt = new AdamW(store);
            for (int s = 0; s < 3; s++) { Fill(store.Grads(0), s, 3f); opt.Step(1e-2); }
            return store.Weights(0).ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Update_Vectorised_EqualsScalarReference_BitForBit_AtEveryLength()
    {
        var k = new AdamW.UpdateConstants(0.7f, 0.9f, 0.95f, 0.01f, 1.3f, 1e-8f, 0.999f);
        for (int n = 0; n <= 256; n++)
        {
            float[] p = new float[n], g = new float[n], m = new float[n], v = new float[n];
            Fill(p, n, 1); Fill(g, n + 100, 2); Fill(m, n + 200, 0.1f);
            for (int i = 0; i < n; i++) v[i] = m[i] * m[i];
            float[] p2 = [.. p], m2 = [.. m], v2 = [.. v];
            AdamW.Update(p, g, m, v, k);
            AdamW.UpdateReference(p2, g, m2, v2, k);
            Assert.Equal(p2, p);
            Assert.Equal(m2, m);
            Assert.Equal(v2, v);
        }
    }

    [Fact]
    public void UpdateBf16_Vectorised_EqualsScalarReference_BitForBit_AtEveryLength()
    {
        var k = new AdamW.UpdateConstants(0.7f, 0.9f, 0.95f, 0.01f, 1.3f, 1e-8f, 0.999f);
        for (int n = 0; n <= 100; n++)
        {
            float[] p = new float[n], g = new float[n], mf = new float[n];
            Fill(p, n, 1); Fill(g, n + 100, 2); Fill(mf, n + 200, 0.1f);
            ushort[] m = [.. mf.Select(AdamW.ToBf16)], v = [.. mf.Select(x => AdamW.ToBf16(x * x))];
            float[] p2 = [.. p];
            ushort[] m2 = [.. m], v2 = [.. v];
            AdamW.UpdateBf16(p, g, m, v, k);
            AdamW.UpdateBf16Reference(p2, g, m2, v2, k);
            Assert.Equal(p2, p);
            Assert.Equal(m2, m);
            Assert.Equal(v2, v);
        }
    }

    [Fact]
    public void ToBf16_RoundsToNearestEven_AsTheBf16Codec()
    {
        var rng = new Random(5);
        for (int i = 0; i < 100_000; i++)
        {
            float x = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-60, 60)));
            Assert.Equal(Bf16.FromFloat(x), AdamW.ToBf16(x));
        }
        // ties: 1 + 2^-8 lies halfway between two BF16 values and goes to the even one (1), 1 + 3·2^-8 to 1 + 2^-6
        Assert.Equal(0x3F80, AdamW.ToBf16(1f + MathF.ScaleB(1f, -8)));
        Assert.Equal(0x3F82, AdamW.ToBf16(1f + 3 * MathF.ScaleB(1f, -8)));
        Assert.Equal(0x7F80, AdamW.ToBf16(float.PositiveInfinity));
        // the update's vector encoding, on ties (both directions) and random values
        float[] xs = [1f + MathF.ScaleB(1f, -8), 1f + 3 * MathF.ScaleB(1f, -8), -(1f + MathF.ScaleB(1f, -8)), 3.5f + MathF.ScaleB(1f, -7),
            0.1f, -2.75e-5f, 1e30f, 0f];
        var codes = AdamW.EncodeBf16(System.Runtime.Intrinsics.Vector256.Create(xs));
        for (int i = 0; i < 8; i++) Assert.Equal(AdamW.ToBf16(xs[i]), (ushort)codes[i]);
    }

    [Fact]
    public void Bf16Moments_StayWithinBf16RoundingOfTheFp32Optimizer_AndHalveTheState()
    {
        using var a = Store(("w", [40, 30]));
        using var b = Store(("w", [40, 30]));
        Fill(a.Weights(0), 1, 1f);
        a.Weights(0).CopyTo(b.Weights(0));
        using var fp32 = new AdamW(a);
        using var bf16 = new AdamW(b, new AdamWSettings(Bf16Moments: true));
        for (int s = 0; s < 30; s++)
        {
            Fill(a.Grads(0), 100 + s, 1f);
            a.Grads(0).CopyTo(b.Grads(0));
            fp32.Step(1e-3);
            bf16.Step(1e-3);
        }
        Span<float> wa = a.Weights(0), wb = b.Weights(0);
        double worst = 0;
        for (int i = 0; i < wa.Length; i++) worst = Math.Max(worst, Math.Abs(wa[i] - wb[i]));
        Assert.True(worst < 3e-4, $"weights drifted by {worst} in 30 steps of lr 1e-3");   // 30 steps move them by ≤ 3e-2
        Assert.True(worst > 0, "BF16 moments should round");
        Span<float> m = fp32.FirstMoment(0);
        Span<ushort> m16 = bf16.FirstMomentBf16(0);
        float scale = 0;
        foreach (float x in m) scale = MathF.Max(scale, MathF.Abs(x));
        // each step rounds m to 8 significant bits (≤ 2^-9 relative); the EMA keeps ≈1/(1-β1) = 10 steps of such errors
        for (int i = 0; i < m.Length; i++)
            Assert.True(Math.Abs(Bf16.ToFloat(m16[i]) - m[i]) <= 0.02 * scale, $"m[{i}] {Bf16.ToFloat(m16[i])} vs {m[i]} (max |m| {scale})");
        Assert.Throws<InvalidOperationException>(() => bf16.FirstMoment(0).Length);
    }

    [Fact]
    public void Step_OnWorkerPool_SameBitsAsSerial()
    {
        float[][] Run(WorkerPool? pool)
        {
            // Slots larger than one chunk, so the pool really splits a tensor.
            using var store = Store(("big", [3, AdamW.ChunkElements / 2 + 5]), ("v", [77]), ("w", [9, 9]));
            for (int i = 0; i < 3; i++) Fill(store.Weights(i), i, 1f);
            using var opt = new AdamW(store, null, pool);
            for (int s = 0; s < 3; s++)
            {
                for (int i = 0; i < 3; i++) Fill(store.Grads(i), 10 * s + i, 2f);
                opt.Step(1e-2, 2);
            }
            return [.. Enumerable.Range(0, 3).Select(i => store.Weights(i).ToArray())];
        }
        using var pool = new WorkerPool(2);
        float[][] serial = Run(null), parallel = Run(pool);
        for (int i = 0; i < 3; i++) Assert.Equal(serial[i], parallel[i]);
    }

    [Fact]
    public void Step_AfterWarmUp_AllocatesNothing()
    {
        using var store = ParameterStore.ForModel(TinyForTests());
        using var pool = new WorkerPool(2);
        using var opt = new AdamW(store, null, pool);
        store.Grads(0).Fill(0.01f);
        opt.Step(1e-3);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 3; i++) opt.Step(1e-3, 2);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Step_NonFiniteGradient_ThrowsWithAdvice()
    {
        using var store = Store(("w", [2, 2]));
        store.Grads(0)[1] = float.NaN;
        using var opt = new AdamW(store);
        var e = Assert.Throws<ArithmeticException>(() => opt.Step(1e-3));
        Assert.Contains("--lr", e.Message);
    }

    [Fact]
    public void DefaultDecayRule_OnTinyModel_DecaysMatricesOnly_FreezesRouterBias()
    {
        using var store = ParameterStore.ForModel(TinyForTests());
        ParameterTreatment Of(string name) => store.Slots[store.IndexOf(name)].Treatment;
        Assert.Equal(ParameterTreatment.Decay, Of("model.embed_tokens.weight"));
        Assert.Equal(ParameterTreatment.Decay, Of("model.layers.0.self_attn.q_a_proj.weight"));
        Assert.Equal(ParameterTreatment.NoDecay, Of("model.layers.0.input_layernorm.weight"));
        Assert.Equal(ParameterTreatment.NoDecay, Of("model.norm.weight"));
        Assert.Equal(ParameterTreatment.Frozen, Of("model.layers.1.mlp.gate.e_score_correction_bias"));
        Assert.Equal(ParameterTreatment.Decay, Of("model.layers.1.mlp.gate.weight"));
    }

    [Fact]
    public void CustomDecayRule_IsApplied()
    {
        using var store = new ParameterStore([("emb", [4, 2]), ("w", [2, 2])],
            (name, _) => name == "emb" ? ParameterTreatment.NoDecay : ParameterTreatment.Decay);
        Assert.Equal(ParameterTreatment.NoDecay, store.Slots[0].Treatment);
        Assert.Equal(ParameterTreatment.Decay, store.Slots[1].Treatment);
    }

    [Fact]
    public void ParameterStore_SlotsAreAlignedAndDisjoint()
    {
        using var store = Store(("a", [3]), ("b", [5, 5]), ("c", [1]));
        foreach (var s in store.Slots) Assert.Equal(0, s.Offset % 16);
        store.Weights("a").Fill(1); store.Weights("b").Fill(2); store.Weights("c").Fill(3);
        Assert.All(store.Weights("a").ToArray(), x => Assert.Equal(1, x));
        Assert.All(store.Weights("b").ToArray(), x => Assert.Equal(2, x));
        Assert.Throws<ArgumentException>(() => Store(("a", [3]), ("a", [3])));
    }

    /// <summary>The tiny preset's structure (dense first layer, MoE layers, one MTP module) at test-friendly widths.</summary>
    internal static ModelConfig TinyForTests() => ModelConfig.FromPreset("tiny") with
    {
        VocabSize = 512, HiddenSize = 64, IntermediateSize = 96, MoeIntermediateSize = 32, NRoutedExperts = 8,
    };
}

public class ParameterInitTests
{
    [Fact]
    public void Initialize_MatricesNormal_NormsOne_BiasesZero_Deterministic()
    {
        var config = AdamWTests.TinyForTests();
        using var a = ParameterStore.ForModel(config);
        using var b = ParameterStore.ForModel(config);
        ParameterInit.Initialize(a, 42, 0.006);
        ParameterInit.Initialize(b, 42, 0.006);
        for (int i = 0; i < a.Slots.Count; i++) Assert.True(a.Weights(i).SequenceEqual(b.Weights(i)), a.Slots[i].Name);

        float[] emb = a.Weights("model.embed_tokens.weight").ToArray();
        double mean = emb.Average(x => (double)x), std = Math.Sqrt(emb.Average(x => (double)x * x) - mean * mean);
        Assert.InRange(std, 0.0059, 0.0061);
        Assert.All(a.Weights("model.layers.0.input_layernorm.weight").ToArray(), x => Assert.Equal(1f, x));
        Assert.All(a.Weights("model.layers.0.self_attn.kv_a_layernorm.weight").ToArray(), x => Assert.Equal(1f, x));
        Assert.All(a.Weights("model.layers.1.mlp.gate.e_score_correction_bias").ToArray(), x => Assert.Equal(0f, x));
        // Different tensors draw different values; a different seed changes them.
        Assert.False(a.Weights("model.layers.0.self_attn.q_a_proj.weight")[..8].SequenceEqual(a.Weights("model.layers.1.self_attn.q_a_proj.weight")[..8]));
        using var c = ParameterStore.ForModel(config);
        ParameterInit.Initialize(c, 43, 0.006);
        Assert.NotEqual(a.Weights(0)[0], c.Weights(0)[0]);
    }
}
