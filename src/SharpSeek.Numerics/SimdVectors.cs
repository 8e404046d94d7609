// IVec<V>: the small set of lane operations the kernels are written against, once, for every width.
// A kernel body `static void Core<V>(...) where V : unmanaged, IVec<V>` is specialised by the JIT for each struct
// below (static abstract calls on a struct type argument inline), so VecScalar, Vec128, Vec256 and Vec512 give the
// Scalar / Vector128 / Vector256 / Vector512 variants from one source, and the scalar tail of every vector loop
// is the VecScalar body itself. Lanes are float; the *Bits operations view the same lanes as uint bit patterns;
// masks are all-ones / all-zeros lanes.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using AI = System.Runtime.CompilerServices.MethodImplAttribute;

namespace SharpSeek.Numerics;

internal unsafe interface IVec<TSelf> where TSelf : unmanaged, IVec<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(float* p);
    static abstract void Store(TSelf v, float* p);
    static abstract TSelf Broadcast(float x);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Sub(TSelf a, TSelf b);
    static abstract TSelf Mul(TSelf a, TSelf b);
    static abstract TSelf Div(TSelf a, TSelf b);
    /// <summary>a·b + c with one rounding.</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);
    /// <summary>a where a &gt; b, else b: a NaN in a yields b (reductions pass new values as a to skip NaN).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);
    /// <summary>a where a &lt; b, else b.</summary>
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Exp(TSelf a);
    /// <summary>exp(a) for a ≤ 0 (values shifted by their maximum: softmax, cross-entropy); a ≥ 88 is not
    /// supported. Vec256 and Vec512 use a float Cephes polynomial (≈1 ulp, below −87 flushes to 0), the others Exp.</summary>
    static abstract TSelf ExpNonPositive(TSelf a);
    static abstract float Sum(TSelf a);
    /// <summary>dst[i] = <see cref="Sum"/>(ai) for eight vectors at once, bit for bit: on AVX a transposing add tree
    /// (the eight reductions share their shuffles) that adds the lanes in the same grouping as Sum.</summary>
    static abstract void Sum8(TSelf a0, TSelf a1, TSelf a2, TSelf a3, TSelf a4, TSelf a5, TSelf a6, TSelf a7, float* dst);
    static abstract float MaxAcross(TSelf a);
    static abstract TSelf LessThan(TSelf a, TSelf b);
    /// <summary>Bit i set when lane i of a is greater than lane i of b.</summary>
    static abstract uint GreaterThanMask(TSelf a, TSelf b);
    /// <summary>Lanes (0,1,2,3,..) -> (1,0,3,2,..): swaps the two floats of every interleaved pair (Count >= 2).</summary>
    static abstract TSelf SwapPairs(TSelf a);
    static abstract TSelf IsNaN(TSelf a);
    static abstract TSelf Select(TSelf mask, TSelf ifTrue, TSelf ifFalse);
    static abstract TSelf Bits(uint pattern);
    static abstract TSelf And(TSelf a, TSelf b);
    static abstract TSelf Or(TSelf a, TSelf b);
    static abstract TSelf AddBits(TSelf a, TSelf b);
    static abstract TSelf SubBits(TSelf a, TSelf b);
    static abstract TSelf ShiftRightBits(TSelf a, int count);
    static abstract TSelf ShiftLeftBits(TSelf a, int count);
    static abstract TSelf EqualBits(TSelf a, TSelf b);
    /// <summary>Lane-wise a &lt; b of the bit patterns as signed integers.</summary>
    static abstract TSelf LessThanBits(TSelf a, TSelf b);
    /// <summary>Each lane's uint bit pattern converted to the float of that integer value (lanes &lt; 2^24).</summary>
    static abstract TSelf UIntToFloat(TSelf a);
    /// <summary>Each lane rounded to the nearest integer, ties to even.</summary>
    static abstract TSelf RoundToEven(TSelf a);
    /// <summary>Each lane (an integral float within int range) converted to the int32 bit pattern of its value.</summary>
    static abstract TSelf IntegralToIntBits(TSelf a);
    /// <summary>Count bytes zero-extended into uint lanes.</summary>
    static abstract TSelf LoadBytes(byte* p);
    /// <summary>The low 8 bits of each uint lane into Count bytes.</summary>
    static abstract void StoreBytes(TSelf v, byte* p);
    static abstract TSelf LoadUShorts(ushort* p);
    static abstract void StoreUShorts(TSelf v, ushort* p);
    /// <summary>Count bytes sign-extended into int lanes.</summary>
    static abstract TSelf LoadSBytes(sbyte* p);
    /// <summary>Byte-wise unsigned maximum of the lanes' bit patterns (4 bytes a lane).</summary>
    static abstract TSelf MaxBytes(TSelf a, TSelf b);
}

