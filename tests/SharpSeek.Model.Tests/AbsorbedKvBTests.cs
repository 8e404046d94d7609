using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Tests;

/// <summary>The per-head copies of kv_b_proj the absorbed MLA path reads hold exactly kv_b's values, in kv_b's own
/// dtype where its FP8 blocks carry over, and the per-head products equal the products with kv_b's slices.</summary>
public unsafe class AbsorbedKvBTests
{
    [Theory]
    [InlineData(WeightDType.F32, 4, 32, 32, 64)]      // tiny's shape
    [InlineData(WeightDType.Bf16, 3, 64, 64, 128)]    // small's head shape
    [InlineData(WeightDType.Fp8, 4, 64, 64, 128)]     // Dn + Dv = 128: a head per kv_b block row
    [InlineData(WeightDType.Fp8, 2, 128, 128, 320)]   // DeepSeek-V3's head dims, a partial column block
    [InlineData(WeightDType.Fp8, 5, 16, 16, 96)]      // Dn + Dv = 32 divides 128: four heads per block row
    [InlineData(WeightDType.Fp8, 3, 48, 32, 64)]      // Dn + Dv = 80, three heads: every head's rows stay in one block row
    [InlineData(WeightDType.Fp8, 4, 48, 32, 64)]      // the fourth head's W_k crosses a block edge: FP32 copies
    public void Copies_HoldKvBValues_Exactly(WeightDType dtype, int heads, int dn, int dv, int rkv)
    {
        using var kvb = new LinearWeight(1, heads * (dn + dv), rkv, dtype);
        var rng = new Random(heads * 1000 + dn);
        // values spread over many binades, so FP8 blocks get distinct scales
        kvb.WriteGroup(0, Enumerable.Range(0, heads * (dn + dv) * rkv)
            .Select(i => (float)((rng.NextDouble() - 0.5) * Math.Pow(2, i / rkv % 7 - 3))).ToArray());
        float[] w = new float[kvb.GroupElements];
        kvb.ReadGroup(0, w);

        using var copies = new AbsorbedKvB(kvb, heads, dn, dv, rkv);
        bool carries = AbsorbedKvB.BlocksCarryOver(heads, dn, dv);
        var expected = dtype == WeightDType.Fp8 && !carries ? WeightDType.F32 : dtype;
        Assert.Equal(expected, copies.KT.DType);
        Assert.Equal(expected, copies.V.DType);
        if (dtype != WeightDType.Fp8) Assert.Equal(kvb.Bytes, copies.Bytes);

        float[] kt = new float[rkv * dn], v = new float[dv * rkv];
        for (int h = 0; h < heads; h++)
        {
            copies.KT.ReadGroup(h, kt);
            copies.V.ReadGroup(h, v);
            long head = (long)h * (dn + dv) * rkv;
            for (int d = 0; d < dn; d++)
                for (int r = 0; r < rkv; r++)
                    Assert.Equal(w[head + (long)d * rkv + r], kt[r * dn + d]);
            for (int i = 0; i < dv * rkv; i++) Assert.Equal(w[head + (long)dn * rkv + i], v[i]);
        }
    }

    [Theory]
    [InlineData(4, 64, 64, true)]
    [InlineData(2, 128, 128, true)]
    [InlineData(8, 16, 16, true)]
    [InlineData(3, 48, 32, true)]
    [InlineData(4, 48, 32, false)]   // head 3's W_k, rows 240..287, crosses the block edge at 256
    [InlineData(1, 128, 64, true)]
    [InlineData(2, 128, 64, false)]  // head 1's W_k starts at row 192: its 128 rows cross the block edge at 256
    [InlineData(1, 96, 96, false)]   // W_v rows 96..191 cross the block edge at 128
    public void BlocksCarryOver_WhenEveryHeadsRowsStayInOneBlockRow(int heads, int dn, int dv, bool carries) =>
        Assert.Equal(carries, AbsorbedKvB.BlocksCarryOver(heads, dn, dv));

    [Theory]
    [InlineData(WeightDType.Bf16, 1)]
    [InlineData(WeightDType.Fp8, 3)]
    [InlineData(WeightDType.Fp8, 12)]   // past the GEMV: the grouped GEMM
    public void ForwardEachGroup_EqualsForwardPerGroup(WeightDType dtype, int m)
    {
        const int heads = 4, n = 128, k = 64;
        using var lw = new LinearWeight(heads, n, k, dtype);
        var rng = new Random(m);
        for (int g = 0; g < heads; g++) lw.WriteGroup(g, Enumerable.Range(0, n * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        float[] x = Enumerable.Range(0, heads * m * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        float[] each = new float[heads * m * n], one = new float[heads * m * n];
        using var pool = new WorkerPool(2);
        fixed (float* px = x, py = each) lw.ForwardEachGroup(pool, px, m, py);
        for (int g = 0; g < heads; g++) lw.Forward(pool, g, x.AsSpan(g * m * k, m * k), m, one.AsSpan(g * m * n, m * n));
        Assert.Equal(one, each);
        Assert.Contains(each, v => v != 0);
    }
}
