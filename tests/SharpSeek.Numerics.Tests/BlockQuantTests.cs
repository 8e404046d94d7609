namespace SharpSeek.Numerics.Tests;

public class BlockQuantTests
{
    private static readonly (int Rows, int Cols)[] Shapes =
        [(0, 0), (1, 1), (1, 7), (3, 128), (2, 129), (127, 5), (128, 128), (129, 130), (200, 257), (257, 64)];

    private static float[] Matrix(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var x = new float[rows * cols];
        // Rows with very different magnitudes so tiles get very different scales.
        for (int r = 0; r < rows; r++)
        {
            float magnitude = MathF.Pow(10, rng.Next(-3, 4));
            for (int c = 0; c < cols; c++) x[r * cols + c] = (float)(rng.NextDouble() * 2 - 1) * magnitude;
        }
        return x;
    }

    private delegate void Quantizer(int rows, int cols, float[] x, byte[] q, float[] scales, SimdLevel level);
    private delegate void Dequantizer(int rows, int cols, byte[] q, float[] scales, float[] x, SimdLevel level);

    /// <summary>Quantize and dequantize every shape with the fast kernel and with the reference (tiles of
    /// tileRows x 128); codes, scales and dequantized values must be identical.</summary>
    private static void AssertEqualsReference(SimdLevel level, int tileRows, Quantizer quantize, Dequantizer dequantize)
    {
        foreach (var (rows, cols) in Shapes)
        {
            float[] x = Matrix(rows, cols, rows * 1000 + cols + tileRows);
            int scales = (rows + tileRows - 1) / tileRows * BlockQuant.TileCount(cols);
            byte[] q = new byte[rows * cols], qRef = new byte[rows * cols];
            float[] s = new float[scales], sRef = new float[scales];
            quantize(rows, cols, x, q, s, level);
            BlockQuantReference.Quantize(rows, cols, tileRows, 128, x, qRef, sRef);
            Assert.Equal(qRef, q);
            Assert.Equal(sRef, s);
            float[] back = new float[rows * cols], backRef = new float[rows * cols];
            dequantize(rows, cols, q, s, back, level);
            BlockQuantReference.Dequantize(rows, cols, tileRows, 128, q, s, backRef);
            Assert.Equal(backRef, back);
        }
    }

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void QuantizeRows1x128_EqualsTheReferenceBitForBit(SimdLevel level) =>
        AssertEqualsReference(level, 1,
            (m, k, x, q, s, l) => BlockQuant.QuantizeRows1x128(m, k, x, q, s, l),
            (m, k, q, s, x, l) => BlockQuant.DequantizeRows1x128(m, k, q, s, x, l));

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void QuantizeBlocks128x128_EqualsTheReferenceBitForBit(SimdLevel level) =>
        AssertEqualsReference(level, 128,
            (n, k, w, q, s, l) => BlockQuant.QuantizeBlocks128x128(n, k, w, q, s, l),
            (n, k, q, s, w, l) => BlockQuant.DequantizeBlocks128x128(n, k, q, s, w, l));

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void QuantizeTransposed128x1_IsTheRowQuantizationOfTheTranspose(SimdLevel level)
    {
        foreach (var (m, k) in Shapes)
        {
            float[] x = Matrix(m, k, m + 31 * k);
            int scales = k * BlockQuant.TileCount(m);
            byte[] qT = new byte[m * k], qRef = new byte[m * k];
            float[] sT = new float[scales], sRef = new float[scales];
            BlockQuant.QuantizeTransposed128x1(m, k, x, qT, sT, level);
            BlockQuantReference.QuantizeTransposed128x1(m, k, x, qRef, sRef);
            Assert.Equal(qRef, qT);
            Assert.Equal(sRef, sT);
            // Layout spelled out: qT[c, t] ≈ x[t, c] / scalesT[c, t / 128].
            for (int t = 0; t < m; t += 37)
                for (int c = 0; c < k; c += 11)
                {
                    float scale = sT[c * BlockQuant.TileCount(m) + t / 128];
                    float approx = Fp8E4M3.ToFloat(qT[c * m + t]) * scale;
                    double bound = Math.Max(Math.Abs(x[t * k + c]) / 16, scale / 1024) * 1.0001;
                    Assert.True(Math.Abs(approx - x[t * k + c]) <= bound, $"t={t} c={c}");
                }
        }
    }

