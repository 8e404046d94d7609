using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics.Tests;

/// <summary>CausalAttention (tiled) against CausalAttentionReference at ragged shapes: lengths not a multiple of the
/// 6×16 tile, fewer query rows than context (a cached prefix), an empty second key part, strided operands.</summary>
public unsafe class CausalAttentionTests
{
    // (Lq, L, Dq, Dk1, Dv)
    public static TheoryData<SimdLevel, int, int, int, int, int> Shapes()
    {
        var data = new TheoryData<SimdLevel, int, int, int, int, int>();
        int[][] shapes = [[1, 1, 3, 2, 2], [5, 5, 7, 4, 5], [17, 17, 48, 32, 32], [13, 29, 20, 20, 9], [37, 37, 24, 16, 17],
            [1, 23, 6, 0, 8], [70, 70, 33, 17, 40]];
        foreach (SimdLevel level in new[] { SimdLevel.Scalar, Simd.Best })
            foreach (int[] s in shapes) data.Add(level, s[0], s[1], s[2], s[3], s[4]);
        return data;
    }

    /// <summary>Operands of one head, each in a buffer with a row stride wider than its width (pinned arrays).</summary>
    private sealed class Head
    {
        public readonly float[] Q, K1, K2, V, O, P, DO, DQ, DK1, DK2, DV, Scratch;
        public CausalAttentionArgs Args;

        public Head(int lq, int l, int dq, int dk1, int dv, Random rng, bool keepP)
        {
            float[] Buf(int rows, int ld, float scale = 0f)
            {
                var b = GC.AllocateArray<float>(rows * ld + 1, pinned: true);
                for (int i = 0; i < b.Length; i++) b[i] = scale == 0 ? float.NaN : (float)((rng.NextDouble() * 2 - 1) * scale);
                return b;
            }
            int dk2 = dq - dk1, lp = CausalAttention.PaddedLength(l);
            Q = Buf(lq, dq + 3, 1f); K1 = Buf(l, dk1 + 5, 1f); K2 = Buf(l, dk2 + 2, 1f); V = Buf(l, dv + 7, 1f);
            DO = Buf(lq, dv + 1, 1f);
            O = Buf(lq, dv + 2); P = Buf(lq, lp + 3); DQ = Buf(lq, dq + 1); DK1 = Buf(l, dk1 + 4); DK2 = Buf(l, dk2 + 1); DV = Buf(l, dv + 3);
            Scratch = Buf((int)CausalAttention.ScratchFloats(lq, l, dq, dv), 1);
            Args = new CausalAttentionArgs
            {
                Lq = lq, L = l, Dq = dq, Dk1 = dk1, Dv = dv, Scale = 1f / MathF.Sqrt(dq),
                Q = Ptr(Q), LdQ = dq + 3, K1 = Ptr(K1), LdK1 = dk1 + 5, K2 = Ptr(K2), LdK2 = dk2 + 2, V = Ptr(V), LdV = dv + 7,
                O = Ptr(O), LdO = dv + 2, P = keepP ? Ptr(P) : null, LdP = lp + 3, DO = Ptr(DO), LdDO = dv + 1,
                DQ = Ptr(DQ), LdDQ = dq + 1, DK1 = Ptr(DK1), LdDK1 = dk1 + 4, DK2 = Ptr(DK2), LdDK2 = dk2 + 1, DV = Ptr(DV), LdDV = dv + 3,
            };
        }

        private static float* Ptr(float[] b) => (float*)Unsafe.AsPointer(ref b[0]);
        public float* ScratchPtr => Ptr(Scratch);
    }

