// SequenceBalanceLoss — DeepSeek-V3's complementary sequence-wise balance loss (report §2.1.2, eq. 17–20), per MoE
// layer, forward and backward with respect to the raw sigmoid affinities s.
//
//   s'_{i,t} = s_{i,t} / Σ_j s_{j,t}                      normalised over ALL E experts (not only the top-K)
//   P_i      = (1/T) Σ_t s'_{i,t}
//   f_i      = E / (K·T) · Σ_t 1[i ∈ TopK_t]               constant: no gradient flows through the selection
//   L_b      = α Σ_i f_i P_i                               per sequence b
//   L        = (1/B) Σ_b L_b
//
//   ∂L/∂s_{j,t} = α / (B·T·S_t) · (f_j − Σ_i f_i s'_{i,t}),  S_t = Σ_j s_{j,t}
//
// Shapes: scores (B·T, E) row-major, topK (B·T, K) expert indices as chosen by the router (biased selection).
// Reductions run in FP64. Generic over the element type so the finite-difference test runs the same code in FP64.
using System.Numerics;

namespace SharpSeek.Training;

public static class SequenceBalanceLoss
{
    /// <summary>L for B sequences of T tokens; writes f (B, E) for <see cref="Backward{T}"/>.</summary>
    public static double Forward<T>(ReadOnlySpan<T> scores, ReadOnlySpan<int> topK, int batch, int seqLen, int experts,
        int k, double alpha, Span<T> f) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(scores.Length, topK.Length, f.Length, batch, seqLen, experts, k);
        Span<double> p = experts <= 1024 ? stackalloc double[experts] : new double[experts]; // (E,) P_i·T
        double total = 0;
        double fScale = (double)experts / ((double)k * seqLen);
        for (int b = 0; b < batch; b++)
        {
            Span<T> fb = f.Slice(b * experts, experts);
            fb.Clear();
            p.Clear();
            for (int t = 0; t < seqLen; t++)
            {
                long row = (long)b * seqLen + t;
                ReadOnlySpan<T> s = scores.Slice((int)(row * experts), experts); // (E,)
                double inv = 1.0 / RowSum(s);
                for (int i = 0; i < experts; i++) p[i] += double.CreateTruncating(s[i]) * inv;
                foreach (int e in topK.Slice((int)(row * k), k))
                {
                    if ((uint)e >= (uint)experts)
                        throw new ArgumentOutOfRangeException(nameof(topK), e, $"expert index out of range [0, {experts}).");
                    fb[e] += T.One;
                }
            }
            double lb = 0;
            for (int i = 0; i < experts; i++)
            {
                double fi = double.CreateTruncating(fb[i]) * fScale;
                fb[i] = T.CreateTruncating(fi);
                lb += fi * p[i] / seqLen;
            }
            total += alpha * lb;
        }
        return total / batch;
    }

    /// <summary>Adds ∂L/∂s into <paramref name="dScores"/> (B·T, E); f (B, E) comes from Forward.</summary>
    public static void Backward<T>(ReadOnlySpan<T> scores, ReadOnlySpan<T> f, int batch, int seqLen, int experts,
        double alpha, Span<T> dScores) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(scores.Length, batch * seqLen, f.Length, batch, seqLen, experts, 1);
        if (dScores.Length != scores.Length)
            throw new ArgumentException($"dScores has {dScores.Length} elements; expected (B·T, E) = {scores.Length}.", nameof(dScores));
        double outer = alpha / ((double)batch * seqLen);
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> fb = f.Slice(b * experts, experts);
            for (int t = 0; t < seqLen; t++)
            {
                int off = (b * seqLen + t) * experts;
                ReadOnlySpan<T> s = scores.Slice(off, experts);
                Span<T> ds = dScores.Slice(off, experts);
                double sum = RowSum(s);
                double dot = 0;
                for (int i = 0; i < experts; i++) dot += double.CreateTruncating(fb[i]) * double.CreateTruncating(s[i]);
                dot /= sum;
                double c = outer / sum;
                for (int j = 0; j < experts; j++) ds[j] += T.CreateTruncating(c * (double.CreateTruncating(fb[j]) - dot));
            }
        }
    }

    private static double RowSum<T>(ReadOnlySpan<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (T x in s) sum += double.CreateTruncating(x);
        if (!(sum > 0))
            throw new ArgumentException($"a row of router scores sums to {sum}; sigmoid affinities must be positive.", nameof(s));
        return sum;
    }

    private static void CheckShapes(int scores, int topK, int f, int batch, int seqLen, int experts, int k)
    {
        if (batch <= 0 || seqLen <= 0 || experts <= 0 || k <= 0 || k > experts)
            throw new ArgumentOutOfRangeException(nameof(batch), $"need B, T, E > 0 and 0 < K ≤ E (got B={batch}, T={seqLen}, E={experts}, K={k}).");
        long rows = (long)batch * seqLen;
        if (scores != rows * experts) throw new ArgumentException($"scores has {scores} elements; expected (B·T, E) = {rows * experts}.");
        if (topK != rows * k) throw new ArgumentException($"topK has {topK} elements; expected (B·T, K) = {rows * k}.");
        if (f != (long)batch * experts) throw new ArgumentException($"f has {f} elements; expected (B, E) = {(long)batch * experts}.");
    }
}
