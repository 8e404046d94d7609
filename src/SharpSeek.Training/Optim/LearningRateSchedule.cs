// LearningRateSchedule — the DeepSeek-V3 report's shape: linear warm-up, constant, cosine decay to a floor.
//
//   lr(s) = peak · (s + 1) / W                                  s < W            (warm-up; reaches peak at s = W-1)
//         = peak                                                W ≤ s < S        (constant)
//         = floor + (peak − floor) · ½ (1 + cos(π (s − S) / L))  S ≤ s < S + L    (cosine)
//         = floor                                               s ≥ S + L
// with s the 0-based index of the optimizer step about to run, W warm-up steps, S the first decay step, L the
// decay length. The report: 2K warm-up steps to 2.2e-4, constant to 10T tokens, cosine to 2.2e-5 over 4.3T.
namespace SharpSeek.Training;

public sealed record LearningRateSchedule
{
    public double Peak { get; }
    public long WarmupSteps { get; }
    public long DecayStart { get; }
    public long DecaySteps { get; }
    public double Floor { get; }

    public LearningRateSchedule(double peak, long warmupSteps, long decayStart, long decaySteps, double floor)
    {
        if (!(peak > 0) || !double.IsFinite(peak)) throw new ArgumentOutOfRangeException(nameof(peak), peak, "peak learning rate must be a positive number.");
        if (!(floor >= 0 && floor <= peak)) throw new ArgumentOutOfRangeException(nameof(floor), floor, $"floor must be in [0, peak = {peak}].");
        ArgumentOutOfRangeException.ThrowIfNegative(warmupSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(decaySteps);
        if (decayStart < warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(decayStart), decayStart, $"decay must start after warm-up ends (step {warmupSteps}).");
        (Peak, WarmupSteps, DecayStart, DecaySteps, Floor) = (peak, warmupSteps, decayStart, decaySteps, floor);
    }

    /// <summary>Learning rate of optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (step < DecayStart) return Peak;
        if (step >= DecayStart + DecaySteps) return DecaySteps == 0 ? Peak : Floor;
        double progress = (double)(step - DecayStart) / DecaySteps;
        return Floor + (Peak - Floor) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
