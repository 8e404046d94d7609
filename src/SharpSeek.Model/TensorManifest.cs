// TensorManifest — every tensor a DeepSeek-V3 checkpoint holds, with its shape, derived from a ModelConfig
// alone (no weights are allocated). This is the one table that maps checkpoint names: the loader, the writer,
// the parameter counts of the planner and the shape-manifest tests all read it.
//
// Names follow the official release (DESIGN §4): `model.layers.N.self_attn.q_a_proj.weight`, …,
// MTP module k (1-based) stored as decoder layer `num_hidden_layers + k - 1`.
namespace SharpSeek.Model;

/// <summary>What a tensor belongs to, for parameter accounting.</summary>
public enum TensorComponent
{
    Embedding,
    Attention,
    Norm,
    DenseMlp,
    Router,
    SharedExperts,
    RoutedExperts,
    Head,
    Mtp,
}

/// <summary>One checkpoint tensor. <see cref="Fp8"/> marks a linear weight stored as F8_E4M3 with a
/// <c>weight_scale_inv</c> companion when the config is quantized. <see cref="Expert"/> is the routed-expert
/// index (or -1).</summary>
public sealed record TensorSpec(string Name, long[] Shape, TensorComponent Component, int Layer, int Expert, bool Fp8)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Shape of the FP32 <c>weight_scale_inv</c> for block size (bo, bi): [ceil(out/bo), ceil(in/bi)].</summary>
    public long[] ScaleInvShape(int blockOut, int blockIn) =>
        [(Shape[0] + blockOut - 1) / blockOut, (Shape[1] + blockIn - 1) / blockIn];
}

public static class TensorManifest
{
    /// <summary>Every weight tensor of the model in checkpoint order (main model, then MTP modules).
    /// Scale tensors are not listed; <see cref="TensorSpec.Fp8"/> says which weights have one.</summary>
    public static IReadOnlyList<TensorSpec> Build(ModelConfig c)
    {
        var list = new List<TensorSpec>();
        long V = c.VocabSize, D = c.HiddenSize;
        bool quant = c.IsFp8;

        void Add(string name, TensorComponent comp, int layer, int expert, bool linear, params long[] shape) =>
            list.Add(new TensorSpec(name, shape, comp, layer, expert, quant && linear));

        Add("model.embed_tokens.weight", TensorComponent.Embedding, -1, -1, false, V, D);
        for (int layer = 0; layer < c.NumStoredLayers; layer++)
        {
            bool mtp = layer >= c.NumHiddenLayers;
            string p = $"model.layers.{layer}.";
            TensorComponent Comp(TensorComponent main) => mtp ? TensorComponent.Mtp : main;
            if (mtp)
            {
                Add(p + "embed_tokens.weight", TensorComponent.Mtp, layer, -1, false, V, D);
                Add(p + "enorm.weight", TensorComponent.Mtp, layer, -1, false, D);
                Add(p + "hnorm.weight", TensorComponent.Mtp, layer, -1, false, D);
                Add(p + "eh_proj.weight", TensorComponent.Mtp, layer, -1, true, D, 2 * D);
            }
            Add(p + "input_layernorm.weight", Comp(TensorComponent.Norm), layer, -1, false, D);
            AddAttention(c, p + "self_attn.", layer, mtp, Add);
            Add(p + "post_attention_layernorm.weight", Comp(TensorComponent.Norm), layer, -1, false, D);
            if (c.IsMoeLayer(layer))
            {
                Add(p + "mlp.gate.weight", Comp(TensorComponent.Router), layer, -1, false, c.NRoutedExperts, D);
                if (c.HasRouterBias)
                    Add(p + "mlp.gate.e_score_correction_bias", Comp(TensorComponent.Router), layer, -1, false, c.NRoutedExperts);
                for (int e = 0; e < c.NRoutedExperts; e++)
                    AddSwiGlu(p + $"mlp.experts.{e}.", Comp(TensorComponent.RoutedExperts), layer, e, D, c.MoeIntermediateSize, Add);
                if (c.NSharedExperts > 0)
                    AddSwiGlu(p + "mlp.shared_experts.", Comp(TensorComponent.SharedExperts), layer, -1, D,
                        (long)c.MoeIntermediateSize * c.NSharedExperts, Add);
            }
            else
            {
                AddSwiGlu(p + "mlp.", Comp(TensorComponent.DenseMlp), layer, -1, D, c.IntermediateSize, Add);
            }
            if (mtp)
            {
                Add(p + "shared_head.norm.weight", TensorComponent.Mtp, layer, -1, false, D);
                Add(p + "shared_head.head.weight", TensorComponent.Mtp, layer, -1, false, V, D);
            }
        }
        Add("model.norm.weight", TensorComponent.Norm, -1, -1, false, D);
        Add("lm_head.weight", TensorComponent.Head, -1, -1, false, V, D);
        return list;
    }

