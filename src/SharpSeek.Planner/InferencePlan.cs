// InferencePlan — the DeepSeek-V3 report's serving units (§3.4) and what one GPU of them can hold and deliver.
//
//   prefill unit   4 nodes, 32 GPUs: attention TP4 + SP, DP8; MoE EP32 with 32 redundant experts, so each GPU
//                  hosts its 8 routed experts plus 1 redundant one per MoE layer (shared experts: TP4 with attention).
//   decode unit    40 nodes, 320 GPUs: attention TP4 + SP, DP80; MoE EP320, one expert per GPU per MoE layer —
//                  256 GPUs host the routed experts, 64 the redundant and shared ones.
//
// Weights: the released FP8 checkpoint — linear weights FP8 E4M3 (1 B + one FP32 scale per 128×128 block), the
// rest BF16; MTP modules are not loaded (no speculative decoding in this bound). Tensors outside the MoE experts
// (attention, norms, router, dense MLPs, embedding, head) are split TP ways.
// KV cache: MLA's latent is shared by all heads, so every TP rank of an attention group keeps the whole latent of
// the group's sequences: per GPU, a token costs the full 70,272 B (BF16).
// Bounds (ideal, no overlap losses):
//   compute  tokens/s ≤ GPUs · FP8 peak / forward FLOPs per token (prefill: naive MLA at mean context L/2;
//            decode: absorbed MLA at context L)
//   memory   a decode step reads every GPU's weights once and its KV cache: step ≥ bytes / HBM bandwidth, so
//            tokens/s ≤ (sequences in flight) / step, with as many sequences of length L as the KV cache holds.
using SharpSeek.Model;

namespace SharpSeek.Planner;

public sealed record ServingUnit(string Name, int Nodes, int Gpus, int AttentionTp, int AttentionDp, int Ep,
    int ExtraExpertSlots, double ExpertsPerGpu, bool SharedExpertsWithAttention)
{
    /// <summary>The report's units place 256 routed experts: 8 per GPU over EP32, one per GPU over 256 decode GPUs.</summary>
    public static bool ReportUnitsFit(ModelConfig c) => c.NRoutedExperts >= 256 && c.NRoutedExperts % 32 == 0;

    public static ServingUnit Prefill(ModelConfig c) =>
        new("prefill", 4, 32, 4, 8, 32, 32, (double)(c.NRoutedExperts + 32) / 32, true);

    public static ServingUnit Decode(ModelConfig c) =>
        new("decode", 40, 320, 4, 80, 320, 64, 1, false);
}

public sealed record ServingEstimate(
    ServingUnit Unit,
    double WeightBytesPerGpu,
    double ReservedBytesPerGpu,
    double KvBytesPerToken,
    double KvTokensPerGpu,
    double KvTokensPerUnit,
    long Context,
    double SequencesPerUnit,
    double ComputeTokensPerSecond,
    double? MemoryTokensPerSecond)
{
    /// <summary>The lower of the two bounds (prefill has no memory bound: it is compute-bound).</summary>
    public double BoundTokensPerSecond => Math.Min(ComputeTokensPerSecond, MemoryTokensPerSecond ?? double.MaxValue);
}

public static class InferencePlan
{
    /// <summary>Estimates a unit on <paramref name="gpu"/> serving sequences of <paramref name="context"/> tokens.
    /// <paramref name="reservedFraction"/> of memory is kept for activations, communication buffers and workspace.</summary>
    public static ServingEstimate Estimate(ModelAccounting model, ServingUnit unit, GpuSpec gpu, long context, double reservedFraction = 0.1)
    {
        if (context <= 0) throw new ArgumentException($"--context must be > 0 (got {context}).");
        ModelConfig c = model.Config;
        double shared = 0, perExpert = 0, sharedExperts = 0;
        int moeLayers = Enumerable.Range(0, c.NumHiddenLayers).Count(c.IsMoeLayer);
        foreach (var t in TensorManifest.Build(c))
        {
            if (t.Component == TensorComponent.Mtp) continue;
            double bytes = StoredBytes(c, t);
            if (t.Expert >= 0) perExpert += bytes;
            else if (t.Component == TensorComponent.SharedExperts) sharedExperts += bytes;
            else shared += bytes;
        }
        perExpert /= Math.Max(1, c.NRoutedExperts);     // one expert, all MoE layers
        double weights = shared / unit.AttentionTp + unit.ExpertsPerGpu * perExpert
                         + (unit.SharedExpertsWithAttention ? sharedExperts / unit.AttentionTp : 0);
        double reserved = reservedFraction * gpu.MemoryBytes;
        double kvPerToken = model.KvCachePerToken().Mla;
        double free = gpu.MemoryBytes - weights - reserved;
        if (free <= 0)
            throw new ArgumentException($"{unit.Name} unit on {gpu.Name}: weights ({weights / 1e9:F1} GB per GPU) leave no room for a KV cache.");
        double kvTokensPerGpu = free / kvPerToken;
        double kvTokensPerUnit = kvTokensPerGpu * unit.AttentionDp; // TP ranks hold copies of the same latent
        double sequences = Math.Floor(kvTokensPerGpu / context) * unit.AttentionDp;

        double peak = gpu.Fp8OrBf16Tflops * 1e12 * unit.Gpus;
        bool prefill = unit.Name == "prefill";
        double flopsPerToken = prefill
            ? model.ForwardFlopsPerToken((context + 1) / 2.0)
            : 2.0 * model.MatmulParamsPerToken + model.AbsorbedDecodeAttentionFlopsPerToken(context);
        double computeTps = peak / flopsPerToken;

        double seqPerGpu = Math.Floor(kvTokensPerGpu / context);
        double stepBytes = weights + seqPerGpu * context * kvPerToken;
        double? memoryTps = prefill ? null : sequences / (stepBytes / (gpu.HbmBandwidthTBps * 1e12));
        return new ServingEstimate(unit, weights, reserved, kvPerToken, kvTokensPerGpu, kvTokensPerUnit, context,
            sequences, computeTps, memoryTps);
    }

    /// <summary>Bytes of a tensor in the checkpoint: FP8 + block scales for quantized linears, else BF16.</summary>
    public static double StoredBytes(ModelConfig c, TensorSpec t)
    {
        if (!t.Fp8) return 2.0 * t.ElementCount;
        int[] block = c.QuantizationConfig?.WeightBlockSize ?? [128, 128];
        long[] s = t.ScaleInvShape(block[0], block[1]);
        return t.ElementCount + 4.0 * s[0] * s[1];
    }
}
