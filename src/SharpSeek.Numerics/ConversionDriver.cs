// One driver for the span conversions of every storage format: full vectors of the chosen width, then the
// scalar body for the tail. A format supplies its lane math once as an ICodec (generic over IVec<V>).
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

/// <summary>Lane math of a narrow storage format: FP32 lanes to code lanes (as uint bits) and back.</summary>
internal interface ICodec
{
    static abstract V Encode<V>(V x) where V : unmanaged, IVec<V>;
    static abstract V Decode<V>(V code) where V : unmanaged, IVec<V>;
}

internal static unsafe class ConversionDriver
{
    public static void Encode<TCodec>(ReadOnlySpan<float> source, Span<byte> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        fixed (float* s = source) fixed (byte* d = destination)
        {
            var job = new EncodeBytesJob<TCodec> { Source = s, Destination = d, Count = source.Length };
            SimdDispatch.Run(level, ref job);
        }
    }

    public static void Decode<TCodec>(ReadOnlySpan<byte> source, Span<float> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        fixed (byte* s = source) fixed (float* d = destination)
        {
            var job = new DecodeBytesJob<TCodec> { Source = s, Destination = d, Count = source.Length };
            SimdDispatch.Run(level, ref job);
        }
    }

    public static void Encode<TCodec>(ReadOnlySpan<float> source, Span<ushort> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        fixed (float* s = source) fixed (ushort* d = destination)
        {
            var job = new EncodeUShortsJob<TCodec> { Source = s, Destination = d, Count = source.Length };
            SimdDispatch.Run(level, ref job);
        }
    }

    public static void Decode<TCodec>(ReadOnlySpan<ushort> source, Span<float> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        fixed (ushort* s = source) fixed (float* d = destination)
        {
            var job = new DecodeUShortsJob<TCodec> { Source = s, Destination = d, Count = source.Length };
            SimdDispatch.Run(level, ref job);
        }
    }

    private struct EncodeBytesJob<TCodec> : ISimdJob where TCodec : ICodec
    {
        public float* Source;
        public byte* Destination;
        public long Count;

        public readonly void Run<V>() where V : unmanaged, IVec<V>
        {
            float* s = Source;
            byte* d = Destination;
            long i = 0, n = Count;
            for (; i <= n - V.Count; i += V.Count) V.StoreBytes(TCodec.Encode(V.Load(s + i)), d + i);
            for (; i < n; i++) VecScalar.StoreBytes(TCodec.Encode(VecScalar.Load(s + i)), d + i);
        }
    }

    private struct DecodeBytesJob<TCodec> : ISimdJob where TCodec : ICodec
    {
        public byte* Source;
        public float* Destination;
        public long Count;

        public readonly void Run<V>() where V : unmanaged, IVec<V>
        {
            byte* s = Source;
            float* d = Destination;
            long i = 0, n = Count;
            for (; i <= n - V.Count; i += V.Count) V.Store(TCodec.Decode(V.LoadBytes(s + i)), d + i);
            for (; i < n; i++) VecScalar.Store(TCodec.Decode(VecScalar.LoadBytes(s + i)), d + i);
        }
    }

    private struct EncodeUShortsJob<TCodec> : ISimdJob where TCodec : ICodec
    {
        public float* Source;
        public ushort* Destination;
        public long Count;

        public readonly void Run<V>() where V : unmanaged, IVec<V>
        {
            float* s = Source;
            ushort* d = Destination;
            long i = 0, n = Count;
            for (; i <= n - V.Count; i += V.Count) V.StoreUShorts(TCodec.Encode(V.Load(s + i)), d + i);
            for (; i < n; i++) VecScalar.StoreUShorts(TCodec.Encode(VecScalar.Load(s + i)), d + i);
        }
    }

    private struct DecodeUShortsJob<TCodec> : ISimdJob where TCodec : ICodec
    {
        public ushort* Source;
        public float* Destination;
        public long Count;

        public readonly void Run<V>() where V : unmanaged, IVec<V>
        {
            ushort* s = Source;
            float* d = Destination;
            long i = 0, n = Count;
            for (; i <= n - V.Count; i += V.Count) V.Store(TCodec.Decode(V.LoadUShorts(s + i)), d + i);
            for (; i < n; i++) VecScalar.Store(TCodec.Decode(VecScalar.LoadUShorts(s + i)), d + i);
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
