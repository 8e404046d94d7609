// DecoderBlock — one pre-norm transformer layer of DeepSeek-V3.
//
//   m = x + MLA(RMSNorm_attn(x))          y = m + FFN(RMSNorm_ffn(m))        x, m, y (T, D)
// FFN is a DenseMlp for layers below first_k_dense_replace (and off the moe_layer_freq grid), else a MoeLayer.
// Backward, dy (T, D) = ∂L/∂y:
//   B: dm = dy + RMSNorm_ffn'(FFN'(dy))        dx = dm + RMSNorm_attn'(MLA'(dm))        dm, dx (T, D)
//   W: FFN, RMSNorm_ffn, MLA, RMSNorm_attn weight gradients (+=), from buffers this block owns, so W may run
//      after later (lower) blocks' B.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class DecoderBlock : IDisposable
{
    private readonly int _d;
    public int Layer { get; }
    public RmsNormLayer AttnNorm { get; }     // input_layernorm
    public MlaAttention Attention { get; }
    public RmsNormLayer FfnNorm { get; }      // post_attention_layernorm
    public DenseMlp? Mlp { get; }
    public MoeLayer? Moe { get; }

    public NativeBuffer<float> AttnIn { get; }   // (T, D) RMSNorm_attn(x)
    public NativeBuffer<float> AttnOut { get; }  // (T, D)
    public NativeBuffer<float> Mid { get; }      // (T, D) m
    public NativeBuffer<float> FfnIn { get; }    // (T, D) RMSNorm_ffn(m)
    public NativeBuffer<float> FfnOut { get; }   // (T, D)

    private readonly int _maxTokens;
    private NativeBuffer<float>? _dMid;          // (T, D) dm, allocated by the first backward
    private NativeBuffer<float>? _dNormOut;      // (T, D) gradient of an RMSNorm output (FFN input, then MLA input)
    private int _backwardTokens = -1;

    public DecoderBlock(ModelConfig c, ModelWeights w, int layer, RotaryEmbedding rope, ForwardCapacity cap)
    {
        _d = c.HiddenSize;
        Layer = layer;
        string p = $"model.layers.{layer}.";
        int T = cap.MaxTokens;
        AttnNorm = new RmsNormLayer(w, p + "input_layernorm.weight", T);
        Attention = new MlaAttention(c, w, p + "self_attn.", rope, cap);
        FfnNorm = new RmsNormLayer(w, p + "post_attention_layernorm.weight", T);
        if (c.IsMoeLayer(layer)) Moe = new MoeLayer(c, w, p + "mlp.", T);
        else Mlp = new DenseMlp(w, p + "mlp.", T);
        AttnIn = new NativeBuffer<float>((long)T * _d);
        AttnOut = new NativeBuffer<float>((long)T * _d);
        Mid = new NativeBuffer<float>((long)T * _d);
        FfnIn = new NativeBuffer<float>((long)T * _d);
        FfnOut = new NativeBuffer<float>((long)T * _d);
        _maxTokens = T;
    }

    /// <summary>y (T, D) = block(x (T, D)); <paramref name="cacheLayer"/> indexes <paramref name="cache"/>.</summary>
    public void Forward(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> x, Span<float> y,
        LatentKvCache? cache, int cacheLayer, MlaPath path)
    {
        int n = batch.Tokens * _d;
        var attnIn = new Span<float>(AttnIn.Pointer, n);
        var attnOut = new Span<float>(AttnOut.Pointer, n);
        var mid = new Span<float>(Mid.Pointer, n);
        var ffnIn = new Span<float>(FfnIn.Pointer, n);
        var ffnOut = new Span<float>(FfnOut.Pointer, n);

        AttnNorm.Forward(ctx, x, batch.Tokens, attnIn);
        Attention.Forward(ctx, batch, attnIn, attnOut, cache, cacheLayer, path);
        Activations.Add(x[..n], attnOut, mid, ctx.Pool);
        ctx.Round(mid);
        FfnNorm.Forward(ctx, mid, batch.Tokens, ffnIn);
        if (Moe is not null) Moe.Forward(ctx, ffnIn, batch.Tokens, ffnOut);
        else Mlp!.Forward(ctx, ffnIn, batch.Tokens, ffnOut);
        Activations.Add(mid, ffnOut, y[..n], ctx.Pool);
        ctx.Round(y[..n]);
    }

    /// <summary>B: dx (T, D) = ∂L/∂x (overwritten; may alias dy) after a naive cache-free Forward over
    /// <paramref name="batch"/> with input <paramref name="x"/>.</summary>
    public void BackwardInput(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int T = batch.Tokens, n = T * _d;
        _dMid ??= new NativeBuffer<float>((long)_maxTokens * _d);
        _dNormOut ??= new NativeBuffer<float>((long)_maxTokens * _d);
        _backwardTokens = T;
        var dMid = new Span<float>(_dMid.Pointer, n);
        var dNormOut = new Span<float>(_dNormOut.Pointer, n);

        if (Moe is not null) Moe.BackwardInput(ctx, dy, T, dNormOut);
        else Mlp!.BackwardInput(ctx, dy, T, dNormOut);
        FfnNorm.BackwardInput(ctx.Pool, dNormOut, new ReadOnlySpan<float>(Mid.Pointer, n), T, dMid);
        Activations.Add(dMid, dy[..n], dMid, ctx.Pool);                              // residual: dm = dy + …
        Attention.BackwardInput(ctx, batch, dMid, dNormOut);
        AttnNorm.BackwardInput(ctx.Pool, dNormOut, x, T, dx);
        Activations.Add(dx[..n], dMid, dx[..n], ctx.Pool);                            // residual: dx = dm + …
    }

    /// <summary>W: all weight gradients of the block (+=), any time after <see cref="BackwardInput"/>.</summary>
    public void BackwardWeights(ForwardContext ctx)
    {
        int T = _backwardTokens;
        if (T < 0) throw new InvalidOperationException($"block {Layer}: BackwardWeights needs BackwardInput to run first.");
        var ffnIn = new ReadOnlySpan<float>(FfnIn.Pointer, T * _d);
        if (Moe is not null) Moe.BackwardWeights(ctx, ffnIn, T);
        else Mlp!.BackwardWeights(ctx, ffnIn, T);
        FfnNorm.BackwardWeights();
        Attention.BackwardWeights(ctx, new ReadOnlySpan<float>(AttnIn.Pointer, T * _d));
        AttnNorm.BackwardWeights();
    }

    public void Backward(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        BackwardInput(ctx, batch, x, dy, dx);
        BackwardWeights(ctx);
    }

    public void Dispose()
    {
        _dMid?.Dispose();
        _dNormOut?.Dispose();
        AttnNorm.Dispose();
        Attention.Dispose();
        FfnNorm.Dispose();
        Mlp?.Dispose();
        Moe?.Dispose();
        AttnIn.Dispose(); AttnOut.Dispose(); Mid.Dispose(); FfnIn.Dispose(); FfnOut.Dispose();
    }
}
