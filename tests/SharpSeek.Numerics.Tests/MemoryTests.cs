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
    public void NativeBuffer_FromTwoMegabytesUp_StartsOnAHugePageBoundary()
    {
        foreach (long bytes in new long[] { HugePages.PageBytes - 64, HugePages.PageBytes, 3L * HugePages.PageBytes + 4096 })
        {
            using var buffer = new NativeBuffer<byte>(bytes);
            bool huge = HugePages.Enabled && bytes >= HugePages.PageBytes;
            Assert.Equal(0, (long)buffer.Pointer % (huge ? HugePages.PageBytes : NativeBuffer<byte>.Alignment));
            Assert.Equal(0, buffer.Span[0] | buffer.Span[(int)bytes / 2] | buffer.Span[(int)bytes - 1]);
        }
    }

    /// <summary>The kernel really backs a large buffer with huge pages, where it offers them (transparent huge
    /// pages "always" or "madvise", as on this project's machines).</summary>
    [Fact]
    public void NativeBuffer_LargeBufferIsBackedByHugePages_WhereTheKernelOffersThem()
    {
        const string setting = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!HugePages.Enabled || !File.Exists(setting) || File.ReadAllText(setting).Contains("[never]")) return;
        using var buffer = new NativeBuffer<float>(4L * HugePages.PageBytes / sizeof(float));
        buffer.Span.Fill(1f);
        ulong address = (ulong)buffer.Pointer;
        long hugeKb = -1;
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length > 0 && parts[0].Contains('-') && !parts[0].EndsWith(':'))
            {
                string[] range = parts[0].Split('-');
                inside = address >= Convert.ToUInt64(range[0], 16) && address < Convert.ToUInt64(range[1], 16);
            }
            else if (inside && parts[0] == "AnonHugePages:") hugeKb = long.Parse(parts[1]);
        }
        Assert.True(hugeKb >= HugePages.PageBytes / 1024, $"the 8 MB buffer's mapping holds {hugeKb} kB of huge pages");
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
