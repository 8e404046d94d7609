// TensorView<T>: a pointer plus a fixed-rank (1..4) shape and element strides, no heap arrays.
// Row-major and dense when built from a shape; Slice / Select / Transpose give strided views over the same memory.
// Offsets and extents are long. A view never owns memory: its NativeBuffer (or other owner) must outlive it.
using System.Runtime.CompilerServices;
using System.Text;

namespace SharpSeek.Numerics;

[InlineArray(TensorView<byte>.MaxRank)]
public struct TensorDims
{
    private long _element0;
}

public readonly unsafe struct TensorView<T> where T : unmanaged
{
    public const int MaxRank = 4;

    private readonly TensorDims _shape;
    private readonly TensorDims _strides;

    /// <summary>A dense row-major view of `shape` at `pointer`.</summary>
    public TensorView(T* pointer, params ReadOnlySpan<long> shape)
    {
        if (shape.Length is < 1 or > MaxRank)
            throw new ArgumentException($"A TensorView has rank 1..{MaxRank}; got rank {shape.Length}.", nameof(shape));
        Pointer = pointer;
        Rank = shape.Length;
        long stride = 1;
        for (int d = Rank - 1; d >= 0; d--)
        {
            if (shape[d] < 0)
                throw new ArgumentException($"Dimension {d} of the shape is {shape[d]}; dimensions must be >= 0.", nameof(shape));
            _shape[d] = shape[d];
            _strides[d] = stride;
            stride = checked(stride * shape[d]);
        }
    }

    private TensorView(T* pointer, int rank, in TensorDims shape, in TensorDims strides)
    {
        Pointer = pointer;
        Rank = rank;
        _shape = shape;
        _strides = strides;
    }

    public T* Pointer { get; }
    public int Rank { get; }

    /// <summary>Extent of dimension `dim`.</summary>
    public long Dim(int dim) => _shape[CheckDim(dim)];

    /// <summary>Stride of dimension `dim` in elements.</summary>
    public long Stride(int dim) => _strides[CheckDim(dim)];

    /// <summary>Total number of elements.</summary>
    public long Length
    {
        get
        {
            long n = 1;
            for (int d = 0; d < Rank; d++) n *= _shape[d];
            return n;
        }
    }

    /// <summary>True when the elements are dense and row-major (strides are the suffix products of the shape).</summary>
    public bool IsContiguous
    {
        get
        {
            long stride = 1;
            for (int d = Rank - 1; d >= 0; d--)
            {
                if (_shape[d] != 1 && _strides[d] != stride) return false;
                stride *= _shape[d];
            }
            return true;
        }
    }

    public string ShapeString
    {
        get
        {
            var sb = new StringBuilder("(");
            for (int d = 0; d < Rank; d++) sb.Append(d == 0 ? "" : ", ").Append(_shape[d]);
            return sb.Append(')').ToString();
        }
    }

    /// <summary>Element at (i0) of a rank-1 view.</summary>
    public ref T this[long i0] => ref *(Pointer + Offset(1, i0, 0, 0, 0));

    /// <summary>Element at (i0, i1) of a rank-2 view.</summary>
    public ref T this[long i0, long i1] => ref *(Pointer + Offset(2, i0, i1, 0, 0));

    /// <summary>Element at (i0, i1, i2) of a rank-3 view.</summary>
    public ref T this[long i0, long i1, long i2] => ref *(Pointer + Offset(3, i0, i1, i2, 0));

    /// <summary>Element at (i0, i1, i2, i3) of a rank-4 view.</summary>
    public ref T this[long i0, long i1, long i2, long i3] => ref *(Pointer + Offset(4, i0, i1, i2, i3));

    /// <summary>Elements [start, start + count) along `dim`; other dimensions unchanged.</summary>
    public TensorView<T> Slice(int dim, long start, long count)
    {
        CheckDim(dim);
        if (start < 0 || count < 0 || start + count > _shape[dim])
            throw new ArgumentOutOfRangeException(nameof(start),
                $"Slice [{start}, {start}+{count}) is outside dimension {dim} of shape {ShapeString}.");
        TensorDims shape = _shape;
        shape[dim] = count;
        return new TensorView<T>(Pointer + start * _strides[dim], Rank, shape, _strides);
    }

    /// <summary>Index `index` of dimension 0, dropping that dimension (row i of a matrix is a vector).</summary>
    public TensorView<T> Select(long index)
    {
        if (Rank < 2) throw new InvalidOperationException("Select drops dimension 0 and needs a view of rank >= 2; index a rank-1 view instead.");
        if ((ulong)index >= (ulong)_shape[0])
            throw new ArgumentOutOfRangeException(nameof(index), $"Index {index} is outside dimension 0 of shape {ShapeString}.");
        TensorDims shape = default, strides = default;
        for (int d = 1; d < Rank; d++) { shape[d - 1] = _shape[d]; strides[d - 1] = _strides[d]; }
        return new TensorView<T>(Pointer + index * _strides[0], Rank - 1, shape, strides);
    }

    /// <summary>The same elements with dimensions `a` and `b` swapped (a strided view, nothing is copied).</summary>
    public TensorView<T> Transpose(int a, int b)
    {
        CheckDim(a);
        CheckDim(b);
        TensorDims shape = _shape, strides = _strides;
        (shape[a], shape[b]) = (shape[b], shape[a]);
        (strides[a], strides[b]) = (strides[b], strides[a]);
        return new TensorView<T>(Pointer, Rank, shape, strides);
    }

    /// <summary>The same dense elements under another shape with the same element count.</summary>
    public TensorView<T> Reshape(params ReadOnlySpan<long> shape)
    {
        if (!IsContiguous)
            throw new InvalidOperationException($"Reshape needs a contiguous view; shape {ShapeString} is strided. Copy it first.");
        var view = new TensorView<T>(Pointer, shape);
        if (view.Length != Length)
            throw new ArgumentException($"Cannot reshape {ShapeString} ({Length} elements) to {view.ShapeString} ({view.Length} elements).", nameof(shape));
        return view;
    }

    /// <summary>The elements as one span; the view must be contiguous and hold at most int.MaxValue elements.</summary>
    public Span<T> AsSpan()
    {
        if (!IsContiguous)
            throw new InvalidOperationException($"AsSpan needs a contiguous view; shape {ShapeString} is strided.");
        long n = Length;
        if (n > int.MaxValue)
            throw new InvalidOperationException($"View {ShapeString} has {n} elements, more than a Span can address; Select or Slice it first.");
        return new Span<T>(Pointer, (int)n);
    }

    /// <summary>Row `row` of a contiguous rank-2 view as a span.</summary>
    public Span<T> Row(long row)
    {
        if (Rank != 2 || _strides[1] != 1)
            throw new InvalidOperationException($"Row needs a rank-2 view with unit inner stride; got {ShapeString}.");
        if ((ulong)row >= (ulong)_shape[0])
            throw new ArgumentOutOfRangeException(nameof(row), $"Row {row} is outside shape {ShapeString}.");
        return new Span<T>(Pointer + row * _strides[0], checked((int)_shape[1]));
    }

    private int CheckDim(int dim)
    {
        if ((uint)dim >= (uint)Rank)
            throw new ArgumentOutOfRangeException(nameof(dim), $"Dimension {dim} does not exist in a rank-{Rank} view.");
        return dim;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Offset(int rank, long i0, long i1, long i2, long i3)
    {
        if (rank != Rank) ThrowRank(rank);
        long offset = 0;
        offset += CheckIndex(0, i0) * _strides[0];
        if (rank > 1) offset += CheckIndex(1, i1) * _strides[1];
        if (rank > 2) offset += CheckIndex(2, i2) * _strides[2];
        if (rank > 3) offset += CheckIndex(3, i3) * _strides[3];
        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long CheckIndex(int dim, long i)
    {
        if ((ulong)i >= (ulong)_shape[dim]) ThrowIndex(dim, i);
        return i;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowRank(int rank) =>
        throw new InvalidOperationException($"A rank-{Rank} view {ShapeString} was indexed with {rank} indices.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowIndex(int dim, long i) =>
        throw new IndexOutOfRangeException($"Index {i} is outside dimension {dim} of shape {ShapeString}.");
}
