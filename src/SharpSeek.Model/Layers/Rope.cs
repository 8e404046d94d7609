// RotaryEmbedding — RoPE on interleaved pairs (2i, 2i+1) of the Dr rope dims, with YaRN frequency correction.
//
//   inv_freq[i] = θ^(-2i/Dr)                                           i < Dr/2, FP32 as in the official code
//   YaRN (config.YarnActive):  corr(r) = Dr·ln(L_orig / (2π r)) / (2 ln θ),  L_orig = original_max_position_embeddings
//                              lo = max(floor(corr(beta_fast)), 0),  hi = min(ceil(corr(beta_slow)), Dr-1)
//                              ramp_i = clamp((i - lo) / (hi - lo), 0, 1),  smooth_i = 1 - ramp_i
//                              inv_freq_i ← inv_freq_i / factor · (1 - smooth_i) + inv_freq_i · smooth_i
//   angle(p, i) = p · inv_freq[i] (FP32);  rotate: (x₂ᵢ, x₂ᵢ₊₁) ← (x₂ᵢ cos − x₂ᵢ₊₁ sin, x₂ᵢ sin + x₂ᵢ₊₁ cos)
// The attention-magnitude part of YaRN (mscale²) is in ModelConfig.SoftmaxScale. Tables and the rotation kernel
// are Numerics' RopeTable / Rope; this layer owns the DeepSeek-V3 frequencies.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed class RotaryEmbedding
{
    public int Dim { get; }             // Dr
    public int MaxPositions => Table.MaxPositions;
    public float[] InvFreq { get; }     // (Dr/2)
    public RopeTable Table { get; }     // (S, Dr) cos / sin

    public RotaryEmbedding(ModelConfig c, int maxPositions)
    {
        Dim = c.QkRopeHeadDim;
        InvFreq = InverseFrequencies(c);
        Table = new RopeTable(InvFreq, maxPositions);
    }

    public static float[] InverseFrequencies(ModelConfig c)
    {
        int dim = c.QkRopeHeadDim, half = dim / 2;
        double theta = c.RopeTheta;
        float[] freq = RopeTable.InverseFrequencies(dim, theta);
        if (c.YarnActive && c.RopeScaling is { } rs)
        {
            double CorrectionDim(double rotations) =>
                dim * Math.Log(rs.OriginalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
            double lo = Math.Max(Math.Floor(CorrectionDim(rs.BetaFast)), 0);
            double hi = Math.Min(Math.Ceiling(CorrectionDim(rs.BetaSlow)), dim - 1);
            if (lo == hi) hi += 0.001;
            for (int i = 0; i < half; i++)
            {
                float ramp = (float)Math.Clamp((i - lo) / (hi - lo), 0, 1);
                float smooth = 1 - ramp;
                freq[i] = freq[i] / (float)rs.Factor * (1 - smooth) + freq[i] * smooth;
            }
        }
        return freq;
    }

    /// <summary>Rotates, for every token t and head h, the Dr values at x[(t·heads + h)·stride ..] by positions[t], split
    /// over the pool by tokens (small calls, as in decode, stay on the calling thread).</summary>
    public void Apply(Span<float> x, ReadOnlySpan<int> positions, int heads, int stride, WorkerPool pool) =>
        Numerics.Rope.Forward(positions.Length, heads, stride, positions, Table, Rows(x, positions, heads, stride), pool);

    /// <summary>Backward of <see cref="Apply"/> on a gradient in place: rotation by −θ (the transpose).</summary>
    public void ApplyBackward(Span<float> dx, ReadOnlySpan<int> positions, int heads, int stride, WorkerPool pool) =>
        Numerics.Rope.Backward(positions.Length, heads, stride, positions, Table, Rows(dx, positions, heads, stride), pool);

    private Span<float> Rows(Span<float> x, ReadOnlySpan<int> positions, int heads, int stride)
    {
        foreach (int p in positions)
            if ((uint)p >= (uint)MaxPositions)
                throw new ArgumentException($"position {p} is beyond the RoPE table ({MaxPositions} positions).");
        if (positions.IsEmpty) return x[..0];
        int needed = ((positions.Length - 1) * heads + heads - 1) * stride + Dim;
        return x[..needed];
    }
}
