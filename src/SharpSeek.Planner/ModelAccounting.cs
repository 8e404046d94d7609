// ModelAccounting — parameters, FLOPs and KV-cache bytes of a DeepSeek-V3-architecture model, from its
// ModelConfig alone (parameter counts come from the Model layer's TensorManifest/ParameterCounts).
//
// Training FLOPs per token (forward + backward = 3 × forward, one multiply-add = 2 FLOPs):
//
//   C_train(T) = 6 · N_mm  +  L_attn · 3 · H · (Dq + Dv) · (T + 1)
//
//   N_mm   activated parameters that take part in a matrix multiply: every activated tensor except the token
//          embedding (a lookup), i.e. attention projections, router, dense / shared / K routed experts, the
//          output head; RMSNorm weights are counted too (they are < 0.01 % and keep the sum equal to the
//          manifest's). With MTP (the report trains with D = 1) each token also runs the MTP modules: their
//          block, eh_proj and the shared head, but not their embedding lookup.
//   attention core, per layer and token at position i (0-based) of a causal sequence of length T:
//          scores  q·kᵀ over i + 1 keys: 2 · H · Dq · (i + 1) FLOPs;  weighted sum p·v: 2 · H · Dv · (i + 1).
//          Averaged over i = 0 … T−1 the context is (T + 1) / 2, so the forward is H · (Dq + Dv) · (T + 1)
//          and training (× 3) is 3 · H · (Dq + Dv) · (T + 1). MLA in training runs the naive (non-absorbed)
//          form — per-head K of width Dq = Dn + Dr and V of width Dv — so these are MLA's shapes; causal masking
//          halves the full T² square (flash-attention skips masked blocks). L_attn counts main + MTP layers.
//
// KV cache per token (BF16 = 2 bytes per element):
//   MLA   (Rkv + Dr) per layer: the normalised latent c_kv and the shared roped key k_pe — 576 × 61 × 2 = 70,272 B.
//   MHA   H · (Dq + Dv) per layer: the same model caching ordinary per-head keys of width Dq = Dn + Dr and
//         values of width Dv (what the non-absorbed MLA form decompresses) — 128 · 320 · 61 · 2 = 4,997,120 B.
//   GQA-g the same with g key/value heads shared by the H query heads: g · (Dq + Dv) per layer.
using SharpSeek.Model;

namespace SharpSeek.Planner;

/// <summary>Parameter counts of one component: total and activated per token.</summary>
public sealed record ComponentParams(string Component, long Total, long Activated);

/// <summary>KV-cache bytes per token for MLA and, for comparison, the same model with MHA and GQA.</summary>
public sealed record KvCacheBytes(long Mla, long Mha, long Gqa, int GqaGroups, int BytesPerElement);

public sealed class ModelAccounting
{
    public ModelConfig Config { get; }
    public ParameterCounts Counts { get; }

    public ModelAccounting(ModelConfig config)
    {
        Config = config;
        Counts = ParameterCounts.Of(config);
    }

    /// <summary>The report's 671B: every main-model parameter, without the MTP module.</summary>
    public long TotalParams => Counts.Total;

    /// <summary>The report's 37B: what one token activates in the main model (embedding and head included).</summary>
    public long ActivatedParamsPerToken => Counts.ActivatedPerToken;

    /// <summary>Per-component totals and activated counts (main model), then the MTP modules.</summary>
    public IReadOnlyList<ComponentParams> Breakdown()
    {
        var rows = new List<ComponentParams>();
        foreach (var (comp, total) in Counts.ByComponent)
        {
            if (comp == TensorComponent.Mtp) continue;
            rows.Add(new ComponentParams(comp.ToString(), total, Counts.ActivatedByComponent[comp]));
        }
        rows.Add(new ComponentParams("Mtp", Counts.Mtp, Counts.MtpActivatedPerToken));
        return rows;
    }

    /// <summary>Activated parameters that are matrix-multiplied per token in the main model (no embedding lookup).</summary>
    public long MatmulParamsPerToken => Counts.ActivatedPerToken - Counts.ActivatedByComponent[TensorComponent.Embedding];

