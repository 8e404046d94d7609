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
        Simd.Require(level);
        fixed (float* s = source)
        fixed (byte* d = destination)
        {
            switch (level)
            {
                case SimdLevel.Vector512: EncodeBytes<TCodec, Vec512>(s, d, source.Length); break;
                case SimdLevel.Vector256: EncodeBytes<TCodec, Vec256>(s, d, source.Length); break;
                case SimdLevel.Vector128: EncodeBytes<TCodec, Vec128>(s, d, source.Length); break;
                default: EncodeBytes<TCodec, VecScalar>(s, d, source.Length); break;
            }
        }
    }

    public static void Decode<TCodec>(ReadOnlySpan<byte> source, Span<float> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        Simd.Require(level);
        fixed (byte* s = source)
        fixed (float* d = destination)
        {
            switch (level)
            {
                case SimdLevel.Vector512: DecodeBytes<TCodec, Vec512>(s, d, source.Length); break;
                case SimdLevel.Vector256: DecodeBytes<TCodec, Vec256>(s, d, source.Length); break;
                case SimdLevel.Vector128: DecodeBytes<TCodec, Vec128>(s, d, source.Length); break;
                default: DecodeBytes<TCodec, VecScalar>(s, d, source.Length); break;
            }
        }
    }

    public static void Encode<TCodec>(ReadOnlySpan<float> source, Span<ushort> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        Simd.Require(level);
        fixed (float* s = source)
        fixed (ushort* d = destination)
        {
            switch (level)
            {
                case SimdLevel.Vector512: EncodeUShorts<TCodec, Vec512>(s, d, source.Length); break;
                case SimdLevel.Vector256: EncodeUShorts<TCodec, Vec256>(s, d, source.Length); break;
                case SimdLevel.Vector128: EncodeUShorts<TCodec, Vec128>(s, d, source.Length); break;
                default: EncodeUShorts<TCodec, VecScalar>(s, d, source.Length); break;
            }
        }
    }

    public static void Decode<TCodec>(ReadOnlySpan<ushort> source, Span<float> destination, SimdLevel level) where TCodec : ICodec
    {
        CheckLengths(source.Length, destination.Length);
        Simd.Require(level);
        fixed (ushort* s = source)
        fixed (float* d = destination)
        {
            switch (level)
            {
                case SimdLevel.Vector512: DecodeUShorts<TCodec, Vec512>(s, d, source.Length); break;
                case SimdLevel.Vector256: DecodeUShorts<TCodec, Vec256>(s, d, source.Length); break;
                case SimdLevel.Vector128: DecodeUShorts<TCodec, Vec128>(s, d, source.Length); break;
                default: DecodeUShorts<TCodec, VecScalar>(s, d, source.Length); break;
            }
        }
    }

    /// <summary>Encodes n floats to bytes: full V vectors, then the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EncodeBytes<TCodec, V>(float* s, byte* d, long n) where TCodec : ICodec where V : unmanaged, IVec<V>
    {
        long i = 0;
        for (; i <= n - V.Count; i += V.Count) V.StoreBytes(TCodec.Encode(V.Load(s + i)), d + i);
        for (; i < n; i++) VecScalar.StoreBytes(TCodec.Encode(VecScalar.Load(s + i)), d + i);
    }

    /// <summary>Decodes n bytes to floats: full V vectors, then the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeBytes<TCodec, V>(byte* s, float* d, long n) where TCodec : ICodec where V : unmanaged, IVec<V>
    {
        long i = 0;
        for (; i <= n - V.Count; i += V.Count) V.Store(TCodec.Decode(V.LoadBytes(s + i)), d + i);
        for (; i < n; i++) VecScalar.Store(TCodec.Decode(VecScalar.LoadBytes(s + i)), d + i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EncodeUShorts<TCodec, V>(float* s, ushort* d, long n) where TCodec : ICodec where V : unmanaged, IVec<V>
    {
        long i = 0;
        for (; i <= n - V.Count; i += V.Count) V.StoreUShorts(TCodec.Encode(V.Load(s + i)), d + i);
        for (; i < n; i++) VecScalar.StoreUShorts(TCodec.Encode(VecScalar.Load(s + i)), d + i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DecodeUShorts<TCodec, V>(ushort* s, float* d, long n) where TCodec : ICodec where V : unmanaged, IVec<V>
    {
        long i = 0;
        for (; i <= n - V.Count; i += V.Count) V.Store(TCodec.Decode(V.LoadUShorts(s + i)), d + i);
        for (; i < n; i++) VecScalar.Store(TCodec.Decode(VecScalar.LoadUShorts(s + i)), d + i);
    }

    private static void CheckLengths(int source, int destination)
    {
        if (destination < source)
            throw new ArgumentException(
                $"Destination holds {destination} elements but the source has {source}; pass a destination at least as long.",
                nameof(destination));
    }
}
