// CausalAttention — the attention core of one (sequence, head): scores, softmax, P·V and their backward, as
// register-tiled products that skip the fully masked half. Single-threaded: callers run one call per
// (sequence, head) task on their pool. Naive twin: CausalAttentionReference (the test oracle).
//
// Shapes (one head): Lq query rows, context of L ≥ Lq positions; query row i sits at position q0 + i with
// q0 = L − Lq and sees positions j ≤ q0 + i. K is given as two column parts [K1 (L, Dk1) | K2 (L, Dq − Dk1)]
// (MLA: per-head k_nope and the shared k_pe), every operand with its own row stride (ld).
//   S (Lq, L) = Q (Lq, Dq) · Kᵀ · scale        P = softmax_row(S) over j ≤ q0 + i        O (Lq, Dv) = P · V (L, Dv)
// Backward, from dO (Lq, Dv) and the P of the forward (kept by the caller, or recomputed when none is given):
//   D_i = dO_i · O_i     dP = dO · Vᵀ     dS = P ⊙ (dP − D) · scale     (the scale of S folded into dS)
//   dQ (Lq, Dq) = dS · K      dK (L, Dq) = dSᵀ · Q      dV (L, Dv) = Pᵀ · dO          (all overwritten)
//
// Every product is C (m, n) = alpha · Σ_k A(r, k) · B(k, c) with A read by broadcasts at any two strides (so Pᵀ
// and dSᵀ need no transpose) and B row-major: Q·Kᵀ and dO·Vᵀ read a transposed copy of K and V (Dq, Lp) / (Dv, Lp),
// Lp = L rounded up to 16 with zero padding. The tile is 6 rows × 16 columns (12 Vector256 accumulators, as in
// the GEMM's micro-kernel), or 6 × 32 on AVX-512 (12 zmm accumulators) while 32 columns remain; rows past m
// repeat row m − 1 and are not stored, columns past n are masked. Both widths give the same bits.
// Causality: a row block of 6 query rows reduces only over j < q0 + (last row) + 1, and Pᵀ/dSᵀ products over
// rows i ≥ j − q0. For that, P and dS rows are zero on the band of 5 positions after each row's last one.
// Determinism: a fixed loop order and no threads — the same inputs give the same bits.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

/// <summary>Operands of one (sequence, head) attention core; see <see cref="CausalAttention"/>. Pointers may be
/// null when the call does not use them (backward-only operands in Forward).</summary>
public unsafe struct CausalAttentionArgs
{
    public int Lq, L, Dq, Dk1, Dv;
    public float Scale;
    public float* Q; public long LdQ;      // (Lq, Dq)
    public float* K1; public long LdK1;    // (L, Dk1)
    public float* K2; public long LdK2;    // (L, Dq − Dk1)
    public float* V; public long LdV;      // (L, Dv)
    public float* O; public long LdO;      // (Lq, Dv)       forward output, backward input
    public float* P; public long LdP;      // (Lq, Lp)      probabilities (null: not kept / recomputed), LdP ≥ Lp
    public float* DO; public long LdDO;    // (Lq, Dv)       backward input
    public float* DQ; public long LdDQ;    // (Lq, Dq)       backward outputs …
    public float* DK1; public long LdDK1;  // (L, Dk1)
    public float* DK2; public long LdDK2;  // (L, Dq − Dk1)
    public float* DV; public long LdDV;    // (L, Dv)
}

public static unsafe class CausalAttention
{
    public const int TileRows = 6, TileCols = 16;
    private const int Band = TileRows - 1;   // zeros kept after each P / dS row's last causal position

    /// <summary>L rounded up to the tile width: the row stride of the transposed K/V and of dS.</summary>
    public static int PaddedLength(int l) => (l + TileCols - 1) / TileCols * TileCols;

    /// <summary>Floats of scratch one Forward or Backward call needs.</summary>
    public static long ScratchFloats(int lq, int l, int dq, int dv)
    {
        long lp = PaddedLength(l);
        return Math.Max(dq, dv) * lp + 2L * Math.Max(lq, TileRows) * lp + lq;
    }

