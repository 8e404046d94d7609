// RmsNormLayer — y = x · rsqrt(mean(x²) + eps) · w, per row, statistics in FP32.
//
//   x (T, n)   w (n)   y (T, n)   rstd (T) kept for backward
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class RmsNormLayer : IDisposable
{
    public NativeBuffer<float> Weight { get; }   // (n)
    public int Dim { get; }
    public float Eps { get; }
    public NativeBuffer<float> Rstd { get; }     // (MaxTokens) activation for backward

    public RmsNormLayer(NativeBuffer<float> weight, double eps, int maxTokens)
    {
        Weight = weight;
        Dim = checked((int)weight.Length);
        Eps = (float)eps;
        Rstd = new NativeBuffer<float>(maxTokens);
    }

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x /* (T, n) */, int rows, Span<float> y /* (T, n) */)
    {
        int n = Dim;
        RmsNorm.Forward(rows, n, x[..(rows * n)], new ReadOnlySpan<float>(Weight.Pointer, n), Eps, y[..(rows * n)],
            new Span<float>(Rstd.Pointer, rows));
        ctx.Round(y[..(rows * n)]);
    }

    public void Dispose() => Rstd.Dispose();
}
