namespace SharpSeek.Numerics.Tests;

/// <summary>Hot-path kernels allocate nothing on the GC heap (STYLE rule 3): measured per call after a warm-up.</summary>
public class AllocationTests
{
    [Fact]
    public void KernelCalls_AllocateNothing()
    {
        const int rows = 4, dim = 300;
        var rng = new Random(1);
        float[] x = TestSupport.RandomFloats(rng, rows * dim), y = new float[rows * dim], z = new float[rows * dim];
        float[] w = TestSupport.RandomFloats(rng, dim), dw = new float[dim], r = new float[rows], scales = new float[dim];
        byte[] q = new byte[rows * dim];
        ushort[] h = new ushort[rows * dim];
        int[] targets = [0, 1, 2, 3], positions = [0, 1, 2, 3], topI = new int[rows * 8];
        float[] topV = new float[rows * 8], losses = new float[rows];
        var table = new RopeTable(RopeTable.InverseFrequencies(64, 10000), 8);
        var calls = new (string Name, Action Call)[]
        {
            ("bf16", () => { Bf16.FromFloat(x, h); Bf16.ToFloat(h, y); }),
            ("e4m3", () => { Fp8E4M3.FromFloat(x, q); Fp8E4M3.ToFloat(q, y); }),
            ("e5m2", () => { Fp8E5M2.FromFloat(x, q); Fp8E5M2.ToFloat(q, y); }),
            ("quant", () => { BlockQuant.QuantizeRows1x128(rows, dim, x, q, scales); BlockQuant.QuantizeTransposed128x1(rows, dim, x, q, scales);
                              BlockQuant.QuantizeBlocks128x128(rows, dim, x, q, scales); BlockQuant.DequantizeBlocks128x128(rows, dim, q, scales, y); }),
            ("rmsnorm", () => { RmsNorm.Forward(rows, dim, x, w, 1e-6f, y, r); RmsNorm.Backward(rows, dim, x, x, w, r, z, dw); }),
            ("activations", () => { Activations.SwiGluForward(x, x, y); Activations.SwiGluBackward(x, x, x, y, z); Activations.Sigmoid(x, y); }),
            ("softmax", () => { Softmax.Forward(rows, dim, x, y); Softmax.Backward(rows, dim, y, x, z); }),
            ("rope", () => Rope.Forward(rows, 1, dim, positions, table, y)),
            ("cross_entropy", () => { CrossEntropy.Forward(rows, dim, x, targets, losses); CrossEntropy.Backward(rows, dim, x, targets, 1f, y); }),
            ("topk", () => TopK.Rows(rows, dim, 8, x, topV, topI)),
        };
        foreach (var (name, call) in calls) Assert.True(TestSupport.AllocatedBy(call) == 0, $"{name} allocated on the GC heap");
    }

    [Fact]
    public void PooledKernelCalls_AllocateNothing()
    {
        using var pool = new WorkerPool(2);
        const int rows = 64, dim = 1024;                                   // above the parallel threshold
        var rng = new Random(2);
        float[] x = TestSupport.RandomFloats(rng, rows * dim), y = new float[rows * dim], z = new float[rows * dim];
        float[] w = TestSupport.RandomFloats(rng, dim), dw = new float[dim], r = new float[rows], scales = new float[rows * 8];
        byte[] q = new byte[rows * dim];
        Assert.Equal(0, TestSupport.AllocatedBy(() =>
        {
            RmsNorm.Forward(rows, dim, x, w, 1e-6f, y, r, pool);
            RmsNorm.Backward(rows, dim, x, x, w, r, z, dw, pool);
            Softmax.Forward(rows, dim, x, y, pool);
            Activations.SwiGluForward(x, x, y, pool);
            BlockQuant.QuantizeRows1x128(rows, dim, x, q, scales, pool);
            Fp8E4M3.ToFloat(q, y, pool);
        }));
    }

    [Fact]
    public unsafe void TensorView_OffsetsBeyondInt32AreComputedInLong()
    {
        // Address arithmetic only (nothing is dereferenced): a (2^20, 2^13) view spans 2^33 elements.
        var view = new TensorView<float>((float*)0x1000, 1L << 20, 1L << 13);
        float* last = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref view[(1L << 20) - 1, (1L << 13) - 1]);
        Assert.Equal(0x1000L + ((1L << 33) - 1) * sizeof(float), (long)last);
        Assert.Equal(1L << 33, view.Length);
        Assert.Throws<InvalidOperationException>(() => view.AsSpan());
    }
}
