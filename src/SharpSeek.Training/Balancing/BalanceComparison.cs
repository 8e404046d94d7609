// BalanceComparison — `sharpseek bench balance`: DeepSeek-V3's auxiliary-loss-free bias update against γ = 0 at
// equal budget. Two trainers with the same options, seed, initial weights and batches, differing only in γ, run the
// same number of steps; per MoE layer it reports the max/mean expert load averaged over the last quarter of the
// steps, the router's score spread and the range of the bias b at the end, and both runs' losses.
//
// How to read it: b moves by exactly γ per step (a sign update), so it can offset a difference Δ between two
// experts' scores only after Δ/γ steps. The score spread printed beside it is that Δ; γ must be large enough that
// Δ/γ is a small part of the run.
using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Training.Data;

namespace SharpSeek.Training;

/// <summary>One side of the comparison. Arrays are per MoE layer (<see cref="BalanceComparisonResult.Layers"/>).</summary>
public sealed record BalanceRun(double Gamma, double[] MaxOverMean, double MeanMaxOverMean, double[] ScoreSpread,
    double[] BiasRange, double LastLoss, double? ValLoss);

public sealed record BalanceComparisonResult(string Model, int Steps, int Batch, int Seq, int[] Layers, BalanceRun GammaZero, BalanceRun WithGamma)
{
    /// <summary>Mean over layers of max/mean load with γ divided by that with γ = 0 (below 1: the update helps).</summary>
    public double LoadRatio => WithGamma.MeanMaxOverMean / GammaZero.MeanMaxOverMean;
}

public static class BalanceComparison
{
    public static BalanceComparisonResult Run(TrainingOptions options, ModelConfig config, string name, TokenShard train,
        TokenShard? validation, WorkerPool pool, Action<string>? log = null)
    {
        if (!(options.BiasGamma > 0)) throw new ArgumentException($"--bias-gamma must be > 0 to compare with γ = 0 (got {options.BiasGamma}).");
        BalanceRun zero = RunOne(options with { BiasGamma = 0 }, config, train, validation, pool, log);
        BalanceRun with = RunOne(options, config, train, validation, pool, log);
        int[] layers = [.. ExpertBalancer.ForModel(config with { NumNextnPredictLayers = options.EffectiveMtpDepth(config) }, 0).MoeLayers];
        return new BalanceComparisonResult(name, (int)options.Steps, options.Batch, options.Seq, layers, zero, with);
    }

    private static BalanceRun RunOne(TrainingOptions options, ModelConfig config, TokenShard train, TokenShard? validation,
        WorkerPool pool, Action<string>? log)
    {
        using var trainer = new Trainer(options, config, train, validation, pool);
        trainer.InitializeWeights();
        long steps = options.Steps, from = steps - Math.Max(1, steps / 4);
        var sum = new double[trainer.LastLoads.Length];
        double loss = double.NaN;
        for (long s = 0; s < steps; s++)
        {
            loss = trainer.Step().Loss;
            if (s >= from)
                for (int l = 0; l < sum.Length; l++) sum[l] += trainer.LastLoads[l];
            if ((s + 1) % 10 == 0) log?.Invoke($"γ = {options.BiasGamma}: step {s + 1}/{steps}, loss {loss:F3}");
        }
        double[] load = sum.Select(x => x / (steps - from)).ToArray();
        double[] range = trainer.Balancer.MoeLayers.Select(layer =>
        {
            Span<float> b = trainer.Store.Weights(ExpertBalancer.BiasName(layer));
            return (double)(System.Numerics.Tensors.TensorPrimitives.Max(b) - System.Numerics.Tensors.TensorPrimitives.Min(b));
        }).ToArray();
        double[] spread = trainer.RouterScoreSpread();             // before validation overwrites the router's scores
        double? val = validation is null ? null : trainer.ValidationLoss();
        return new BalanceRun(options.BiasGamma, load, load.Average(), spread, range, loss, val);
    }
}