    /// <summary>O (and P when <c>a.P</c> is set) of one head. <paramref name="scratch"/>: ScratchFloats floats.</summary>
    public static void Forward(in CausalAttentionArgs a, float* scratch, SimdLevel level = SimdLevel.Vector256)
    {
        Check(a, backward: false);
        int vec = VectorWidth(level);
        int lp = PaddedLength(a.L);
        float* kt = scratch;                                        // (Dq, Lp)
        float* pRows = scratch + (long)Math.Max(a.Dq, a.Dv) * lp;   // (TileRows, Lp) when P is not kept
        TransposeK(a, kt, lp);
        for (int i0 = 0; i0 < a.Lq; i0 += TileRows)
        {
            int m = Math.Min(TileRows, a.Lq - i0);
            float* p = a.P is null ? pRows : a.P + i0 * a.LdP;
            long ldp = a.P is null ? lp : a.LdP;
            int jEnd = Probabilities(a, i0, m, kt, lp, p, ldp, vec);
            // O (m, Dv) = P (m, jEnd) · V (jEnd, Dv)
            Product(m, a.Dv, jEnd, p, ldp, 1, a.V, a.LdV, a.O + i0 * a.LdO, a.LdO, 1f, vec);
        }
    }

    /// <summary>dQ, dK (both parts) and dV of one head from dO, O and P (<c>a.P</c>, or recomputed when null).</summary>
    public static void Backward(in CausalAttentionArgs a, float* scratch, SimdLevel level = SimdLevel.Vector256)
    {
        Check(a, backward: true);
        int vec = VectorWidth(level);
        int lp = PaddedLength(a.L), q0 = a.L - a.Lq;
        float* t = scratch;                                         // (Dq, Lp) Kᵀ, then (Dv, Lp) Vᵀ
        float* ds = t + (long)Math.Max(a.Dq, a.Dv) * lp;            // (Lq, Lp) dP, then dS
        float* pOwn = ds + (long)a.Lq * lp;                         // (Lq, Lp) recomputed P
        float* d = pOwn + (long)a.Lq * lp;                          // (Lq)     D_i = dO_i · O_i
        float* p = a.P;
        long ldp = a.LdP;
        if (p is null)
        {
            p = pOwn; ldp = lp;
            TransposeK(a, t, lp);
            for (int i0 = 0; i0 < a.Lq; i0 += TileRows)
                Probabilities(a, i0, Math.Min(TileRows, a.Lq - i0), t, lp, p + i0 * ldp, ldp, vec);
        }
        Transpose(a.L, a.Dv, a.V, a.LdV, t, lp);
        for (int i = 0; i < a.Lq; i++)
            d[i] = Dot(a.DO + i * a.LdDO, a.O + i * a.LdO, a.Dv);

        for (int i0 = 0; i0 < a.Lq; i0 += TileRows)
        {
            int m = Math.Min(TileRows, a.Lq - i0), jEnd = q0 + i0 + m;
            float* dsRows = ds + (long)i0 * lp;
            // dP (m, jEnd) = dO (m, Dv) · Vᵀ (Dv, jEnd)
            Product(m, PaddedLength(jEnd), a.Dv, a.DO + i0 * a.LdDO, a.LdDO, 1, t, lp, dsRows, lp, 1f, vec);
            for (int r = 0; r < m; r++)
            {
                int len = q0 + i0 + r + 1;
                float* pr = p + (i0 + r) * ldp, dr = dsRows + (long)r * lp;
                SoftmaxBackward(pr, dr, d[i0 + r], a.Scale, len);
                ZeroBand(dr, len, a.L);
            }
            // dQ (m, Dq) = dS (m, jEnd) · K (jEnd, Dq), K read in its two parts
            float* dq = a.DQ + i0 * a.LdDQ;
            Product(m, a.Dk1, jEnd, dsRows, lp, 1, a.K1, a.LdK1, dq, a.LdDQ, 1f, vec);
            Product(m, a.Dq - a.Dk1, jEnd, dsRows, lp, 1, a.K2, a.LdK2, dq + a.Dk1, a.LdDQ, 1f, vec);
        }
        for (int j0 = 0; j0 < a.L; j0 += TileRows)
        {
            int m = Math.Min(TileRows, a.L - j0), iStart = Math.Max(0, j0 - q0), k = a.Lq - iStart;
            // dV (m, Dv) = Pᵀ (m, rows ≥ iStart) · dO;   dK (m, Dq) = dSᵀ · Q, split into its two parts
            Product(m, a.Dv, k, p + iStart * ldp + j0, 1, ldp, a.DO + iStart * a.LdDO, a.LdDO, a.DV + j0 * a.LdDV, a.LdDV, 1f, vec);
            float* dsT = ds + (long)iStart * lp + j0, q = a.Q + iStart * a.LdQ;
            Product(m, a.Dk1, k, dsT, 1, lp, q, a.LdQ, a.DK1 + j0 * a.LdDK1, a.LdDK1, 1f, vec);
            Product(m, a.Dq - a.Dk1, k, dsT, 1, lp, q + a.Dk1, a.LdQ, a.DK2 + j0 * a.LdDK2, a.LdDK2, 1f, vec);
        }
    }