internal readonly unsafe struct VecScalar : IVec<VecScalar>
{
    private readonly float _v;
    private VecScalar(float v) => _v = v;
    private static VecScalar B(uint bits) => new(BitConverter.UInt32BitsToSingle(bits));
    private uint U => BitConverter.SingleToUInt32Bits(_v);

    /// <summary>Scalar entry points of a codec: one float to its code, one code to its float.</summary>
    [AI(MethodImplOptions.AggressiveInlining)] public static uint EncodeOne<TCodec>(float x) where TCodec : ICodec => TCodec.Encode(new VecScalar(x)).U;
    [AI(MethodImplOptions.AggressiveInlining)] public static float DecodeOne<TCodec>(uint code) where TCodec : ICodec => TCodec.Decode(B(code))._v;

    public static int Count => 1;
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Load(float* p) => new(*p);
    [AI(MethodImplOptions.AggressiveInlining)] public static void Store(VecScalar v, float* p) => *p = v._v;
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Broadcast(float x) => new(x);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Add(VecScalar a, VecScalar b) => new(a._v + b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Sub(VecScalar a, VecScalar b) => new(a._v - b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Mul(VecScalar a, VecScalar b) => new(a._v * b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Div(VecScalar a, VecScalar b) => new(a._v / b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Fma(VecScalar a, VecScalar b, VecScalar c) => new(MathF.FusedMultiplyAdd(a._v, b._v, c._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Max(VecScalar a, VecScalar b) => new(a._v > b._v ? a._v : b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Min(VecScalar a, VecScalar b) => new(a._v < b._v ? a._v : b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Exp(VecScalar a) => new(MathF.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar ExpNonPositive(VecScalar a) => new(MathF.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static float Sum(VecScalar a) => a._v;
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void Sum8(VecScalar a0, VecScalar a1, VecScalar a2, VecScalar a3, VecScalar a4, VecScalar a5, VecScalar a6, VecScalar a7, float* dst)
    {
        dst[0] = a0._v; dst[1] = a1._v; dst[2] = a2._v; dst[3] = a3._v; dst[4] = a4._v; dst[5] = a5._v; dst[6] = a6._v; dst[7] = a7._v;
    }
    [AI(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(VecScalar a) => a._v;
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar LessThan(VecScalar a, VecScalar b) => B(a._v < b._v ? uint.MaxValue : 0u);
    [AI(MethodImplOptions.AggressiveInlining)] public static uint GreaterThanMask(VecScalar a, VecScalar b) => a._v > b._v ? 1u : 0u;
    public static VecScalar SwapPairs(VecScalar a) => throw new NotSupportedException("A one-lane vector has no pairs; callers handle pairs in their scalar tail.");
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar IsNaN(VecScalar a) => B(float.IsNaN(a._v) ? uint.MaxValue : 0u);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Select(VecScalar m, VecScalar t, VecScalar f) => B((m.U & t.U) | (~m.U & f.U));
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Bits(uint pattern) => B(pattern);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar And(VecScalar a, VecScalar b) => B(a.U & b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar Or(VecScalar a, VecScalar b) => B(a.U | b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar AddBits(VecScalar a, VecScalar b) => B(a.U + b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar SubBits(VecScalar a, VecScalar b) => B(a.U - b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar ShiftRightBits(VecScalar a, int count) => B(a.U >> count);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar ShiftLeftBits(VecScalar a, int count) => B(a.U << count);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar EqualBits(VecScalar a, VecScalar b) => B(a.U == b.U ? uint.MaxValue : 0u);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar LessThanBits(VecScalar a, VecScalar b) => B((int)a.U < (int)b.U ? uint.MaxValue : 0u);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar UIntToFloat(VecScalar a) => new(a.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar RoundToEven(VecScalar a) => new(MathF.Round(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar IntegralToIntBits(VecScalar a) => B((uint)(int)a._v);
    // The narrow loads build the lane through Vector128.CreateScalar, not BitConverter: optimized code from the
    // .NET 10 JIT (runtime 10.0.12) turns UInt32BitsToSingle((uint)*p) of a byte or ushort load into a 4-byte float
    // load from p, dropping the widening (VecLoadTests; a 10-line repro in DESIGN).
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar LoadBytes(byte* p) => Widened(*p);
    [AI(MethodImplOptions.AggressiveInlining)] public static void StoreBytes(VecScalar v, byte* p) => *p = (byte)v.U;
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar LoadUShorts(ushort* p) => Widened(*p);
    [AI(MethodImplOptions.AggressiveInlining)] public static void StoreUShorts(VecScalar v, ushort* p) => *p = (ushort)v.U;
    [AI(MethodImplOptions.AggressiveInlining)] public static VecScalar LoadSBytes(sbyte* p) => Widened((uint)(int)*p);
    [AI(MethodImplOptions.AggressiveInlining)] private static VecScalar Widened(uint bits) => new(Vector128.CreateScalar(bits).AsSingle().ToScalar());
    [AI(MethodImplOptions.AggressiveInlining)]
    public static VecScalar MaxBytes(VecScalar a, VecScalar b)
    {
        uint x = a.U, y = b.U, m = 0;
        for (int i = 0; i < 32; i += 8) m |= Math.Max((x >> i) & 0xFF, (y >> i) & 0xFF) << i;
        return B(m);
    }
}

internal readonly unsafe struct Vec128 : IVec<Vec128>
{
    private readonly Vector128<float> _v;
    private Vec128(Vector128<float> v) => _v = v;
    private static Vec128 B(Vector128<uint> bits) => new(bits.AsSingle());
    private Vector128<uint> U => _v.AsUInt32();

    public static int Count => Vector128<float>.Count;
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Load(float* p) => new(Vector128.Load(p));
    [AI(MethodImplOptions.AggressiveInlining)] public static void Store(Vec128 v, float* p) => v._v.Store(p);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Broadcast(float x) => new(Vector128.Create(x));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Add(Vec128 a, Vec128 b) => new(a._v + b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Sub(Vec128 a, Vec128 b) => new(a._v - b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Mul(Vec128 a, Vec128 b) => new(a._v * b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Div(Vec128 a, Vec128 b) => new(a._v / b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Fma(Vec128 a, Vec128 b, Vec128 c) => new(Vector128.FusedMultiplyAdd(a._v, b._v, c._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Max(Vec128 a, Vec128 b) => new(Vector128.ConditionalSelect(Vector128.GreaterThan(a._v, b._v), a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Min(Vec128 a, Vec128 b) => new(Vector128.ConditionalSelect(Vector128.LessThan(a._v, b._v), a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Exp(Vec128 a) => new(Vector128.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 ExpNonPositive(Vec128 a) => new(Vector128.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec128 a) => Vector128.Sum(a._v);
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void Sum8(Vec128 a0, Vec128 a1, Vec128 a2, Vec128 a3, Vec128 a4, Vec128 a5, Vec128 a6, Vec128 a7, float* dst)
    {
        dst[0] = Sum(a0); dst[1] = Sum(a1); dst[2] = Sum(a2); dst[3] = Sum(a3); dst[4] = Sum(a4); dst[5] = Sum(a5); dst[6] = Sum(a6); dst[7] = Sum(a7);
    }
    [AI(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Vec128 a) => Lanes.Max(a._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 LessThan(Vec128 a, Vec128 b) => new(Vector128.LessThan(a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static uint GreaterThanMask(Vec128 a, Vec128 b) => (uint)Vector128.ExtractMostSignificantBits(Vector128.GreaterThan(a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 SwapPairs(Vec128 a) => new(Vector128.Shuffle(a._v, Vector128.Create(1, 0, 3, 2)));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 IsNaN(Vec128 a) => new(~Vector128.Equals(a._v, a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Select(Vec128 m, Vec128 t, Vec128 f) => new(Vector128.ConditionalSelect(m._v, t._v, f._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Bits(uint pattern) => B(Vector128.Create(pattern));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 And(Vec128 a, Vec128 b) => new(a._v & b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 Or(Vec128 a, Vec128 b) => new(a._v | b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 AddBits(Vec128 a, Vec128 b) => B(a.U + b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 SubBits(Vec128 a, Vec128 b) => B(a.U - b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 ShiftRightBits(Vec128 a, int count) => B(Vector128.ShiftRightLogical(a.U, count));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 ShiftLeftBits(Vec128 a, int count) => B(Vector128.ShiftLeft(a.U, count));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 EqualBits(Vec128 a, Vec128 b) => B(Vector128.Equals(a.U, b.U));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 LessThanBits(Vec128 a, Vec128 b) => B(Vector128.LessThan(a.U.AsInt32(), b.U.AsInt32()).AsUInt32());
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 UIntToFloat(Vec128 a) => new(Vector128.ConvertToSingle(a.U.AsInt32()));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 RoundToEven(Vec128 a) => new(Vector128.Round(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 IntegralToIntBits(Vec128 a) => B(Vector128.ConvertToInt32(a._v).AsUInt32());
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec128 LoadBytes(byte* p)
    {
        if (Sse41.IsSupported) return B(Sse41.ConvertToVector128Int32(p).AsUInt32());
        Vector128<ushort> w = Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(uint*)p).AsByte());
        return B(Vector128.WidenLower(w));
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void StoreBytes(Vec128 v, byte* p)
    {
        Vector128<ushort> w = Vector128.Narrow(v.U, v.U);
        *(uint*)p = Vector128.Narrow(w, w).AsUInt32().ToScalar();
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec128 LoadUShorts(ushort* p)
    {
        if (Sse41.IsSupported) return B(Sse41.ConvertToVector128Int32(p).AsUInt32());
        return B(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)p).AsUInt16()));
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void StoreUShorts(Vec128 v, ushort* p) => *(ulong*)p = Vector128.Narrow(v.U, v.U).AsUInt64().ToScalar();
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec128 LoadSBytes(sbyte* p)
    {
        if (Sse41.IsSupported) return B(Sse41.ConvertToVector128Int32(p).AsUInt32());
        Vector128<short> w = Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(int*)p).AsSByte());
        return B(Vector128.WidenLower(w).AsUInt32());
    }
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec128 MaxBytes(Vec128 a, Vec128 b) => B(Vector128.Max(a.U.AsByte(), b.U.AsByte()).AsUInt32());
}

internal readonly unsafe struct Vec256 : IVec<Vec256>
{
    private readonly Vector256<float> _v;
    private Vec256(Vector256<float> v) => _v = v;
    private static Vec256 B(Vector256<uint> bits) => new(bits.AsSingle());
    private Vector256<uint> U => _v.AsUInt32();

    public static int Count => Vector256<float>.Count;
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Load(float* p) => new(Vector256.Load(p));
    [AI(MethodImplOptions.AggressiveInlining)] public static void Store(Vec256 v, float* p) => v._v.Store(p);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Broadcast(float x) => new(Vector256.Create(x));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Add(Vec256 a, Vec256 b) => new(a._v + b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Sub(Vec256 a, Vec256 b) => new(a._v - b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Mul(Vec256 a, Vec256 b) => new(a._v * b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Div(Vec256 a, Vec256 b) => new(a._v / b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Fma(Vec256 a, Vec256 b, Vec256 c) => new(Vector256.FusedMultiplyAdd(a._v, b._v, c._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Max(Vec256 a, Vec256 b) => new(Vector256.ConditionalSelect(Vector256.GreaterThan(a._v, b._v), a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Min(Vec256 a, Vec256 b) => new(Vector256.ConditionalSelect(Vector256.LessThan(a._v, b._v), a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Exp(Vec256 a) => new(Vector256.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 ExpNonPositive(Vec256 a) =>
        System.Runtime.Intrinsics.X86.Fma.IsSupported ? VecMath.ExpNonPositive(a) : new(Vector256.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec256 a) => Vector256.Sum(a._v);
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void Sum8(Vec256 a0, Vec256 a1, Vec256 a2, Vec256 a3, Vec256 a4, Vec256 a5, Vec256 a6, Vec256 a7, float* dst)
    {
        if (!Avx.IsSupported)
        {
            dst[0] = Sum(a0); dst[1] = Sum(a1); dst[2] = Sum(a2); dst[3] = Sum(a3); dst[4] = Sum(a4); dst[5] = Sum(a5); dst[6] = Sum(a6); dst[7] = Sum(a7);
            return;
        }
        Avx.Store(dst, AddTree8(a0._v, a1._v, a2._v, a3._v, a4._v, a5._v, a6._v, a7._v));
    }

    /// <summary>Eight 8-lane vectors to the vector of their eight lane sums, grouped as Vector256.Sum groups them
    /// ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)): pairwise horizontal adds within each 128-bit half, then the halves
    /// added. Vec512 sums its lower and upper halves this way and adds the two, as Vector512.Sum does.</summary>
    [AI(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> AddTree8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7)
    {
        Vector256<float> u0 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));   // (a0..a3 lanes 0-3 | lanes 4-7)
        Vector256<float> u1 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Permute2x128(u0, u1, 0x20) + Avx.Permute2x128(u0, u1, 0x31);
    }
    [AI(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Vec256 a) => Lanes.Max(Vec128Max(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 LessThan(Vec256 a, Vec256 b) => new(Vector256.LessThan(a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static uint GreaterThanMask(Vec256 a, Vec256 b) => (uint)Vector256.ExtractMostSignificantBits(Vector256.GreaterThan(a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 SwapPairs(Vec256 a) => new(Vector256.Shuffle(a._v, Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6)));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 IsNaN(Vec256 a) => new(~Vector256.Equals(a._v, a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Select(Vec256 m, Vec256 t, Vec256 f) => new(Vector256.ConditionalSelect(m._v, t._v, f._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Bits(uint pattern) => B(Vector256.Create(pattern));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 And(Vec256 a, Vec256 b) => new(a._v & b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 Or(Vec256 a, Vec256 b) => new(a._v | b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 AddBits(Vec256 a, Vec256 b) => B(a.U + b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 SubBits(Vec256 a, Vec256 b) => B(a.U - b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 ShiftRightBits(Vec256 a, int count) => B(Vector256.ShiftRightLogical(a.U, count));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 ShiftLeftBits(Vec256 a, int count) => B(Vector256.ShiftLeft(a.U, count));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 EqualBits(Vec256 a, Vec256 b) => B(Vector256.Equals(a.U, b.U));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 LessThanBits(Vec256 a, Vec256 b) => B(Vector256.LessThan(a.U.AsInt32(), b.U.AsInt32()).AsUInt32());
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 UIntToFloat(Vec256 a) => new(Vector256.ConvertToSingle(a.U.AsInt32()));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 RoundToEven(Vec256 a) =>
        new(Avx.IsSupported ? Avx.RoundToNearestInteger(a._v) : Vector256.Round(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 IntegralToIntBits(Vec256 a) =>
        B((Avx.IsSupported ? Avx.ConvertToVector256Int32(a._v) : Vector256.ConvertToInt32(a._v)).AsUInt32());
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec256 LoadBytes(byte* p)
    {
        if (Avx2.IsSupported) return B(Avx2.ConvertToVector256Int32(p).AsUInt32());
        Vector128<ushort> w = Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)p).AsByte());
        return B(Vector256.Create(Vector128.WidenLower(w), Vector128.WidenUpper(w)));
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void StoreBytes(Vec256 v, byte* p)
    {
        Vector128<ushort> w = Vector128.Narrow(v.U.GetLower(), v.U.GetUpper());
        *(ulong*)p = Vector128.Narrow(w, w).AsUInt64().ToScalar();
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec256 LoadUShorts(ushort* p)
    {
        if (Avx2.IsSupported) return B(Avx2.ConvertToVector256Int32(p).AsUInt32());
        Vector128<ushort> w = Vector128.Load(p);
        return B(Vector256.Create(Vector128.WidenLower(w), Vector128.WidenUpper(w)));
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void StoreUShorts(Vec256 v, ushort* p) => Vector128.Narrow(v.U.GetLower(), v.U.GetUpper()).Store(p);
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec256 LoadSBytes(sbyte* p)
    {
        if (Avx2.IsSupported) return B(Avx2.ConvertToVector256Int32(p).AsUInt32());
        Vector128<short> w = Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(long*)p).AsSByte());
        return B(Vector256.Create(Vector128.WidenLower(w), Vector128.WidenUpper(w)).AsUInt32());
    }
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec256 MaxBytes(Vec256 a, Vec256 b) => B(Vector256.Max(a.U.AsByte(), b.U.AsByte()).AsUInt32());

    [AI(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Vec128Max(Vector256<float> v) =>
        Vector128.ConditionalSelect(Vector128.GreaterThan(v.GetLower(), v.GetUpper()), v.GetLower(), v.GetUpper());
}

internal readonly unsafe struct Vec512 : IVec<Vec512>
{
    private readonly Vector512<float> _v;
    private Vec512(Vector512<float> v) => _v = v;
    private static Vec512 B(Vector512<uint> bits) => new(bits.AsSingle());
    private Vector512<uint> U => _v.AsUInt32();

    public static int Count => Vector512<float>.Count;
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Load(float* p) => new(Vector512.Load(p));
    [AI(MethodImplOptions.AggressiveInlining)] public static void Store(Vec512 v, float* p) => v._v.Store(p);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Broadcast(float x) => new(Vector512.Create(x));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Add(Vec512 a, Vec512 b) => new(a._v + b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Sub(Vec512 a, Vec512 b) => new(a._v - b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Mul(Vec512 a, Vec512 b) => new(a._v * b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Div(Vec512 a, Vec512 b) => new(a._v / b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Fma(Vec512 a, Vec512 b, Vec512 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Max(Vec512 a, Vec512 b) => new(Vector512.ConditionalSelect(Vector512.GreaterThan(a._v, b._v), a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Min(Vec512 a, Vec512 b) => new(Vector512.ConditionalSelect(Vector512.LessThan(a._v, b._v), a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Exp(Vec512 a) => new(Vector512.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 ExpNonPositive(Vec512 a) =>
        Avx512F.IsSupported ? VecMath.ExpNonPositive(a) : new(Vector512.Exp(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec512 a) => Vector512.Sum(a._v);
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void Sum8(Vec512 a0, Vec512 a1, Vec512 a2, Vec512 a3, Vec512 a4, Vec512 a5, Vec512 a6, Vec512 a7, float* dst) =>
        Avx.Store(dst, Vec256.AddTree8(a0._v.GetLower(), a1._v.GetLower(), a2._v.GetLower(), a3._v.GetLower(),
                a4._v.GetLower(), a5._v.GetLower(), a6._v.GetLower(), a7._v.GetLower())
            + Vec256.AddTree8(a0._v.GetUpper(), a1._v.GetUpper(), a2._v.GetUpper(), a3._v.GetUpper(),
                a4._v.GetUpper(), a5._v.GetUpper(), a6._v.GetUpper(), a7._v.GetUpper()));
    [AI(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Vec512 a) => Vec256.MaxAcross(Unsafe.BitCast<Vector256<float>, Vec256>(
        Vector256.ConditionalSelect(Vector256.GreaterThan(a._v.GetLower(), a._v.GetUpper()), a._v.GetLower(), a._v.GetUpper())));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 LessThan(Vec512 a, Vec512 b) => new(Vector512.LessThan(a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static uint GreaterThanMask(Vec512 a, Vec512 b) => (uint)Vector512.ExtractMostSignificantBits(Vector512.GreaterThan(a._v, b._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 SwapPairs(Vec512 a) => new(Vector512.Shuffle(a._v, Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 IsNaN(Vec512 a) => new(~Vector512.Equals(a._v, a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Select(Vec512 m, Vec512 t, Vec512 f) => new(Vector512.ConditionalSelect(m._v, t._v, f._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Bits(uint pattern) => B(Vector512.Create(pattern));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 And(Vec512 a, Vec512 b) => new(a._v & b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 Or(Vec512 a, Vec512 b) => new(a._v | b._v);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 AddBits(Vec512 a, Vec512 b) => B(a.U + b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 SubBits(Vec512 a, Vec512 b) => B(a.U - b.U);
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 ShiftRightBits(Vec512 a, int count) => B(Vector512.ShiftRightLogical(a.U, count));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 ShiftLeftBits(Vec512 a, int count) => B(Vector512.ShiftLeft(a.U, count));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 EqualBits(Vec512 a, Vec512 b) => B(Vector512.Equals(a.U, b.U));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 LessThanBits(Vec512 a, Vec512 b) => B(Vector512.LessThan(a.U.AsInt32(), b.U.AsInt32()).AsUInt32());
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 UIntToFloat(Vec512 a) => new(Vector512.ConvertToSingle(a.U.AsInt32()));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 RoundToEven(Vec512 a) =>
        new(Avx512F.IsSupported ? Avx512F.RoundScale(a._v, 0) : Vector512.Round(a._v));
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 IntegralToIntBits(Vec512 a) =>
        B((Avx512F.IsSupported ? Avx512F.ConvertToVector512Int32(a._v) : Vector512.ConvertToInt32(a._v)).AsUInt32());
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec512 LoadBytes(byte* p)
    {
        if (Avx512F.IsSupported) return B(Avx512F.ConvertToVector512UInt32(Vector128.Load(p)));   // vpmovzxbd
        Vector128<byte> b = Vector128.Load(p);
        var w = Vector256.Create(Vector128.WidenLower(b), Vector128.WidenUpper(b));
        return B(Vector512.Create(Vector256.WidenLower(w), Vector256.WidenUpper(w)));
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void StoreBytes(Vec512 v, byte* p)
    {
        Vector256<ushort> w = Vector256.Narrow(v.U.GetLower(), v.U.GetUpper());
        Vector128.Narrow(w.GetLower(), w.GetUpper()).Store(p);
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec512 LoadUShorts(ushort* p)
    {
        if (Avx512F.IsSupported) return B(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)));   // vpmovzxwd
        Vector256<ushort> w = Vector256.Load(p);
        return B(Vector512.Create(Vector256.WidenLower(w), Vector256.WidenUpper(w)));
    }
    [AI(MethodImplOptions.AggressiveInlining)]
    public static void StoreUShorts(Vec512 v, ushort* p) => Vector256.Narrow(v.U.GetLower(), v.U.GetUpper()).Store(p);
    [AI(MethodImplOptions.AggressiveInlining)]
    public static Vec512 LoadSBytes(sbyte* p)
    {
        if (Avx512F.IsSupported) return B(Avx512F.ConvertToVector512Int32(Vector128.Load(p)).AsUInt32());   // vpmovsxbd
        Vector128<sbyte> b = Vector128.Load(p);
        var w = Vector256.Create(Vector128.WidenLower(b), Vector128.WidenUpper(b));
        return B(Vector512.Create(Vector256.WidenLower(w), Vector256.WidenUpper(w)).AsUInt32());
    }
    [AI(MethodImplOptions.AggressiveInlining)] public static Vec512 MaxBytes(Vec512 a, Vec512 b) => B(Vector512.Max(a.U.AsByte(), b.U.AsByte()).AsUInt32());
}

/// <summary>Vector maths shared by the row kernels and the attention kernel.</summary>
internal static class VecMath
{
    /// <summary>exp(x) for x ≤ 0 (Vec256 with FMA, Vec512): x = k·ln2 + r with ln2 split in two (Cody–Waite), a
    /// degree-6 Cephes polynomial in r (≈1 ulp), 2^k through the exponent bits. x below −87 flushes to 0 rather
    /// than a subnormal; x is clamped at 88 so 2^k cannot overflow into the sign bit; NaN stays NaN (the clamps
    /// keep the NaN operand).</summary>
    [AI(MethodImplOptions.AggressiveInlining)]
    public static V ExpNonPositive<V>(V x) where V : unmanaged, IVec<V>
    {
        V tooSmall = V.LessThan(x, V.Broadcast(-87f));
        x = V.Min(V.Broadcast(88f), V.Max(V.Broadcast(-87f), x));
        V k = V.RoundToEven(V.Mul(x, V.Broadcast(1.44269504088896341f))), minusK = V.Sub(V.Broadcast(0f), k);
        V r = V.Fma(minusK, V.Broadcast(0.693359375f), x);
        r = V.Fma(minusK, V.Broadcast(-2.12194440e-4f), r);
        V p = V.Broadcast(1.9875691500e-4f);
        p = V.Fma(p, r, V.Broadcast(1.3981999507e-3f));
        p = V.Fma(p, r, V.Broadcast(8.3334519073e-3f));
        p = V.Fma(p, r, V.Broadcast(4.1665795894e-2f));
        p = V.Fma(p, r, V.Broadcast(1.6666665459e-1f));
        p = V.Fma(p, r, V.Broadcast(5.0000001201e-1f));
        p = V.Fma(p, V.Mul(r, r), V.Add(r, V.Broadcast(1f)));
        V pow2 = V.ShiftLeftBits(V.AddBits(V.IntegralToIntBits(k), V.Bits(127)), 23);
        return V.Select(tooSmall, V.Broadcast(0f), V.Mul(p, pow2));
    }
}

internal static class Lanes
{
    [AI(MethodImplOptions.AggressiveInlining)]
    public static float Max(Vector128<float> v)
    {
        float a = v.GetElement(0) > v.GetElement(1) ? v.GetElement(0) : v.GetElement(1);
        float b = v.GetElement(2) > v.GetElement(3) ? v.GetElement(2) : v.GetElement(3);
        return a > b ? a : b;
    }
}
