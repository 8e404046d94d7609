// MlaAttention backward — the naive path (training: causal, no KV cache, every sequence from position 0).
//
// Forward (see MlaAttention.cs), per sequence, head h, row t, context j ≤ t:
//   s_tj = (q_nope_t · k_nope_j + q_pe_t · k_pe_j) · scale     p_t = softmax(s_t)     o_t = Σ_j p_tj v_j
// Backward, dy (T, D) = ∂L/∂out:
//   dO (T, H·Dv)            = dy · W_o                                   o_proj dgrad
//   dp_tj = dO_t · v_j      ds_t = p_t ⊙ (dp_t − Σ_j p_tj dp_tj)        softmax backward (Σ_j p dp = dO_t · o_t)
//   dv_j  += p_tj dO_t      dk_nope_j += scale ds_tj q_nope_t           dq_nope_t = scale Σ_j ds_tj k_nope_j
//   dk_pe_j += scale Σ_h ds_tj q_pe_t (shared by all heads)             dq_pe_t   = scale Σ_j ds_tj k_pe_j
//   dq_pe, dk_pe ← RoPE backward (rotation by −θ)
//   dc_kv (T, Rkv)          = d[k_nope, v] (T, H·(Dn+Dv)) · W_kv_b      kv_b_proj dgrad
//   dc (T, Rkv)             = RMSNorm'(dc_kv)                            kv_a_layernorm
//   dx (T, D)               = [dc ; dk_pe] (T, Rkv+Dr) · W_kv_a          kv_a_proj_with_mqa dgrad
//   q_lora: dq_a = RMSNorm'(dq (T, H·Dq) · W_q_b);  dx += dq_a · W_q_a   else dx += dq · W_q
// Weight gradients (BackwardWeights, "W"), each += (output gradient)ᵀ · (input):
//   o_proj: dyᵀ·o   kv_b: d[k_nope,v]ᵀ·c_kv   kv_a: [dc;dk_pe]ᵀ·x   q_b/q_proj: dqᵀ·q_a_norm|x   q_a: dq_aᵀ·x
//   plus both RMSNorm weights.
// The core (scores to dk, dv) is CausalAttention.Backward per (sequence, head) (MlaAttention.Core.cs). Training
// keeps P (H, T, Lp) from the forward (16 MiB per tiny layer at 8 × 256): re-deriving it would cost the score
// GEMM and the exps again; without kept P (weights without gradients) the kernel recomputes it.
// B keeps every output gradient W needs in layer buffers (allocated by the first backward) so W can run after
// other layers' B (zero-bubble / DualPipe schedules).
using System.Numerics.Tensors;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class MlaAttention
{
    private int _backwardReady = -1;              // tokens of the last naive cache-free Forward, else -1
    private NativeBuffer<float>? _dOut;           // (T, D)            dy, kept for o_proj wgrad
    private NativeBuffer<float>? _dAttn;          // (T, H, Dv)        dO
    private NativeBuffer<float>? _dKvExp;         // (T, H, Dn + Dv)   d[k_nope, v]
    private NativeBuffer<float>? _dKpeHeads;      // (H, T, Dr)        per-head dk_pe (summed into _dKvA)
    private NativeBuffer<float>? _dQ;             // (T, H, Dq)        dq (q_pe part un-roped)
    private NativeBuffer<float>? _dCkv;           // (T, Rkv)          dc_kv
    private NativeBuffer<float>? _dC;             // (T, Rkv)          dc, gradient before kv_a_layernorm
    private NativeBuffer<float>? _dKvA;           // (T, Rkv + Dr)     [dc ; dk_pe]
    private NativeBuffer<float>? _dQANorm;        // (T, Rq)           d q_a_layernorm output
    private NativeBuffer<float>? _dQAOut;         // (T, Rq)           d q_a_proj output
    private int _backwardTokens = -1;

    private void EnsureBackwardBuffers()
    {
        if (_dOut is not null) return;
        long T = _cap.MaxTokens;
        _dOut = new NativeBuffer<float>(T * _d);
        _dAttn = new NativeBuffer<float>(T * _h * _dv);
        _dKvExp = new NativeBuffer<float>(T * _h * (_dn + _dv));
        _dKpeHeads = new NativeBuffer<float>(_h * T * _dr);
        _dQ = new NativeBuffer<float>(T * _h * _dq);
        _dCkv = new NativeBuffer<float>(T * _rkv);
        _dC = new NativeBuffer<float>(T * _rkv);
        _dKvA = new NativeBuffer<float>(T * (_rkv + _dr));
        _dQANorm = new NativeBuffer<float>(T * Math.Max(1, _rq));
        _dQAOut = new NativeBuffer<float>(T * Math.Max(1, _rq));
    }

    /// <summary>B: dx (T, D) = ∂L/∂x (overwritten) from dy (T, D) = ∂L/∂out, after a naive cache-free Forward over
    /// the same <paramref name="batch"/>. Keeps the intermediate gradients <see cref="BackwardWeights"/> needs.</summary>
    public void BackwardInput(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int T = batch.Tokens;
        if (_backwardReady != T)
            throw new InvalidOperationException($"MLA backward over {T} tokens needs a naive, cache-free Forward over the same batch first (the training path).");
        EnsureBackwardBuffers();
        _backwardTokens = T;
        WorkerPool pool = ctx.Pool;

        // o_proj: dO (T, H·Dv) = dy (T, D) · W_o (D, H·Dv)
        Span<float> dOut = S(_dOut!, (long)T * _d);
        dy[..dOut.Length].CopyTo(dOut);
        O.BackwardInput(pool, 0, dOut, T, S(_dAttn!, (long)T * _h * _dv));

        // attention core (MlaAttention.Core.cs): k_nope, v of the forward are still in _kvExp; P kept or recomputed
        int kvw = _h * (_dn + _dv);
        NaiveCoreBackward(ctx, batch);

        // RoPE backward on dq_pe (in place inside dq) and on Σ_h dk_pe
        Span<float> dq = S(_dQ!, (long)T * _h * _dq);
        Rope.ApplyBackward(dq[_dn..], batch.Positions, heads: _h, stride: _dq, pool);
        Span<float> dKvA = S(_dKvA!, (long)T * (_rkv + _dr));
        for (int t = 0; t < T; t++)
        {
            Span<float> dkpe = dKvA.Slice(t * (_rkv + _dr) + _rkv, _dr);
            dkpe.Clear();
            for (int h = 0; h < _h; h++)
                TensorPrimitives.Add(dkpe, new ReadOnlySpan<float>(_dKpeHeads!.Pointer + ((long)h * T + t) * _dr, _dr), dkpe);
        }
        Rope.ApplyBackward(dKvA[_rkv..], batch.Positions, heads: 1, stride: _rkv + _dr, pool);

        // latent: dc_kv = d[k_nope, v] · W_kv_b;  dc = RMSNorm'(dc_kv), placed beside dk_pe in dKvA
        Span<float> dCkv = S(_dCkv!, (long)T * _rkv), dc = S(_dC!, (long)T * _rkv);
        KvB.BackwardInput(pool, 0, S(_dKvExp!, (long)T * kvw), T, dCkv);
        KvNorm.BackwardInput(pool, dCkv, S(CkvIn, (long)T * _rkv), T, dc);
        for (int t = 0; t < T; t++) dc.Slice(t * _rkv, _rkv).CopyTo(dKvA.Slice(t * (_rkv + _dr), _rkv));
        KvA.BackwardInput(pool, 0, dKvA, T, dx);                                             // dx = [dc ; dk_pe] · W_kv_a

        // queries: dx += dq_a · W_q_a with dq_a = RMSNorm'(dq · W_q_b), or dx += dq · W_q
        if (QA is not null)
        {
            Span<float> dqaNorm = S(_dQANorm!, (long)T * _rq), dqa = S(_dQAOut!, (long)T * _rq);
            Q.BackwardInput(pool, 0, dq, T, dqaNorm);
            QNorm!.BackwardInput(pool, dqaNorm, S(QAOut, (long)T * _rq), T, dqa);
            QA.BackwardInput(pool, 0, dqa, T, dx, GemmOutput.Accumulate);
        }
        else
        {
            Q.BackwardInput(pool, 0, dq, T, dx, GemmOutput.Accumulate);
        }
    }

    /// <summary>W: every weight gradient of the layer (+=), from the x (T, D) given to Forward and the gradients the
    /// last <see cref="BackwardInput"/> kept.</summary>
    public void BackwardWeights(ForwardContext ctx, ReadOnlySpan<float> x)
    {
        int T = _backwardTokens;
        if (T < 0) throw new InvalidOperationException("MLA BackwardWeights needs BackwardInput to run first.");
        WorkerPool pool = ctx.Pool;
        O.BackwardWeights(pool, 0, S(Attn, (long)T * _h * _dv), S(_dOut!, (long)T * _d), T);
        KvB.BackwardWeights(pool, 0, S(Ckv, (long)T * _rkv), S(_dKvExp!, (long)T * _h * (_dn + _dv)), T);
        KvNorm.BackwardWeights();
        KvA.BackwardWeights(pool, 0, x, S(_dKvA!, (long)T * (_rkv + _dr)), T);
        Span<float> dq = S(_dQ!, (long)T * _h * _dq);
        if (QA is not null)
        {
            Q.BackwardWeights(pool, 0, S(QANorm, (long)T * _rq), dq, T);
            QNorm!.BackwardWeights();
            QA.BackwardWeights(pool, 0, x, S(_dQAOut!, (long)T * _rq), T);
        }
        else
        {
            Q.BackwardWeights(pool, 0, x, dq, T);
        }
    }

    /// <summary>B then W: dx (T, D) and all weight gradients.</summary>
    public void Backward(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        BackwardInput(ctx, batch, dy, dx);
        BackwardWeights(ctx, x);
    }

    private void DisposeBackward()
    {
        foreach (var b in new[] { _dOut, _dAttn, _dKvExp, _dKpeHeads, _dQ, _dCkv, _dC, _dKvA, _dQANorm, _dQAOut })
            b?.Dispose();
    }
}
