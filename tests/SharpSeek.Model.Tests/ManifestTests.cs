using SharpSeek.Model.Layers;

namespace SharpSeek.Model.Tests;

public class ManifestTests
{
    [Fact]
    public void DeepSeekV3Manifest_HasEveryTensorWithItsShape_WithoutAllocatingWeights()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var c = ModelConfig.FromPreset("deepseek-v3");
        var specs = TensorManifest.Build(c).ToDictionary(s => s.Name);
        var counts = ParameterCounts.Of(c);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64L << 20, $"building the manifest allocated {allocated} bytes");

        void Has(string name, params long[] shape) => Assert.Equal(shape, specs[name].Shape);
        Has("model.embed_tokens.weight", 129280, 7168);
        Has("lm_head.weight", 129280, 7168);
        Has("model.norm.weight", 7168);
        Has("model.layers.0.self_attn.q_a_proj.weight", 1536, 7168);
        Has("model.layers.0.self_attn.q_a_layernorm.weight", 1536);
        Has("model.layers.0.self_attn.q_b_proj.weight", 128 * 192, 1536);
        Has("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", 512 + 64, 7168);
        Has("model.layers.0.self_attn.kv_a_layernorm.weight", 512);
        Has("model.layers.0.self_attn.kv_b_proj.weight", 128 * (128 + 128), 512);
        Has("model.layers.0.self_attn.o_proj.weight", 7168, 128 * 128);
        Has("model.layers.2.mlp.gate_proj.weight", 18432, 7168);
        Has("model.layers.2.mlp.down_proj.weight", 7168, 18432);
        Assert.False(specs.ContainsKey("model.layers.2.mlp.gate.weight"));
        Has("model.layers.3.mlp.gate.weight", 256, 7168);
        Has("model.layers.3.mlp.gate.e_score_correction_bias", 256);
        Has("model.layers.3.mlp.experts.255.down_proj.weight", 7168, 2048);
        Has("model.layers.60.mlp.shared_experts.up_proj.weight", 2048, 7168);
        Has("model.layers.61.embed_tokens.weight", 129280, 7168);
        Has("model.layers.61.eh_proj.weight", 7168, 2 * 7168);
        Has("model.layers.61.enorm.weight", 7168);
        Has("model.layers.61.hnorm.weight", 7168);
        Has("model.layers.61.shared_head.head.weight", 129280, 7168);
        Has("model.layers.61.mlp.experts.0.gate_proj.weight", 2048, 7168);
        Assert.DoesNotContain(specs.Keys, k => k.StartsWith("model.layers.62.", StringComparison.Ordinal));

        // 3 dense layers + 58 MoE layers + 1 MTP layer (MoE)
        int perAttn = 9, perDense = 3, perMoe = 2 + 256 * 3 + 3, mtpExtra = 6;   // attention incl. both block norms
        Assert.Equal(3 + 3 * (perAttn + perDense) + 58 * (perAttn + perMoe) + (perAttn + perMoe + mtpExtra), specs.Count);
        Assert.True(specs["model.layers.3.mlp.experts.7.up_proj.weight"].Fp8);
        Assert.Equal([2L * 128 * 192 / 128 / 2, 12], specs["model.layers.0.self_attn.q_b_proj.weight"].ScaleInvShape(128, 128));
        Assert.False(specs["lm_head.weight"].Fp8);

        Assert.InRange(counts.Total / 1e9, 670.5, 671.5);
        Assert.InRange(counts.ActivatedPerToken / 1e9, 37.0, 38.0);
    }

    [Fact]
    public void LatentCacheBytesPerToken_EqualsFormula()
    {
        var c = ModelConfig.FromPreset("deepseek-v3");
        using var cache = new LatentKvCache(c, slots: 1, maxSeqLen: 1);
        Assert.Equal((512 + 64) * 61 * 4L, cache.BytesPerToken);
        Assert.Equal((long)(c.KvLoraRank + c.QkRopeHeadDim) * c.NumHiddenLayers * sizeof(float), cache.BytesPerToken);
    }
}
