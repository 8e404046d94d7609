// MlaAttention core, naive path — expand the latent context to per-head keys and values, then one
// CausalAttention call per (sequence, head) task:
//   [k_nope, v] (L, H, Dn + Dv) = c_kv (L, Rkv) · W_kv_bᵀ                    one GEMM (all rows when cache-free)
//   head h: Q_h = q[:, h, :] (Lq, Dq)   K_h = [k_nope[:, h, :] | k_pe] (L, Dq)   V_h = v[:, h, :] (L, Dv)
//           O_h = softmax(Q_h K_hᵀ · scale, causal) V_h  →  attn[:, h, :] (Lq, Dv)
// The kernel reads q, k_nope, k_pe, v and writes attn, dq, d[k_nope, v] through their row strides: no per-head
// copies. Training (cache-free, weights with gradients) keeps P (H, Lq, Lp) per sequence for the backward, which
// then needs neither the kv_b GEMM nor the scores again; otherwise the backward recomputes P per head.
// Backward per (sequence, head): dq (all of head h's columns), d[k_nope, v] (head h's columns) and head h's
// dk_pe rows (H, T, Dr) — disjoint across tasks; Σ_h dk_pe runs after, in head order (deterministic).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class MlaAttention
{
    private NativeBuffer<float>? _probs;          // (Σ_s H · Rows_s · Lp_s)  P of the last training forward
    private long[]? _probOffsets;                 // (sequences + 1) start of sequence s in _probs
    private bool _probsKept;
    private NativeBuffer<float>? _coreScratch;    // (threads, ScratchFloats) per-worker kernel scratch
    private long _coreScratchPerWorker;

    private void NaiveCore(ForwardContext ctx, ForwardBatch batch, LatentKvCache? cache, int layer, Span<float> attn)
    {
        int kvw = _h * (_dn + _dv);
        if (cache is null)
        {
            // every sequence from position 0 over its own rows: expand all T rows at once and keep them for backward
            int T = batch.Tokens;
            ctx.Linear(KvB, S(Ckv, (long)T * _rkv), T, S(_kvExp, (long)T * kvw));   // (T, H, Dn + Dv)
            _probsKept = O.HasGradient;
            if (_probsKept) EnsureProbs(batch);
            EnsureCoreScratch(ctx.Pool, batch, cache);
            var job = new CoreJob(this, batch, -1, null, 0, backward: false);
            ctx.Pool.Run(batch.SequenceCount * _h, ref job);
            return;
        }
        _probsKept = false;
        EnsureCoreScratch(ctx.Pool, batch, cache);
        for (int s = 0; s < batch.SequenceCount; s++)
        {
            var seq = batch.Sequences[s];
            int L = seq.StartPos + seq.Rows;
            var (ckvCtx, _) = Context(seq, cache, layer);
            ctx.Linear(KvB, new ReadOnlySpan<float>((float*)ckvCtx, L * _rkv), L, S(_kvExp, (long)L * kvw));   // (L, H, Dn + Dv)
            var job = new CoreJob(this, batch, s, cache, layer, backward: false);
            ctx.Pool.Run(_h, ref job);
        }
    }

    /// <summary>The attention core backward of the last cache-free forward: dq, d[k_nope, v], per-head dk_pe.</summary>
    private void NaiveCoreBackward(ForwardContext ctx, ForwardBatch batch)
    {
        EnsureCoreScratch(ctx.Pool, batch, null);
        var job = new CoreJob(this, batch, -1, null, 0, backward: true);
        ctx.Pool.Run(batch.SequenceCount * _h, ref job);
    }

    private void EnsureProbs(ForwardBatch batch)
    {
        _probOffsets ??= new long[_cap.MaxSequences + 1];
        long total = 0;
        for (int s = 0; s < batch.SequenceCount; s++)
        {
            _probOffsets[s] = total;
            var seq = batch.Sequences[s];
            total += (long)_h * seq.Rows * CausalAttention.PaddedLength(seq.StartPos + seq.Rows);
        }
        _probOffsets[batch.SequenceCount] = total;
        if (_probs is null || _probs.Length < total)
        {
            _probs?.Dispose();
            _probs = new NativeBuffer<float>(total);
        }
    }

    private void EnsureCoreScratch(WorkerPool pool, ForwardBatch batch, LatentKvCache? cache)
    {
        long per = 0;
        foreach (var seq in batch.Sequences)
            per = Math.Max(per, CausalAttention.ScratchFloats(seq.Rows, seq.StartPos + seq.Rows, _dq, _dv));
        if (_coreScratch is not null && per <= _coreScratchPerWorker && _coreScratch.Length >= per * pool.Threads) return;
        _coreScratch?.Dispose();
        _coreScratchPerWorker = Math.Max(per, _coreScratchPerWorker);
        _coreScratch = new NativeBuffer<float>(_coreScratchPerWorker * pool.Threads);
    }

    /// <summary>Task = (sequence, head): sequence <c>onlySeq</c> (its context expanded at row 0 of _kvExp) or, with
    /// onlySeq = −1, task / H over the cache-free batch (expanded at the sequences' own rows).</summary>
    private readonly struct CoreJob(MlaAttention m, ForwardBatch batch, int onlySeq, LatentKvCache? cache, int layer, bool backward)
        : IParallelJob
    {
        public void Execute(int task, int worker)
        {
            int H = m._h, h = task % H, s = onlySeq >= 0 ? onlySeq : task / H;
            int dn = m._dn, dv = m._dv, dq = m._dq, dr = m._dr, blk = dn + dv, kvw = H * blk;
            var seq = batch.Sequences[s];
            int f = seq.FirstRow, L = seq.StartPos + seq.Rows, lp = CausalAttention.PaddedLength(L);
            float* kv = m._kvExp.Pointer + (onlySeq >= 0 ? 0 : (long)f * kvw) + h * blk;   // k_nope_h of context row 0
            var (_, kpe) = m.Context(seq, cache, layer);
            long rowQ = (long)f * H + h;                                                // (T, H, ·) row of query 0
            var a = new CausalAttentionArgs
            {
                Lq = seq.Rows, L = L, Dq = dq, Dk1 = dn, Dv = dv, Scale = m._scale,
                Q = m.QOut.Pointer + rowQ * dq, LdQ = (long)H * dq,
                K1 = kv, LdK1 = kvw, K2 = (float*)kpe, LdK2 = dr, V = kv + dn, LdV = kvw,
                O = m.Attn.Pointer + rowQ * dv, LdO = (long)H * dv,
                P = m._probsKept ? m._probs!.Pointer + m._probOffsets![s] + (long)h * seq.Rows * lp : null, LdP = lp,
            };
            float* scratch = m._coreScratch!.Pointer + worker * m._coreScratchPerWorker;
            if (!backward)
            {
                CausalAttention.Forward(a, scratch, Simd.Active);
                return;
            }
            float* dkv = m._dKvExp!.Pointer + (long)f * kvw + h * blk;
            a.DO = m._dAttn!.Pointer + rowQ * dv; a.LdDO = (long)H * dv;
            a.DQ = m._dQ!.Pointer + rowQ * dq; a.LdDQ = (long)H * dq;
            a.DK1 = dkv; a.LdDK1 = kvw;
            a.DK2 = m._dKpeHeads!.Pointer + ((long)h * batch.Tokens + f) * dr; a.LdDK2 = dr;
            a.DV = dkv + dn; a.LdDV = kvw;
            CausalAttention.Backward(a, scratch, Simd.Active);
        }
    }

    private void DisposeCore()
    {
        _probs?.Dispose();
        _coreScratch?.Dispose();
    }
}