    private delegate void AddFn(string name, TensorComponent comp, int layer, int expert, bool linear, params long[] shape);

    private static void AddAttention(ModelConfig c, string p, int layer, bool mtp, AddFn add)
    {
        var comp = mtp ? TensorComponent.Mtp : TensorComponent.Attention;
        long D = c.HiddenSize, H = c.NumAttentionHeads;
        if (c.HasQLora)
        {
            long rq = c.QLoraRank!.Value;
            add(p + "q_a_proj.weight", comp, layer, -1, true, rq, D);
            add(p + "q_a_layernorm.weight", comp, layer, -1, false, rq);
            add(p + "q_b_proj.weight", comp, layer, -1, true, H * c.QkHeadDim, rq);
        }
        else
        {
            add(p + "q_proj.weight", comp, layer, -1, true, H * c.QkHeadDim, D);
        }
        add(p + "kv_a_proj_with_mqa.weight", comp, layer, -1, true, c.KvLoraRank + c.QkRopeHeadDim, D);
        add(p + "kv_a_layernorm.weight", comp, layer, -1, false, c.KvLoraRank);
        add(p + "kv_b_proj.weight", comp, layer, -1, true, H * (c.QkNopeHeadDim + c.VHeadDim), c.KvLoraRank);
        add(p + "o_proj.weight", comp, layer, -1, true, D, H * c.VHeadDim);
    }

    private static void AddSwiGlu(string p, TensorComponent comp, int layer, int expert, long d, long inter, AddFn add)
    {
        add(p + "gate_proj.weight", comp, layer, expert, true, inter, d);
        add(p + "up_proj.weight", comp, layer, expert, true, inter, d);
        add(p + "down_proj.weight", comp, layer, expert, true, d, inter);
    }
}

/// <summary>Parameter totals of a config, from the manifest. "Main" excludes MTP modules, as the report's
/// 671B does; activated counts the K routed experts a token visits out of E, plus everything dense.
/// <see cref="ActivatedByComponent"/> splits <see cref="ActivatedPerToken"/> (main model) by component;
/// <see cref="MtpActivatedPerToken"/> is what one token activates in the MTP modules (their own K-of-E experts,
/// plus their embedding and head copies, which <see cref="MtpEmbedding"/> and <see cref="MtpHead"/> isolate
/// because training shares them with the main model).</summary>
public sealed record ParameterCounts(
    long Total,
    long ActivatedPerToken,
    long Mtp,
    IReadOnlyDictionary<TensorComponent, long> ByComponent)
{
    public IReadOnlyDictionary<TensorComponent, long> ActivatedByComponent { get; init; } = new Dictionary<TensorComponent, long>();
    public long MtpActivatedPerToken { get; init; }
    public long MtpEmbedding { get; init; }
    public long MtpHead { get; init; }

    public static ParameterCounts Of(ModelConfig c)
    {
        var by = new Dictionary<TensorComponent, long>();
        var activated = new Dictionary<TensorComponent, long>();
        foreach (TensorComponent comp in Enum.GetValues<TensorComponent>()) { by[comp] = 0; activated[comp] = 0; }
        long total = 0, routed = 0, mtp = 0, mtpRouted = 0, mtpEmbedding = 0, mtpHead = 0;
        foreach (var t in TensorManifest.Build(c))
        {
            by[t.Component] += t.ElementCount;
            if (t.Component == TensorComponent.Mtp)
            {
                mtp += t.ElementCount;
                if (t.Expert >= 0) mtpRouted += t.ElementCount;
                if (t.Name.EndsWith(".embed_tokens.weight", StringComparison.Ordinal)) mtpEmbedding += t.ElementCount;
                if (t.Name.EndsWith(".shared_head.head.weight", StringComparison.Ordinal)) mtpHead += t.ElementCount;
                continue;
            }
            total += t.ElementCount;
            if (t.Component == TensorComponent.RoutedExperts) routed += t.ElementCount;
            else activated[t.Component] += t.ElementCount;
        }
        long activatedRouted = ActivatedShare(c, routed);
        activated[TensorComponent.RoutedExperts] = activatedRouted;
        return new ParameterCounts(total, total - routed + activatedRouted, mtp, by)
        {
            ActivatedByComponent = activated,
            MtpActivatedPerToken = mtp - mtpRouted + ActivatedShare(c, mtpRouted),
            MtpEmbedding = mtpEmbedding,
            MtpHead = mtpHead,
        };
    }

    /// <summary>The part of <paramref name="routedParams"/> one token visits: K of E experts.</summary>
    private static long ActivatedShare(ModelConfig c, long routedParams) =>
        c.NRoutedExperts == 0 ? 0 : routedParams / c.NRoutedExperts * c.NumExpertsPerTok;
}
