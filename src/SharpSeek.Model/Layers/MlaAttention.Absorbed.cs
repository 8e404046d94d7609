// MlaAttention.Absorbed — the decode formulation of MLA: kv_b_proj is absorbed into the query and the output, so
// attention runs as MQA over the cached latent (no per-head keys or values are ever expanded).
//
//   W_kv_b viewed (H, Dn + Dv, Rkv) = [W_k (Dn, Rkv); W_v (Dv, Rkv)] per head
//   q_c (T, H, Rkv) = q_nope · W_k        s_tj = (q_c_t · c_kv_j + q_pe_t · k_pe_j) · scale     j ≤ pos_t
//   o_c (T, H, Rkv) = softmax(s) · c_kv   o (T, H, Dv) = o_c · W_vᵀ
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
                    float* qcp = m._qc.Pointer + ((long)h * tokens + t) * rkv;
                    var qc = new Span<float>(qcp, rkv);
                    CombineRows(wk, dn, rkv, qrow, qcp);
                    ctx.Round(qc);
                    for (int j = 0; j < len; j++)
                        scores[j] = (Dot(qcp, ckvCtx + (long)j * rkv, rkv) + Dot(qrow + dn, kpeCtx + (long)j * dr, dr)) * m._scale;
                    Span<float> p = scores[..len];
                    Softmax.Forward(1, len, p, p);
                    // o_c (Rkv) = p (L) · c_kv (L, Rkv)
                    float* ocp = m._oc.Pointer + ((long)h * tokens + t) * rkv;
                    fixed (float* pp = p) CombineRows(ckvCtx, len, rkv, pp, ocp);
                    ctx.Round(new Span<float>(ocp, rkv));
                    // o (Dv) = W_v[h] (Dv, Rkv) · o_c
                    float* o = attn + ((long)t * m._h + h) * dv;
                    for (int e = 0; e < dv; e++) o[e] = Dot(wv + (long)e * rkv, ocp, rkv);
                }
            }
        }
    }

    // Small fused loops: the per-row TensorPrimitives calls they replace cost more in call overhead than in FLOPs at
    // these widths (Rkv = 128..512, Dr = 32..64).

    /// <summary>dst (n) = Σ_r coef[r] · rows[r, :] over rows (count, n): q_c = q_nope · W_k and o_c = p · c_kv.</summary>
    private static void CombineRows(float* rows, int count, int n, float* coef, float* dst)
    {
        int c = 0;
        if (Fma.IsSupported)
            for (; c + 32 <= n; c += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int r = 0; r < count; r++)
                {
                    float* row = rows + (long)r * n + c;
                    Vector256<float> s = Vector256.Create(coef[r]);
                    a0 = Fma.MultiplyAdd(s, Avx.LoadVector256(row), a0);
                    a1 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 8), a1);
                    a2 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 16), a2);
                    a3 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 24), a3);
                }
                Avx.Store(dst + c, a0); Avx.Store(dst + c + 8, a1); Avx.Store(dst + c + 16, a2); Avx.Store(dst + c + 24, a3);
            }
        for (; c < n; c++)
        {
            float sum = 0;
            for (int r = 0; r < count; r++) sum += coef[r] * rows[(long)r * n + c];
            dst[c] = sum;
        }
    }

    private static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Fma.IsSupported)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s0);
                s1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), Avx.LoadVector256(b + i + 8), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}
