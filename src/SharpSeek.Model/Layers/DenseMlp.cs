// DenseMlp — the SwiGLU feed-forward of dense layers and of the shared experts.
//
//   g = x · W_gateᵀ   u = x · W_upᵀ   a = silu(g) ⊙ u   y = a · W_downᵀ
//   x (T, D)   W_gate, W_up (I, D)   g, u, a (T, I)   W_down (D, I)   y (T, D)
// I = intermediate_size (dense) or moe_intermediate_size × n_shared_experts (shared experts).
//
// Backward, dy (T, D) = ∂L/∂y:
//   B: da = dy · W_down (T, I)    dg, du = swiglu'(da; g, u) (T, I)    dx (T, D) = dg · W_gate + du · W_up
//   W: dW_down += dyᵀ · a         dW_gate += dgᵀ · x                   dW_up += duᵀ · x
// B copies dy into its own buffer so W can run after later layers' B reused the caller's gradient buffers.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class DenseMlp : IDisposable
{
    public LinearWeight Gate { get; }   // (I, D)
    public LinearWeight Up { get; }     // (I, D)
    public LinearWeight Down { get; }   // (D, I)
    public int Inter => Gate.OutFeatures;

    public NativeBuffer<float> G { get; }   // (T, I)
    public NativeBuffer<float> U { get; }   // (T, I)
    public NativeBuffer<float> A { get; }   // (T, I)
    private readonly int _maxTokens;
    private NativeBuffer<float>? _dY, _dA, _dG, _dU;   // (T, D), (T, I) ×3: allocated by the first backward

    public DenseMlp(ModelWeights w, string prefix, int maxTokens)
    {
        Gate = w.Linear(prefix + "gate_proj.weight");
        Up = w.Linear(prefix + "up_proj.weight");
        Down = w.Linear(prefix + "down_proj.weight");
        G = new NativeBuffer<float>((long)maxTokens * Inter);
        U = new NativeBuffer<float>((long)maxTokens * Inter);
        A = new NativeBuffer<float>((long)maxTokens * Inter);
        _maxTokens = maxTokens;
    }

    public int Dim => Gate.InFeatures;

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens, Span<float> y /* (T, D) */)
    {
        var g = new Span<float>(G.Pointer, tokens * Inter);
        var u = new Span<float>(U.Pointer, tokens * Inter);
        var a = new Span<float>(A.Pointer, tokens * Inter);
        ctx.LinearPair(Gate, Up, x, tokens, g, u);                        // one pool run at decode
        Activations.SwiGluForward(g, u, a, ctx.Pool);
        ctx.Round(a);
        ctx.Linear(Down, a, tokens, y);
    }

    // ---- backward ----

    /// <summary>B: dx (T, D) = ∂L/∂x (overwritten, or added with <see cref="GemmOutput.Accumulate"/>); keeps dy, dg, du for W.</summary>
    public void BackwardInput(ForwardContext ctx, ReadOnlySpan<float> dy /* (T, D) */, int tokens, Span<float> dx /* (T, D) */,
        GemmOutput output = GemmOutput.Overwrite)
    {
        if (_dY is null)
        {
            _dY = new NativeBuffer<float>((long)_maxTokens * Dim);
            _dA = new NativeBuffer<float>(A.Length);
            _dG = new NativeBuffer<float>(A.Length);
            _dU = new NativeBuffer<float>(A.Length);
        }
        int ti = tokens * Inter;
        var dyKept = new Span<float>(_dY.Pointer, tokens * Dim);
        dy[..dyKept.Length].CopyTo(dyKept);
        var da = new Span<float>(_dA!.Pointer, ti);
        var dg = new Span<float>(_dG!.Pointer, ti);
        var du = new Span<float>(_dU!.Pointer, ti);
        Down.BackwardInput(ctx.Pool, 0, dyKept, tokens, da, GemmOutput.Overwrite);
        Activations.SwiGluBackward(da, new ReadOnlySpan<float>(G.Pointer, ti), new ReadOnlySpan<float>(U.Pointer, ti), dg, du, ctx.Pool);
        Gate.BackwardInput(ctx.Pool, 0, dg, tokens, dx, output);
        Up.BackwardInput(ctx.Pool, 0, du, tokens, dx, GemmOutput.Accumulate);
    }

    /// <summary>W: weight gradients (+=); x (T, D) is the input given to Forward.</summary>
    public void BackwardWeights(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens)
    {
        if (_dY is null) throw new InvalidOperationException("MLP BackwardWeights needs BackwardInput to run first.");
        int ti = tokens * Inter;
        Down.BackwardWeights(ctx.Pool, 0, new ReadOnlySpan<float>(A.Pointer, ti), new ReadOnlySpan<float>(_dY.Pointer, tokens * Dim), tokens);
        Gate.BackwardWeights(ctx.Pool, 0, x, new ReadOnlySpan<float>(_dG!.Pointer, ti), tokens);
        Up.BackwardWeights(ctx.Pool, 0, x, new ReadOnlySpan<float>(_dU!.Pointer, ti), tokens);
    }

    public void Backward(ForwardContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int tokens, Span<float> dx)
    {
        BackwardInput(ctx, dy, tokens, dx);
        BackwardWeights(ctx, x, tokens);
    }

    public void Dispose()
    {
        G.Dispose();
        U.Dispose();
        A.Dispose();
        _dY?.Dispose(); _dA?.Dispose(); _dG?.Dispose(); _dU?.Dispose();
    }
}
