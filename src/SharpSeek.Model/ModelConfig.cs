// ModelConfig — the Hugging Face `config.json` of a DeepSeek-V3-architecture model.
//
// One record, HF key names in [JsonPropertyName], derived values as computed properties. Everything that
// changes behaviour is a named field here (no `dim == 7168` special cases anywhere in the model).
//
// Glossary used in shape comments across the model:
//   T  tokens in a batch        D  HiddenSize          H  NumAttentionHeads
//   Dn QkNopeHeadDim            Dr QkRopeHeadDim       Dv VHeadDim        Dq = Dn + Dr (QkHeadDim)
//   Rq QLoraRank                Rkv KvLoraRank         V  VocabSize
//   E  NRoutedExperts           K  NumExpertsPerTok    I  IntermediateSize   Im MoeIntermediateSize
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Model;

public sealed record ModelConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "deepseek_v3";
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = ["DeepseekV3ForCausalLM"];
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("moe_intermediate_size")] public int MoeIntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_nextn_predict_layers")] public int NumNextnPredictLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    [JsonPropertyName("n_shared_experts")] public int NSharedExperts { get; init; }
    [JsonPropertyName("n_routed_experts")] public int NRoutedExperts { get; init; }
    [JsonPropertyName("routed_scaling_factor")] public double RoutedScalingFactor { get; init; } = 1.0;
    [JsonPropertyName("kv_lora_rank")] public int KvLoraRank { get; init; }
    [JsonPropertyName("q_lora_rank")] public int? QLoraRank { get; init; }
    [JsonPropertyName("qk_rope_head_dim")] public int QkRopeHeadDim { get; init; }
    [JsonPropertyName("qk_nope_head_dim")] public int QkNopeHeadDim { get; init; }
    [JsonPropertyName("v_head_dim")] public int VHeadDim { get; init; }
    [JsonPropertyName("topk_method")] public string TopkMethod { get; init; } = "noaux_tc";
    [JsonPropertyName("n_group")] public int NGroup { get; init; } = 1;
    [JsonPropertyName("topk_group")] public int TopkGroup { get; init; } = 1;
    [JsonPropertyName("num_experts_per_tok")] public int NumExpertsPerTok { get; init; }
    [JsonPropertyName("moe_layer_freq")] public int MoeLayerFreq { get; init; } = 1;
    [JsonPropertyName("first_k_dense_replace")] public int FirstKDenseReplace { get; init; }
    [JsonPropertyName("norm_topk_prob")] public bool NormTopkProb { get; init; } = true;
    [JsonPropertyName("scoring_func")] public string ScoringFunc { get; init; } = "sigmoid";
    [JsonPropertyName("aux_loss_alpha")] public double AuxLossAlpha { get; init; } = 0.0001;
    [JsonPropertyName("seq_aux")] public bool SeqAux { get; init; } = true;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 4096;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.006;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; } = 0;
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; } = 1;
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; } = "bfloat16";
    [JsonPropertyName("quantization_config")] public QuantizationConfig? QuantizationConfig { get; init; }

    /// <summary>Keys this record does not model are kept so that a config round-trips unchanged.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? ExtraKeys { get; init; }

    // ---- derived ----
    [JsonIgnore] public int QkHeadDim => QkNopeHeadDim + QkRopeHeadDim;
    [JsonIgnore] public bool HasQLora => QLoraRank is > 0;
    [JsonIgnore] public int KvCacheWidth => KvLoraRank + QkRopeHeadDim;
    [JsonIgnore] public int ExpertsPerGroup => NRoutedExperts / Math.Max(1, NGroup);
    /// <summary>The router has <c>e_score_correction_bias</c> (auxiliary-loss-free balancing): topk_method noaux_tc.
    /// Its groups are ranked by the sum of their two best biased scores; without a bias, by their best score.</summary>
    [JsonIgnore] public bool HasRouterBias => TopkMethod == "noaux_tc";
    /// <summary>Routing keeps only topk_group of n_group expert groups ("greedy" routes over all experts).</summary>
    [JsonIgnore] public bool UsesGroupLimitedRouting => NGroup > 1 && TopkMethod != "greedy";
    [JsonIgnore] public bool IsFp8 => QuantizationConfig is { QuantMethod: "fp8" };
    /// <summary>Total decoder blocks stored in a checkpoint: main layers plus MTP modules.</summary>
    [JsonIgnore] public int NumStoredLayers => NumHiddenLayers + NumNextnPredictLayers;

    /// <summary>True when decoder layer <paramref name="layer"/> (main or MTP index) has a MoE MLP.</summary>
    public bool IsMoeLayer(int layer) =>
        NRoutedExperts > 0 && layer >= FirstKDenseReplace && layer % Math.Max(1, MoeLayerFreq) == 0;

    /// <summary>YaRN attention-magnitude factor: 0.1 · m · ln(factor) + 1 (1 when factor ≤ 1).</summary>
    public static double YarnMscale(double factor, double mscale) =>
        factor <= 1 ? 1.0 : 0.1 * mscale * Math.Log(factor) + 1.0;

    /// <summary>YaRN applies when rope_scaling is yarn and the context is longer than the original one
    /// (`max_seq_len > original_seq_len` in the official inference/model.py).</summary>
    [JsonIgnore]
    public bool YarnActive => RopeScaling is { IsYarn: true } rs && MaxPositionEmbeddings > rs.OriginalMaxPositionEmbeddings;

    /// <summary>Softmax scale (Dq)^-1/2, times mscale² when YaRN is set (official `inference/model.py`).</summary>
    [JsonIgnore]
    public double SoftmaxScale
    {
        get
        {
            double scale = 1.0 / Math.Sqrt(QkHeadDim);
            if (YarnActive && RopeScaling is { } rs)
            {
                double m = YarnMscale(rs.Factor, rs.MscaleAllDim);
                scale *= m * m;
            }
            return scale;
        }
    }

    private static readonly JsonSerializerOptions ReadOptions = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Parses and validates a config.json text. <paramref name="source"/> names it in errors.</summary>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        ModelConfig? cfg;
        try
        {
            cfg = JsonSerializer.Deserialize<ModelConfig>(json, ReadOptions);
        }
        catch (JsonException e)
        {
            string where = e.Path is null ? "" : $" at '{e.Path.TrimStart('$', '.')}'";
            throw new ModelConfigException($"{source}: invalid JSON{where}: {e.Message}", e);
        }
        if (cfg is null) throw new ModelConfigException($"{source}: the file is empty or 'null'.");
        cfg.Validate(source);
        return cfg;
    }

    /// <summary>Reads a config.json file, or the config.json inside a checkpoint directory.</summary>
    public static ModelConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file))
        {
            // `train --out DIR` writes DIR/checkpoint; pointing at DIR itself is the likely slip
            string hint = Directory.Exists(path) && File.Exists(Path.Combine(path, "checkpoint", "config.json"))
                ? $"; {path} is a training run's output, its model is {Path.Combine(path, "checkpoint")}" : "";
            throw new ModelConfigException($"{file}: no such file (expected a Hugging Face config.json or a directory holding one){hint}.");
        }
        if (file.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new ModelConfigException($"{file}: a weights file, not a config; pass the directory that holds config.json and the safetensors.");
        return Parse(File.ReadAllText(file), file);
    }

    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    public void Save(string path) => File.WriteAllText(path, ToJson());

    /// <summary>Checks every key a DeepSeek-V3 model needs; the message names the key and the problem.</summary>
    public void Validate(string source = "config.json")
    {
        void Fail(string key, string problem) => throw new ModelConfigException($"{source}: '{key}' {problem}");
        void Positive(string key, long value) { if (value <= 0) Fail(key, $"must be > 0 (got {value})."); }
        void NonNegative(string key, long value) { if (value < 0) Fail(key, $"must be >= 0 (got {value})."); }

        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("kv_lora_rank", KvLoraRank);
        Positive("qk_nope_head_dim", QkNopeHeadDim);
        Positive("qk_rope_head_dim", QkRopeHeadDim);
        Positive("v_head_dim", VHeadDim);
        NonNegative("num_nextn_predict_layers", NumNextnPredictLayers);
        NonNegative("first_k_dense_replace", FirstKDenseReplace);
        NonNegative("n_shared_experts", NSharedExperts);
        NonNegative("n_routed_experts", NRoutedExperts);
        if (QkRopeHeadDim % 2 != 0) Fail("qk_rope_head_dim", $"must be even: RoPE rotates pairs (got {QkRopeHeadDim}).");
        if (QLoraRank is < 0) Fail("q_lora_rank", $"must be null or >= 0 (got {QLoraRank}).");
        if (NumKeyValueHeads is { } kvh && kvh != NumAttentionHeads)
            Fail("num_key_value_heads", $"must equal num_attention_heads ({NumAttentionHeads}) for MLA (got {kvh}).");
        if (!(RmsNormEps > 0) || !double.IsFinite(RmsNormEps)) Fail("rms_norm_eps", $"must be finite and > 0 (got {RmsNormEps}).");
        if (!(RopeTheta > 0) || !double.IsFinite(RopeTheta)) Fail("rope_theta", $"must be finite and > 0 (got {RopeTheta}).");
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        if (!(InitializerRange >= 0) || !double.IsFinite(InitializerRange))
            Fail("initializer_range", $"must be a finite standard deviation >= 0 (got {InitializerRange}).");
        if (HiddenAct != "silu") Fail("hidden_act", $"must be \"silu\" (got \"{HiddenAct}\").");
        if (TieWordEmbeddings) Fail("tie_word_embeddings", "must be false: DeepSeek-V3 has a separate lm_head.");

        bool anyDense = FirstKDenseReplace > 0 || NRoutedExperts == 0 || MoeLayerFreq > 1;
        if (anyDense) Positive("intermediate_size", IntermediateSize);

        if (NRoutedExperts > 0)
        {
            Positive("moe_intermediate_size", MoeIntermediateSize);
            Positive("num_experts_per_tok", NumExpertsPerTok);
            Positive("moe_layer_freq", MoeLayerFreq);
            Positive("n_group", NGroup);
            Positive("topk_group", TopkGroup);
            if (NumExpertsPerTok > NRoutedExperts)
                Fail("num_experts_per_tok", $"({NumExpertsPerTok}) must be <= n_routed_experts ({NRoutedExperts}).");
            if (NRoutedExperts % NGroup != 0)
                Fail("n_group", $"({NGroup}) must divide n_routed_experts ({NRoutedExperts}).");
            if (TopkGroup > NGroup) Fail("topk_group", $"({TopkGroup}) must be <= n_group ({NGroup}).");
            if (UsesGroupLimitedRouting && TopkGroup * ExpertsPerGroup < NumExpertsPerTok)
                Fail("topk_group", $"keeps {TopkGroup} groups of {ExpertsPerGroup} experts, fewer than num_experts_per_tok ({NumExpertsPerTok}).");
            if (NGroup > 1 && HasRouterBias && ExpertsPerGroup < 2)
                Fail("n_group", $"leaves {ExpertsPerGroup} expert per group; group scores sum the top-2 experts of a group.");
            if (ScoringFunc is not ("sigmoid" or "softmax"))
                Fail("scoring_func", $"must be \"sigmoid\" or \"softmax\" (got \"{ScoringFunc}\").");
            if (TopkMethod is not ("noaux_tc" or "greedy" or "group_limited_greedy"))
                Fail("topk_method", $"must be \"noaux_tc\", \"greedy\" or \"group_limited_greedy\" (got \"{TopkMethod}\").");
            if (!(RoutedScalingFactor > 0)) Fail("routed_scaling_factor", $"must be > 0 (got {RoutedScalingFactor}).");
        }

        if (RopeScaling is { } rs)
        {
            if (!rs.IsYarn && rs.Type is not ("linear" or null))
                Fail("rope_scaling.type", $"must be \"yarn\" (got \"{rs.Type}\").");
            if (!(rs.Factor >= 1)) Fail("rope_scaling.factor", $"must be >= 1 (got {rs.Factor}).");
            if (rs.IsYarn)
            {
                Positive("rope_scaling.original_max_position_embeddings", rs.OriginalMaxPositionEmbeddings);
                if (!(rs.BetaFast > rs.BetaSlow))
                    Fail("rope_scaling.beta_fast", $"({rs.BetaFast}) must be > beta_slow ({rs.BetaSlow}).");
            }
        }

        if (QuantizationConfig is { } q)
        {
            if (q.QuantMethod != "fp8") Fail("quantization_config.quant_method", $"must be \"fp8\" (got \"{q.QuantMethod}\").");
            if (q.Fmt is not ("e4m3" or null)) Fail("quantization_config.fmt", $"must be \"e4m3\" (got \"{q.Fmt}\").");
            if (q.WeightBlockSize is not { Length: 2 } b || b[0] <= 0 || b[1] <= 0)
                Fail("quantization_config.weight_block_size", "must be two positive integers, e.g. [128, 128].");
        }
    }

    // ---- presets ----

    /// <summary>The built-in presets: <c>deepseek-v3</c> (671B), <c>tiny</c>, <c>small</c>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["deepseek-v3", "tiny", "small"];

    /// <summary>A built-in preset by name, or a config.json path / checkpoint directory.</summary>
    public static ModelConfig FromPresetOrPath(string nameOrPath)
    {
        if (PresetNames.Contains(nameOrPath)) return FromPreset(nameOrPath);
        if (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) return Load(nameOrPath);
        throw new ModelConfigException(
            $"'{nameOrPath}' is neither a preset ({string.Join(", ", PresetNames)}) nor an existing config.json or checkpoint directory.");
    }

    public static ModelConfig FromPreset(string name)
    {
        var asm = typeof(ModelConfig).Assembly;
        string resource = $"SharpSeek.Model.Presets.{name}.json";
        using Stream? s = asm.GetManifestResourceStream(resource);
        if (s is null)
            throw new ModelConfigException($"unknown preset '{name}'; known presets: {string.Join(", ", PresetNames)}.");
        using var reader = new StreamReader(s);
        return Parse(reader.ReadToEnd(), $"preset '{name}'");
    }
}

