using System.Text.Json.Nodes;

namespace SharpSeek.Model.Tests;

/// <summary>Small DeepSeek-V3 configs spanning the held-out config space (no goldens exist for these; tests
/// check internal consistency).</summary>
public static class TestConfigs
{
    public const string Base = """
    {
      "vocab_size": 96, "hidden_size": 48, "intermediate_size": 64, "moe_intermediate_size": 16,
      "num_hidden_layers": 3, "first_k_dense_replace": 1, "num_attention_heads": 3, "num_key_value_heads": 3,
      "q_lora_rank": 24, "kv_lora_rank": 20, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 12,
      "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1, "n_group": 4, "topk_group": 2,
      "routed_scaling_factor": 2.5, "num_nextn_predict_layers": 1, "max_position_embeddings": 64,
      "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "scoring_func": "sigmoid", "topk_method": "noaux_tc"
    }
    """;

    /// <summary>Variant name -> JSON overrides.</summary>
    public static readonly Dictionary<string, string> Variants = new()
    {
        ["base"] = "{}",
        ["q_lora_null"] = """{"q_lora_rank": null}""",
        ["yarn"] = """{"rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}}""",
        ["groups_2_keep_1"] = """{"n_group": 2, "topk_group": 1, "num_experts_per_tok": 3}""",
        ["groups_1"] = """{"n_group": 1, "topk_group": 1}""",
        ["mtp_2"] = """{"num_nextn_predict_layers": 2}""",
        ["two_shared_no_dense"] = """{"n_shared_experts": 2, "first_k_dense_replace": 0}""",
        ["softmax_group_limited"] = """{"scoring_func": "softmax", "topk_method": "group_limited_greedy", "routed_scaling_factor": 1.0}""",
    };

    public static ModelConfig Make(string variant) => With(Variants[variant], $"test config '{variant}'");

    /// <summary>The base config with the JSON fields of <paramref name="overrides"/> replaced.</summary>
    public static ModelConfig With(string overrides, string source = "test config")
    {
        var node = JsonNode.Parse(Base)!.AsObject();
        foreach (var (k, v) in JsonNode.Parse(overrides)!.AsObject()) node[k] = v?.DeepClone();
        return ModelConfig.Parse(node.ToJsonString(), source);
    }

    /// <summary>Random weights; biasStd > 0 gives negative biased scores at the router.</summary>
    public static ModelWeights RandomWeights(ModelConfig c, Layers.WeightDType dtype = Layers.WeightDType.F32, int seed = 1, double biasStd = 0.5)
    {
        var w = ModelWeights.Allocate(c, dtype);
        w.InitRandom(seed, std: 0.15, biasStd: biasStd);
        return w;
    }
}
