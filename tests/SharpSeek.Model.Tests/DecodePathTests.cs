using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

/// <summary>The decode-only forward paths (batched GEMVs in one pool run) give the same bits as the general paths.</summary>
public unsafe class DecodePathTests
{
    [Theory]
    [InlineData(WeightDType.F32, 1)]
    [InlineData(WeightDType.Bf16, 3)]
    [InlineData(WeightDType.Fp8, 8)]
    public void MoeExperts_ForwardDecode_EqualsForwardPlusSharedMlp_BitForBit(WeightDType dtype, int tokens)
    {
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c, dtype);
        using var pool = new WorkerPool(2);
        var ctx = new ForwardContext(pool, ActivationPrecision.Bf16);
        const string prefix = "model.layers.1.mlp.";
        using var layer = new MoeLayer(c, w, prefix, tokens);
        int d = c.HiddenSize;
        var rng = new Random(tokens);
        float[] x = Enumerable.Range(0, tokens * d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        layer.Router.Forward(ctx, x, tokens);

        float[] routedA = new float[tokens * d], sharedA = new float[tokens * d];
        layer.Experts.Forward(ctx, x, tokens, layer.Router.Experts, layer.Router.Weights, routedA);
        layer.Shared!.Forward(ctx, x, tokens, sharedA);

        float[] routedB = new float[tokens * d], sharedB = new float[tokens * d];
        layer.Experts.ForwardDecode(ctx, x, tokens, layer.Router.Experts, layer.Router.Weights, routedB, layer.Shared, sharedB);

        Assert.Equal(routedA, routedB);
        Assert.Equal(sharedA, sharedB);
        Assert.Contains(routedB, v => v != 0);
    }

    [Theory]
    [InlineData(WeightDType.Bf16)]
    [InlineData(WeightDType.Fp8)]
    public void LinearPair_AtDecodeSize_EqualsTwoForwardCalls(WeightDType dtype)
    {
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c, dtype);
        using var pool = new WorkerPool(2);
        LinearWeight qa = w.Linear("model.layers.0.self_attn.q_a_proj.weight"), kva = w.Linear("model.layers.0.self_attn.kv_a_proj_with_mqa.weight");
        const int m = 5;
        var rng = new Random(2);
        float[] x = Enumerable.Range(0, m * c.HiddenSize).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] a1 = new float[m * qa.OutFeatures], b1 = new float[m * kva.OutFeatures];
        float[] a2 = new float[a1.Length], b2 = new float[b1.Length];
        qa.Forward(pool, 0, x, m, a1);
        kva.Forward(pool, 0, x, m, b1);
        LinearWeight.ForwardPair(pool, qa, kva, x, m, a2, b2);
        Assert.Equal(a1, a2);
        Assert.Equal(b1, b2);
    }

    [Fact]
    public void Fp8LinearWeight_NaNCodeWrittenAfterAForward_IsSeenByTheNextDecodeForward()
    {
        // The decode GEMV skips its NaN scan for a group checked free of NaN codes; a later write through
        // Fp8Values must make the next forward check again (a NaN code gives a NaN output row, as dequantized).
        using var w = new LinearWeight(2, 20, 300, WeightDType.Fp8);
        var rng = new Random(3);
        for (int g = 0; g < 2; g++)
            w.WriteGroup(g, Enumerable.Range(0, 20 * 300).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        using var pool = new WorkerPool(2);
        float[] x = Enumerable.Range(0, 300).Select(_ => (float)rng.NextDouble()).ToArray(), y = new float[20];
        w.Forward(pool, 1, x, 1, y);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
        fixed (float* px = x, py = y) Assert.True(w.Gemv(1, px, 1, py).NoNaNCodes);

        w.Fp8Values(1)[7 * 300 + 150] = 0xFF;
        fixed (float* px = x, py = y) Assert.False(w.Gemv(1, px, 1, py).NoNaNCodes);
        w.Forward(pool, 1, x, 1, y);
        for (int j = 0; j < 20; j++) Assert.Equal(j == 7, float.IsNaN(y[j]));

        w.WriteGroup(1, Enumerable.Range(0, 20 * 300).Select(_ => 0.25f).ToArray());
        w.Forward(pool, 1, x, 1, y);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void LinearWeight_Gemv_RejectsMoreRowsThanTheGemvTakes()
    {
        var c = TestConfigs.Make("base");
        using var w = TestConfigs.RandomWeights(c, WeightDType.Bf16);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => w.Linear("model.layers.0.self_attn.o_proj.weight").Gemv(0, null, Gemm.GemvMaxRows + 1, null));
        Assert.Contains("rows", ex.Message);
    }
}
