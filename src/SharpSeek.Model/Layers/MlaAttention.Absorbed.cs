// MlaAttention.Absorbed — the decode formulation of MLA: kv_b_proj is absorbed into the query and the output, so
// attention runs as MQA over the cached latent (no per-head keys or values are ever expanded).
//
//   W_kv_b viewed (H, Dn + Dv, Rkv) = [W_k (Dn, Rkv); W_v (Dv, Rkv)] per head
//   q_c (T, H, Rkv) = q_nope · W_k        s_tj = (q_c_t · c_kv_j + q_pe_t · k_pe_j) · scale     j ≤ pos_t
//   o_c (T, H, Rkv) = softmax(s) · c_kv   o (T, H, Dv) = o_c · W_vᵀ
// W_k and W_v are read from AbsorbedKvB, kv_b's per-head copies in its own dtype, through LinearWeight (the decode
// GEMV for all heads in one pool run, the GEMM for longer prefills) — except q_c for 2-8 tokens, which reads W_k[h]
// K-major from kv_b's rows (Gemm.GemvKN). The attention over the context is the Numerics kernel LatentAttention (one
// pass over the cache for all heads, an online softmax per block); here are the maps around it.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class MlaAttention
{
    // ---- absorbed: attend over the latent directly ----

    /// <summary>From this many tokens, q_c = q_nope · W_k[h] reads W_k[h] K-major from kv_b itself (Gemm.GemvKN: the
    /// outputs in the vector lanes, no reductions) instead of the transposed copy through the NT GEMV, whose dots of
    /// Dn = 64 are mostly horizontal reductions. Decode on `small`, alternating per step in one process: batch 2 / 4 / 8
    /// 1.025 / 1.029 / 1.040-1.044× FP8, 1.012 / 1.024 / 1.027× BF16; batch 1 0.991-1.011× (one token's eight-row
    /// NT tile reduces eight dots at once), so one token keeps the copy.</summary>
    private const int KMajorQueryMinTokens = 2;

    private static bool KMajorQuery(int tokens) => tokens >= KMajorQueryMinTokens && tokens <= Gemm.GemvMaxRows;

    private void AbsorbedCore(ForwardContext ctx, ForwardBatch batch, LatentKvCache? cache, int layer, Span<float> attn)
    {
        int tokens = batch.Tokens;
        float* qNope = _qNope.Pointer, qout = QOut.Pointer, qc = _qc.Pointer, oc = _oc.Pointer, oHeads = _oHeads.Pointer;
        // q_c[h] (T, Rkv) = q_nope[h] (T, Dn) · W_k[h]: one GEMV run (decode) over all heads, reading kv_b's bytes
        for (int h = 0; h < _h; h++)
            for (int t = 0; t < tokens; t++)
                new ReadOnlySpan<float>(qout + ((long)t * _h + h) * _dq, _dn).CopyTo(new Span<float>(qNope + ((long)h * tokens + t) * _dn, _dn));
        if (KMajorQuery(tokens))
        {   // decode batches: W_k[h] read K-major from kv_b's own rows
            Span<GemvKNProblem> problems = _h <= 256 ? stackalloc GemvKNProblem[_h] : new GemvKNProblem[_h];
            for (int h = 0; h < _h; h++)
                problems[h] = KvB.GemvKN(0, h * (_dn + _dv), _dn, qNope + (long)h * tokens * _dn, tokens, qc + (long)h * tokens * _rkv);
            Gemm.GemvKN(ctx.Pool, problems);
        }
        else _kvbHeads.KT.ForwardEachGroup(ctx.Pool, qNope, tokens, qc);
        ctx.Round(new Span<float>(qc, checked(_h * tokens * _rkv)));

        // o_c[h] = softmax(s_h) · c_kv over each row's latent context (LatentAttention: the context read once per
        // step for all heads, scored and combined block by block)
        Span<LatentRow> rows = _latentRows.AsSpan(0, tokens);
        foreach (var seq in batch.Sequences)
        {
            var (ckv, kpe) = Context(seq, cache, layer);
            for (int i = 0; i < seq.Rows; i++)
                rows[seq.FirstRow + i] = new LatentRow { Ckv = (float*)ckv, Kpe = (float*)kpe, Length = seq.StartPos + i + 1, Row = seq.FirstRow + i };
        }
        var args = new LatentAttentionArgs
        {
            Heads = _h, Rkv = _rkv, Dr = _dr, Scale = _scale,
            Qc = qc, QcHead = (long)tokens * _rkv, QcRow = _rkv,
            Qpe = qout + _dn, QpeHead = _dq, QpeRow = (long)_h * _dq,
            O = oc, OHead = (long)tokens * _rkv, ORow = _rkv,
        };
        LatentAttention.Forward(ctx.Pool, args, rows);
        ctx.Round(new Span<float>(oc, checked(_h * tokens * _rkv)));

        // o[h] (T, Dv) = o_c[h] (T, Rkv) · W_v[h]ᵀ, then laid out (T, H, Dv)
        _kvbHeads.V.ForwardEachGroup(ctx.Pool, oc, tokens, oHeads);
        for (int h = 0; h < _h; h++)
            for (int t = 0; t < tokens; t++)
                new ReadOnlySpan<float>(oHeads + ((long)h * tokens + t) * _dv, _dv).CopyTo(attn.Slice((t * _h + h) * _dv, _dv));
    }
}
