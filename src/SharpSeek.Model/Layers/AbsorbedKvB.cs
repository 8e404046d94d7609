// AbsorbedKvB — kv_b_proj re-laid out per head for the absorbed MLA path, in the checkpoint's own dtype.
//
//   kv_b (H·(Dn+Dv), Rkv) = per head [W_k[h] (Dn, Rkv); W_v[h] (Dv, Rkv)]
//   KT : group h = W_k[h]ᵀ (Rkv, Dn)   q_c[h] (T, Rkv) = q_nope[h] (T, Dn) · W_k[h]    (= x · KTᵀ)
//   V  : group h = W_v[h]  (Dv, Rkv)   o[h]   (T, Dv)  = o_c[h] (T, Rkv) · W_v[h]ᵀ
// Both are LinearWeights with one group per head, so decode runs them through the same GEMV as every other
// weight, reading the bytes the checkpoint stores (FP8: one byte per weight; a dequantized FP32 copy read four,
// latency-bound, and was ≈20% of small's FP8 decode step). The copies are exact:
//   F32, BF16  transposed / copied element by element;
//   FP8        codes transposed / copied and each 128x128 block of the copy takes the scale_inv of the kv_b block
//              its elements come from. That needs every 128-row (resp. 128-column) chunk of a head's W_k and W_v
//              to lie in one kv_b block row (true for DeepSeek-V3, Dn = Dv = 128, and for Dn + Dv dividing 128);
//              otherwise the copies are dequantized FP32 (exact values, four bytes each).
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class AbsorbedKvB : IDisposable
{
    private readonly int _h, _dn, _dv, _rkv;

    /// <summary>Group h = W_k[h]ᵀ (Rkv, Dn).</summary>
    public LinearWeight KT { get; }
    /// <summary>Group h = W_v[h] (Dv, Rkv).</summary>
    public LinearWeight V { get; }

    public AbsorbedKvB(LinearWeight kvb, int heads, int dn, int dv, int rkv)
    {
        if (kvb.Groups != 1 || kvb.OutFeatures != heads * (dn + dv) || kvb.InFeatures != rkv)
            throw new ArgumentException($"kv_b_proj is ({kvb.OutFeatures}, {kvb.InFeatures}); {heads} heads of ({dn} + {dv}) × {rkv} expected.");
        (_h, _dn, _dv, _rkv) = (heads, dn, dv, rkv);
        var dtype = kvb.DType == WeightDType.Fp8 && !BlocksCarryOver(heads, dn, dv) ? WeightDType.F32 : kvb.DType;
        KT = new LinearWeight(heads, rkv, dn, dtype);
        V = new LinearWeight(heads, dv, rkv, dtype);
        Refresh(kvb);
    }

    /// <summary>Bytes a pass over both copies reads (what the absorbed path touches per decode step).</summary>
    public long Bytes => KT.Bytes + V.Bytes;

    /// <summary>Whether the FP8 block scales of kv_b carry over to the per-head copies: every head's W_k rows and
    /// W_v rows, cut into 128-row chunks from their first row, stay within one 128-row block of kv_b.</summary>
    public static bool BlocksCarryOver(int heads, int dn, int dv)
    {
        for (int h = 0; h < heads; h++)
            if (!Fits(h * (dn + dv), dn) || !Fits(h * (dn + dv) + dn, dv)) return false;
        return true;

        static bool Fits(int first, int rows) =>
            first % LinearWeight.Block == 0 || first % LinearWeight.Block + rows <= LinearWeight.Block;
    }

    /// <summary>Rebuilds the copies from kv_b (after its weights change).</summary>
    public void Refresh(LinearWeight kvb)
    {
        if (KT.DType == WeightDType.Fp8) { CopyFp8(kvb); return; }
        // one head at a time (DeepSeek-V3's kv_b is 64 MB as floats per layer; a head's rows are 512 KB)
        var row = new float[_rkv];
        var kt = new float[_rkv * _dn];
        var v = new float[_dv * _rkv];
        for (int h = 0; h < _h; h++)
        {
            int kRow = h * (_dn + _dv);
            for (int d = 0; d < _dn; d++)
            {
                kvb.ReadRow(0, kRow + d, row);
                for (int r = 0; r < _rkv; r++) kt[r * _dn + d] = row[r];
            }
            for (int i = 0; i < _dv; i++) kvb.ReadRow(0, kRow + _dn + i, v.AsSpan(i * _rkv, _rkv));
            KT.WriteGroup(h, kt);   // BF16 → FP32 → BF16 round-trips exactly
            V.WriteGroup(h, v);
        }
    }

    private void CopyFp8(LinearWeight kvb)
    {
        ReadOnlySpan<byte> codes = kvb.Fp8Codes(0);
        ReadOnlySpan<float> scales = kvb.Fp8ScaleInv(0);
        int kvbCols = kvb.ScaleCols, block = LinearWeight.Block;
        for (int h = 0; h < _h; h++)
        {
            int kRow = h * (_dn + _dv), vRow = kRow + _dn;
            Span<byte> kt = KT.Fp8Values(h), v = V.Fp8Values(h);
            Span<float> ktScales = KT.Fp8ScaleInv(h), vScales = V.Fp8ScaleInv(h);
            for (int d = 0; d < _dn; d++)
                for (int r = 0; r < _rkv; r++)
                    kt[r * _dn + d] = codes[(kRow + d) * _rkv + r];
            codes.Slice(vRow * _rkv, _dv * _rkv).CopyTo(v);
            // KT block (rb, db) holds kv_b rows kRow + db·128 … in columns rb·128 …; V block (ib, cb) kv_b rows
            // vRow + ib·128 … in columns cb·128 …
            for (int rb = 0; rb < KT.ScaleRows; rb++)
                for (int db = 0; db < KT.ScaleCols; db++)
                    ktScales[rb * KT.ScaleCols + db] = scales[(kRow + db * block) / block * kvbCols + rb];
            for (int ib = 0; ib < V.ScaleRows; ib++)
                for (int cb = 0; cb < V.ScaleCols; cb++)
                    vScales[ib * V.ScaleCols + cb] = scales[(vRow + ib * block) / block * kvbCols + cb];
        }
    }

    public void Dispose()
    {
        KT.Dispose();
        V.Dispose();
    }
}
