// ExpertBalancer — per-MoE-layer expert-load bookkeeping and DeepSeek-V3's auxiliary-loss-free balancing
// (report §2.1.2): after each optimizer step, for every MoE layer,
//
//   b_i ← b_i + γ · sign(mean_load − load_i)        load_i = tokens routed to expert i during the step
//
// so overloaded experts become less likely to be selected and underloaded ones more. The bias only shifts the
// top-K selection (DESIGN §3); gating weights use the unbiased scores. γ = 0 turns the update off (the loads are
// still counted for the metrics). The bias is `mlp.gate.e_score_correction_bias`, Frozen for the optimizer.
//
//   counts (L_moe, E)  tokens per expert this step, summed over micro-batches
using SharpSeek.Model;

namespace SharpSeek.Training;

/// <summary>Load of one MoE layer over a step: max/mean ratio (1 = perfectly balanced) and per-expert counts.</summary>
public sealed record ExpertLoadStats(int Layer, double MaxOverMean, long[] Counts);

public sealed class ExpertBalancer
{
    private readonly long[] _counts; // (L_moe, E)
    private readonly string[] _biasNames; // (L_moe,) built once: the step allocates nothing

    /// <summary>Decoder-layer indices (main and MTP) that have a MoE MLP, in order.</summary>
    public IReadOnlyList<int> MoeLayers { get; }
    public int Experts { get; }
    public double Gamma { get; }

    public ExpertBalancer(IReadOnlyList<int> moeLayers, int experts, double gamma)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        if (!(gamma >= 0) || !double.IsFinite(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "γ must be finite and >= 0.");
        MoeLayers = moeLayers.ToArray();
        Experts = experts;
        Gamma = gamma;
        _counts = new long[MoeLayers.Count * experts];
        _biasNames = MoeLayers.Select(BiasName).ToArray();
    }

    /// <summary>A balancer for every MoE layer of <paramref name="config"/>, the MTP modules' included.</summary>
    public static ExpertBalancer ForModel(ModelConfig config, double gamma) =>
        gamma > 0 && !config.HasRouterBias
            ? throw new ArgumentException($"--bias-gamma {gamma} needs a router bias (topk_method \"noaux_tc\"); this config's topk_method is \"{config.TopkMethod}\". Pass --bias-gamma 0.")
            : new(Enumerable.Range(0, config.NumStoredLayers).Where(config.IsMoeLayer).ToArray(), config.NRoutedExperts, gamma);

    /// <summary>Index of decoder layer <paramref name="layer"/> among the MoE layers.</summary>
    public int MoeIndex(int layer)
    {
        for (int i = 0; i < MoeLayers.Count; i++) if (MoeLayers[i] == layer) return i;
        throw new ArgumentException($"decoder layer {layer} has no MoE MLP (MoE layers: {string.Join(", ", MoeLayers)}).", nameof(layer));
    }

    public Span<long> Counts(int moeIndex) => _counts.AsSpan(moeIndex * Experts, Experts);

    /// <summary>Counts the router's choices topK (T, K) of one micro-batch for MoE layer <paramref name="moeIndex"/>.</summary>
    public void Record(int moeIndex, ReadOnlySpan<int> topK)
    {
        Span<long> c = Counts(moeIndex);
        foreach (int e in topK)
        {
            if ((uint)e >= (uint)Experts) throw new ArgumentOutOfRangeException(nameof(topK), e, $"expert index out of range [0, {Experts}).");
            c[e]++;
        }
    }

    public ExpertLoadStats Stats(int moeIndex)
    {
        Span<long> c = Counts(moeIndex);
        return new ExpertLoadStats(MoeLayers[moeIndex], MaxOverMean(c), c.ToArray());
    }

    /// <summary>This step's max/mean load of every MoE layer, for metrics.jsonl (call before ApplyAndReset).</summary>
    public Metrics.LayerLoad[] LayerLoads()
    {
        var loads = new Metrics.LayerLoad[MoeLayers.Count];
        for (int m = 0; m < loads.Length; m++) loads[m] = new Metrics.LayerLoad(MoeLayers[m], MaxOverMean(Counts(m)));
        return loads;
    }

    /// <summary>max_i load_i / mean load; 1 when balanced, E/K when every token picks the same K experts; 0 with no tokens.</summary>
    public static double MaxOverMean(ReadOnlySpan<long> counts)
    {
        long total = 0, max = 0;
        foreach (long c in counts) { total += c; max = Math.Max(max, c); }
        return total == 0 ? 0 : max * (double)counts.Length / total;
    }

    /// <summary>b_i += γ · sign(mean − load_i) for one layer's bias (E,).</summary>
    public static void UpdateBias(Span<float> bias, ReadOnlySpan<long> counts, double gamma)
    {
        if (bias.Length != counts.Length) throw new ArgumentException($"bias has {bias.Length} experts, counts {counts.Length}.");
        long total = 0;
        foreach (long c in counts) total += c;
        // Compare load_i·E with the total instead of load_i with total/E: exact in integers, no rounding at ties.
        long e = counts.Length;
        for (int i = 0; i < bias.Length; i++)
            bias[i] += (float)(gamma * Math.Sign(total - counts[i] * e));
    }

    /// <summary>After the optimizer step: update every MoE layer's <c>e_score_correction_bias</c> in
    /// <paramref name="store"/> from this step's counts (no-op when γ = 0), then clear the counts.</summary>
    public void ApplyAndReset(ParameterStore store)
    {
        if (Gamma > 0)
            for (int m = 0; m < MoeLayers.Count; m++)
                UpdateBias(store.Weights(_biasNames[m]), Counts(m), Gamma);
        Array.Clear(_counts);
    }

    public static string BiasName(int layer) => $"model.layers.{layer}.mlp.gate.e_score_correction_bias";
}