    [Fact]
    public void RoundTrip_ErrorIsWithinHalfAnE4M3StepOfEachElement()
    {
        const int n = 300, k = 260;
        float[] w = Matrix(n, k, 42);
        int tilesK = BlockQuant.TileCount(k);
        byte[] q = new byte[n * k];
        float[] s = new float[BlockQuant.TileCount(n) * tilesK], back = new float[n * k];
        BlockQuant.QuantizeBlocks128x128(n, k, w, q, s);
        BlockQuant.DequantizeBlocks128x128(n, k, q, s, back);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
            {
                float scale = s[r / 128 * tilesK + c / 128];
                // 3 mantissa bits: half a step is 2^-4 relative for normals; subnormals step 2^-9 · scale.
                double bound = Math.Max(Math.Abs(w[r * k + c]) / 16, scale / 1024) * 1.0001;
                Assert.True(Math.Abs(back[r * k + c] - w[r * k + c]) <= bound, $"({r}, {c}): {w[r * k + c]} -> {back[r * k + c]}");
            }
    }

    [Fact]
    public void KnownValues_AmaxMapsTo448AndScaleIsAmaxOver448()
    {
        float[] x = [1f, -2f, 0.5f, -896f];                         // (1, 4), amax 896
        byte[] q = new byte[4];
        float[] s = new float[1];
        BlockQuant.QuantizeRows1x128(1, 4, x, q, s);
        Assert.Equal(2f, s[0]);                                      // 896 / 448
        Assert.Equal(new byte[] { Fp8E4M3.FromFloat(0.5f), Fp8E4M3.FromFloat(-1f), Fp8E4M3.FromFloat(0.25f), 0xFE }, q);
        float[] back = new float[4];
        BlockQuant.DequantizeRows1x128(1, 4, q, s, back);
        Assert.Equal(x, back);                                       // all exactly representable after scaling
    }

    [Fact]
    public void PartialEdgeTiles_HaveTheirOwnScale()
    {
        // (1, 130): tile 0 = columns 0..127 (amax 1), tile 1 = columns 128..129 (amax 1000).
        float[] x = new float[130];
        for (int c = 0; c < 128; c++) x[c] = c % 2 == 0 ? 1f : -0.5f;
        x[128] = 1000f;
        x[129] = -3f;
        byte[] q = new byte[130];
        float[] s = new float[2];
        BlockQuant.QuantizeRows1x128(1, 130, x, q, s);
        Assert.Equal(1f / 448, s[0]);
        Assert.Equal(1000f / 448, s[1]);
        Assert.Equal(0x7E, q[0]);
        Assert.Equal(0x7E, q[128]);
    }

    [Fact]
    public void AllZeroBlocks_UseTheAmaxFloorAndDecodeToZero()
    {
        const int n = 130, k = 3;
        float[] w = new float[n * k];
        w[0] = 5f;                                                   // block row 0 non-zero, block row 1 all zero
        byte[] q = new byte[n * k];
        float[] s = new float[2];
        BlockQuant.QuantizeBlocks128x128(n, k, w, q, s);
        Assert.Equal(5f / 448, s[0]);
        Assert.Equal(BlockQuant.AmaxFloor / 448, s[1]);
        Assert.All(q.Skip(1), b => Assert.Equal(0, b));
        float[] back = new float[n * k];
        BlockQuant.DequantizeBlocks128x128(n, k, q, s, back);
        Assert.Equal(w, back);
    }

    [Theory, MemberData(nameof(TestSupport.SupportedLevels), MemberType = typeof(TestSupport))]
    public void NaNElements_BecomeTheNaNCodeAndLeaveTheTileScaleFinite(SimdLevel level)
    {
        const int m = 3, k = 200;
        float[] x = Matrix(m, k, 5);
        x[7] = float.NaN;                 // row 0, tile 0 (in a vector body)
        x[k + 199] = float.NaN;           // row 1, tile 1 (in the scalar tail of a partial tile)
        int tiles = BlockQuant.TileCount(k);
        byte[] q = new byte[m * k], qRef = new byte[m * k];
        float[] s = new float[m * tiles], sRef = new float[m * tiles];
        BlockQuant.QuantizeRows1x128(m, k, x, q, s, level);
        BlockQuantReference.Quantize(m, k, 1, 128, x, qRef, sRef);
        Assert.Equal(qRef, q);
        Assert.Equal(sRef, s);
        Assert.All(s, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(Fp8E4M3.NaNCode, q[7] & 0x7F);
        Assert.Equal(Fp8E4M3.NaNCode, q[k + 199] & 0x7F);
        byte[] qT = new byte[m * k];
        float[] sT = new float[k * BlockQuant.TileCount(m)];
        BlockQuant.QuantizeTransposed128x1(m, k, x, qT, sT, level);
        Assert.All(sT, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(Fp8E4M3.NaNCode, qT[7 * m + 0] & 0x7F);
    }

    [Fact]
    public void ShortScaleBuffers_AreRejectedWithTheExpectedShape()
    {
        var e = Assert.Throws<ArgumentException>(() => BlockQuant.QuantizeBlocks128x128(129, 129, new float[129 * 129], new byte[129 * 129], new float[3]));
        Assert.Contains("ceil(N/128)", e.Message);
    }
}
