using System.Text.Json;
using SharpSeek.Inference.RefCheck;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

/// <summary>The shared reference fixtures (official DeepSeek-V3 inference code) through the whole pipeline.</summary>
public class RefCheckTests
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "TestData",
        name.StartsWith("official/", StringComparison.Ordinal) ? "refcheck-official" : "refcheck", name.Replace("official/", ""));

    private static IReadOnlyList<LogitsComparison> Check(string name, ActivationPrecision precision, WeightDType dtype)
    {
        using var pool = new WorkerPool(2);
        var response = RefCheckRunner.Run(Path.Combine(Fixture(name), "request.json"), precision, dtype, pool);
        var golden = RefCheckGolden.Load(Path.Combine(Fixture(name), "golden.json"));
        var results = RefCheckComparer.Compare(response, golden, precision == ActivationPrecision.Bf16 ? "bf16" : "fp32");
        Assert.Equal(golden.Mtp is null ? 2 : 3, results.Count);
        Assert.Equal(golden.Decode.Length, response.DecodeLogits.Length);
        foreach (var r in results)
            Assert.True(r.Passed, $"{name} {r.Name}: max|Δ| {r.MaxAbs:E3} relRMS {r.RelRms:E3} KL {r.KlMean:E3} argmax mismatches {r.ArgmaxMismatches}/{r.ArgmaxChecked} ({r.Verdict})");
        return results;
    }

    [Theory]
    [InlineData("tiny", WeightDType.F32)]
    [InlineData("tiny", WeightDType.Bf16)]
    [InlineData("fp8", WeightDType.F32)]
    [InlineData("fp8", WeightDType.Fp8)]
    public void Fixture_DecodeFullAndMtpLogits_PassFp32Class(string name, WeightDType dtype)
    {
        var results = Check(name, ActivationPrecision.Fp32, dtype);
        Assert.All(results, r => Assert.True(r.ArgmaxChecked > 0));
    }

    /// <summary>Fixtures made here by tools/refcheck/make_fixture.py from the official model.py over the config
    /// space the shared ones leave out (q_lora_rank null, YaRN, 3 groups of 4 with top-3 and 2 shared experts, no
    /// groups, softmax scoring with group-limited greedy and no router bias): decode and full-sequence logits.</summary>
    [Theory]
    [InlineData("official/qnull-yarn")]
    [InlineData("official/groups3-top3")]
    [InlineData("official/softmax-group-limited")]
    [InlineData("official/nogroups")]
    public void OfficialFixtures_OtherConfigs_PassFp32AndBf16Class(string name)
    {
        var results = Check(name, ActivationPrecision.Fp32, WeightDType.F32);
        Assert.All(results, r => Assert.True(r.ArgmaxChecked > 0));
        Check(name, ActivationPrecision.Fp32, WeightDType.Bf16);
        Check(name, ActivationPrecision.Bf16, WeightDType.F32);
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("fp8")]
    public void Fixture_Bf16Activations_PassBf16Class(string name) => Check(name, ActivationPrecision.Bf16, WeightDType.F32);

    [Theory]
    [InlineData("tiny")]
    [InlineData("fp8")]
    public void RopeTablesAndSoftmaxScale_MatchGoldenDebug(string name)
    {
        var golden = RefCheckGolden.Load(Path.Combine(Fixture(name), "golden.json"));
        var config = ModelConfig.Load(Path.Combine(Fixture(name), "checkpoint"));
        JsonElement rope = golden.Debug!.Value.GetProperty("rope");
        Assert.Equal(rope.GetProperty("softmax_scale").GetDouble(), config.SoftmaxScale, 12);
        double[] want = rope.GetProperty("inv_freq").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        float[] got = RotaryEmbedding.InverseFrequencies(config);
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 1e-7 * Math.Max(1, want[i]));
    }

    [Theory]
    [InlineData("format")]
    [InlineData("checkpoint")]
    [InlineData("prompt_ids")]
    [InlineData("decode_feed_ids")]
    public void Request_WithANullField_IsRejectedNamingIt(string field)
    {
        // found by fuzzing request.json: "format": null had thrown a NullReferenceException past the CLI's handler
        string json = File.ReadAllText(Path.Combine(Fixture("tiny"), "request.json"));
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        doc[field] = null;
        string path = Path.Combine(Path.GetTempPath(), $"request-null-{field}-{Environment.ProcessId}.json");
        File.WriteAllText(path, doc.ToJsonString());
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => RefCheckRequest.Load(path));
            Assert.Contains($"'{field}'", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TinyHiddenStatesAndRouting_MatchGoldenProbes()
    {
        var golden = RefCheckGolden.Load(Path.Combine(Fixture("tiny"), "golden.json"));
        var (req, dir) = RefCheckRequest.Load(Path.Combine(Fixture("tiny"), "request.json"));
        var (config, weights) = CheckpointLoader.Load(dir, WeightDType.F32);
        using var _ = weights;
        using var pool = new WorkerPool(2);
        int T = req.FullSequenceIds.Length, D = config.HiddenSize;
        using var model = new DeepSeekV3(weights, new ForwardContext(pool), new ForwardCapacity(T, 1, T));
        model.Forward(ForwardBatch.Single(req.FullSequenceIds), null, MlaPath.Naive);

        JsonElement probes = golden.Debug!.Value.GetProperty("probes_last_position_own_fp64");
        for (int l = 0; l <= config.NumHiddenLayers; l++)
        {
            string key = l == 0 ? "embed_last" : $"layer{l - 1}_out_last";
            double[] want = probes.GetProperty(key).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Span<float> got = model.Residual[l].Span.Slice((T - 1) * D, D);
            for (int i = 0; i < D; i++) Assert.True(Math.Abs(want[i] - got[i]) < 1e-4, $"{key}[{i}]: {got[i]} vs {want[i]}");
        }

        JsonElement routing = golden.Debug!.Value.GetProperty("routing_own_fp64");
        for (int l = config.FirstKDenseReplace; l < config.NumHiddenLayers; l++)
        {
            var router = model.Blocks[l].Moe!.Router;
            JsonElement r = routing.GetProperty($"model.layers.{l}.mlp.");
            int t = 0;
            foreach (JsonElement row in r.GetProperty("experts").EnumerateArray())
            {
                var want = row.EnumerateArray().Select(e => e.GetInt32()).Order().ToArray();
                var got = router.Experts.AsSpan(t * router.TopK, router.TopK).ToArray().Order().ToArray();
                Assert.Equal(want, got);
                t++;
            }
            Assert.Equal(T, t);
        }
    }
}
