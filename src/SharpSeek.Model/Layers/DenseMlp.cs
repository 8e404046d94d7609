// DenseMlp — the SwiGLU feed-forward of dense layers and of the shared experts.
//
//   g = x · W_gateᵀ   u = x · W_upᵀ   a = silu(g) ⊙ u   y = a · W_downᵀ
//   x (T, D)   W_gate, W_up (I, D)   g, u, a (T, I)   W_down (D, I)   y (T, D)
// I = intermediate_size (dense) or moe_intermediate_size × n_shared_experts (shared experts).
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

    public DenseMlp(ModelWeights w, string prefix, int maxTokens)
    {
        Gate = w.Linear(prefix + "gate_proj.weight");
        Up = w.Linear(prefix + "up_proj.weight");
        Down = w.Linear(prefix + "down_proj.weight");
        G = new NativeBuffer<float>((long)maxTokens * Inter);
        U = new NativeBuffer<float>((long)maxTokens * Inter);
        A = new NativeBuffer<float>((long)maxTokens * Inter);
    }

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens, Span<float> y /* (T, D) */)
    {
        var g = new Span<float>(G.Pointer, tokens * Inter);
        var u = new Span<float>(U.Pointer, tokens * Inter);
        var a = new Span<float>(A.Pointer, tokens * Inter);
        ctx.Linear(Gate, x, tokens, g);
        ctx.Linear(Up, x, tokens, u);
        Activations.SwiGluForward(g, u, a);
        ctx.Round(a);
        ctx.Linear(Down, a, tokens, y);
    }

    public void Dispose()
    {
        G.Dispose();
        U.Dispose();
        A.Dispose();
    }
}
