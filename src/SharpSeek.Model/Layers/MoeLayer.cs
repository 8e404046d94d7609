// MoeLayer — DeepSeekMoE: shared experts plus routed experts chosen by the router.
//
//   y = Σ_k w_tk · expert_{e_tk}(x_t) + shared(x_t)      x, y (T, D)
// The routed sum is kept in Routed (T, D) for backward; shared experts are never scaled.
//
// Backward, dy (T, D):  dx = shared'ᵀ dy + Σ routed experts' dx + router dx (through the combine weights)
//   B order: shared B (overwrites dx), experts B (adds dx, writes ∂L/∂weights into Router.WeightGrads),
//            router B (adds dx through the gate logits, plus Router.ExtraScoreGrad).
//   W: shared W, experts W, router W — any time after B (they read only this layer's buffers and x).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class MoeLayer : IDisposable
{
    public MoeRouter Router { get; }
    public MoeExperts Experts { get; }
    public DenseMlp? Shared { get; }
    public NativeBuffer<float> Routed { get; }   // (T, D)
    private readonly int _d;

    public MoeLayer(ModelConfig c, ModelWeights w, string prefix, int maxTokens)
    {
        _d = c.HiddenSize;
        Router = new MoeRouter(c, w, prefix, maxTokens);
        Experts = new MoeExperts(c, w, prefix, maxTokens);
        Shared = c.NSharedExperts > 0 ? new DenseMlp(w, prefix + "shared_experts.", maxTokens) : null;
        Routed = new NativeBuffer<float>((long)maxTokens * _d);
    }

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens, Span<float> y /* (T, D) */)
    {
        Router.Forward(ctx, x, tokens);
        var routed = new Span<float>(Routed.Pointer, tokens * _d);
        bool decode = tokens <= Gemm.GemvMaxRows;                  // routed + shared experts in two pool runs
        if (decode)
        {
            routed.Clear();                                         // ForwardDecode adds into routed
            Experts.ForwardDecode(ctx, x, tokens, Router.Experts, Router.Weights, routed, Shared, y);
        }
        else Experts.Forward(ctx, x, tokens, Router.Experts, Router.Weights, routed);   // overwrites routed
        ctx.Round(routed);
        if (Shared is null)
        {
            routed.CopyTo(y);
            return;
        }
        if (!decode) Shared.Forward(ctx, x, tokens, y);
        Activations.Add(y[..(tokens * _d)], routed, y[..(tokens * _d)], ctx.Pool);
        ctx.Round(y[..(tokens * _d)]);
    }

    /// <summary>B: dx (T, D) = ∂L/∂x (overwritten).</summary>
    public void BackwardInput(ForwardContext ctx, ReadOnlySpan<float> dy /* (T, D) */, int tokens, Span<float> dx /* (T, D) */)
    {
        if (Shared is not null) Shared.BackwardInput(ctx, dy, tokens, dx);
        else dx[..(tokens * _d)].Clear();
        Experts.BackwardInput(ctx, dy, tokens, Router.Weights, Router.WeightGrads, dx);
        Router.BackwardInput(ctx, tokens, dx);
    }

    /// <summary>W: all weight gradients of the layer (+=); x (T, D) is the input given to Forward.</summary>
    public void BackwardWeights(ForwardContext ctx, ReadOnlySpan<float> x /* (T, D) */, int tokens)
    {
        Shared?.BackwardWeights(ctx, x, tokens);
        Experts.BackwardWeights(ctx, tokens);
        Router.BackwardWeights(ctx, x, tokens);
    }

    public void Backward(ForwardContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int tokens, Span<float> dx)
    {
        BackwardInput(ctx, dy, tokens, dx);
        BackwardWeights(ctx, x, tokens);
    }

    public void Dispose()
    {
        Router.Dispose();
        Experts.Dispose();
        Shared?.Dispose();
        Routed.Dispose();
    }
}
