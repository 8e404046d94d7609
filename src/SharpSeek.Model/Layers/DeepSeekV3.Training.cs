// DeepSeekV3 training pass — loss forward and the whole-model backward (llm.c's gpt2_forward with targets and
// gpt2_backward as straight-line call lists).
//
//   L = CE_main(logits, targets) + (λ / D_mtp) · Σ_k CE_k(mtp logits_k, targets shifted by k)
//       targets (T): row t's next token (CrossEntropy.IgnoreIndex: no label); depth k row i of a sequence predicts
//       t[i+k+1] = targets[FirstRow + i + k]
// Backward (B), in reverse forward order:
//   for k = D_mtp .. 1:  dh_prev (R_k, D) = MTP_k'(λ/D_mtp)  → added into ∂L/∂n of depth k-1 (k = 1: the main
//                        model's normalised final hidden state n, which depth 1 reads)
//   dh_L (T, D) = LmHead'(1)  (final RMSNorm and head, including the MTP contribution to ∂L/∂n)
//   dh_l = Block_l'(dh_{l+1})   l = L-1 .. 0                  dh_0 (T, D) → embedding rows (W)
// W: every module's weight gradients (+=), any time after B. The batch must stay unchanged from ForwardLoss
// to the end of backward.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class DeepSeekV3
{
    private readonly int[] _mtpTargets;        // (T) targets of one MTP depth
    private readonly double[] _mtpLosses;      // (D_mtp) mean CE per depth of the last ForwardLoss
    private NativeBuffer<float>? _dResidual;   // (T, D) ∂L/∂h_l, reused from h_L down to h_0 (kept for the embedding W)
    private ForwardBatch? _trainBatch;

    /// <summary>Mean cross-entropy of each MTP depth from the last <see cref="ForwardLoss"/> (NaN for a depth with no rows).</summary>
    public ReadOnlySpan<double> MtpLosses => _mtpLosses;

    /// <summary>Training forward over a cache-free batch (naive MLA): main stack, every MTP depth and their losses.
    /// Returns the main mean cross-entropy; per-depth MTP losses are in <see cref="MtpLosses"/>.</summary>
    public double ForwardLoss(ForwardBatch batch, ReadOnlySpan<int> targets /* (T) */)
    {
        int T = batch.Tokens;
        if (targets.Length != T) throw new ArgumentException($"{targets.Length} targets for {T} tokens; give one per token (CrossEntropy.IgnoreIndex for none).");
        Forward(batch, null, MlaPath.Naive);
        double loss = Head.Loss(Context, targets, T);
        for (int k = 1; k <= Mtp.Length; k++)
        {
            int rows = RunMtpDepth(k, batch);
            _mtpLosses[k - 1] = double.NaN;
            if (rows == 0) continue;
            for (int s = 0; s < batch.SequenceCount; s++)
                for (int i = 0; i < _mtpRows[k][s]; i++)
                    _mtpTargets[_mtpFirst[k][s] + i] = targets[batch.Sequences[s].FirstRow + i + k];
            _mtpLosses[k - 1] = Mtp[k - 1].Head.Loss(Context, _mtpTargets.AsSpan(0, rows), rows);
        }
        _trainBatch = batch;
        return loss;
    }

    /// <summary>B of the whole model for L = CE_main + mtpWeight / D_mtp · Σ_k CE_k (mtpWeight = λ).</summary>
    public void BackwardInput(float mtpWeight)
    {
        ForwardBatch batch = _trainBatch ?? throw new InvalidOperationException("call ForwardLoss before backward.");
        int T = batch.Tokens;
        for (int k = Mtp.Length; k >= 1; k--)
        {
            MtpModule module = Mtp[k - 1];
            if (module.Batch.Tokens == 0 || double.IsNaN(_mtpLosses[k - 1])) continue;
            ReadOnlySpan<float> dPrev = module.BackwardInput(Context, mtpWeight / Mtp.Length);     // (R_k, D)
            Span<float> dPrevNormed = k == 1 ? Head.NormedGradOf(T) : Mtp[k - 2].Head.NormedGradOf(Mtp[k - 2].Batch.Tokens);
            for (int s = 0; s < batch.SequenceCount; s++)
            {
                int n = _mtpRows[k][s] * _d;
                if (n == 0) continue;
                Span<float> into = dPrevNormed.Slice(_mtpFirst[k - 1][s] * _d, n);
                System.Numerics.Tensors.TensorPrimitives.Add(into, dPrev.Slice(_mtpFirst[k][s] * _d, n), into);
            }
        }
        _dResidual ??= new NativeBuffer<float>((long)Capacity.MaxTokens * _d);
        var dh = new Span<float>(_dResidual.Pointer, T * _d);
        Head.BackwardInput(Context, Rows(Residual[^1], T), T, 1f, dh);                            // dh_L
        for (int l = Blocks.Length - 1; l >= 0; l--)
            Blocks[l].BackwardInput(Context, batch, Rows(Residual[l], T), dh, dh);                // dh_l, in place
    }

    /// <summary>W of the whole model: every weight gradient (+=) from the last <see cref="BackwardInput"/>.</summary>
    public void BackwardWeights()
    {
        ForwardBatch batch = _trainBatch ?? throw new InvalidOperationException("call ForwardLoss before backward.");
        int T = batch.Tokens;
        for (int k = 1; k <= Mtp.Length; k++)
            if (Mtp[k - 1].Batch.Tokens > 0 && !double.IsNaN(_mtpLosses[k - 1])) Mtp[k - 1].BackwardWeights(Context);
        Head.BackwardWeights(Context, T);
        foreach (var block in Blocks) block.BackwardWeights(Context);
        Embed.BackwardWeights(batch.TokenIds, new ReadOnlySpan<float>(_dResidual!.Pointer, T * _d), Context.Pool);
    }

    /// <summary>B then W: all gradients of L = CE_main + mtpWeight / D_mtp · Σ_k CE_k after <see cref="ForwardLoss"/>.</summary>
    public void Backward(float mtpWeight)
    {
        BackwardInput(mtpWeight);
        BackwardWeights();
    }
}
