// MtpModule — multi-token prediction depth k (1-based), stored as decoder layer num_hidden_layers + k - 1.
//
//   h'_i = eh_proj([enorm(emb(t[i+k])) ; hnorm(h_i)])      emb, h, h' (R, D)   concat (R, 2D)   eh_proj (D, 2D)
//   h^k  = DecoderBlock(h')   causal over the rows of each sequence at positions 0..
//   n^k  = shared_head.norm(h^k)          logits = shared_head.head(n^k)  (R, V): row i predicts t[i+k+1]
// h is the previous depth's output: for k = 1 the main model's last hidden state after model.norm, for k > 1 the
// normalised n^{k-1} of depth k-1 (the same place in the stack). R = Σ_s (len_s - k).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class MtpModule : IDisposable
{
    private readonly int _d;
    public int Depth { get; }
    public Embedding Embed { get; }
    public RmsNormLayer ENorm { get; }
    public RmsNormLayer HNorm { get; }
    public LinearWeight EhProj { get; }          // (D, 2D)
    public DecoderBlock Block { get; }
    public LmHead Head { get; }

    public NativeBuffer<float> Emb { get; }      // (R, D)
    public NativeBuffer<float> Concat { get; }   // (R, 2D)  [enorm(emb) ; hnorm(h)]
    public NativeBuffer<float> Projected { get; }// (R, D)  h'
    public NativeBuffer<float> Hidden { get; }   // (R, D)  h^k
    private readonly NativeBuffer<float> _tmp;   // (R, D)

    public MtpModule(ModelConfig c, ModelWeights w, int depth, RotaryEmbedding rope, ForwardCapacity cap)
    {
        _d = c.HiddenSize;
        Depth = depth;
        int layer = c.NumHiddenLayers + depth - 1, T = cap.MaxTokens;
        string p = $"model.layers.{layer}.";
        Embed = new Embedding(w.Linear(p + "embed_tokens.weight"));
        ENorm = new RmsNormLayer(w.Vector(p + "enorm.weight"), c.RmsNormEps, T);
        HNorm = new RmsNormLayer(w.Vector(p + "hnorm.weight"), c.RmsNormEps, T);
        EhProj = w.Linear(p + "eh_proj.weight");
        Block = new DecoderBlock(c, w, layer, rope, cap);
        Head = new LmHead(c, w.Vector(p + "shared_head.norm.weight"), w.Linear(p + "shared_head.head.weight"), T);
        Emb = new NativeBuffer<float>((long)T * _d);
        Concat = new NativeBuffer<float>((long)T * 2 * _d);
        Projected = new NativeBuffer<float>((long)T * _d);
        Hidden = new NativeBuffer<float>((long)T * _d);
        _tmp = new NativeBuffer<float>((long)T * _d);
    }

    /// <summary>Runs depth k on <paramref name="batch"/> (rows already shifted: ids = t[i+k]) with the previous
    /// depth's rows <paramref name="hPrev"/> (R, D); afterwards Head.Normed holds n^k.</summary>
    public void Forward(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> hPrev)
    {
        int R = batch.Tokens, d = _d;
        var emb = new Span<float>(Emb.Pointer, R * d);
        var tmp = new Span<float>(_tmp.Pointer, R * d);
        var concat = new Span<float>(Concat.Pointer, R * 2 * d);
        Embed.Forward(batch.TokenIds, emb);
        ENorm.Forward(ctx, emb, R, tmp);
        for (int i = 0; i < R; i++) tmp.Slice(i * d, d).CopyTo(concat.Slice(i * 2 * d, d));
        HNorm.Forward(ctx, hPrev, R, tmp);
        for (int i = 0; i < R; i++) tmp.Slice(i * d, d).CopyTo(concat.Slice(i * 2 * d + d, d));
        var projected = new Span<float>(Projected.Pointer, R * d);
        ctx.Linear(EhProj, concat, R, projected);
        var hidden = new Span<float>(Hidden.Pointer, R * d);
        Block.Forward(ctx, batch, projected, hidden, null, 0, MlaPath.Naive);
        Head.Forward(ctx, hidden, R);
    }

    public void Dispose()
    {
        ENorm.Dispose(); HNorm.Dispose(); Block.Dispose(); Head.Dispose();
        Emb.Dispose(); Concat.Dispose(); Projected.Dispose(); Hidden.Dispose(); _tmp.Dispose();
    }
}
