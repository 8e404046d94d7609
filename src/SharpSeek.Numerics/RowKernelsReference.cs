// Naive references for the row kernels: the formulas written out element by element in FP64.
// They are the test oracles; the fast kernels (FP32 lanes, FMA, vector exp) must agree to FP32 rounding.
namespace SharpSeek.Numerics;

public static class RowKernelsReference
{
    public static void RmsNormForward(int rows, int dim, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, Span<float> rstd)
    {
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += (double)x[r * dim + i] * x[r * dim + i];
            double inv = dim == 0 ? 0 : 1 / Math.Sqrt(ss / dim + eps);
            rstd[r] = (float)inv;
            for (int i = 0; i < dim; i++) y[r * dim + i] = (float)(x[r * dim + i] * inv * weight[i]);
        }
    }

    public static void RmsNormBackward(int rows, int dim, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        float eps, Span<float> dx, Span<float> dweight)
    {
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += (double)x[r * dim + i] * x[r * dim + i];
            double inv = 1 / Math.Sqrt(ss / dim + eps);
            double mean = 0;                                  // mean(g ⊙ x̂)
            for (int i = 0; i < dim; i++) mean += (double)dy[r * dim + i] * weight[i] * x[r * dim + i] * inv;
            mean /= dim;
            for (int i = 0; i < dim; i++)
            {
                double xhat = x[r * dim + i] * inv;
                dx[r * dim + i] = (float)(inv * ((double)dy[r * dim + i] * weight[i] - xhat * mean));
                dweight[i] += (float)(dy[r * dim + i] * xhat);
            }
        }
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
    public static double Silu(double x) => x * Sigmoid(x);
    public static double SiluGrad(double x) => Sigmoid(x) * (1 + x * (1 - Sigmoid(x)));

    public static void SoftmaxForward(int rows, int n, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < n; i++) max = Math.Max(max, x[r * n + i]);
            for (int i = 0; i < n; i++) sum += Math.Exp(x[r * n + i] - max);
            for (int i = 0; i < n; i++) y[r * n + i] = (float)(Math.Exp(x[r * n + i] - max) / sum);
        }
    }

    public static void SoftmaxBackward(int rows, int n, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int r = 0; r < rows; r++)
        {
            double dot = 0;
            for (int i = 0; i < n; i++) dot += (double)dy[r * n + i] * y[r * n + i];
            for (int i = 0; i < n; i++) dx[r * n + i] = (float)(y[r * n + i] * (dy[r * n + i] - dot));
        }
    }

    /// <summary>Rotates the interleaved pairs of rows (tokens, heads) at stride by ±θ, θ = (float)pos · invFreq[i].</summary>
    public static void Rope(int tokens, int heads, int stride, ReadOnlySpan<int> positions, ReadOnlySpan<float> inverseFrequencies,
        Span<float> x, bool inverse)
    {
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < inverseFrequencies.Length; i++)
                {
                    double theta = (float)(positions[t] * inverseFrequencies[i]) * (inverse ? -1.0 : 1.0);
                    int o = (t * heads + h) * stride + 2 * i;
                    double a = x[o], b = x[o + 1];
                    x[o] = (float)(a * Math.Cos(theta) - b * Math.Sin(theta));
                    x[o + 1] = (float)(a * Math.Sin(theta) + b * Math.Cos(theta));
                }
    }

    public static double CrossEntropyForward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<double> losses)
    {
        double total = 0;
        int valid = 0;
        for (int r = 0; r < rows; r++)
        {
            losses[r] = 0;
            if (targets[r] == CrossEntropy.IgnoreIndex) continue;
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < vocab; i++) max = Math.Max(max, logits[r * vocab + i]);
            for (int i = 0; i < vocab; i++) sum += Math.Exp(logits[r * vocab + i] - max);
            losses[r] = max + Math.Log(sum) - logits[r * vocab + targets[r]];
            total += losses[r];
            valid++;
        }
        return valid == 0 ? 0 : total / valid;
    }

    public static void CrossEntropyBackward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, float lossGradient, Span<float> dlogits)
    {
        int valid = 0;
        for (int r = 0; r < rows; r++) if (targets[r] != CrossEntropy.IgnoreIndex) valid++;
        var probabilities = new float[vocab];
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == CrossEntropy.IgnoreIndex) { dlogits.Slice(r * vocab, vocab).Clear(); continue; }
            SoftmaxForward(1, vocab, logits.Slice(r * vocab, vocab), probabilities);
            for (int i = 0; i < vocab; i++)
                dlogits[r * vocab + i] = (float)((probabilities[i] - (i == targets[r] ? 1.0 : 0.0)) * lossGradient / valid);
        }
    }

    /// <summary>Sorts all indices by (value descending, index ascending), NaN as −inf, and keeps the first k.</summary>
    public static void TopK(ReadOnlySpan<float> values, int k, Span<float> topValues, Span<int> topIndices)
    {
        float[] v = values.ToArray();
        int[] order = Enumerable.Range(0, v.Length)
            .OrderByDescending(i => float.IsNaN(v[i]) ? float.NegativeInfinity : v[i])
            .ThenBy(i => i)
            .Take(k).ToArray();
        for (int j = 0; j < k; j++) { topIndices[j] = order[j]; topValues[j] = v[order[j]]; }
    }
}