    private static void AssertClose(string what, float[] expected, float[] actual, int rows, int cols, long ld, double tol)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                float e = expected[r * ld + c], a = actual[r * ld + c];
                Assert.True(Math.Abs(e - a) <= tol * (1 + Math.Abs(e)), $"{what}[{r},{c}]: expected {e}, got {a}");
            }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardAndBackward_MatchReference(SimdLevel level, int lq, int l, int dq, int dk1, int dv)
    {
        foreach (bool keepP in new[] { true, false })
        {
            var reference = new Head(lq, l, dq, dk1, dv, new Random(lq * 1000 + l), keepP: true);
            var fast = new Head(lq, l, dq, dk1, dv, new Random(lq * 1000 + l), keepP);
            CausalAttentionReference.Forward(reference.Args);
            CausalAttentionReference.Backward(reference.Args);
            CausalAttention.Forward(fast.Args, fast.ScratchPtr, level);
            CausalAttention.Backward(fast.Args, fast.ScratchPtr, level);
            const double tol = 2e-5;
            var a = reference.Args;
            AssertClose("O", reference.O, fast.O, lq, dv, a.LdO, tol);
            if (keepP)
                for (int i = 0; i < lq; i++)   // P is defined on each row's causal context
                    for (int j = 0; j <= l - lq + i; j++)
                        Assert.True(Math.Abs(reference.P[i * a.LdP + j] - fast.P[i * a.LdP + j]) <= tol, $"P[{i},{j}]");
            AssertClose("dQ", reference.DQ, fast.DQ, lq, dq, a.LdDQ, tol);
            AssertClose("dK1", reference.DK1, fast.DK1, l, dk1, a.LdDK1, tol);
            AssertClose("dK2", reference.DK2, fast.DK2, l, dq - dk1, a.LdDK2, tol);
            AssertClose("dV", reference.DV, fast.DV, l, dv, a.LdDV, tol);
        }
    }

    [Fact]
    public void Vector512Tiles_GiveTheVector256Bits()
    {
        // The 6x32 zmm tile runs the same FMA chain per element as the 6x16 ymm tile, and the softmax's zmm exp sums
        // in the ymm order; shapes with 32-wide column runs, a 16-wide rest and ragged ends in every product, and
        // softmax rows of every length from 1 to 100 (16-lane steps, an 8-lane step, masked tails).
        if (!Simd.IsSupported(SimdLevel.Vector512)) return;   // nothing to compare on this CPU
        foreach (var (lq, l, dq, dk1, dv) in new[] { (45, 45, 48, 32, 32), (70, 100, 96, 64, 64), (7, 37, 40, 24, 20) })
        {
            float[][] Run(SimdLevel level)
            {
                var h = new Head(lq, l, dq, dk1, dv, new Random(lq + l), keepP: true);
                CausalAttention.Forward(h.Args, h.ScratchPtr, level);
                CausalAttention.Backward(h.Args, h.ScratchPtr, level);
                return [h.O, h.P, h.DQ, h.DK1, h.DK2, h.DV];
            }
            float[][] narrow = Run(SimdLevel.Vector256), wide = Run(SimdLevel.Vector512);
            for (int i = 0; i < narrow.Length; i++)
                Assert.True(narrow[i].AsSpan().SequenceEqual(wide[i]), $"operand {i} of ({lq}, {l}, {dq}, {dk1}, {dv})");
        }
    }

    [Fact]
    public void ForwardAndBackward_AreBitIdenticalAcrossRuns_AndKeptOrRecomputedP()
    {
        float[][] Run(bool keepP)
        {
            var h = new Head(45, 45, 48, 32, 32, new Random(5), keepP);
            CausalAttention.Forward(h.Args, h.ScratchPtr);
            CausalAttention.Backward(h.Args, h.ScratchPtr);
            return [h.O, h.DQ, h.DK1, h.DK2, h.DV];
        }
        float[][] first = Run(true), second = Run(true), recomputed = Run(false);
        for (int i = 0; i < first.Length; i++)
        {
            Assert.Equal(first[i], second[i]);
            Assert.Equal(first[i], recomputed[i]);
        }
    }

    [Fact]
    public void Forward_RejectsANarrowProbabilityStride()
    {
        var h = new Head(20, 20, 8, 4, 8, new Random(1), keepP: true);
        var args = h.Args;
        args.LdP = 20;   // < PaddedLength(20) = 32
        var ex = Assert.Throws<ArgumentException>(() => CausalAttention.Forward(args, h.ScratchPtr));
        Assert.Contains("PaddedLength", ex.Message);
    }

    [Fact]
    public void Exp_IsWithinTwoUlpOnTheSoftmaxRange_AndFlushesBelowMinus87()
    {
        if (!Avx2.IsSupported || !Fma.IsSupported) return;   // the Vector256 kernel only runs with AVX2 + FMA
        for (int i = 0; i <= 200_000; i++)
        {
            float x = -87f * i / 200_000;
            float got = CausalAttention.Exp(Vector256.Create(x)).ToScalar();
            double want = Math.Exp(x);
            Assert.True(Math.Abs(got - want) <= 2.5e-7 * want, $"exp({x}) = {got}, expected {want}");
        }
        foreach (float x in new[] { -87.5f, -100f, -1e30f, float.NegativeInfinity })
            Assert.Equal(0f, CausalAttention.Exp(Vector256.Create(x)).ToScalar());
    }
}
