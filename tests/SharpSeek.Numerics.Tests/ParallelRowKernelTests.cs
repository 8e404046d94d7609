namespace SharpSeek.Numerics.Tests;

/// <summary>Every kernel that takes a WorkerPool splits independent rows / tiles / element blocks, so its output is
/// bit-identical to the single-thread run for every thread count (DESIGN: determinism).</summary>
public class ParallelRowKernelTests
{
    public static TheoryData<int> ThreadCounts() => new() { 1, 2, 3 };

    private static void SameBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} differs ({expected[i]:R} vs {actual[i]:R})");
    }

    [Theory, MemberData(nameof(ThreadCounts))]
    public void RowKernels_WithAPool_EqualTheSingleThreadRunBitForBit(int threads)
    {
        using var pool = new WorkerPool(threads);
        var rng = new Random(77);
        const int rows = 37, dim = 1000;                   // 37k elements: above the parallel threshold
        float[] x = TestSupport.RandomFloats(rng, rows * dim, 4f), dy = TestSupport.RandomFloats(rng, rows * dim);
        float[] w = TestSupport.RandomFloats(rng, dim), dw0 = TestSupport.RandomFloats(rng, dim);
        int[] targets = Enumerable.Range(0, rows).Select(r => r % 5 == 0 ? CrossEntropy.IgnoreIndex : r * 13 % dim).ToArray();

        (float[] Y, float[] R, float[] Dx, float[] Dw) Norm(WorkerPool? p)
        {
            float[] y = new float[rows * dim], r = new float[rows], dx = new float[rows * dim], dw = (float[])dw0.Clone();
            RmsNorm.Forward(rows, dim, x, w, 1e-6f, y, r, p);
            RmsNorm.Backward(rows, dim, dy, x, w, r, dx, dw, p);
            return (y, r, dx, dw);
        }
        var a = Norm(null);
        var b = Norm(pool);
        SameBits(a.Y, b.Y, "rmsnorm y"); SameBits(a.R, b.R, "rstd"); SameBits(a.Dx, b.Dx, "rmsnorm dx"); SameBits(a.Dw, b.Dw, "rmsnorm dweight");

        float[] Softmaxes(WorkerPool? p)
        {
            float[] y = new float[rows * dim], dx = new float[rows * dim];
            Softmax.Forward(rows, dim, x, y, p);
            Softmax.Backward(rows, dim, y, dy, dx, p);
            return [.. y, .. dx];
        }
        SameBits(Softmaxes(null), Softmaxes(pool), "softmax");

        float[] Ce(WorkerPool? p)
        {
            float[] losses = new float[rows], d = new float[rows * dim];
            double mean = CrossEntropy.Forward(rows, dim, x, targets, losses, p);
            CrossEntropy.Backward(rows, dim, x, targets, 1f, d, p);
            return [(float)mean, .. losses, .. d];
        }
        SameBits(Ce(null), Ce(pool), "cross-entropy");

        float[] Glu(WorkerPool? p)
        {
            float[] h = new float[rows * dim], dg = new float[rows * dim], du = new float[rows * dim], s = new float[rows * dim];
            Activations.SwiGluForward(x, dy, h, p);
            Activations.SwiGluBackward(dy, x, dy, dg, du, p);
            Activations.SiluForward(x, s, p);
            return [.. h, .. dg, .. du, .. s];
        }
        SameBits(Glu(null), Glu(pool), "swiglu");

        float[] Roped(WorkerPool? p)
        {
            var table = new RopeTable(RopeTable.InverseFrequencies(64, 10000), rows);
            float[] q = (float[])x.Clone();
            int[] positions = Enumerable.Range(0, rows).ToArray();
            Rope.Forward(rows, 10, 100, positions, table, q, p);        // (37, 10, 100) rows, first 64 roped
            return q;
        }
        SameBits(Roped(null), Roped(pool), "rope");

        (float[], int[]) Top(WorkerPool? p)
        {
            float[] v = new float[rows * 8];
            int[] i = new int[rows * 8];
            TopK.Rows(rows, dim, 8, x, v, i, p);
            return (v, i);
        }
        var (tv1, ti1) = Top(null);
        var (tv2, ti2) = Top(pool);
        SameBits(tv1, tv2, "topk values");
        Assert.Equal(ti1, ti2);
    }

    [Theory, MemberData(nameof(ThreadCounts))]
    public void QuantizationAndConversions_WithAPool_EqualTheSingleThreadRun(int threads)
    {
        using var pool = new WorkerPool(threads);
        var rng = new Random(78);
        const int m = 300, k = 333;
        float[] x = TestSupport.RandomFloats(rng, m * k, 50f);
        byte[] Q(WorkerPool? p, out float[] scales)
        {
            byte[] rowsQ = new byte[m * k], blocksQ = new byte[m * k], tQ = new byte[m * k];
            float[] s1 = new float[m * 3], s2 = new float[3 * 3], s3 = new float[k * 3], back = new float[m * k];
            BlockQuant.QuantizeRows1x128(m, k, x, rowsQ, s1, p);
            BlockQuant.QuantizeBlocks128x128(m, k, x, blocksQ, s2, p);
            BlockQuant.QuantizeTransposed128x1(m, k, x, tQ, s3, p);
            BlockQuant.DequantizeBlocks128x128(m, k, blocksQ, s2, back, p);
            scales = [.. s1, .. s2, .. s3, .. back];
            return [.. rowsQ, .. blocksQ, .. tQ];
        }
        byte[] q1 = Q(null, out float[] sc1), q2 = Q(pool, out float[] sc2);
        Assert.Equal(q1, q2);
        SameBits(sc1, sc2, "scales and dequantized values");

        float[] big = TestSupport.WideFloats(rng, 100_003);
        byte[] e1 = new byte[big.Length], e2 = new byte[big.Length];
        ushort[] b1 = new ushort[big.Length], b2 = new ushort[big.Length];
        Fp8E4M3.FromFloat(big, e1);
        Fp8E4M3.FromFloat(big, e2, pool);
        Bf16.FromFloat(big, b1);
        Bf16.FromFloat(big, b2, pool);
        Assert.Equal(e1, e2);
        Assert.Equal(b1, b2);
        float[] d1 = new float[big.Length], d2 = new float[big.Length];
        Fp8E5M2.ToFloat(e1, d1);
        Fp8E5M2.ToFloat(e1, d2, pool);
        SameBits(d1, d2, "e5m2 decode");
    }
}
