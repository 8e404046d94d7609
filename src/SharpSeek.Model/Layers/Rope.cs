// RotaryEmbedding — RoPE on interleaved pairs (2i, 2i+1) of the Dr rope dims, with YaRN frequency correction.
//
//   inv_freq[i] = θ^(-2i/Dr)                                           i < Dr/2, FP32 as in the official code
//   YaRN (config.YarnActive):  [lo, hi] = correction range(beta_fast, beta_slow) at original_max_position_embeddings,
//                              corr_dim(r) = Dr·ln(L_orig / (2π r)) / (2 ln θ); lo = max(floor(corr(beta_fast)), 0),
//                              hi = min(ceil(corr(beta_slow)), Dr-1); ramp_i = clamp((i - lo) / (hi - lo), 0, 1),
//                              smooth_i = 1 - ramp_i;  inv_freq_i ← inv_freq_i/factor · (1 - smooth_i) + inv_freq_i · smooth_i
//   cos[p, i] = cos(p · inv_freq[i]),  sin[p, i] = sin(p · inv_freq[i])  p < MaxPositions
//   rotate: (x₂ᵢ, x₂ᵢ₊₁) ← (x₂ᵢ cos − x₂ᵢ₊₁ sin, x₂ᵢ sin + x₂ᵢ₊₁ cos)
// The attention-magnitude part of YaRN (mscale²) is in ModelConfig.SoftmaxScale.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed class RotaryEmbedding
{
    public int Dim { get; }             // Dr
    public int MaxPositions { get; }    // S
    public float[] InvFreq { get; }     // (Dr/2)
    private readonly float[] _cos;      // (S, Dr/2)
    private readonly float[] _sin;      // (S, Dr/2)

    public RotaryEmbedding(ModelConfig c, int maxPositions)
    {
        Dim = c.QkRopeHeadDim;
        MaxPositions = maxPositions;
        InvFreq = InverseFrequencies(c);
        int half = Dim / 2;
        _cos = new float[(long)maxPositions * half];
        _sin = new float[(long)maxPositions * half];
        for (int p = 0; p < maxPositions; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * InvFreq[i];   // FP32 product, as torch.outer(t, freqs)
                _cos[p * half + i] = (float)Math.Cos(angle);
                _sin[p * half + i] = (float)Math.Sin(angle);
            }
    }

    public static float[] InverseFrequencies(ModelConfig c)
    {
        int dim = c.QkRopeHeadDim, half = dim / 2;
        double theta = c.RopeTheta;
        var freq = new float[half];
        for (int i = 0; i < half; i++) freq[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / dim));
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

    /// <summary>Rotates <paramref name="x"/> (Dr) for position <paramref name="pos"/>.</summary>
    public void Apply(Span<float> x, int pos)
    {
        if ((uint)pos >= (uint)MaxPositions)
            throw new ArgumentException($"position {pos} is beyond the RoPE table ({MaxPositions} positions).");
        int half = Dim / 2;
        ModelRowOps.RopeInterleaved(x[..Dim], _cos.AsSpan(pos * half, half), _sin.AsSpan(pos * half, half));
    }

    /// <summary>Rotates, for every row t, the Dr values at x[t·stride + offset + h·headStride] for h &lt; heads.</summary>
    public void ApplyRows(Span<float> x, ReadOnlySpan<int> positions, int stride, int offset, int heads = 1, int headStride = 0)
    {
        for (int t = 0; t < positions.Length; t++)
            for (int h = 0; h < heads; h++)
                Apply(x.Slice(t * stride + offset + h * headStride, Dim), positions[t]);
    }
}