    /// <summary>P rows i0..i0+m (row stride ldp) = softmax of the scaled scores over each row's causal context,
    /// zero on the band after it. Returns the context length the block reduces over.</summary>
    private static int Probabilities(in CausalAttentionArgs a, int i0, int m, float* kt, int lp, float* p, long ldp, int vec)
    {
        int q0 = a.L - a.Lq, jEnd = q0 + i0 + m;
        Product(m, PaddedLength(jEnd), a.Dq, a.Q + i0 * a.LdQ, a.LdQ, 1, kt, lp, p, ldp, a.Scale, vec);
        for (int r = 0; r < m; r++)
        {
            int len = q0 + i0 + r + 1;
            if (vec != 0) SoftmaxRow(p + r * ldp, len, vec == 512);
            else Softmax.Forward(1, len, new Span<float>(p + r * ldp, len), new Span<float>(p + r * ldp, len), SimdLevel.Scalar);
            ZeroBand(p + r * ldp, len, a.L);
        }
        return jEnd;
    }

    /// <summary>row[0, n) = softmax(row[0, n)) in place, Vector256 with <see cref="Exp"/>. The last vector runs
    /// masked past n (lanes become 0): the row has room up to n rounded up to 8 (its stride is a multiple of 16).
    /// <paramref name="wide"/>: the max, e^x and the scaling 16 lanes at a time (AVX-512; attention forward 1.04× on
    /// one thread, 1.06× on two), the sum still in 8-lane order (each zmm's lower, then upper half), so both widths
    /// give the same bits.</summary>
    private static void SoftmaxRow(float* row, int n, bool wide)
    {
        int full = n & ~7, j = 0;
        Vector256<float> tailMask = Mask(n - full), negInf = Vector256.Create(float.NegativeInfinity);
        Vector256<float> vmax = negInf;
        if (wide)
        {
            Vector512<float> wmax = Vector512.Create(float.NegativeInfinity);
            for (; j + 16 <= full; j += 16) wmax = Vector512.Max(wmax, Vector512.Load(row + j));
            vmax = Vector256.Max(wmax.GetLower(), wmax.GetUpper());
        }
        for (; j < full; j += 8) vmax = Vector256.Max(vmax, Vector256.Load(row + j));
        if (full < n) vmax = Vector256.Max(vmax, Vector256.ConditionalSelect(tailMask, Vector256.Load(row + full), negInf));
        Vector128<float> h = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
        h = Vector128.Max(h, Sse.Shuffle(h, h, 0b01_00_11_10));
        float max = Vector128.Max(h, Sse.Shuffle(h, h, 0b10_11_00_01)).ToScalar();
        Vector256<float> shift = Vector256.Create(max), sum = Vector256<float>.Zero;
        j = 0;
        if (wide)
        {
            Vector512<float> wshift = Vector512.Create(max);
            for (; j + 16 <= full; j += 16)
            {
                Vector512<float> e = Exp(Vector512.Load(row + j) - wshift);
                Vector512.Store(e, row + j);
                sum += e.GetLower();
                sum += e.GetUpper();
            }
        }
        for (; j < full; j += 8)
        {
            Vector256<float> e = Exp(Vector256.Load(row + j) - shift);
            Vector256.Store(e, row + j);
            sum += e;
        }
        if (full < n)
        {
            Vector256<float> e = Exp(Vector256.Load(row + full) - shift) & tailMask;
            Vector256.Store(e, row + full);
            sum += e;
        }
        float inv = 1f / Vector256.Sum(sum);
        j = 0;
        if (wide)
        {
            Vector512<float> winv = Vector512.Create(inv);
            for (; j + 16 <= n; j += 16) Vector512.Store(Vector512.Load(row + j) * winv, row + j);
        }
        Vector256<float> vinv = Vector256.Create(inv);
        for (; j < n; j += 8) Vector256.Store(Vector256.Load(row + j) * vinv, row + j);
    }

