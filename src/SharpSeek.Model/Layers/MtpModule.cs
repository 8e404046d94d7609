// MtpModule — multi-token prediction depth k (1-based), stored as decoder layer num_hidden_layers + k - 1.
//
//   h'_i = eh_proj([enorm(emb(t[i+k])) ; hnorm(h_i)])      emb, h, h' (R, D)   concat (R, 2D)   eh_proj (D, 2D)
//   h^k  = DecoderBlock(h')   causal over the rows of each sequence at positions 0..
//   n^k  = shared_head.norm(h^k)          logits = shared_head.head(n^k)  (R, V): row i predicts t[i+k+1]
// h is the previous depth's output: for k = 1 the main model's last hidden state after model.norm, for k > 1 the
// normalised n^{k-1} of depth k-1 (the same place in the stack). R = Σ_s (len_s - k).
// Backward, scaled by lossGradient (λ / D_mtp), with Head.NormedGradOf already holding what depth k+1 sent back:
//   B: dh^k = Head'(…)   dh' = Block'(dh^k)   dconcat (R, 2D) = dh' · W_eh
//      demb = ENorm'(dconcat[:, :D])   dh_prev (R, D) = HNorm'(dconcat[:, D:])   (the caller adds dh_prev to ∂L/∂h)
//   W: head, block, eh_proj (dh'ᵀ · concat), both norms, embedding rows (dE[t[i+k]] += demb_i).
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
    public NativeBuffer<float> PrevHidden { get; } // (R, D)  h of the previous depth, rows aligned with this depth
    public ForwardBatch Batch { get; }           // depth k's shifted rows: ids t[i+k], positions from 0
    private readonly NativeBuffer<float> _tmp;   // (R, D)
    private NativeBuffer<float>? _dHidden, _dProjected, _dConcat, _dEmb, _dPrev;   // (R, D), (R, D), (R, 2D), (R, D), (R, D)
    private int _backwardRows = -1;

    public MtpModule(ModelConfig c, ModelWeights w, int depth, RotaryEmbedding rope, ForwardCapacity cap)
    {
        _d = c.HiddenSize;
        Depth = depth;
        int layer = c.NumHiddenLayers + depth - 1, T = cap.MaxTokens;
        string p = $"model.layers.{layer}.";
        Embed = new Embedding(w.Linear(p + "embed_tokens.weight"));
        ENorm = new RmsNormLayer(w, p + "enorm.weight", T);
        HNorm = new RmsNormLayer(w, p + "hnorm.weight", T);
        EhProj = w.Linear(p + "eh_proj.weight");
        Block = new DecoderBlock(c, w, layer, rope, cap);
        Head = new LmHead(w, p + "shared_head.norm.weight", p + "shared_head.head.weight", T);
        Emb = new NativeBuffer<float>((long)T * _d);
        Concat = new NativeBuffer<float>((long)T * 2 * _d);
        Projected = new NativeBuffer<float>((long)T * _d);
        Hidden = new NativeBuffer<float>((long)T * _d);
        PrevHidden = new NativeBuffer<float>((long)T * _d);
        Batch = new ForwardBatch(T, cap.MaxSequences);
        _tmp = new NativeBuffer<float>((long)T * _d);
    }

    /// <summary>Runs depth k on <paramref name="batch"/> (rows already shifted: ids = t[i+k]) with the previous
    /// depth's rows <paramref name="hPrev"/> (R, D); afterwards Head.Normed holds n^k.</summary>
    public void Forward(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> hPrev)
    {
        int R = batch.Tokens, d = _d;
        // keep this depth's rows and input for backward (no copy when the caller filled Batch / PrevHidden)
        if (!ReferenceEquals(batch, Batch))
        {
            Batch.Clear();
            foreach (var seq in batch.Sequences) Batch.Add(seq.Slot, seq.StartPos, batch.TokenIds.Slice(seq.FirstRow, seq.Rows));
        }
        var prev = new Span<float>(PrevHidden.Pointer, R * d);
        if (!hPrev[..(R * d)].Overlaps(prev)) hPrev[..(R * d)].CopyTo(prev);
        batch = Batch;
        hPrev = prev;
        var emb = new Span<float>(Emb.Pointer, R * d);
        var tmp = new Span<float>(_tmp.Pointer, R * d);
        var concat = new Span<float>(Concat.Pointer, R * 2 * d);
        Embed.Forward(batch.TokenIds, emb, ctx.Pool);
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

    private static Span<float> Rows(ref NativeBuffer<float>? b, long capacity, int n)
    {
        b ??= new NativeBuffer<float>(capacity);
        return new Span<float>(b.Pointer, n);
    }

    /// <summary>B after Head.Loss over <see cref="Batch"/> (Forward input: <see cref="PrevHidden"/>): returns
    /// dh_prev (R, D) = ∂(lossGradient · L_k + later depths)/∂h_prev, valid until the next BackwardInput.</summary>
    public ReadOnlySpan<float> BackwardInput(ForwardContext ctx, float lossGradient)
    {
        int R = Batch.Tokens, d = _d;
        long cap = Emb.Length;
        _backwardRows = R;
        Span<float> dHidden = Rows(ref _dHidden, cap, R * d), dProjected = Rows(ref _dProjected, cap, R * d);
        Span<float> dConcat = Rows(ref _dConcat, 2 * cap, R * 2 * d), dEmb = Rows(ref _dEmb, cap, R * d);
        Span<float> dPrev = Rows(ref _dPrev, cap, R * d), dPart = new(_tmp.Pointer, R * d);
        Head.BackwardInput(ctx, new ReadOnlySpan<float>(Hidden.Pointer, R * d), R, lossGradient, dHidden);
        Block.BackwardInput(ctx, Batch, new ReadOnlySpan<float>(Projected.Pointer, R * d), dHidden, dProjected);
        EhProj.BackwardInput(ctx.Pool, 0, dProjected, R, dConcat);
        for (int i = 0; i < R; i++) dConcat.Slice(i * 2 * d, d).CopyTo(dPart.Slice(i * d, d));
        ENorm.BackwardInput(ctx.Pool, dPart, new ReadOnlySpan<float>(Emb.Pointer, R * d), R, dEmb);
        for (int i = 0; i < R; i++) dConcat.Slice(i * 2 * d + d, d).CopyTo(dPart.Slice(i * d, d));
        HNorm.BackwardInput(ctx.Pool, dPart, new ReadOnlySpan<float>(PrevHidden.Pointer, R * d), R, dPrev);
        return dPrev;
    }

    /// <summary>W: every weight gradient of depth k (+=), any time after <see cref="BackwardInput"/>.</summary>
    public void BackwardWeights(ForwardContext ctx)
    {
        int R = _backwardRows, d = _d;
        if (R < 0) throw new InvalidOperationException($"MTP depth {Depth}: BackwardWeights needs BackwardInput to run first.");
        Head.BackwardWeights(ctx, R);
        Block.BackwardWeights(ctx);
        EhProj.BackwardWeights(ctx.Pool, 0, new ReadOnlySpan<float>(Concat.Pointer, R * 2 * d), new ReadOnlySpan<float>(_dProjected!.Pointer, R * d), R);
        ENorm.BackwardWeights();
        HNorm.BackwardWeights();
        Embed.BackwardWeights(Batch.TokenIds, new ReadOnlySpan<float>(_dEmb!.Pointer, R * d), ctx.Pool);
    }

    public void Dispose()
    {
        foreach (var b in new[] { _dHidden, _dProjected, _dConcat, _dEmb, _dPrev }) b?.Dispose();
        PrevHidden.Dispose();
        ENorm.Dispose(); HNorm.Dispose(); Block.Dispose(); Head.Dispose();
        Emb.Dispose(); Concat.Dispose(); Projected.Dispose(); Hidden.Dispose(); _tmp.Dispose();
    }
}
