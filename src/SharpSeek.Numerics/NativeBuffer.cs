// NativeBuffer<T>: 64-byte-aligned native memory (on 2 MB huge pages from 2 MB up, see HugePages), allocated once,
// zero-filled, freed on Dispose.
// Owners (parameter tables, activation arenas, caches) allocate their buffers up front so hot paths never touch
// the GC heap. Element counts and offsets are long: a single expert stack of a 671B model exceeds 2^31 elements.
using System.Runtime.InteropServices;

namespace SharpSeek.Numerics;

public sealed unsafe class NativeBuffer<T> : IDisposable where T : unmanaged
{
    /// <summary>Alignment of every buffer in bytes: one cache line, and one Vector512.</summary>
    public const int Alignment = 64;

    private T* _pointer;

    public NativeBuffer(long length)
    {
        if (length < 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, "A buffer length must be zero or positive.");
        Length = length;
        // Allocate at least one byte so Pointer is never null, even for an empty buffer.
        nuint bytes = checked((nuint)length * (nuint)sizeof(T));
        _pointer = (T*)HugePages.Alloc(bytes == 0 ? 1 : bytes, Alignment);
        NativeMemory.Clear(_pointer, bytes);
    }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Size in bytes.</summary>
    public long ByteLength => Length * sizeof(T);

    /// <summary>The first element; 64-byte aligned.</summary>
    public T* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    /// <summary>The whole buffer as a span; throws when it has more than int.MaxValue elements (use Slice).</summary>
    public Span<T> Span
    {
        get
        {
            if (Length > int.MaxValue)
                throw new InvalidOperationException(
                    $"NativeBuffer of {Length} elements is larger than a Span can address; use Slice(start, length) or View(...).");
            return new Span<T>(Pointer, (int)Length);
        }
    }

    /// <summary>Elements [start, start + length).</summary>
    public Span<T> Slice(long start, int length)
    {
        if ((ulong)start > (ulong)Length || (ulong)length > (ulong)(Length - start))
            throw new ArgumentOutOfRangeException(nameof(start),
                $"Slice [{start}, {start}+{length}) is outside the buffer of {Length} elements.");
        return new Span<T>(Pointer + start, length);
    }

    /// <summary>A dense row-major view of the whole buffer with the given shape (product must equal Length).</summary>
    public TensorView<T> View(params ReadOnlySpan<long> shape)
    {
        var view = new TensorView<T>(Pointer, shape);
        if (view.Length != Length)
            throw new ArgumentException(
                $"Shape {view.ShapeString} has {view.Length} elements but the buffer has {Length}; pass a shape whose product is the buffer length.",
                nameof(shape));
        return view;
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear() => NativeMemory.Clear(Pointer, (nuint)ByteLength);

    public void Dispose()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer()
    {
        if (_pointer != null) NativeMemory.AlignedFree(_pointer);
    }
}
