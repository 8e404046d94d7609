// Naive FP64 forwards of the attention-side layers for the gradient checks: plain loops in double from parameter
// arrays the tests can perturb (read from the same ModelWeights the FP32 layers use).
//
//   RmsNorm   y = x · (mean(x²) + eps)^-1/2 · w
//   Mla       the naive MLA of MlaAttention.cs (q_lora or q_proj, interleaved RoPE, causal per sequence from 0)
using SharpSeek.Model.Layers;

namespace SharpSeek.Model.Tests.Backward;

/// <summary>Parameters as doubles, keyed by checkpoint name, perturbable in place.</summary>
public sealed class Params64
{
    private readonly Dictionary<string, double[]> _p = new(StringComparer.Ordinal);
    private readonly ModelWeights _w;

    public Params64(ModelWeights w) => _w = w;

    /// <summary>The tensor as doubles (linear: group 0 (N, K); vector (n)), cached so a test can perturb it.</summary>
    public double[] this[string name]
    {
        get
        {
            if (_p.TryGetValue(name, out var v)) return v;
            if (_w.IsVector(name)) v = GradCheck.ToDouble(_w.Vector(name).Span);
            else
            {
                LinearWeight lw = _w.Linear(name);
                var f = new float[lw.GroupElements * lw.Groups];
                for (int g = 0; g < lw.Groups; g++) lw.ReadGroup(g, f.AsSpan((int)(g * lw.GroupElements), (int)lw.GroupElements));
                v = GradCheck.ToDouble(f);
            }
            _p[name] = v;
            return v;
        }
    }
}

public static class Ref64
{
    /// <summary>y (M, N) = x (M, K) · Wᵀ, W (N, K).</summary>
    public static double[] Linear(double[] x, int m, double[] w, int n, int k)
    {
        var y = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
                y[i * n + j] = s;
            }
        return y;
    }

    public static double[] RmsNorm(double[] x, int rows, double[] w, double eps)
    {
        int n = w.Length;
        var y = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int i = 0; i < n; i++) ms += x[r * n + i] * x[r * n + i];
            double rstd = 1 / Math.Sqrt(ms / n + eps);
            for (int i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * rstd * w[i];
        }
        return y;
    }

    /// <summary>Interleaved RoPE of the Dr values at x[(t·heads + h)·stride + offset ..] by positions[t].</summary>
    public static void Rope(double[] x, int[] positions, int heads, int stride, int offset, float[] invFreq)
    {
        for (int t = 0; t < positions.Length; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < invFreq.Length; i++)
                {
                    // the angle in FP32 as the model's table computes it, the rotation in double
                    double a = (float)(positions[t] * invFreq[i]);
                    int at = (t * heads + h) * stride + offset + 2 * i;
                    double x0 = x[at], x1 = x[at + 1];
                    x[at] = x0 * Math.Cos(a) - x1 * Math.Sin(a);
                    x[at + 1] = x0 * Math.Sin(a) + x1 * Math.Cos(a);
                }
    }

    public static double Dot(double[] a, double[] b, long n) => Enumerable.Range(0, (int)n).Sum(i => a[i] * b[i]);

    public static double Dot(double[] y, float[] g)
    {
        double l = 0;
        for (int i = 0; i < y.Length; i++) l += y[i] * g[i];
        return l;
    }

    /// <summary>Naive MLA out (T, D) of x (T, D) over the sequences (FirstRow, Rows) of a cache-free batch.</summary>
    public static double[] Mla(ModelConfig c, Params64 p, string prefix, double[] x, ForwardBatch batch)
    {
        int T = batch.Tokens, D = c.HiddenSize, H = c.NumAttentionHeads, dn = c.QkNopeHeadDim, dr = c.QkRopeHeadDim;
        int dv = c.VHeadDim, dq = c.QkHeadDim, rkv = c.KvLoraRank;
        double eps = c.RmsNormEps, scale = c.SoftmaxScale;
        int[] pos = batch.Positions.ToArray();
        float[] invFreq = RotaryEmbedding.InverseFrequencies(c);
        double[] q;
        if (c.HasQLora)
        {
            int rq = c.QLoraRank!.Value;
            double[] qa = RmsNorm(Linear(x, T, p[prefix + "q_a_proj.weight"], rq, D), T, p[prefix + "q_a_layernorm.weight"], eps);
            q = Linear(qa, T, p[prefix + "q_b_proj.weight"], H * dq, rq);
        }
        else q = Linear(x, T, p[prefix + "q_proj.weight"], H * dq, D);
        Rope(q, pos, H, dq, dn, invFreq);
        double[] kvA = Linear(x, T, p[prefix + "kv_a_proj_with_mqa.weight"], rkv + dr, D);
        var cIn = new double[T * rkv];
        var kpe = new double[T * dr];
        for (int t = 0; t < T; t++)
        {
            Array.Copy(kvA, t * (rkv + dr), cIn, t * rkv, rkv);
            Array.Copy(kvA, t * (rkv + dr) + rkv, kpe, t * dr, dr);
        }
        Rope(kpe, pos, 1, dr, 0, invFreq);
        double[] ckv = RmsNorm(cIn, T, p[prefix + "kv_a_layernorm.weight"], eps);
        double[] kv = Linear(ckv, T, p[prefix + "kv_b_proj.weight"], H * (dn + dv), rkv);   // (T, H, Dn + Dv)
        var o = new double[T * H * dv];
        foreach (var seq in batch.Sequences)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < seq.Rows; i++)
                {
                    int t = seq.FirstRow + i;
                    var s = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        int u = seq.FirstRow + j;
                        double acc = 0;
                        for (int e = 0; e < dn; e++) acc += q[(t * H + h) * dq + e] * kv[(u * H + h) * (dn + dv) + e];
                        for (int e = 0; e < dr; e++) acc += q[(t * H + h) * dq + dn + e] * kpe[u * dr + e];
                        s[j] = acc * scale;
                    }
                    double max = s.Max(), sum = 0;
                    for (int j = 0; j <= i; j++) sum += s[j] = Math.Exp(s[j] - max);
                    for (int j = 0; j <= i; j++)
                        for (int e = 0; e < dv; e++)
                            o[(t * H + h) * dv + e] += s[j] / sum * kv[((seq.FirstRow + j) * H + h) * (dn + dv) + dn + e];
                }
        return Linear(o, T, p[prefix + "o_proj.weight"], D, H * dv);
    }
}
