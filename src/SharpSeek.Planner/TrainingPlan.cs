// TrainingPlan — GPU-hours, wall-clock days and cost of a pre-training run, and the MFU a GPU-hour figure implies.
//
//   GPU-seconds per token = C_train(T) / (MFU · peak)            C_train from ModelAccounting (FLOPs per token)
//   GPU-hours             = tokens · C_train / (MFU · peak) / 3600
//   days                  = GPU-hours / GPUs / 24                 cost = GPU-hours · price
//
// Either the MFU is given, or it is calibrated from one known run: the DeepSeek-V3 report's 180K H800 GPU-hours per
// trillion tokens (arXiv 2412.19437 §1, Table 1) implies MFU = C_train · 10¹² / (180,000 · 3600 · peak).
// MFU here counts only the model FLOPs of C_train (no recomputation, no MoE dispatch/combine, no optimizer) over the
// dense tensor-core peak. The report trains most GEMMs in FP8, so the MFU is quoted against both the BF16 peak (the
// usual convention, comparable with BF16 runs) and the FP8 peak (an upper bound the FP8 GEMMs could reach).
namespace SharpSeek.Planner;

/// <summary>The DeepSeek-V3 report's published figures (arXiv 2412.19437, Table 1 and §3–4).</summary>
public static class DeepSeekV3Report
{
    public const double PretrainTokens = 14.8e12;
    public const double GpuHoursPerTrillionTokens = 180_000;
    public const double PretrainGpuHours = 2_664_000;
    public const double ContextExtensionGpuHours = 119_000;
    public const double PostTrainingGpuHours = 5_000;
    public const double TotalGpuHours = 2_788_000;
    public const double TotalCostUsd = 5_576_000;
    public const int Gpus = 2048;
    public const long SeqLen = 4096;
    /// <summary>The report's context-extension and post-training GPU-hours, as a reference for other plans.</summary>
    public static readonly ReferenceStages LaterStages = new(ContextExtensionGpuHours, PostTrainingGpuHours, GpuHoursPerTrillionTokens);
    /// <summary>Context extension (§4.3): 1000 steps at 32K with batch 1920, then 1000 steps at 128K with batch 480.</summary>
    public static readonly (long SeqLen, long Steps, long BatchSeqs)[] ContextExtensionPhases = [(32_768, 1000, 1920), (131_072, 1000, 480)];
}

/// <summary>Stages after pre-training measured in a reference run of the same model; a plan scales them by its own
/// GPU-hours per 10¹² tokens over the reference's (a faster GPU or a higher MFU shortens them alike).</summary>
public sealed record ReferenceStages(double ContextExtensionGpuHours, double PostTrainingGpuHours, double GpuHoursPerTrillion);

/// <summary>What to plan. Context extension and post-training come from, in order: the explicit GPU-hours, the
/// <see cref="Reference"/> run scaled to this plan, or (no reference) a first-principles context extension of the
/// report's recipe and no post-training.</summary>
public sealed record TrainingRequest(
    GpuSpec Gpu,
    int Gpus,
    double Tokens,
    long SeqLen,
    double PricePerHourUsd,
    double? Mfu,
    double? CalibrateGpuHoursPerTrillion,
    PeakPrecision MfuPrecision = PeakPrecision.Bf16,
    GpuSpec? CalibrationGpu = null,
    ReferenceStages? Reference = null,
    double? ContextExtensionGpuHours = null,
    double? PostTrainingGpuHours = null);

public sealed record TrainingEstimate(
    TrainingFlops FlopsPerToken,
    double Mfu,
    PeakPrecision MfuPrecision,
    double ImpliedMfuBf16,
    double ImpliedMfuFp8,
    double GpuHoursPerTrillion,
    double PretrainGpuHours,
    double PretrainDays,
    double DaysPerTrillion,
    double ContextExtensionGpuHours,
    double ContextExtensionFirstPrinciplesGpuHours,
    double PostTrainingGpuHours,
    double TotalGpuHours,
    double CostUsd,
    string MfuExplanation);

