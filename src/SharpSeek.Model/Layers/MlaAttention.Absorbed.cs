// MlaAttention.Absorbed — the decode formulation of MLA: kv_b_proj is absorbed into the query and the output, so
// attention runs as MQA over the cached latent (no per-head keys or values are ever expanded).
//
//   W_kv_b viewed (H, Dn + Dv, Rkv) = [W_k (Dn, Rkv); W_v (Dv, Rkv)] per head
//   q_c (T, H, Rkv) = q_nope · W_k        s_tj = (q_c_t · c_kv_j + q_pe_t · k_pe_j) · scale     j ≤ pos_t
//   o_c (T, H, Rkv) = softmax(s) · c_kv   o (T, H, Dv) = o_c · W_vᵀ
using System.Numerics.Tensors;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class MlaAttention
{
    // ---- absorbed: attend over the latent directly ----
    private void AbsorbedCore(ForwardContext ctx, ForwardBatch batch, LatentKvCache? cache, int layer, Span<float> attn)
    {
        // one task per head, all sequences: q_c, scores over the latent context, o_c and the value projection
        var job = new AbsorbedJob(this, ctx, batch, cache, layer, Attn.Pointer);
        ctx.Pool.Run(_h, ref job);
    }

    private readonly struct AbsorbedJob(MlaAttention m, ForwardContext ctx, ForwardBatch batch, LatentKvCache? cache, int layer, float* attn)
        : IParallelJob
    {
        public void Execute(int h, int worker)
        {
            int rkv = m._rkv, dr = m._dr, dq = m._dq, dn = m._dn, dv = m._dv, tokens = batch.Tokens;
            float* wk = m._kvbF32.Pointer + (long)h * (dn + dv) * rkv;     // W_k[h] (Dn, Rkv)
            float* wv = wk + (long)dn * rkv;                               // W_v[h] (Dv, Rkv)
            Span<float> scores = new(m._scores.Pointer + (long)h * m._cap.MaxContext, m._cap.MaxContext);
            foreach (var seq in batch.Sequences)
            {
                var (ckvPtr, kpePtr) = m.Context(seq, cache, layer);
                float* ckvCtx = (float*)ckvPtr, kpeCtx = (float*)kpePtr;
                for (int i = 0; i < seq.Rows; i++)
                {
                    int t = seq.FirstRow + i, len = seq.StartPos + i + 1;
                    float* qrow = m.QOut.Pointer + ((long)t * m._h + h) * dq;
                    // q_c (Rkv) = q_nope (Dn) · W_k[h] (Dn, Rkv)
                    var qc = new Span<float>(m._qc.Pointer + ((long)h * tokens + t) * rkv, rkv);
                    qc.Clear();
                    for (int d = 0; d < dn; d++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(wk + (long)d * rkv, rkv), qrow[d], qc, qc);
                    ctx.Round(qc);
                    var qp = new ReadOnlySpan<float>(qrow + dn, dr);
                    for (int j = 0; j < len; j++)
                        scores[j] = (TensorPrimitives.Dot(qc, new ReadOnlySpan<float>(ckvCtx + (long)j * rkv, rkv))
                                   + TensorPrimitives.Dot(qp, new ReadOnlySpan<float>(kpeCtx + (long)j * dr, dr))) * m._scale;
                    Span<float> p = scores[..len];
                    Softmax.Forward(1, len, p, p);
                    // o_c (Rkv) = p (L) · c_kv (L, Rkv)
                    var oc = new Span<float>(m._oc.Pointer + ((long)h * tokens + t) * rkv, rkv);
                    oc.Clear();
                    for (int j = 0; j < len; j++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(ckvCtx + (long)j * rkv, rkv), p[j], oc, oc);
                    ctx.Round(oc);
                    // o (Dv) = W_v[h] (Dv, Rkv) · o_c
                    float* o = attn + ((long)t * m._h + h) * dv;
                    for (int e = 0; e < dv; e++) o[e] = TensorPrimitives.Dot(new ReadOnlySpan<float>(wv + (long)e * rkv, rkv), oc);
                }
            }
        }
    }
}
