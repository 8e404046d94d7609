// LmHead — final RMSNorm and the output projection (the main model's `model.norm` + `lm_head`, and each MTP
// module's `shared_head.norm` + `shared_head.head`).
//
//   n = RMSNorm(h)   (T, D)  all rows (MTP reads them)        logits = n[rows] · W_headᵀ   (R, V)
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class LmHead : IDisposable
{
    private readonly int _d;
    public RmsNormLayer Norm { get; }
    public LinearWeight Head { get; }             // (V, D)
    public NativeBuffer<float> Normed { get; }    // (T, D)
    private readonly NativeBuffer<float> _gather; // (T, D)
    public int Vocab => Head.OutFeatures;

    public LmHead(ModelConfig c, NativeBuffer<float> normWeight, LinearWeight head, int maxTokens)
    {
        _d = c.HiddenSize;
        Norm = new RmsNormLayer(normWeight, c.RmsNormEps, maxTokens);
        Head = head;
        Normed = new NativeBuffer<float>((long)maxTokens * _d);
        _gather = new NativeBuffer<float>((long)maxTokens * _d);
    }

    public Span<float> NormedRows(int tokens) => new(Normed.Pointer, tokens * _d);

    public void Forward(ForwardContext ctx, ReadOnlySpan<float> h /* (T, D) */, int tokens) =>
        Norm.Forward(ctx, h, tokens, NormedRows(tokens));

    /// <summary>logits (R, V) for the normalised rows <paramref name="rows"/> (after <see cref="Forward"/>).</summary>
    public void Logits(ForwardContext ctx, ReadOnlySpan<int> rows, Span<float> logits)
    {
        var g = new Span<float>(_gather.Pointer, rows.Length * _d);
        for (int r = 0; r < rows.Length; r++)
            new ReadOnlySpan<float>(Normed.Pointer + (long)rows[r] * _d, _d).CopyTo(g.Slice(r * _d, _d));
        Head.Forward(ctx.Pool, 0, g, rows.Length, logits[..(rows.Length * Vocab)]);
    }

    public void Dispose()
    {
        Norm.Dispose();
        Normed.Dispose();
        _gather.Dispose();
    }
}