public static class TrainingPlan
{
    public static TrainingEstimate Estimate(ModelAccounting model, TrainingRequest r)
    {
        if (r.Gpus <= 0) throw new ArgumentException($"--gpus must be > 0 (got {r.Gpus}).");
        if (!(r.Tokens > 0)) throw new ArgumentException($"--tokens must be > 0 (got {r.Tokens}).");
        if (r.Mfu is { } m0 && !(m0 > 0 && m0 <= 1)) throw new ArgumentException($"--mfu must be in (0, 1] (got {m0}).");
        if (r.Mfu is not null && r.CalibrateGpuHoursPerTrillion is not null)
            throw new ArgumentException("give either --mfu or --calibrate-gpu-hours-per-trillion, not both.");

        TrainingFlops flops = model.TrainingFlopsPerToken(r.SeqLen);
        double peak = r.Gpu.PeakTflops(r.MfuPrecision) * 1e12;
        double mfu;
        if (r.Mfu is { } given) mfu = given;
        else
        {
            // The known run fixes the MFU on its own GPU; the same MFU then carries over to the target GPU.
            double calibrationHours = r.CalibrateGpuHoursPerTrillion ?? DeepSeekV3Report.GpuHoursPerTrillionTokens;
            if (!(calibrationHours > 0)) throw new ArgumentException($"--calibrate-gpu-hours-per-trillion must be > 0 (got {calibrationHours}).");
            GpuSpec known = r.CalibrationGpu ?? GpuSpec.H800;
            mfu = ImpliedMfu(flops.Total, calibrationHours, known.PeakTflops(r.MfuPrecision) * 1e12);
            if (mfu > 1)
                throw new ArgumentException($"{calibrationHours:N0} GPU-hours per 10^12 tokens would need {mfu:P0} MFU on {known.Name}; the figure is too small for this model.");
        }
        double hoursPerTrillion = flops.Total * 1e12 / (mfu * peak) / 3600;
        double achievedFlops = mfu * peak; // FLOP/s per GPU actually delivered
        double mfuBf16 = achievedFlops / (r.Gpu.DenseBf16Tflops * 1e12);
        double mfuFp8 = achievedFlops / (r.Gpu.Fp8OrBf16Tflops * 1e12);

        double pretrain = r.Tokens / 1e12 * hoursPerTrillion;
        double ctxFirstPrinciples = 0;
        foreach (var (seq, steps, batch) in DeepSeekV3Report.ContextExtensionPhases)
            ctxFirstPrinciples += (double)steps * batch * seq * model.TrainingFlopsPerToken(seq).Total / achievedFlops / 3600;
        double scale = r.Reference is { } reference ? hoursPerTrillion / reference.GpuHoursPerTrillion : 0;
        double contextExtension = r.ContextExtensionGpuHours ?? (r.Reference is { } ce ? ce.ContextExtensionGpuHours * scale : ctxFirstPrinciples);
        double postTraining = r.PostTrainingGpuHours ?? (r.Reference is { } pt ? pt.PostTrainingGpuHours * scale : 0);
        double total = pretrain + contextExtension + postTraining;

        string explain =
            $"{flops.Total / 1e9:F1} GFLOP per token (6 × {model.MatmulParamsPerToken / 1e9:F2}B activated matmul params " +
            $"+ MTP {flops.MtpMatmul / 1e9:F1} + causal attention {flops.Attention / 1e9:F1} at T = {r.SeqLen}) at " +
            $"{hoursPerTrillion:N0} GPU-hours per 10¹² tokens means {achievedFlops / 1e12:F0} TFLOP/s per GPU: " +
            $"{mfuBf16:P1} of the {r.Gpu.Name} dense BF16 peak ({r.Gpu.DenseBf16Tflops:F0} TFLOP/s)" +
            (r.Gpu.DenseFp8Tflops is { } fp8
                ? $", {mfuFp8:P1} of its dense FP8 peak ({fp8:F0} TFLOP/s). The report runs most GEMMs in FP8 but attention, " +
                  "embedding, head, norms and MoE gating in BF16/FP32, so the true ceiling lies between the two; "
                : " (no FP8 tensor cores). ") +
            "model FLOPs only: recomputation, all-to-all dispatch/combine and optimizer steps are overheads inside the gap.";

        return new TrainingEstimate(flops, mfu, r.MfuPrecision, mfuBf16, mfuFp8, hoursPerTrillion, pretrain,
            pretrain / r.Gpus / 24, hoursPerTrillion / r.Gpus / 24, contextExtension, ctxFirstPrinciples,
            postTraining, total, total * r.PricePerHourUsd, explain);
    }

    /// <summary>MFU implied by <paramref name="gpuHoursPerTrillion"/> GPU-hours per 10¹² tokens at
    /// <paramref name="flopsPerToken"/> against a peak of <paramref name="peakFlops"/> FLOP/s.</summary>
    public static double ImpliedMfu(double flopsPerToken, double gpuHoursPerTrillion, double peakFlops) =>
        flopsPerToken * 1e12 / (gpuHoursPerTrillion * 3600 * peakFlops);
}