    /// <summary>e^x for x ≤ 0 (softmax after the max shift): the row kernels' Cephes exp (VecMath.ExpNonPositive).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x) =>
        Unsafe.BitCast<Vec256, Vector256<float>>(VecMath.ExpNonPositive(Unsafe.BitCast<Vector256<float>, Vec256>(x)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp(Vector512<float> x) =>
        Unsafe.BitCast<Vec512, Vector512<float>>(VecMath.ExpNonPositive(Unsafe.BitCast<Vector512<float>, Vec512>(x)));

    /// <summary>ds[j] = p[j] · (ds[j] − d) · scale for j &lt; n (ds holds dP on entry).</summary>
    private static void SoftmaxBackward(float* p, float* ds, float d, float scale, int n)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vd = Vector256.Create(d), vs = Vector256.Create(scale);
            for (; j + 8 <= n; j += 8)
                Vector256.Store(Vector256.Load(p + j) * (Vector256.Load(ds + j) - vd) * vs, ds + j);
        }
        for (; j < n; j++) ds[j] = p[j] * (ds[j] - d) * scale;
    }

    private static void ZeroBand(float* row, int len, int l) =>
        new Span<float>(row + len, Math.Min(l, len + Band) - len).Clear();

    /// <summary>K (L, Dq) = [K1 | K2] transposed into (Dq, Lp), zero past L.</summary>
    private static void TransposeK(in CausalAttentionArgs a, float* kt, int lp)
    {
        Transpose(a.L, a.Dk1, a.K1, a.LdK1, kt, lp);
        Transpose(a.L, a.Dq - a.Dk1, a.K2, a.LdK2, kt + (long)a.Dk1 * lp, lp);
    }

    /// <summary>dst (cols, ldDst) = src (rows, cols)ᵀ, zero in columns [rows, ldDst). Row-major reads, 8 rows at
    /// a time so each destination line is written 8 floats at once.</summary>
    private static void Transpose(int rows, int cols, float* src, long ld, float* dst, int ldDst)
    {
        int j = 0;
        for (; j + 8 <= rows; j += 8)
        {
            float* s0 = src + j * ld;
            for (int c = 0; c < cols; c++)
            {
                float* d = dst + (long)c * ldDst + j;
                d[0] = s0[c]; d[1] = s0[ld + c]; d[2] = s0[2 * ld + c]; d[3] = s0[3 * ld + c];
                d[4] = s0[4 * ld + c]; d[5] = s0[5 * ld + c]; d[6] = s0[6 * ld + c]; d[7] = s0[7 * ld + c];
            }
        }
        for (; j < rows; j++)
            for (int c = 0; c < cols; c++) dst[(long)c * ldDst + j] = src[j * ld + c];
        for (int c = 0; c < cols; c++)
            new Span<float>(dst + (long)c * ldDst + rows, ldDst - rows).Clear();
    }

