using SharpSeek.Model;

namespace SharpSeek.Model.Tests;

public class ModelConfigTests
{
    [Fact]
    public void DeepSeekV3Preset_Counts671BTotalAnd37BActivated()
    {
        var counts = ParameterCounts.Of(ModelConfig.FromPreset("deepseek-v3"));
        Assert.InRange(counts.Total / 1e9, 670.5, 671.5);
        Assert.InRange(counts.ActivatedPerToken / 1e9, 37.0, 38.0);
    }

    [Theory]
    [InlineData("tiny", 4, 16, 2, 128)]
    [InlineData("small", 8, 32, 4, 256)]
    public void TrainingPresets_HaveTheIssueDimensions(string name, int layers, int routed, int topk, int qLora)
    {
        var c = ModelConfig.FromPreset(name);
        Assert.Equal(layers, c.NumHiddenLayers);
        Assert.Equal(routed, c.NRoutedExperts);
        Assert.Equal(topk, c.NumExpertsPerTok);
        Assert.Equal(qLora, c.QLoraRank);
        Assert.False(c.IsMoeLayer(0));
        Assert.True(c.IsMoeLayer(1));
    }

    [Fact]
    public void Parse_RoundTripsThroughJson()
    {
        var c = ModelConfig.FromPreset("deepseek-v3");
        var again = ModelConfig.Parse(c.ToJson());
        Assert.Equal(c.RopeScaling, again.RopeScaling);
        Assert.Equal(c.SoftmaxScale, again.SoftmaxScale);
        Assert.Equal(ParameterCounts.Of(c).Total, ParameterCounts.Of(again).Total);
    }

    [Fact]
    public void YarnSoftmaxScale_IncludesMscaleSquared()
    {
        var c = ModelConfig.FromPreset("deepseek-v3");
        double m = 0.1 * 1.0 * Math.Log(40) + 1;
        Assert.Equal(Math.Pow(192, -0.5) * m * m, c.SoftmaxScale, 12);
    }

    [Theory]
    [InlineData("\"n_group\": 4", "\"n_group\": 3", "'n_group'")]
    [InlineData("\"topk_group\": 2", "\"topk_group\": 9", "'topk_group'")]
    [InlineData("\"qk_rope_head_dim\": 16", "\"qk_rope_head_dim\": 15", "'qk_rope_head_dim'")]
    [InlineData("\"hidden_size\": 256", "\"hidden_size\": -1", "'hidden_size'")]
    [InlineData("\"hidden_size\": 256", "\"hidden_size\": \"wide\"", "hidden_size")]
    [InlineData("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 17", "'num_experts_per_tok'")]
    [InlineData("\"max_position_embeddings\": 4096", "\"max_position_embeddings\": 0", "'max_position_embeddings'")]
    [InlineData("\"initializer_range\": 0.006", "\"initializer_range\": \"NaN\"", "'initializer_range'")]
    [InlineData("\"initializer_range\": 0.006", "\"initializer_range\": -1", "'initializer_range'")]
    [InlineData("\"rope_theta\": 10000", "\"rope_theta\": \"Infinity\"", "'rope_theta'")]
    public void Parse_BadValue_NamesTheKey(string from, string to, string expectedInMessage)
    {
        string json = ModelConfig.FromPreset("tiny").ToJson();
        Assert.Contains(from, json);
        var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(json.Replace(from, to)));
        Assert.Contains(expectedInMessage, e.Message);
    }

    [Fact]
    public void Load_TrainingOutputOrWeightsFile_SaysWhatToPass()
    {
        string run = Directory.CreateTempSubdirectory("config-hint-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(run, "checkpoint"));
            ModelConfig.FromPreset("tiny").Save(Path.Combine(run, "checkpoint", "config.json"));
            var e = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(run));
            Assert.Contains($"its model is {Path.Combine(run, "checkpoint")}", e.Message);
            string weights = Path.Combine(run, "checkpoint", "model.safetensors");
            File.WriteAllBytes(weights, new byte[16]);
            Assert.Contains("a weights file, not a config", Assert.Throws<ModelConfigException>(() => ModelConfig.Load(weights)).Message);
            Assert.Equal(256, ModelConfig.Load(Path.Combine(run, "checkpoint")).HiddenSize);
        }
        finally { Directory.Delete(run, recursive: true); }
    }

    [Fact]
    public void Manifest_QLoraNull_UsesQProj()
    {
        var c = ModelConfig.FromPreset("tiny") with { QLoraRank = null };
        var names = TensorManifest.Build(c).Select(t => t.Name).ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", names);
        Assert.DoesNotContain("model.layers.0.self_attn.q_a_proj.weight", names);
    }
}