    /// <summary>Activated parameters matrix-multiplied per token by the MTP modules (their embedding is a lookup).</summary>
    public long MtpMatmulParamsPerToken => Counts.MtpActivatedPerToken - Counts.MtpEmbedding;

    /// <summary>Attention-core FLOPs per token for training (forward + backward) at causal sequence length
    /// <paramref name="seqLen"/>, over <paramref name="layers"/> layers: 3 · H · (Dq + Dv) · (T + 1) each.</summary>
    public double AttentionTrainingFlopsPerToken(long seqLen, int layers) =>
        3.0 * Config.NumAttentionHeads * (Config.QkHeadDim + Config.VHeadDim) * (seqLen + 1) * layers;

    /// <summary>The same with the whole T×T score and value products counted, masked half included — the attention
    /// term of the usual MFU definition (PaLM's 6N + 12·L·H·Q·T, here 6·H·(Dq + Dv)·T per layer), which the
    /// PyTorch baseline in shared/bench/torchref counts too.</summary>
    public double AttentionTrainingFlopsPerTokenFull(long seqLen, int layers) =>
        6.0 * Config.NumAttentionHeads * (Config.QkHeadDim + Config.VHeadDim) * seqLen * layers;

    /// <summary>Training FLOPs per token (forward + backward) at sequence length <paramref name="seqLen"/>; the
    /// attention term counts the causal half (what is computed) unless <paramref name="fullAttention"/>.</summary>
    public TrainingFlops TrainingFlopsPerToken(long seqLen, bool includeMtp = true, bool fullAttention = false)
    {
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "sequence length must be > 0.");
        int mtpLayers = includeMtp ? Config.NumNextnPredictLayers : 0;
        double dense = 6.0 * MatmulParamsPerToken;
        double mtp = includeMtp ? 6.0 * MtpMatmulParamsPerToken : 0;
        double attention = fullAttention
            ? AttentionTrainingFlopsPerTokenFull(seqLen, Config.NumHiddenLayers + mtpLayers)
            : AttentionTrainingFlopsPerToken(seqLen, Config.NumHiddenLayers + mtpLayers);
        return new TrainingFlops(dense, mtp, attention);
    }

    /// <summary>Forward-only FLOPs per token (inference) at an average attended context of <paramref name="context"/>
    /// keys: 2 · N_mm + 2 · H · (Dq + Dv) · context per layer (naive MLA shapes; the absorbed decode form trades
    /// these for 2 · H · (2·Rkv + Dr) · context, see <see cref="AbsorbedDecodeAttentionFlopsPerToken"/>).</summary>
    public double ForwardFlopsPerToken(double context) =>
        2.0 * MatmulParamsPerToken + 2.0 * Config.NumAttentionHeads * (Config.QkHeadDim + Config.VHeadDim) * context * Config.NumHiddenLayers;

    /// <summary>Attention-core FLOPs per decoded token with kv_b_proj absorbed (MQA over the latent):
    /// scores over Rkv + Dr and values over Rkv, per head and key.</summary>
    public double AbsorbedDecodeAttentionFlopsPerToken(double context) =>
        2.0 * Config.NumAttentionHeads * (2.0 * Config.KvLoraRank + Config.QkRopeHeadDim) * context * Config.NumHiddenLayers;

    /// <summary>KV-cache bytes per token over the main model's layers.</summary>
    public KvCacheBytes KvCachePerToken(int bytesPerElement = 2, int gqaGroups = 8)
    {
        long L = Config.NumHiddenLayers, H = Config.NumAttentionHeads;
        long mla = (long)Config.KvCacheWidth * L * bytesPerElement;
        long perHead = Config.QkHeadDim + Config.VHeadDim;
        long mha = H * perHead * L * bytesPerElement;
        long gqa = Math.Min(gqaGroups, H) * perHead * L * bytesPerElement;
        return new KvCacheBytes(mla, mha, gqa, gqaGroups, bytesPerElement);
    }
}

/// <summary>Training FLOPs per token, split into the 6·N matmul term of the main model, the MTP modules and the
/// attention core.</summary>
public sealed record TrainingFlops(double MainMatmul, double MtpMatmul, double Attention)
{
    public double Total => MainMatmul + MtpMatmul + Attention;
}
