// TrainingMemory — bytes per GPU for a parallel layout in the DeepSeek-V3 report's precisions (§3.3, §3.2.3).
//
// Layout: GPUs = PP × TP × DP. Pipeline stages split the main layers evenly (embedding on the first stage, final
// norm, head and the MTP modules on the last, as the report co-locates them; MTP shares the main embedding and
// head in training, so their checkpoint copies are not counted); DualPipe puts stages d and PP−1−d on
// pipeline rank d, DualPipeV folds 2·PP stages onto PP ranks. Dense (non-routed) tensors are split TP ways;
// routed experts EP ways (EP ≤ TP·DP ranks of one stage; each expert then has TP·DP/EP data-parallel replicas).
//
// Assumptions, per parameter held on a GPU (stated again in the output):
//   weights        BF16, 2 B   — the working copy used by forward/backward (FP8 GEMM inputs are quantized from it)
//   gradients      FP32, 4 B   — accumulated across micro-batches ("gradients ... retained in FP32"); not sharded
//   master weights FP32, 4 B   — ZeRO-1: sharded over the tensor's data-parallel replicas
//   AdamW m and v  BF16, 2+2 B — ZeRO-1 sharded likewise ("BF16 for the first and second moments")
// Activations per token per layer (SP splits them TP ways), each micro-batch-stage held from F until its W:
//   block input x and post-attention residual (BF16, 2·2D); FP8 inputs of the attention down-projections (D) and
//   of the MLP/router (D); latents c_q and [c_kv, k_pe] (BF16; RMSNorm and MLA up-projections are recomputed, so
//   Q, K, V are not kept); attention output o (H·Dv) in the report's 12-bit E5M6 (1.5 B) and the softmax
//   log-sum-exp (FP32, H); router scores (FP32, E); the K dispatched token copies (FP8, K·D); SwiGLU inputs
//   (FP8, 2·Im per visited expert incl. shared; its output is recomputed). Dense-MLP layers: FP8 D + 2·I.
using SharpSeek.Model;
using SharpSeek.Planner.Pipeline;

namespace SharpSeek.Planner;

public sealed record ParallelLayout(int PP, int TP, int DP, int EP, ScheduleKind Schedule, int MicroBatchSeqs = 1)
{
    public int Gpus => PP * TP * DP;

    /// <summary>Model stages: PP, or 2·PP for DualPipeV (which folds two stages onto each pipeline rank).</summary>
    public int Stages => Schedule == ScheduleKind.DualPipeV ? 2 * PP : PP;

    /// <summary>The stages pipeline rank <paramref name="rank"/> holds.</summary>
    public int[] StagesOf(int rank) => Schedule switch
    {
        ScheduleKind.DualPipe => rank == PP - 1 - rank ? [rank] : [rank, PP - 1 - rank],
        ScheduleKind.DualPipeV => [rank, 2 * PP - 1 - rank],
        _ => [rank],
    };
}

public sealed record MemoryLine(string Item, string Precision, double Bytes);

public sealed record GpuMemory(int PipelineRank, int[] Stages, long DenseParams, long ExpertParams,
    int ActivationsInFlight, IReadOnlyList<MemoryLine> Lines)
{
    public double TotalBytes => Lines.Sum(l => l.Bytes);
}

public static class TrainingMemory
{
    /// <summary>Memory of the most loaded pipeline rank (the one with the largest total).</summary>
    public static GpuMemory WorstGpu(ModelConfig c, ParallelLayout layout, long seqLen) =>
        AllRanks(c, layout, seqLen).MaxBy(m => m.TotalBytes)!;

    /// <summary>Memory of every pipeline rank (ranks of other dimensions hold the same amounts).</summary>
    public static GpuMemory[] AllRanks(ModelConfig c, ParallelLayout layout, long seqLen)
    {
        Check(c, layout);
        var manifest = TensorManifest.Build(c);
        int[] inFlight = ScheduleGenerators.Build(layout.Schedule, layout.Stages, 2 * layout.Stages).PeakActivations();
        return Enumerable.Range(0, layout.PP).Select(r => ForRank(c, layout, seqLen, r, manifest, inFlight[r])).ToArray();
    }

    public static GpuMemory ForRank(ModelConfig c, ParallelLayout layout, long seqLen, int rank) => AllRanks(c, layout, seqLen)[rank];

