// DecoderBlock — one pre-norm transformer layer of DeepSeek-V3.
//
//   m = x + MLA(RMSNorm_attn(x))          y = m + FFN(RMSNorm_ffn(m))        x, m, y (T, D)
// FFN is a DenseMlp for layers below first_k_dense_replace (and off the moe_layer_freq grid), else a MoeLayer.
using System.Numerics.Tensors;
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

    public DecoderBlock(ModelConfig c, ModelWeights w, int layer, RotaryEmbedding rope, ForwardCapacity cap)
    {
        _d = c.HiddenSize;
        Layer = layer;
        string p = $"model.layers.{layer}.";
        int T = cap.MaxTokens;
        AttnNorm = new RmsNormLayer(w.Vector(p + "input_layernorm.weight"), c.RmsNormEps, T);
        Attention = new MlaAttention(c, w, p + "self_attn.", rope, cap);
        FfnNorm = new RmsNormLayer(w.Vector(p + "post_attention_layernorm.weight"), c.RmsNormEps, T);
        if (c.IsMoeLayer(layer)) Moe = new MoeLayer(c, w, p + "mlp.", T);
        else Mlp = new DenseMlp(w, p + "mlp.", T);
        AttnIn = new NativeBuffer<float>((long)T * _d);
        AttnOut = new NativeBuffer<float>((long)T * _d);
        Mid = new NativeBuffer<float>((long)T * _d);
        FfnIn = new NativeBuffer<float>((long)T * _d);
        FfnOut = new NativeBuffer<float>((long)T * _d);
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
        TensorPrimitives.Add(x[..n], attnOut, mid);
        ctx.Round(mid);
        FfnNorm.Forward(ctx, mid, batch.Tokens, ffnIn);
        if (Moe is not null) Moe.Forward(ctx, ffnIn, batch.Tokens, ffnOut);
        else Mlp!.Forward(ctx, ffnIn, batch.Tokens, ffnOut);
        TensorPrimitives.Add(mid, ffnOut, y[..n]);
        ctx.Round(y[..n]);
    }

    public void Dispose()
    {
        AttnNorm.Dispose();
        Attention.Dispose();
        FfnNorm.Dispose();
        Mlp?.Dispose();
        Moe?.Dispose();
        AttnIn.Dispose(); AttnOut.Dispose(); Mid.Dispose(); FfnIn.Dispose(); FfnOut.Dispose();
    }
}
