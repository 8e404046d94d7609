// FloatBlock — one 64-byte-aligned, zeroed native FP32 allocation, handed out as spans of at most 2^31 − 1
// elements. Lives here until Numerics' NativeBuffer<float> lands on main; then this becomes a thin use of it.
using System.Runtime.InteropServices;

namespace SharpSeek.Training;

internal sealed unsafe class FloatBlock : IDisposable
{
    private float* _ptr;
    public long Length { get; }

    public FloatBlock(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        nuint bytes = (nuint)Math.Max(1, length) * sizeof(float);
        _ptr = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_ptr, bytes);
    }

    public Span<float> Slice(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_ptr == null, this);
        if ((ulong)offset > (ulong)Length || (ulong)length > (ulong)(Length - offset))
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside a block of {Length} floats.");
        return new Span<float>(_ptr + offset, length);
    }

    public void Clear()
    {
        ObjectDisposedException.ThrowIf(_ptr == null, this);
        NativeMemory.Clear(_ptr, (nuint)Length * sizeof(float));
    }

    public void Dispose()
    {
        if (_ptr == null) return;
        NativeMemory.AlignedFree(_ptr);
        _ptr = null;
    }
}