    private static float Dot(float* x, float* y, int n) =>
        System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(x, n), new ReadOnlySpan<float>(y, n));

    /// <summary>C (m ≤ 6, n) = alpha · Σ_{k &lt; kLen} A(r, k) B(k, c), A(r, k) = a[r·aRow + k·aK], B row-major (ldb),
    /// overwriting C (ldc). Tiles of 16 columns.</summary>
    /// <summary>C (m ≤ 6, n) = alpha · A · B in column tiles: 32 wide on zmm where <paramref name="vec"/> is 512
    /// (two 16-column tiles at once), 16 wide on ymm (masked at a ragged end), or scalar (0). Every element is the
    /// same FMA chain over k in all of them, so the widths give the same bits.</summary>
    internal static void Product(int m, int n, int kLen, float* a, long aRow, long aK, float* b, long ldb,
        float* c, long ldc, float alpha, int vec)
    {
        int c0 = 0;
        if (vec == 512)
            for (; c0 + 2 * TileCols <= n; c0 += 2 * TileCols)
                Tile6x32(m, kLen, a, aRow, aK, b + c0, ldb, c + c0, ldc, alpha);
        for (; c0 < n; c0 += TileCols)
        {
            int nc = Math.Min(TileCols, n - c0);
            if (vec != 0 && nc == TileCols) Tile6x16<FullRow>(m, nc, kLen, a, aRow, aK, b + c0, ldb, c + c0, ldc, alpha);
            else if (vec != 0) Tile6x16<MaskedRow>(m, nc, kLen, a, aRow, aK, b + c0, ldb, c + c0, ldc, alpha);
            else TileScalar(m, nc, kLen, a, aRow, aK, b + c0, ldb, c + c0, ldc, alpha);
        }
    }

    /// <summary>The 6 × 32 tile on AVX-512: 12 zmm accumulators, full rows of B. Written out beside Tile6x16 on
    /// purpose: one generic tile over IVec made the JIT add a register move per row and k (forward measured slower).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x32(int m, int kLen, float* a, long aRow, long aK, float* b, long ldb, float* c, long ldc, float alpha)
    {
        // rows past m read row m − 1 (valid memory) and are not stored
        long o1 = Math.Min(1, m - 1) * aRow, o2 = Math.Min(2, m - 1) * aRow, o3 = Math.Min(3, m - 1) * aRow;
        long o4 = Math.Min(4, m - 1) * aRow, o5 = Math.Min(5, m - 1) * aRow;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < kLen; k++)
        {
            Vector512<float> b0 = Avx512F.LoadVector512(b), b1 = Avx512F.LoadVector512(b + 16);
            Vector512<float> x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[o1]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[o2]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[o3]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[o4]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[o5]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            a += aK;
            b += ldb;
        }
        Vector512<float> al = Vector512.Create(alpha);
        (c00 * al).Store(c); (c01 * al).Store(c + 16);
        if (m > 1) { (c10 * al).Store(c + ldc); (c11 * al).Store(c + ldc + 16); }
        if (m > 2) { (c20 * al).Store(c + 2 * ldc); (c21 * al).Store(c + 2 * ldc + 16); }
        if (m > 3) { (c30 * al).Store(c + 3 * ldc); (c31 * al).Store(c + 3 * ldc + 16); }
        if (m > 4) { (c40 * al).Store(c + 4 * ldc); (c41 * al).Store(c + 4 * ldc + 16); }
        if (m > 5) { (c50 * al).Store(c + 5 * ldc); (c51 * al).Store(c + 5 * ldc + 16); }
    }

    private static void TileScalar(int m, int n, int kLen, float* a, long aRow, long aK, float* b, long ldb,
        float* c, long ldc, float alpha)
    {
        for (int r = 0; r < m; r++)
            for (int col = 0; col < n; col++)
            {
                float s = 0f;
                for (int k = 0; k < kLen; k++) s += a[r * aRow + k * aK] * b[k * ldb + col];
                c[r * ldc + col] = alpha * s;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x16<TLoad>(int m, int n, int kLen, float* a, long aRow, long aK, float* b, long ldb,
        float* c, long ldc, float alpha) where TLoad : struct, IRowLoad
    {
        // rows past m read row m − 1 (valid memory) and are not stored
        long o1 = Math.Min(1, m - 1) * aRow, o2 = Math.Min(2, m - 1) * aRow, o3 = Math.Min(3, m - 1) * aRow;
        long o4 = Math.Min(4, m - 1) * aRow, o5 = Math.Min(5, m - 1) * aRow;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector256<float> m0 = Mask(n), m1 = Mask(n - 8);
        bool full = n == TileCols;
        for (int k = 0; k < kLen; k++)
        {
            Vector256<float> b0 = TLoad.Load(b, m0), b1 = TLoad.Load(b + 8, m1);
            Vector256<float> x = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[o1]);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[o2]);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[o3]);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[o4]);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[o5]);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += aK;
            b += ldb;
        }
        Vector256<float> al = Vector256.Create(alpha);
        Store(c, c00 * al, c01 * al, full, m0, m1);
        if (m > 1) Store(c + ldc, c10 * al, c11 * al, full, m0, m1);
        if (m > 2) Store(c + 2 * ldc, c20 * al, c21 * al, full, m0, m1);
        if (m > 3) Store(c + 3 * ldc, c30 * al, c31 * al, full, m0, m1);
        if (m > 4) Store(c + 4 * ldc, c40 * al, c41 * al, full, m0, m1);
        if (m > 5) Store(c + 5 * ldc, c50 * al, c51 * al, full, m0, m1);
    }

    /// <summary>How the tile loads a 16-wide row of B: whole, or masked to the first n columns.</summary>
    private interface IRowLoad
    {
        static abstract Vector256<float> Load(float* p, Vector256<float> mask);
    }

    private readonly struct FullRow : IRowLoad
    {
        public static Vector256<float> Load(float* p, Vector256<float> mask) => Avx.LoadVector256(p);
    }

    private readonly struct MaskedRow : IRowLoad
    {
        public static Vector256<float> Load(float* p, Vector256<float> mask) => Avx.MaskLoad(p, mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector256<float> v0, Vector256<float> v1, bool full, Vector256<float> m0, Vector256<float> m1)
    {
        if (full) { Avx.Store(c, v0); Avx.Store(c + 8, v1); }
        else { Avx.MaskStore(c, m0, v0); Avx.MaskStore(c + 8, m1, v1); }
    }

    /// <summary>Lanes [0, n) set (n clamped to 0..8).</summary>
    private static Vector256<float> Mask(int n) =>
        Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(n)).AsSingle();

    /// <summary>Register width of the product tiles for a level: 512 (6x32 zmm where AVX-512F exists, ymm for a
    /// ragged end), 256 (6x16 ymm), or 0 (scalar).</summary>
    private static int VectorWidth(SimdLevel level)
    {
        Simd.Require(level);
        if (level < SimdLevel.Vector256 || !Avx2.IsSupported || !Fma.IsSupported) return 0;
        return level >= SimdLevel.Vector512 && Avx512F.IsSupported ? 512 : 256;
    }

    private static void Check(in CausalAttentionArgs a, bool backward)
    {
        if (a.Lq < 1 || a.L < a.Lq)
            throw new ArgumentException($"attention needs 1 ≤ Lq ≤ L (query rows are the last Lq positions of the context); got Lq={a.Lq}, L={a.L}.");
        if (a.Dq < 1 || a.Dv < 1 || a.Dk1 < 0 || a.Dk1 > a.Dq)
            throw new ArgumentException($"head dims must satisfy Dq ≥ 1, Dv ≥ 1, 0 ≤ Dk1 ≤ Dq; got Dq={a.Dq}, Dk1={a.Dk1}, Dv={a.Dv}.");
        if (a.P is not null && a.LdP < PaddedLength(a.L))
            throw new ArgumentException($"the probability rows need a stride ≥ PaddedLength(L)={PaddedLength(a.L)}; got {a.LdP}.");
        if (a.Q is null || a.K1 is null || a.V is null || a.O is null || (a.K2 is null && a.Dk1 < a.Dq))
            throw new ArgumentException("attention needs Q, K (both parts), V and O.");
        if (backward && (a.DO is null || a.DQ is null || a.DK1 is null || a.DV is null || (a.DK2 is null && a.Dk1 < a.Dq)))
            throw new ArgumentException("attention backward needs dO, dQ, dK (both parts) and dV.");
    }
}
