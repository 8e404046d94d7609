// MoeLayer — DeepSeekMoE: shared experts plus routed experts chosen by the router.
//
//   y = Σ_k w_tk · expert_{e_tk}(x_t) + shared(x_t)      x, y (T, D)
// The routed sum is kept in Routed (T, D) for backward; shared experts are never scaled.
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
        routed.Clear();
        Experts.Forward(ctx, x, tokens, Router.Experts, Router.Weights, routed);
        ctx.Round(routed);
        if (Shared is null)
        {
            routed.CopyTo(y);
            return;
        }
        Shared.Forward(ctx, x, tokens, y);
        System.Numerics.Tensors.TensorPrimitives.Add(y[..(tokens * _d)], routed, y[..(tokens * _d)]);
        ctx.Round(y[..(tokens * _d)]);
    }

    public void Dispose()
    {
        Router.Dispose();
        Experts.Dispose();
        Shared?.Dispose();
        Routed.Dispose();
    }
}
