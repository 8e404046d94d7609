// One driver for the span conversions of every storage format: full vectors of the chosen width, then the
// scalar body for the tail. A format supplies its lane math once as an ICodec (generic over IVec<V>), and the
// storage width (byte for FP8, ushort for BF16) is an IStorage, so one encode job and one decode job serve all.
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

/// <summary>Lane math of a narrow storage format: FP32 lanes to code lanes (as uint bits) and back.</summary>
internal interface ICodec
{
    static abstract V Encode<V>(V x) where V : unmanaged, IVec<V>;
    static abstract V Decode<V>(V code) where V : unmanaged, IVec<V>;
}

/// <summary>How V.Count codes of type T are loaded into / stored from uint lanes.</summary>
internal unsafe interface IStorage<T> where T : unmanaged
{
    static abstract V Load<V>(T* p) where V : unmanaged, IVec<V>;
    static abstract void Store<V>(V codes, T* p) where V : unmanaged, IVec<V>;
}

internal readonly unsafe struct ByteStorage : IStorage<byte>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Load<V>(byte* p) where V : unmanaged, IVec<V> => V.LoadBytes(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store<V>(V codes, byte* p) where V : unmanaged, IVec<V> => V.StoreBytes(codes, p);
}

internal readonly unsafe struct UShortStorage : IStorage<ushort>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Load<V>(ushort* p) where V : unmanaged, IVec<V> => V.LoadUShorts(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store<V>(V codes, ushort* p) where V : unmanaged, IVec<V> => V.StoreUShorts(codes, p);
}

internal static unsafe class ConversionDriver
{
    /// <summary>Elements per unit of parallel work: a multiple of every vector width, so only the very end has a
    /// scalar tail and a pool split gives the same bits as one thread.</summary>
    private const int Block = 16384;

    public static void Encode<TCodec, T, TStorage>(ReadOnlySpan<float> source, Span<T> destination, SimdLevel level, WorkerPool? pool)
        where TCodec : ICodec where T : unmanaged where TStorage : IStorage<T>
    {
        CheckLengths(source.Length, destination.Length);
        fixed (float* s = source) fixed (T* d = destination)
        {
            var job = new EncodeJob<TCodec, T, TStorage> { Source = s, Destination = d, Count = source.Length };
            RowsDispatch.Run(pool, level, (source.Length + Block - 1) / Block, Block, ref job);
        }
    }

    public static void Decode<TCodec, T, TStorage>(ReadOnlySpan<T> source, Span<float> destination, SimdLevel level, WorkerPool? pool)
        where TCodec : ICodec where T : unmanaged where TStorage : IStorage<T>
    {
        CheckLengths(source.Length, destination.Length);
        fixed (T* s = source) fixed (float* d = destination)
        {
            var job = new DecodeJob<TCodec, T, TStorage> { Source = s, Destination = d, Count = source.Length };
            RowsDispatch.Run(pool, level, (source.Length + Block - 1) / Block, Block, ref job);
        }
    }

    /// <summary>The 256 decoded values of an 8-bit format, for scalar lookups.</summary>
    public static float[] DecodeTable<TCodec>() where TCodec : ICodec
    {
        var table = new float[256];
        for (int c = 0; c < 256; c++) table[c] = VecScalar.DecodeOne<TCodec>((uint)c);
        return table;
    }

    private struct EncodeJob<TCodec, T, TStorage> : IRowsJob where TCodec : ICodec where T : unmanaged where TStorage : IStorage<T>
    {
        public float* Source;
        public T* Destination;
        public long Count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            float* s = Source;
            T* d = Destination;
            long i = begin * Block, n = Math.Min(Count, end * Block);
            for (; i <= n - V.Count; i += V.Count) TStorage.Store(TCodec.Encode(V.Load(s + i)), d + i);
            for (; i < n; i++) TStorage.Store(TCodec.Encode(VecScalar.Load(s + i)), d + i);
        }
    }

    private struct DecodeJob<TCodec, T, TStorage> : IRowsJob where TCodec : ICodec where T : unmanaged where TStorage : IStorage<T>
    {
        public T* Source;
        public float* Destination;
        public long Count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            T* s = Source;
            float* d = Destination;
            long i = begin * Block, n = Math.Min(Count, end * Block);
            for (; i <= n - V.Count; i += V.Count) V.Store(TCodec.Decode(TStorage.Load<V>(s + i)), d + i);
            for (; i < n; i++) VecScalar.Store(TCodec.Decode(TStorage.Load<VecScalar>(s + i)), d + i);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowShort(int source, int destination) =>
        throw new ArgumentException(
            $"Destination holds {destination} elements but the source has {source}; pass a destination at least as long.", "destination");

    private static void CheckLengths(int source, int destination)
    {
        if (destination < source) ThrowShort(source, destination);
    }
}
