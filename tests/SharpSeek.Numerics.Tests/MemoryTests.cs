namespace SharpSeek.Numerics.Tests;

public unsafe class MemoryTests
{
    [Fact]
    public void NativeBuffer_IsAlignedAndZeroFilled()
    {
        foreach (long n in new long[] { 0, 1, 3, 1000, 100_003 })
        {
            using var buffer = new NativeBuffer<float>(n);
            Assert.Equal(0, (long)buffer.Pointer % NativeBuffer<float>.Alignment);
            Assert.Equal(n, buffer.Length);
            Assert.Equal(n * 4, buffer.ByteLength);
            foreach (float v in buffer.Span) Assert.Equal(0f, v);
        }
    }

    [Fact]
    public void NativeBuffer_SliceChecksBoundsAndSharesMemory()
    {
        using var buffer = new NativeBuffer<int>(10);
        buffer.Slice(7, 3)[2] = 42;
        Assert.Equal(42, buffer.Span[9]);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Slice(8, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Slice(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NativeBuffer<int>(-1));
    }

    [Fact]
    public void NativeBuffer_DisposeFreesAndFurtherUseThrows()
    {
        var buffer = new NativeBuffer<byte>(16);
        buffer.Dispose();
        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
    }

    [Fact]
    public void TensorView_RowMajorIndexingMatchesFlatOffsets()
    {
        using var buffer = new NativeBuffer<float>(2 * 3 * 4);
        for (int i = 0; i < 24; i++) buffer.Span[i] = i;
        TensorView<float> view = buffer.View(2, 3, 4);                 // (2, 3, 4)
        Assert.Equal(3, view.Rank);
        Assert.Equal(12, view.Stride(0));
        Assert.Equal(1 * 12 + 2 * 4 + 3, view[1, 2, 3]);
        Assert.True(view.IsContiguous);
        TensorView<float> row = view.Select(1);                         // (3, 4)
        Assert.Equal(1 * 12 + 2 * 4 + 1, row[2, 1]);
        Assert.Equal([20f, 21f, 22f, 23f], row.Row(2).ToArray());
    }

    [Fact]
    public void TensorView_TransposeAndSliceAreStridedViews()
    {
        using var buffer = new NativeBuffer<float>(3 * 5);
        for (int i = 0; i < 15; i++) buffer.Span[i] = i;
        TensorView<float> m = buffer.View(3, 5);                        // (3, 5)
        TensorView<float> t = m.Transpose(0, 1);                        // (5, 3)
        Assert.Equal(5, t.Dim(0));
        Assert.False(t.IsContiguous);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
                Assert.Equal(m[i, j], t[j, i]);
        TensorView<float> cols = m.Slice(1, 2, 2);                      // (3, 2): columns 2..3
        Assert.Equal(m[2, 3], cols[2, 1]);
        Assert.False(cols.IsContiguous);
        Assert.Throws<InvalidOperationException>(() => cols.AsSpan());
        Assert.Equal(15, m.Reshape(15).AsSpan().Length);
    }

    [Fact]
    public void TensorView_RejectsBadShapesIndicesAndRanks()
    {
        using var buffer = new NativeBuffer<float>(6);
        Assert.Throws<ArgumentException>(() => buffer.View(4, 2));
        TensorView<float> v = buffer.View(2, 3);
        Assert.Throws<IndexOutOfRangeException>(() => v[2, 0]);
        Assert.Throws<InvalidOperationException>(() => v[0]);
        Assert.Throws<ArgumentException>(() => v.Reshape(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => v.Slice(1, 2, 2));
        Assert.Throws<ArgumentException>(() => buffer.View(1, 1, 1, 1, 6));
    }
}
