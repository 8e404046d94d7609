using SharpSeek.Model;

namespace SharpSeek.Planner.Tests;

public class ModelAccountingTests
{
    private static readonly ModelAccounting V3 = new(ModelConfig.FromPreset("deepseek-v3"));

    [Fact]
    public void DeepSeekV3_Params_Are671BTotalAnd37BActivated_Within2Percent()
    {
        Assert.InRange(V3.TotalParams / 671e9, 0.98, 1.02);
        Assert.InRange(V3.ActivatedParamsPerToken / 37e9, 0.98, 1.02);
    }

    [Fact]
    public void Breakdown_ActivatedComponents_SumToActivatedPerToken()
    {
        var rows = V3.Breakdown().Where(r => r.Component != "Mtp").ToArray();
        Assert.Equal(V3.ActivatedParamsPerToken, rows.Sum(r => r.Activated));
        Assert.Equal(V3.TotalParams, rows.Sum(r => r.Total));
        var routed = rows.Single(r => r.Component == "RoutedExperts");
        Assert.Equal(routed.Total / 256 * 8, routed.Activated); // K = 8 of E = 256
    }

    [Fact]
    public void DeepSeekV3_KvCache_Mla70272Bytes_MhaAndGqa8ForComparison()
    {
        var kv = V3.KvCachePerToken();
        Assert.Equal((512 + 64) * 61 * 2, kv.Mla);
        Assert.Equal(70_272, kv.Mla);
        Assert.Equal(128L * (192 + 128) * 61 * 2, kv.Mha);
        Assert.Equal(8L * (192 + 128) * 61 * 2, kv.Gqa);
        Assert.True(kv.Mha / kv.Mla > 70);
    }

    [Fact]
    public void AttentionTerm_EqualsExplicitSumOverCausalPositions()
    {
        // Per layer and head, token i attends to i + 1 keys: scores 2·Dq·(i+1), values 2·Dv·(i+1); × 3 for training.
        var tiny = new ModelAccounting(ModelConfig.FromPreset("tiny"));
        var c = tiny.Config;
        const int T = 37;
        double sum = 0;
        for (int i = 0; i < T; i++) sum += 3.0 * c.NumAttentionHeads * 2.0 * (c.QkHeadDim + c.VHeadDim) * (i + 1);
        double perToken = sum / T * c.NumHiddenLayers;
        Assert.Equal(perToken, tiny.AttentionTrainingFlopsPerToken(T, c.NumHiddenLayers), 6);
    }

    [Fact]
    public void FullAttentionTrainingFlops_OfTiny_EqualTheTorchrefBaselinesCount()
    {
        // shared/bench/torchref/train_ref.py prints train_gflop_per_step 111.99 for tiny at B 8 × S 256 (its
        // train_flops_per_step: 3 · (2 · T · activated linear weights, the shared head once per MTP depth too,
        // + the whole S×S score and value products)); `bench train` quotes MFU on this count.
        var tiny = new ModelAccounting(ModelConfig.FromPreset("tiny"));
        double perStep = tiny.TrainingFlopsPerToken(256, includeMtp: true, fullAttention: true).Total * 8 * 256;
        // 112.04 here: 0.05% above (≈ 6 × 4.4K parameters per token that one side counts and the other not — not
        // traced yet); well inside what separates the two MFU conventions (causal count: 107.1).
        Assert.InRange(perStep / 1e9, 111.99 * 0.999, 111.99 * 1.001);
        double causal = tiny.TrainingFlopsPerToken(256).Total, full = tiny.TrainingFlopsPerToken(256, fullAttention: true).Total;
        Assert.Equal(2 * 256.0 / 257, (full - (causal - tiny.AttentionTrainingFlopsPerToken(256, 5))) / tiny.AttentionTrainingFlopsPerToken(256, 5), 9);
    }

    [Fact]
    public void TrainingFlops_Are6xActivatedWithoutEmbedding_PlusMtp_PlusAttention()
    {
        var f = V3.TrainingFlopsPerToken(4096);
        Assert.Equal(6.0 * (V3.ActivatedParamsPerToken - 7168L * 129280), f.MainMatmul);
        Assert.Equal(V3.AttentionTrainingFlopsPerToken(4096, 62), f.Attention);
        Assert.InRange(f.Total / 1e9, 250, 270); // ≈ 6 × 37B + MTP + 31 GFLOP of attention at 4K
        Assert.Equal(f.Total - f.MtpMatmul - V3.AttentionTrainingFlopsPerToken(4096, 1),
            V3.TrainingFlopsPerToken(4096, includeMtp: false).Total, 3);
    }

    [Fact]
    public void Tiny_MtpActivated_MatchesHandCount()
    {
        var tiny = new ModelAccounting(ModelConfig.FromPreset("tiny"));
        var c = tiny.Config;
        long D = c.HiddenSize, V = c.VocabSize, H = c.NumAttentionHeads, rq = c.QLoraRank!.Value;
        long attention = rq * D + rq + H * c.QkHeadDim * rq + (c.KvLoraRank + c.QkRopeHeadDim) * D + c.KvLoraRank
                         + H * (c.QkNopeHeadDim + c.VHeadDim) * c.KvLoraRank + D * H * c.VHeadDim;
        long expert = 3 * D * c.MoeIntermediateSize;
        long router = c.NRoutedExperts * D + c.NRoutedExperts;
        long norms = 5 * D; // enorm, hnorm, input, post-attention, shared_head.norm
        long expected = V * D /* embed */ + 2 * D * D /* eh_proj */ + attention + router
                        + c.NumExpertsPerTok * expert + c.NSharedExperts * expert + norms + V * D /* head */;
        Assert.Equal(expected, tiny.Counts.MtpActivatedPerToken);
        Assert.Equal(expected - V * D, tiny.MtpMatmulParamsPerToken);
    }
}
