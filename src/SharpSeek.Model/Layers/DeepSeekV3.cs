// DeepSeekV3 — the model: embedding, decoder blocks, final norm + LM head, MTP modules.
//
//   h_0 = Embed(ids)                       (T, D)
//   h_{l+1} = Block_l(h_l)                 l < num_hidden_layers, (T, D) each, all kept (Residual[l])
//   n = RMSNorm(h_L)  logits = n[rows]·W_headᵀ   (R, V)
//   MTP depth k: see MtpModule; runs on the main model's n without a cache.
// All parameters come from ModelWeights; all activations are allocated here once for a ForwardCapacity.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class DeepSeekV3 : IDisposable
{
    private readonly int _d;
    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public ForwardContext Context { get; }
    public ForwardCapacity Capacity { get; }

    public Embedding Embed { get; }
    public RotaryEmbedding Rope { get; }
    public DecoderBlock[] Blocks { get; }
    public LmHead Head { get; }
    public MtpModule[] Mtp { get; }
    public NativeBuffer<float>[] Residual { get; }   // (L + 1) × (T, D)

    // MTP row bookkeeping: _mtpFirst[k][s] = first row of sequence s at depth k (k = 0: the main batch),
    // _mtpRows[k][s] = its row count; depth k's row i of sequence s reads depth k-1's row _mtpFirst[k-1][s] + i.
    private readonly int[][] _mtpFirst, _mtpRows;

    public DeepSeekV3(ModelWeights weights, ForwardContext context, ForwardCapacity capacity)
    {
        Config = weights.Config;
        Weights = weights;
        Context = context;
        Capacity = capacity;
        var c = Config;
        _d = c.HiddenSize;
        int T = capacity.MaxTokens;
        Embed = new Embedding(weights.Linear("model.embed_tokens.weight"));
        Rope = new RotaryEmbedding(c, Math.Max(capacity.MaxContext, T));
        Blocks = new DecoderBlock[c.NumHiddenLayers];
        for (int l = 0; l < Blocks.Length; l++) Blocks[l] = new DecoderBlock(c, weights, l, Rope, capacity);
        Head = new LmHead(weights, "model.norm.weight", "lm_head.weight", T);
        Mtp = new MtpModule[c.NumNextnPredictLayers];
        for (int k = 0; k < Mtp.Length; k++) Mtp[k] = new MtpModule(c, weights, k + 1, Rope, capacity);
        Residual = new NativeBuffer<float>[Blocks.Length + 1];
        for (int l = 0; l < Residual.Length; l++) Residual[l] = new NativeBuffer<float>((long)T * _d);
        _mtpFirst = new int[Mtp.Length + 1][];
        _mtpRows = new int[Mtp.Length + 1][];
        for (int k = 0; k <= Mtp.Length; k++)
        {
            _mtpFirst[k] = new int[capacity.MaxSequences];
            _mtpRows[k] = new int[capacity.MaxSequences];
        }
        _mtpTargets = new int[T];
        _mtpLosses = new double[Mtp.Length];
    }

    public int Vocab => Head.Vocab;

    private Span<float> Rows(NativeBuffer<float> b, int tokens) => new(b.Pointer, tokens * _d);

    /// <summary>Runs the main stack over <paramref name="batch"/>; afterwards <see cref="Logits"/> gives any row's
    /// logits. With a cache, each sequence's earlier positions must already be in its slot.</summary>
    public void Forward(ForwardBatch batch, LatentKvCache? cache, MlaPath path)
    {
        int T = batch.Tokens;
        Capacity.Check(batch);
        Embed.Forward(batch.TokenIds, Rows(Residual[0], T), Context.Pool);
        Context.Round(Rows(Residual[0], T));
        for (int l = 0; l < Blocks.Length; l++)
            Blocks[l].Forward(Context, batch, Rows(Residual[l], T), Rows(Residual[l + 1], T), cache, l, path);
        Head.Forward(Context, Rows(Residual[^1], T), T);
    }

    /// <summary>logits (R, V) of batch rows <paramref name="rows"/> after <see cref="Forward"/>.</summary>
    public void Logits(ReadOnlySpan<int> rows, Span<float> logits) => Head.Logits(Context, rows, logits);

    /// <summary>The last row of every sequence of <paramref name="batch"/> (the rows decoding needs).</summary>
    public static void LastRows(ForwardBatch batch, Span<int> rows)
    {
        for (int s = 0; s < batch.SequenceCount; s++) rows[s] = batch.Sequences[s].FirstRow + batch.Sequences[s].Rows - 1;
    }

    /// <summary>MTP logits of every depth after a cache-free <see cref="Forward"/> over <paramref name="batch"/>:
    /// depth k yields, per sequence of length n, n - k rows (row i predicts t[i+k+1]); depth k's rows go to
    /// <paramref name="logits"/>[k-1] (R_k, V). Returns the row counts R_k.</summary>
    public int[] MtpForward(ForwardBatch batch, Span<float> logitsAllDepths)
    {
        if (Mtp.Length == 0) throw new InvalidOperationException("this checkpoint has no MTP modules (num_nextn_predict_layers = 0).");
        var counts = new int[Mtp.Length];
        int written = 0;
        for (int k = 1; k <= Mtp.Length; k++)
        {
            int row = RunMtpDepth(k, batch);
            counts[k - 1] = row;
            if (row == 0) continue;
            var all = new int[row];
            for (int i = 0; i < row; i++) all[i] = i;
            Mtp[k - 1].Head.Logits(Context, all, logitsAllDepths.Slice(written * Vocab, row * Vocab));
            written += row;
        }
        return counts;
    }

    /// <summary>Depth k over <paramref name="batch"/> (after Forward and depths 1..k-1): builds its shifted rows
    /// (ids t[i+k], h = the previous depth's normalised rows), runs it, returns its row count R_k.</summary>
    private int RunMtpDepth(int k, ForwardBatch batch)
    {
        var module = Mtp[k - 1];
        NativeBuffer<float> prevNormed = k == 1 ? Head.Normed : Mtp[k - 2].Head.Normed;
        module.Batch.Clear();
        var hIn = new Span<float>(module.PrevHidden.Pointer, Capacity.MaxTokens * _d);
        int row = 0;
        for (int s = 0; s < batch.SequenceCount; s++)
        {
            var seq = batch.Sequences[s];
            if (k == 1) { _mtpFirst[0][s] = seq.FirstRow; _mtpRows[0][s] = seq.Rows; }
            int n = Math.Max(seq.Rows - k, 0);           // rows i = 0 .. n-1 use t[i+k] and h_prev[i]
            _mtpFirst[k][s] = row;
            _mtpRows[k][s] = n;
            if (n == 0) continue;
            module.Batch.Add(seq.Slot, 0, batch.TokenIds.Slice(seq.FirstRow + k, n));
            new ReadOnlySpan<float>(prevNormed.Pointer + (long)_mtpFirst[k - 1][s] * _d, n * _d).CopyTo(hIn.Slice(row * _d, n * _d));
            row += n;
        }
        if (row > 0) module.Forward(Context, module.Batch, hIn[..(row * _d)]);
        return row;
    }

    public void Dispose()
    {
        foreach (var b in Blocks) b.Dispose();
        Head.Dispose();
        foreach (var m in Mtp) m.Dispose();
        foreach (var r in Residual) r.Dispose();
        _dResidual?.Dispose();
    }
}