    private static GpuMemory ForRank(ModelConfig c, ParallelLayout layout, long seqLen, int rank, IReadOnlyList<TensorSpec> manifest, int inFlight)
    {
        int S = layout.Stages;
        var stages = layout.StagesOf(rank);
        long dense = 0, routed = 0;
        int moeLayers = 0, denseLayers = 0;
        foreach (int s in stages)
            for (int l = 0; l < c.NumHiddenLayers; l++)
                if (StageOfLayer(c, l, S) == s) { if (c.IsMoeLayer(l)) moeLayers++; else denseLayers++; }
        foreach (var t in manifest)
        {
            int stage = t.Layer < 0 ? (t.Component == TensorComponent.Embedding ? 0 : S - 1)
                : t.Layer >= c.NumHiddenLayers ? S - 1 : StageOfLayer(c, t.Layer, S);
            if (Array.IndexOf(stages, stage) < 0 || IsSharedMtpVocabTensor(c, t)) continue;
            if (t.Expert >= 0) routed += t.ElementCount; else dense += t.ElementCount;
        }
        double densePerGpu = (double)dense / layout.TP, expertsPerGpu = (double)routed / layout.EP;
        double held = densePerGpu + expertsPerGpu;
        int expertReplicas = layout.TP * layout.DP / layout.EP;
        double shardedState = densePerGpu / layout.DP + expertsPerGpu / expertReplicas;

        // Activation of one micro-batch through one stage, averaged over the rank's stages' layers.
        double tokens = (double)layout.MicroBatchSeqs * seqLen / layout.TP;
        double perStage = tokens * (moeLayers * ActivationBytesPerTokenMoeLayer(c) + denseLayers * ActivationBytesPerTokenDenseLayer(c))
                          / stages.Length;

        var lines = new List<MemoryLine>
        {
            new("weights", "BF16", 2 * held),
            new("gradients", "FP32", 4 * held),
            new("master weights (ZeRO-1 sharded)", "FP32", 4 * shardedState),
            new("AdamW moments (ZeRO-1 sharded)", "BF16", 4 * shardedState),
            new($"activations ({inFlight} micro-batch-stages in flight)", "FP8/BF16", inFlight * perStage),
        };
        return new GpuMemory(rank, stages, (long)densePerGpu, (long)expertsPerGpu, inFlight, lines);
    }

    /// <summary>The MTP module's embedding and output head: separate tensors in a checkpoint, but shared with the
    /// main model's in training (report §2.2), so not held twice. They are the MTP tensors with a vocabulary axis.</summary>
    private static bool IsSharedMtpVocabTensor(ModelConfig c, TensorSpec t) =>
        t.Component == TensorComponent.Mtp && t.Shape.Length == 2 && t.Shape[0] == c.VocabSize;

    /// <summary>Stage of main layer <paramref name="layer"/> when L layers split evenly into S stages.</summary>
    public static int StageOfLayer(ModelConfig c, int layer, int stages) => (int)((long)layer * stages / c.NumHiddenLayers);

    /// <summary>Bytes kept per token by one MoE layer for its backward (see the file header).</summary>
    public static double ActivationBytesPerTokenMoeLayer(ModelConfig c) =>
        AttentionBytes(c) + c.HiddenSize /* FP8 MoE input */ + 4.0 * c.NRoutedExperts
        + (double)c.NumExpertsPerTok * c.HiddenSize + 2.0 * c.MoeIntermediateSize * (c.NumExpertsPerTok + c.NSharedExperts);

    public static double ActivationBytesPerTokenDenseLayer(ModelConfig c) =>
        AttentionBytes(c) + c.HiddenSize + 2.0 * c.IntermediateSize;

    private static double AttentionBytes(ModelConfig c) =>
        2.0 * 2 * c.HiddenSize                     // x and the post-attention residual, BF16
        + c.HiddenSize                             // FP8 input of q_a_proj / kv_a_proj
        + 2.0 * (c.QLoraRank ?? 0)                 // c_q, BF16
        + 2.0 * c.KvCacheWidth                     // [c_kv, k_pe], BF16
        + 1.5 * c.NumAttentionHeads * c.VHeadDim   // attention output, E5M6
        + 4.0 * c.NumAttentionHeads;               // softmax log-sum-exp, FP32

    private static void Check(ModelConfig c, ParallelLayout l)
    {
        if (l.PP < 1 || l.TP < 1 || l.DP < 1 || l.EP < 1)
            throw new ArgumentException($"--pp, --tp, --dp and --ep must be >= 1 (got {l.PP}, {l.TP}, {l.DP}, {l.EP}).");
        if (l.Stages > c.NumHiddenLayers)
            throw new ArgumentException($"{l.Stages} pipeline stages exceed the model's {c.NumHiddenLayers} layers; lower --pp.");
        if ((l.TP * l.DP) % l.EP != 0)
            throw new ArgumentException($"--ep {l.EP} must divide TP × DP = {l.TP * l.DP} (the GPUs of one pipeline stage).");
        if (c.NRoutedExperts > 0 && c.NRoutedExperts % l.EP != 0)
            throw new ArgumentException($"--ep {l.EP} must divide the {c.NRoutedExperts} routed experts.");
        if (l.Schedule is ScheduleKind.DualPipe && l.PP % 2 != 0)
            throw new ArgumentException($"DualPipe needs an even --pp (got {l.PP}).");
    }
}
