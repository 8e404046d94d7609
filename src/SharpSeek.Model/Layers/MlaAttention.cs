// MlaAttention — Multi-head Latent Attention (DeepSeek-V2/V3), naive and absorbed paths side by side.
//
//   q      = q_b(RMSNorm(q_a(x)))             (or q_proj(x) when q_lora_rank is null)     (T, H, Dn + Dr)
//   [c, kr] = kv_a_proj_with_mqa(x)                                                        (T, Rkv + Dr)
//   c_kv   = RMSNorm(c)                        k_pe = RoPE(kr)   q_pe = RoPE(q[..., Dn:])  (T, Rkv), (T, Dr)
//   Naive:    [k_nope, v] = kv_b(c_kv) per head (L, H, Dn + Dv)
//             s_tj = (q_nope_t · k_nope_j + q_pe_t · k_pe_j) · scale,  j ≤ pos_t
//   Absorbed: W_kv_b viewed (H, Dn + Dv, Rkv) = [W_k (Dn, Rkv); W_v (Dv, Rkv)] per head
//             q_c = q_nope · W_k (T, H, Rkv);   s_tj = (q_c_t · c_kv_j + q_pe_t · k_pe_j) · scale
//             o_c = softmax(s) · c_kv (T, H, Rkv);  o = o_c · W_vᵀ (T, H, Dv)
//   out = o_proj(o)                                                                        (T, D)
// scale = Dq^-1/2 · mscale² (ModelConfig.SoftmaxScale). Causal: row t of a sequence sees its positions ≤ pos_t.
// With a LatentKvCache the new c_kv, k_pe are written to the cache and attention reads the cached context of
// each sequence; without one, each sequence must start at position 0 and attends over its own rows.
// The naive core is MlaAttention.Core.cs (one CausalAttention call per (sequence, head)); the absorbed one is
// MlaAttention.Absorbed.cs; the backward (naive, cache-free) is MlaAttention.Backward.cs.
//
// Glossary: T tokens, L context length of a sequence, D hidden, H heads, Dn/Dr/Dv head dims, Dq = Dn + Dr,
// Rq q_lora_rank, Rkv kv_lora_rank.
using System.Numerics.Tensors;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe partial class MlaAttention : IDisposable
{
    private readonly int _d, _h, _dn, _dr, _dv, _dq, _rkv, _rq;
    private readonly float _scale;
    private readonly ForwardCapacity _cap;

    // ---- parameters ----
    public LinearWeight? QA { get; }              // (Rq, D)          q_a_proj
    public RmsNormLayer? QNorm { get; }           // (Rq)             q_a_layernorm
    public LinearWeight Q { get; }                // (H·Dq, Rq|D)     q_b_proj or q_proj
    public LinearWeight KvA { get; }              // (Rkv + Dr, D)    kv_a_proj_with_mqa
    public RmsNormLayer KvNorm { get; }           // (Rkv)            kv_a_layernorm
    public LinearWeight KvB { get; }              // (H·(Dn+Dv), Rkv) kv_b_proj
    public LinearWeight O { get; }                // (D, H·Dv)        o_proj
    public RotaryEmbedding Rope { get; }
    private readonly AbsorbedKvB _kvbHeads;       // kv_b_proj per head (W_kᵀ, W_v) in its dtype, for the absorbed path

    // ---- activations (kept for backward) ----
    public NativeBuffer<float> QAOut { get; }     // (T, Rq)
    public NativeBuffer<float> QANorm { get; }    // (T, Rq)
    public NativeBuffer<float> QOut { get; }      // (T, H, Dq)     q_pe part roped
    public NativeBuffer<float> KvAOut { get; }    // (T, Rkv + Dr)
    public NativeBuffer<float> CkvIn { get; }     // (T, Rkv)       c before kv_a_layernorm
    public NativeBuffer<float> Ckv { get; }       // (T, Rkv)       normalised latent
    public NativeBuffer<float> Kpe { get; }       // (T, Dr)        roped shared key
    public NativeBuffer<float> Attn { get; }      // (T, H, Dv)     attention output before o_proj

    // ---- scratch ----
    private readonly NativeBuffer<float> _kvExp;  // (max(MaxContext, T), H, Dn + Dv)  naive: expanded context (MlaAttention.Core.cs)
    private readonly NativeBuffer<float> _qNope;  // (H, T, Dn)     absorbed: q_nope gathered per head
    private readonly NativeBuffer<float> _qc;     // (H, T, Rkv)    absorbed query
    private readonly NativeBuffer<float> _oc;     // (H, T, Rkv)    absorbed output in latent space
    private readonly NativeBuffer<float> _oHeads; // (H, T, Dv)     absorbed output per head, before it is laid out as Attn
    private readonly LatentRow[] _latentRows;     // (T) the absorbed core's rows

    public MlaAttention(ModelConfig c, ModelWeights w, string prefix, RotaryEmbedding rope, ForwardCapacity cap)
    {
        _d = c.HiddenSize; _h = c.NumAttentionHeads; _dn = c.QkNopeHeadDim; _dr = c.QkRopeHeadDim; _dv = c.VHeadDim;
        _dq = c.QkHeadDim; _rkv = c.KvLoraRank; _rq = c.QLoraRank ?? 0;
        _scale = (float)c.SoftmaxScale;
        _cap = cap;
        Rope = rope;
        int T = cap.MaxTokens;
        if (c.HasQLora)
        {
            QA = w.Linear(prefix + "q_a_proj.weight");
            QNorm = new RmsNormLayer(w, prefix + "q_a_layernorm.weight", T);
            Q = w.Linear(prefix + "q_b_proj.weight");
        }
        else
        {
            Q = w.Linear(prefix + "q_proj.weight");
        }
        KvA = w.Linear(prefix + "kv_a_proj_with_mqa.weight");
        KvNorm = new RmsNormLayer(w, prefix + "kv_a_layernorm.weight", T);
        KvB = w.Linear(prefix + "kv_b_proj.weight");
        O = w.Linear(prefix + "o_proj.weight");
        _kvbHeads = new AbsorbedKvB(KvB, _h, _dn, _dv, _rkv);

        QAOut = new NativeBuffer<float>((long)T * Math.Max(1, _rq));
        QANorm = new NativeBuffer<float>((long)T * Math.Max(1, _rq));
        QOut = new NativeBuffer<float>((long)T * _h * _dq);
        KvAOut = new NativeBuffer<float>((long)T * (_rkv + _dr));
        CkvIn = new NativeBuffer<float>((long)T * _rkv);
        Ckv = new NativeBuffer<float>((long)T * _rkv);
        Kpe = new NativeBuffer<float>((long)T * _dr);
        Attn = new NativeBuffer<float>((long)T * _h * _dv);
        _kvExp = new NativeBuffer<float>((long)Math.Max(cap.MaxContext, T) * _h * (_dn + _dv));
        _qNope = new NativeBuffer<float>((long)_h * T * _dn);
        _qc = new NativeBuffer<float>((long)_h * T * _rkv);
        _oc = new NativeBuffer<float>((long)_h * T * _rkv);
        _oHeads = new NativeBuffer<float>((long)_h * T * _dv);
        _latentRows = new LatentRow[T];
    }

    /// <summary>Re-reads kv_b_proj into the per-head copies the absorbed path uses (call after the weights change).</summary>
    public void RefreshAbsorbedWeights() => _kvbHeads.Refresh(KvB);

    /// <summary>Bytes of kv_b_proj the absorbed path reads per decode step of <paramref name="tokens"/> tokens: the
    /// per-head copies, or for 2-8 tokens W_k's rows of kv_b itself (their share of its bytes) and the W_v copies.</summary>
    public long AbsorbedKvBBytes(int tokens) => KMajorQuery(tokens)
        ? KvB.Bytes * _dn / (_dn + _dv) + _kvbHeads.V.Bytes
        : _kvbHeads.Bytes;

    private static Span<float> S(NativeBuffer<float> b, long n) => new(b.Pointer, checked((int)n));

    /// <summary>out (T, D) = MLA(x (T, D)). <paramref name="cache"/>/<paramref name="layer"/>: where the latent
    /// context lives (null: the batch's own rows, every sequence starting at position 0).</summary>
    public void Forward(ForwardContext ctx, ForwardBatch batch, ReadOnlySpan<float> x, Span<float> output,
        LatentKvCache? cache, int layer, MlaPath path)
    {
        int T = batch.Tokens;
        _cap.Check(batch);
        _backwardReady = path == MlaPath.Naive && cache is null ? T : -1;
        if (cache is null)
            foreach (var seq in batch.Sequences)
                if (seq.StartPos != 0)
                    throw new ArgumentException($"a sequence starts at position {seq.StartPos} but no KV cache holds its prefix.");

        // queries
        Span<float> q = S(QOut, (long)T * _h * _dq);                                  // (T, H, Dq)
        Span<float> kvA = S(KvAOut, (long)T * (_rkv + _dr));                          // (T, Rkv + Dr)
        if (QA is not null)
        {
            ctx.LinearPair(QA, KvA, x, T, S(QAOut, (long)T * _rq), kvA);               // (T, Rq), (T, Rkv + Dr)
            QNorm!.Forward(ctx, S(QAOut, (long)T * _rq), T, S(QANorm, (long)T * _rq)); // (T, Rq)
            ctx.Linear(Q, S(QANorm, (long)T * _rq), T, q);
        }
        else
        {
            ctx.LinearPair(Q, KvA, x, T, q, kvA);
        }
        Rope.Apply(q[_dn..], batch.Positions, heads: _h, stride: _dq, ctx.Pool);      // q_pe roped in place

        // latent
        Span<float> ckvIn = S(CkvIn, (long)T * _rkv), ckv = S(Ckv, (long)T * _rkv), kpe = S(Kpe, (long)T * _dr);
        for (int t = 0; t < T; t++)
        {
            kvA.Slice(t * (_rkv + _dr), _rkv).CopyTo(ckvIn.Slice(t * _rkv, _rkv));
            kvA.Slice(t * (_rkv + _dr) + _rkv, _dr).CopyTo(kpe.Slice(t * _dr, _dr));
        }
        KvNorm.Forward(ctx, ckvIn, T, ckv);                                            // (T, Rkv)
        Rope.Apply(kpe, batch.Positions, heads: 1, stride: _dr, ctx.Pool);            // (T, Dr)
        ctx.Round(kpe);
        if (cache is not null) WriteCache(batch, cache, layer);

        Span<float> attn = S(Attn, (long)T * _h * _dv);                               // (T, H, Dv)
        if (path == MlaPath.Naive) NaiveCore(ctx, batch, cache, layer, attn);
        else AbsorbedCore(ctx, batch, cache, layer, attn);
        ctx.Round(attn);
        ctx.Linear(O, attn, T, output);                                               // (T, D)
    }

    private void WriteCache(ForwardBatch batch, LatentKvCache cache, int layer)
    {
        foreach (var seq in batch.Sequences)
        {
            if (seq.StartPos + seq.Rows > cache.MaxSeqLen)
                throw new ArgumentException($"sequence in slot {seq.Slot} reaches position {seq.StartPos + seq.Rows}; the cache holds {cache.MaxSeqLen}.");
            new ReadOnlySpan<float>(Ckv.Pointer + (long)seq.FirstRow * _rkv, seq.Rows * _rkv)
                .CopyTo(new Span<float>(cache.Ckv(layer, seq.Slot) + (long)seq.StartPos * _rkv, seq.Rows * _rkv));
            new ReadOnlySpan<float>(Kpe.Pointer + (long)seq.FirstRow * _dr, seq.Rows * _dr)
                .CopyTo(new Span<float>(cache.Kpe(layer, seq.Slot) + (long)seq.StartPos * _dr, seq.Rows * _dr));
        }
    }

    /// <summary>The latent context of a sequence: (L, Rkv) and (L, Dr) with L = StartPos + Rows.</summary>
    private (nint Ckv, nint Kpe) Context(SequenceSpan seq, LatentKvCache? cache, int layer) => cache is null
        ? ((nint)(Ckv.Pointer + (long)seq.FirstRow * _rkv), (nint)(Kpe.Pointer + (long)seq.FirstRow * _dr))
        : ((nint)cache.Ckv(layer, seq.Slot), (nint)cache.Kpe(layer, seq.Slot));

    public void Dispose()
    {
        DisposeBackward();
        DisposeCore();
        QNorm?.Dispose();
        KvNorm.Dispose();
        _kvbHeads.Dispose();
        foreach (var b in new[] { QAOut, QANorm, QOut, KvAOut, CkvIn, Ckv, Kpe, Attn, _kvExp, _qNope, _qc, _oc, _oHeads })
            b.Dispose();
    }
}
