// RmsNormLayer — y = x · rsqrt(mean(x²) + eps) · w, per row, statistics in FP32.
//
//   x (T, n)   w (n)   y (T, n)   rstd (T) kept for backward
// Backward (Numerics RmsNorm.Backward, x̂ = x · rstd, g = dy ⊙ w):
//   dx (T, n) = rstd · (g − x̂ · mean(g ⊙ x̂))                BackwardInput; also computes Σ_rows dy ⊙ x̂ into
//   dw (n)   += Σ_rows dy ⊙ x̂                                 the layer's pending (n) buffer, which
//                                                             BackwardWeights adds into the model gradient
// The caller owns x (it is another layer's activation) and passes the same rows to Forward and backward.
using System.Numerics.Tensors;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class RmsNormLayer : IDisposable
{
    private readonly ModelWeights? _weights;
    private readonly string? _name;

    public NativeBuffer<float> Weight { get; }   // (n)
    public int Dim { get; }
    public float Eps { get; }
    public NativeBuffer<float> Rstd { get; }     // (MaxTokens) activation for backward
    private readonly NativeBuffer<float> _dwPending;   // (n) Σ_rows dy ⊙ x̂ of the last BackwardInput

    public RmsNormLayer(NativeBuffer<float> weight, double eps, int maxTokens)
    {
        Weight = weight;
        Dim = checked((int)weight.Length);
        Eps = (float)eps;
        Rstd = new NativeBuffer<float>(maxTokens);
        _dwPending = new NativeBuffer<float>(Dim);
    }

    /// <summary>The norm named <paramref name="name"/> in <paramref name="w"/>; its gradient is
    /// w.VectorGradient(name) once gradients are enabled.</summary>
    public RmsNormLayer(ModelWeights w, string name, int maxTokens) : this(w.Vector(name), w.Config.RmsNormEps, maxTokens)
    {
        _weights = w;
        _name = name;
    }

    /// <summary>dL/dw (n), accumulated by <see cref="BackwardWeights"/>.</summary>
    public NativeBuffer<float> Gradient => _weights is not null
        ? _weights.VectorGradient(_name!)
        : throw new InvalidOperationException("this RMSNorm was built from a bare weight vector; build it with RmsNormLayer(ModelWeights, name, …) to train it.");

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        int n = Dim;
        RmsNorm.Forward(rows, n, x[..(rows * n)], new ReadOnlySpan<float>(Weight.Pointer, n), Eps, y[..(rows * n)],
            new Span<float>(Rstd.Pointer, rows), ctx.Pool);
        ctx.Round(y[..(rows * n)]);
    }

    /// <summary>dx (T, n) = ∂L/∂x (overwritten) from dy (T, n) and the x (T, n) Forward saw.</summary>
    public void BackwardInput(WorkerPool pool, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, Span<float> dx)
    {
        int n = Dim;
        var dw = new Span<float>(_dwPending.Pointer, n);
        dw.Clear();
        RmsNorm.Backward(rows, n, dy[..(rows * n)], x[..(rows * n)], new ReadOnlySpan<float>(Weight.Pointer, n),
            new ReadOnlySpan<float>(Rstd.Pointer, rows), dx[..(rows * n)], dw, pool);
    }

    /// <summary>dw (n) += Σ_rows dy ⊙ x̂ of the last <see cref="BackwardInput"/>.</summary>
    public void BackwardWeights()
    {
        Span<float> g = Gradient.Span;
        TensorPrimitives.Add(g, new ReadOnlySpan<float>(_dwPending.Pointer, Dim), g);
    }

    public void Backward(WorkerPool pool, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, Span<float> dx)
    {
        BackwardInput(pool, dy, x, rows, dx);
        BackwardWeights();
    }

    public void Dispose()
    {
        Rstd.Dispose();
        _dwPending.Dispose();
    }
}
