// LinearWeight backward — gradients of y (M, N) = x (M, K) · W_gᵀ for FP32 (training) weights.
//
//   dx (M, K)   (+)= dy (M, N) · W_g (N, K)          BackwardInput  ("B", dgrad)   Gemm.F32 NN
//   dW_g (N, K)  += dy (M, N)ᵀ · x (M, K)            BackwardWeights ("W", wgrad)  Gemm.F32 TN, Accumulate
// Grouped (routed experts, rows of group g = [rowOffsets[g], rowOffsets[g+1])):
//   dx_g (R_g, K) (+)= dy_g · W_g                    Gemm.GroupedF32 NN
//   dW_g          += dy_gᵀ · x_g                     Gemm.GroupedF32 TN, Accumulate
// The gradient buffer Grad (G, N, K) float has exactly the layout of the weights; it exists only after
// EnableGradient() and only accumulates (zeroing between optimizer steps is the trainer's job).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class LinearWeight
{
    private NativeBuffer<float>? _grad;   // (G, N, K) dL/dW, allocated by EnableGradient

    public bool HasGradient => _grad is not null;

    /// <summary>Allocates the zero-filled FP32 gradient (G, N, K). Training needs FP32 weights.</summary>
    public void EnableGradient()
    {
        RequireF32("gradients");
        _grad ??= new NativeBuffer<float>(GroupElements * Groups);
    }

    /// <summary>All weights (G, N, K) as FP32 (FP32 weights only): what the optimizer updates.</summary>
    public NativeBuffer<float> F32Values
    {
        get
        {
            RequireF32("direct FP32 access");
            return _f32!;
        }
    }

    /// <summary>The gradient (G, N, K); throws when EnableGradient was not called.</summary>
    public NativeBuffer<float> Gradient => _grad ??
        throw new InvalidOperationException($"linear ({Groups}, {OutFeatures}, {InFeatures}) has no gradient buffer; call ModelWeights.EnableGradients() before backward.");

    /// <summary>dW_g (N, K) of group g.</summary>
    public Span<float> GradientGroup(int g) => new(Gradient.Pointer + g * GroupElements, checked((int)GroupElements));

    /// <summary>dx (M, K) = dy (M, N) · W_g (N, K); with <paramref name="output"/> = Accumulate, dx += instead
    /// (a tensor that feeds several projections sums their input gradients).</summary>
    public void BackwardInput(WorkerPool pool, int group, ReadOnlySpan<float> dy, int m, Span<float> dx, GemmOutput output = GemmOutput.Overwrite)
    {
        RequireF32("backward");
        if (m == 0) return;
        int n = OutFeatures, k = InFeatures;
        if (dy.Length < (long)m * n || dx.Length < (long)m * k)
            throw new ArgumentException($"linear ({n}, {k}) backward: dy has {dy.Length} floats and dx {dx.Length} for {m} rows.");
        Gemm.F32(pool, GemmLayout.NN, m, k, n, dy[..(m * n)], F32Group(group), dx[..(m * k)], output);
    }

    /// <summary>dW_g (N, K) += dy (M, N)ᵀ · x (M, K), x being the input Forward saw.</summary>
    public void BackwardWeights(WorkerPool pool, int group, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int m)
    {
        RequireF32("backward");
        if (m == 0) return;
        int n = OutFeatures, k = InFeatures;
        if (dy.Length < (long)m * n || x.Length < (long)m * k)
            throw new ArgumentException($"linear ({n}, {k}) backward: dy has {dy.Length} floats and x {x.Length} for {m} rows.");
        Gemm.F32(pool, GemmLayout.TN, n, k, m, dy[..(m * n)], x[..(m * k)], GradientGroup(group), GemmOutput.Accumulate);
    }

    /// <summary>Both halves in order: dx (M, K) (+)= dy · W_g, then dW_g += dyᵀ · x.</summary>
    public void Backward(WorkerPool pool, int group, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int m, Span<float> dx,
        GemmOutput output = GemmOutput.Overwrite)
    {
        BackwardInput(pool, group, dy, m, dx, output);
        BackwardWeights(pool, group, x, dy, m);
    }

    /// <summary>Grouped dgrad: rows [rowOffsets[g], rowOffsets[g+1]) of dy (R, N) go back through W_g into dx (R, K).</summary>
    public void BackwardInputGrouped(WorkerPool pool, ReadOnlySpan<int> rowOffsets, ReadOnlySpan<float> dy, Span<float> dx,
        GemmOutput output = GemmOutput.Overwrite)
    {
        RequireF32("backward");
        int rows = CheckOffsets(rowOffsets), n = OutFeatures, k = InFeatures;
        Gemm.GroupedF32(pool, GemmLayout.NN, n, k, rowOffsets, dy[..(rows * n)],
            new ReadOnlySpan<float>(_f32!.Pointer, checked((int)(GroupElements * Groups))), dx[..(rows * k)], output);
    }

    /// <summary>Grouped wgrad: dW_g += dy_gᵀ (N, R_g) · x_g (R_g, K) for every group (empty groups add nothing).</summary>
    public void BackwardWeightsGrouped(WorkerPool pool, ReadOnlySpan<int> rowOffsets, ReadOnlySpan<float> x, ReadOnlySpan<float> dy)
    {
        RequireF32("backward");
        int rows = CheckOffsets(rowOffsets), n = OutFeatures, k = InFeatures;
        Gemm.GroupedF32(pool, GemmLayout.TN, n, k, rowOffsets, dy[..(rows * n)], x[..(rows * k)],
            Gradient.Span, GemmOutput.Accumulate);
    }

    private int CheckOffsets(ReadOnlySpan<int> rowOffsets)
    {
        if (rowOffsets.Length != Groups + 1)
            throw new ArgumentException($"rowOffsets has {rowOffsets.Length} entries; {Groups} groups need {Groups + 1}.");
        return rowOffsets[Groups];
    }

    private void RequireF32(string what)
    {
        if (DType != WeightDType.F32)
            throw new NotSupportedException(
                $"{what} needs FP32 weights, but this linear ({Groups}, {OutFeatures}, {InFeatures}) is {DType}; load the model with --dtype f32 for training.");
    }
}