public sealed record RopeScaling
{
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    [JsonPropertyName("factor")] public double Factor { get; init; } = 1.0;
    [JsonPropertyName("original_max_position_embeddings")] public int OriginalMaxPositionEmbeddings { get; init; }
    [JsonPropertyName("beta_fast")] public double BetaFast { get; init; } = 32;
    [JsonPropertyName("beta_slow")] public double BetaSlow { get; init; } = 1;
    [JsonPropertyName("mscale")] public double Mscale { get; init; } = 1;
    [JsonPropertyName("mscale_all_dim")] public double MscaleAllDim { get; init; }

    [JsonIgnore] public bool IsYarn => (Type ?? RopeType) == "yarn";
}

public sealed record QuantizationConfig
{
    [JsonPropertyName("quant_method")] public string QuantMethod { get; init; } = "fp8";
    [JsonPropertyName("fmt")] public string? Fmt { get; init; } = "e4m3";
    [JsonPropertyName("activation_scheme")] public string? ActivationScheme { get; init; } = "dynamic";
    [JsonPropertyName("weight_block_size")] public int[]? WeightBlockSize { get; init; } = [128, 128];
}

/// <summary>A config.json that cannot describe a DeepSeek-V3 model; the message names the key.</summary>
public sealed class ModelConfigException : Exception
{
    public ModelConfigException(string message) : base(message) { }
    public ModelConfigException(string message, Exception inner) : base(message, inner) { }
}
