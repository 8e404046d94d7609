// MlaAttention.Absorbed — the decode formulation of MLA: kv_b_proj is absorbed into the query and the output, so
// attention runs as MQA over the cached latent (no per-head keys or values are ever expanded).
//
//   W_kv_b viewed (H, Dn + Dv, Rkv) = [W_k (Dn, Rkv); W_v (Dv, Rkv)] per head
//   q_c (T, H, Rkv) = q_nope · W_k        s_tj = (q_c_t · c_kv_j + q_pe_t · k_pe_j) · scale     j ≤ pos_t
//   o_c (T, H, Rkv) = softmax(s) · c_kv   o (T, H, Dv) = o_c · W_vᵀ
// W_k and W_v are read from AbsorbedKvB, kv_b's per-head copies in its own dtype, through LinearWeight (the decode
// GEMV for all heads in one pool run, the GEMM for longer prefills) — except q_c for 2-8 tokens, which reads W_k[h]
// K-major from kv_b's rows (Gemm.GemvKN); only the attention over the context is here.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class MlaAttention
{
    // ---- absorbed: attend over the latent directly ----

    /// <summary>Context positions per block: a block's c_kv and k_pe rows (32 × (Rkv + Dr) floats, 20 KB at
    /// Rkv = 128) stay in L1 while every head of a task reads them.</summary>
    private const int AbsorbedBlock = 32;

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

        // one task per group of heads, all sequences: scores over the latent context and o_c. The latent is shared
        // by all heads (MQA), so a task walks the context in blocks and runs all its heads over each block: the
        // context is read from L2/L3 once per task, not once per head (with one head per task, 16 heads re-read a
        // 1000-position context 16 times per layer). Every head's arithmetic is the same whatever the grouping, so
        // the bits do not depend on the thread count.
        int tasks = Math.Min(_h, ctx.Pool.Threads), perTask = (_h + tasks - 1) / tasks;
        var job = new AbsorbedJob(this, batch, cache, layer, perTask);
        ctx.Pool.Run((_h + perTask - 1) / perTask, ref job);
        ctx.Round(new Span<float>(oc, checked(_h * tokens * _rkv)));

        // o[h] (T, Dv) = o_c[h] (T, Rkv) · W_v[h]ᵀ, then laid out (T, H, Dv)
        _kvbHeads.V.ForwardEachGroup(ctx.Pool, oc, tokens, oHeads);
        for (int h = 0; h < _h; h++)
            for (int t = 0; t < tokens; t++)
                new ReadOnlySpan<float>(oHeads + ((long)h * tokens + t) * _dv, _dv).CopyTo(attn.Slice((t * _h + h) * _dv, _dv));
    }

    private readonly struct AbsorbedJob(MlaAttention m, ForwardBatch batch, LatentKvCache? cache, int layer, int perTask)
        : IParallelJob
    {
        public void Execute(int task, int worker)
        {
            int rkv = m._rkv, dr = m._dr, dq = m._dq, dn = m._dn, tokens = batch.Tokens, maxContext = m._cap.MaxContext;
            int h0 = task * perTask, h1 = Math.Min(m._h, h0 + perTask), heads = m._h;
            float* qout = m.QOut.Pointer, qcAll = m._qc.Pointer, ocAll = m._oc.Pointer, scoresAll = m._scores.Pointer;
            foreach (var seq in batch.Sequences)
            {
                var (ckvPtr, kpePtr) = m.Context(seq, cache, layer);
                float* ckvCtx = (float*)ckvPtr, kpeCtx = (float*)kpePtr;
                for (int i = 0; i < seq.Rows; i++)
                {
                    int t = seq.FirstRow + i, len = seq.StartPos + i + 1;
                    for (int j0 = 0; j0 < len; j0 += AbsorbedBlock)
                    {
                        int j1 = Math.Min(len, j0 + AbsorbedBlock);
                        for (int h = h0; h < h1; h++)
                        {
                            // s_j = (q_c · c_kv_j + q_pe · k_pe_j) · scale
                            RowDots(QC(h, t), ckvCtx, rkv, QRow(h, t) + dn, kpeCtx, dr, j0, j1, m._scale, scoresAll + (long)h * maxContext);
                        }
                    }
                    for (int h = h0; h < h1; h++)
                    {
                        var p = new Span<float>(scoresAll + (long)h * maxContext, len);
                        Softmax.Forward(1, len, p, p);
                    }
                    // o_c (Rkv) = p (L) · c_kv (L, Rkv), block by block (each column's sum runs over j in order, as
                    // one pass over all L would)
                    for (int j0 = 0; j0 < len; j0 += AbsorbedBlock)
                    {
                        int j1 = Math.Min(len, j0 + AbsorbedBlock);
                        for (int h = h0; h < h1; h++)
                            CombineRows(ckvCtx + (long)j0 * rkv, j1 - j0, rkv, scoresAll + (long)h * maxContext + j0, OC(h, t), accumulate: j0 > 0);
                    }
                }
            }

            float* QRow(int h, int t) => qout + ((long)t * heads + h) * dq;
            float* QC(int h, int t) => qcAll + ((long)h * tokens + t) * rkv;
            float* OC(int h, int t) => ocAll + ((long)h * tokens + t) * rkv;
        }
    }

    // Small fused loops: the per-row TensorPrimitives calls they replace cost more in call overhead than in FLOPs at
    // these widths (Rkv = 128..512, Dr = 32..64).

    /// <summary>dst (n) (+)= Σ_r coef[r] · rows[r, :] over rows (count, n), the rows added in order onto 0 or onto
    /// dst: o_c = p · c_kv.</summary>
    private static void CombineRows(float* rows, int count, int n, float* coef, float* dst, bool accumulate)
    {
        int c = 0;
        if (Fma.IsSupported)
            for (; c + 64 <= n; c += 64)   // 8 independent FMA chains (latency × 2 pipes), 64 columns a pass
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                if (accumulate)
                {
                    a0 = Avx.LoadVector256(dst + c); a1 = Avx.LoadVector256(dst + c + 8); a2 = Avx.LoadVector256(dst + c + 16);
                    a3 = Avx.LoadVector256(dst + c + 24); a4 = Avx.LoadVector256(dst + c + 32); a5 = Avx.LoadVector256(dst + c + 40);
                    a6 = Avx.LoadVector256(dst + c + 48); a7 = Avx.LoadVector256(dst + c + 56);
                }
                for (int r = 0; r < count; r++)
                {
                    float* row = rows + (long)r * n + c;
                    Vector256<float> s = Vector256.Create(coef[r]);
                    a0 = Fma.MultiplyAdd(s, Avx.LoadVector256(row), a0); a1 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 8), a1);
                    a2 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 16), a2); a3 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 24), a3);
                    a4 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 32), a4); a5 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 40), a5);
                    a6 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 48), a6); a7 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 56), a7);
                }
                Avx.Store(dst + c, a0); Avx.Store(dst + c + 8, a1); Avx.Store(dst + c + 16, a2); Avx.Store(dst + c + 24, a3);
                Avx.Store(dst + c + 32, a4); Avx.Store(dst + c + 40, a5); Avx.Store(dst + c + 48, a6); Avx.Store(dst + c + 56, a7);
            }
        if (Fma.IsSupported)
            for (; c + 8 <= n; c += 8)
            {
                Vector256<float> a = accumulate ? Avx.LoadVector256(dst + c) : default;
                for (int r = 0; r < count; r++) a = Fma.MultiplyAdd(Vector256.Create(coef[r]), Avx.LoadVector256(rows + (long)r * n + c), a);
                Avx.Store(dst + c, a);
            }
        for (; c < n; c++)
        {
            float sum = accumulate ? dst[c] : 0;
            for (int r = 0; r < count; r++) sum += coef[r] * rows[(long)r * n + c];
            dst[c] = sum;
        }
    }

    /// <summary>dst[j] = (p · a[j] + q · b[j]) · scale for j in [j0, j1), rows a (·, na) and b (·, nb): the scores
    /// over a block of the latent context (latent and rope parts). Eight rows at a time: one accumulator each (8
    /// independent FMA chains) over both parts, reduced together by one horizontal-add tree — a dot per row (two
    /// chains, then its own horizontal sum) is latency-bound.</summary>
    private static void RowDots(float* p, float* a, int na, float* q, float* b, int nb, int j0, int j1, float scale, float* dst)
    {
        int j = j0;
        if (Fma.IsSupported && na % 8 == 0 && nb % 8 == 0)
        {
            Vector256<float> vs = Vector256.Create(scale);
            for (; j + 8 <= j1; j += 8)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int part = 0; part < 2; part++)
                {
                    float* x = part == 0 ? p : q;
                    int n = part == 0 ? na : nb;
                    float* rows = part == 0 ? a + (long)j * na : b + (long)j * nb;
                    for (int c = 0; c < n; c += 8)
                    {
                        Vector256<float> v = Avx.LoadVector256(x + c);
                        float* r = rows + c;
                        a0 = Fma.MultiplyAdd(v, Avx.LoadVector256(r), a0);
                        a1 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + n), a1);
                        a2 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 2 * n), a2);
                        a3 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 3 * n), a3);
                        a4 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 4 * n), a4);
                        a5 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 5 * n), a5);
                        a6 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 6 * n), a6);
                        a7 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 7 * n), a7);
                    }
                }
                Vector256<float> u0 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));   // rows 0..3, per 128-bit half
                Vector256<float> u1 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));   // rows 4..7
                Avx.Store(dst + j, (Avx.Permute2x128(u0, u1, 0x20) + Avx.Permute2x128(u0, u1, 0x31)) * vs);
            }
        }
        for (; j < j1; j++)
            dst[j] = (Dot(p, a + (long)j * na, na) + Dot(q, b + (long)j * nb, nb)) * scale;
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
