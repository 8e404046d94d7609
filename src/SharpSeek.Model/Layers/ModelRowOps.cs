// ModelRowOps — the row operations the layers call, in one place. They are TensorPrimitives compositions while
// the Numerics row kernels (RmsNorm, Activations, Softmax, Rope: numerics-core, in progress) have not landed;
// when they do, only this file changes.
using System.Numerics.Tensors;

namespace SharpSeek.Model.Layers;

internal static class ModelRowOps
{
    /// <summary>y = x · rsqrt(mean(x²) + eps) · w; returns rsqrt(mean(x²) + eps).</summary>
    public static float RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        double ss = 0;
        foreach (float v in x) ss += (double)v * v;
        float rstd = (float)(1.0 / Math.Sqrt(ss / x.Length + eps));
        TensorPrimitives.Multiply(x, rstd, y);
        TensorPrimitives.Multiply(y, w, y);
        return rstd;
    }

    /// <summary>a = silu(g) ⊙ u = g · sigmoid(g) · u.</summary>
    public static void SwiGlu(ReadOnlySpan<float> g, ReadOnlySpan<float> u, Span<float> a)
    {
        TensorPrimitives.Sigmoid(g, a);
        TensorPrimitives.Multiply(a, g, a);
        TensorPrimitives.Multiply(a, u, a);
    }

    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sigmoid(x, y);

    /// <summary>Numerically stable softmax (max subtracted) in FP32.</summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.SoftMax(x, y);

    /// <summary>Rotates interleaved pairs (x₂ᵢ, x₂ᵢ₊₁) by the angles whose cos/sin are given.</summary>
    public static void RopeInterleaved(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        for (int i = 0; i < cos.Length; i++)
        {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * cos[i] - b * sin[i];
            x[2 * i + 1] = a * sin[i] + b * cos[i];
        }
    }
}
