// Naive reference for BlockQuant: plain loops over (row, column) with the scalar E4M3 conversion.
// It is the test oracle; the fast kernels must equal it bit for bit (same amax, same multiplier, same cast).
namespace SharpSeek.Numerics;

public static class BlockQuantReference
{
    /// <summary>Quantizes a row-major (rows, cols) matrix in tiles of tileRows x tileCols.
    /// scales is (ceil(rows/tileRows), ceil(cols/tileCols)).</summary>
    public static void Quantize(int rows, int cols, int tileRows, int tileCols, ReadOnlySpan<float> x, Span<byte> q, Span<float> scales)
    {
        int tilesC = (cols + tileCols - 1) / tileCols;
        for (int r0 = 0; r0 < rows; r0 += tileRows)
        {
            for (int c0 = 0; c0 < cols; c0 += tileCols)
            {
                int r1 = Math.Min(rows, r0 + tileRows), c1 = Math.Min(cols, c0 + tileCols);
                float amax = 0;
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        amax = BlockQuant.MaxIgnoringNaN(MathF.Abs(x[r * cols + c]), amax);
                scales[r0 / tileRows * tilesC + c0 / tileCols] = BlockQuant.ScaleOf(amax);
                float multiplier = BlockQuant.InverseScaleOf(amax);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        q[r * cols + c] = Fp8E4M3.FromFloat(x[r * cols + c] * multiplier);
            }
        }
    }

    /// <summary>x (M, K) -> qT (K, M), scalesT (K, ceil(M/128)): transpose, then 1x128 tiles.</summary>
    public static void QuantizeTransposed128x1(int m, int k, ReadOnlySpan<float> x, Span<byte> qT, Span<float> scalesT)
    {
        var transposed = new float[(long)m * k];            // (K, M)
        for (int t = 0; t < m; t++)
            for (int c = 0; c < k; c++)
                transposed[c * m + t] = x[t * k + c];
        Quantize(k, m, 1, BlockQuant.TileSize, transposed, qT, scalesT);
    }

    /// <summary>x = fp8 · scale over tiles of tileRows x tileCols.</summary>
    public static void Dequantize(int rows, int cols, int tileRows, int tileCols, ReadOnlySpan<byte> q, ReadOnlySpan<float> scales, Span<float> x)
    {
        int tilesC = (cols + tileCols - 1) / tileCols;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                x[r * cols + c] = Fp8E4M3.ToFloat(q[r * cols + c]) * scales[r / tileRows * tilesC + c / tileCols];
    }
}
