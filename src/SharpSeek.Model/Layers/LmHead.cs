// LmHead — final RMSNorm and the output projection (the main model's `model.norm` + `lm_head`, and each MTP
// module's `shared_head.norm` + `shared_head.head`).
//
//   n = RMSNorm(h)   (T, D)  all rows (MTP reads them)        logits = n[rows] · W_headᵀ   (R, V)
//
// Training (Loss over all T rows, targets (T) with CrossEntropy.IgnoreIndex for rows without a label):
//   z = n · W_headᵀ (T, V)      L = mean_{valid t} CE(z_t, target_t)
//   Loss also computes the unit gradient dz₁ = (softmax(z) − onehot) / valid in place over z (CrossEntropy.
//   ForwardBackward: one pass over the (T, V) logits instead of a forward pass and a backward pass).
// Backward, scaled by g = lossGradient (1 for the main loss, λ/D for an MTP depth); dz = g · dz₁ is never formed —
// g goes onto the small (T, D) operands instead:
//   B: dn (T, D) = NormedGrad + g · (dz₁ · W_head)  (g = 1: one accumulating GEMM; else GEMM into scratch, then axpy)
//      (NormedGrad: what readers of n, i.e. MTP, added after Loss)
//      dh (T, D) = RMSNorm'(dn)
//   W: dW_head += dz₁ᵀ · (g · n)      dw_norm += Σ_t dn_t ⊙ n̂_t
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

    // Training buffers, allocated by the first Loss call (inference never pays for (T, V) logits).
    private readonly int _maxTokens;
    private NativeBuffer<float>? _logits;     // (T, V) z, overwritten by dz₁ = (softmax − onehot) / valid in Loss
    private NativeBuffer<float>? _losses;     // (T)
    private NativeBuffer<float>? _dNormed;    // (T, D) dn
    private int[] _targets = [];              // (T)
    private int _lossTokens = -1;
    private float _lossGradient = float.NaN;  // g of the last BackwardInput (NaN: none since Loss)

    public LmHead(ModelConfig c, NativeBuffer<float> normWeight, LinearWeight head, int maxTokens)
        : this(c, new RmsNormLayer(normWeight, c.RmsNormEps, maxTokens), head, maxTokens)
    {
    }

    /// <summary>The trainable head: norm weight <paramref name="normName"/> (its gradient lives in <paramref name="w"/>)
    /// and head weight <paramref name="headName"/>.</summary>
    public LmHead(ModelWeights w, string normName, string headName, int maxTokens)
        : this(w.Config, new RmsNormLayer(w, normName, maxTokens), w.Linear(headName), maxTokens)
    {
    }

    private LmHead(ModelConfig c, RmsNormLayer norm, LinearWeight head, int maxTokens)
    {
        _d = c.HiddenSize;
        Norm = norm;
        Head = head;
        Normed = new NativeBuffer<float>((long)maxTokens * _d);
        _gather = new NativeBuffer<float>((long)maxTokens * _d);
        _maxTokens = maxTokens;
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

    // ---- training: loss and backward ----

    /// <summary>Mean cross-entropy of all T rows (after <see cref="Forward"/>) against targets (T) (IgnoreIndex skips a
    /// row). Zeroes <see cref="NormedGradOf"/> for readers of n to add into before <see cref="BackwardInput"/>.</summary>
    public double Loss(ForwardContext ctx, ReadOnlySpan<int> targets /* (T) */, int tokens)
    {
        if (targets.Length != tokens) throw new ArgumentException($"{targets.Length} targets for {tokens} rows; give one per row (IgnoreIndex to skip).");
        if (_logits is null)
        {
            _logits = new NativeBuffer<float>((long)_maxTokens * Vocab);
            _losses = new NativeBuffer<float>(_maxTokens);
            _dNormed = new NativeBuffer<float>((long)_maxTokens * _d);
            _targets = new int[_maxTokens];
        }
        targets.CopyTo(_targets);
        _lossTokens = tokens;
        _lossGradient = float.NaN;
        NormedGradOf(tokens).Clear();
        var z = new Span<float>(_logits.Pointer, tokens * Vocab);
        Head.Forward(ctx.Pool, 0, NormedRows(tokens), tokens, z);
        return CrossEntropy.ForwardBackward(tokens, Vocab, z, targets, new Span<float>(_losses!.Pointer, tokens), 1f, z, ctx.Pool);   // z → dz₁
    }

    /// <summary>dn (T, D) accumulator: zeroed by <see cref="Loss"/>; MTP adds ∂L_mtp/∂n here before BackwardInput.</summary>
    public Span<float> NormedGradOf(int tokens) => _dNormed is null
        ? throw new InvalidOperationException("call Loss before using the LM head's gradient buffers.")
        : new Span<float>(_dNormed.Pointer, tokens * _d);

    /// <summary>Per-row losses (T) of the last <see cref="Loss"/>.</summary>
    public ReadOnlySpan<float> RowLosses => _losses is null ? [] : new ReadOnlySpan<float>(_losses.Pointer, _lossTokens);

    /// <summary>B: dh (T, D) = ∂(lossGradient · L)/∂h (overwritten), h the input given to <see cref="Forward"/>.</summary>
    public void BackwardInput(ForwardContext ctx, ReadOnlySpan<float> h /* (T, D) */, int tokens, float lossGradient, Span<float> dh /* (T, D) */)
    {
        RequireLoss(tokens);
        var dz = new ReadOnlySpan<float>(_logits!.Pointer, tokens * Vocab);          // dz₁ (T, V)
        Span<float> dn = NormedGradOf(tokens);
        if (lossGradient == 1f)
            Head.BackwardInput(ctx.Pool, 0, dz, tokens, dn, GemmOutput.Accumulate);
        else
        {
            var scratch = new Span<float>(_gather.Pointer, tokens * _d);               // dz₁ · W_head (T, D)
            Head.BackwardInput(ctx.Pool, 0, dz, tokens, scratch, GemmOutput.Overwrite);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(scratch, lossGradient, dn, dn);
        }
        _lossGradient = lossGradient;
        Norm.BackwardInput(ctx.Pool, dn, h, tokens, dh);
    }

    /// <summary>W: dW_head += dz₁ᵀ · (g · n) and the final norm's weight gradient (after <see cref="BackwardInput"/>).</summary>
    public void BackwardWeights(ForwardContext ctx, int tokens)
    {
        RequireLoss(tokens);
        if (float.IsNaN(_lossGradient))
            throw new InvalidOperationException("LM head BackwardWeights needs BackwardInput (which fixes the loss gradient) first.");
        ReadOnlySpan<float> n = NormedRows(tokens);
        if (_lossGradient != 1f)
        {
            var scaled = new Span<float>(_gather.Pointer, tokens * _d);                // g · n (T, D)
            System.Numerics.Tensors.TensorPrimitives.Multiply(n, _lossGradient, scaled);
            n = scaled;
        }
        Head.BackwardWeights(ctx.Pool, 0, n, new ReadOnlySpan<float>(_logits!.Pointer, tokens * Vocab), tokens);
        Norm.BackwardWeights();
    }

    public void Backward(ForwardContext ctx, ReadOnlySpan<float> h, int tokens, float lossGradient, Span<float> dh)
    {
        BackwardInput(ctx, h, tokens, lossGradient, dh);
        BackwardWeights(ctx, tokens);
    }

    private void RequireLoss(int tokens)
    {
        if (_lossTokens != tokens)
            throw new InvalidOperationException($"LM head backward for {tokens} rows needs Loss over the same {tokens} rows first (last Loss: {_lossTokens}).");
    }

    public void Dispose()
    {
        Norm.Dispose();
        _logits?.Dispose(); _losses?.Dispose(); _dNormed?.Dispose();
        Normed.Dispose();
        _gather.Dispose();
    }
}
