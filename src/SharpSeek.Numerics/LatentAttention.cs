// LatentAttention — absorbed MLA's attention over the cached latent (MQA: every head reads the same context).
//
//   s_hj = (q_c[h] · c_kv[j] + q_pe[h] · k_pe[j]) · scale      j < Length of the row
//   o_c[h] = Σ_j softmax_j(s_h) · c_kv[j]
//
// Flash-decoding: a task takes a row, a chunk of its context (Chunk positions, fixed) and a group of heads, and walks
// the chunk in blocks of Block positions with an online softmax per head (running max m, sum l, unnormalised o), so
// each block's c_kv and k_pe rows are read from memory once for all the task's heads, scored, exponentiated and
// combined while they sit in L1 — one pass over the latent cache instead of a scores pass and a combine pass per
// head group (the cache is read from DRAM every step: a decode step streams the weights in between).
// A row of one chunk is normalised by its task; a row of several chunks leaves (m, l, o) per chunk and head, and a
// second pool run merges them in chunk order. The chunks are fixed positions and a head's arithmetic does not depend
// on its group, so the bits do not depend on the thread count; head groups are used only when rows × chunks are
// fewer than the threads (one short row: each core then reads the context once for half of the heads).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Numerics;

/// <summary>One query row of <see cref="LatentAttention"/>: its context is <see cref="Length"/> rows of c_kv
/// (Length, Rkv) and k_pe (Length, Dr); <see cref="Row"/> indexes its q_c, q_pe and o_c.</summary>
public unsafe struct LatentRow
{
    public float* Ckv;
    public float* Kpe;
    public int Length;
    public int Row;
}

/// <summary>Shapes and strided operands of <see cref="LatentAttention.Forward"/>: q_c and o_c of (head h, row r) are
/// Rkv floats at Qc + h·QcHead + r·QcRow and O + h·OHead + r·ORow; q_pe is Dr floats at Qpe + h·QpeHead + r·QpeRow.</summary>
public unsafe struct LatentAttentionArgs
{
    public int Heads, Rkv, Dr;
    public float Scale;
    public float* Qc;
    public long QcHead, QcRow;
    public float* Qpe;
    public long QpeHead, QpeRow;
    public float* O;
    public long OHead, ORow;
}

public static unsafe class LatentAttention
{
    /// <summary>Context positions per block: a block's c_kv and k_pe rows (32 × (Rkv + Dr) floats, 20 KB at
    /// Rkv = 128) stay in L1 while every head of a task reads them.</summary>
    public const int Block = 32;

    /// <summary>Context positions per task (and per partial softmax of a long row): a fixed number, so that where the
    /// partials are merged does not depend on the thread count.</summary>
    public const int Chunk = 512;

    /// <summary>o_c for every head and row (see the file header); overwrites O.</summary>
    public static void Forward(WorkerPool pool, in LatentAttentionArgs a, ReadOnlySpan<LatentRow> rows)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (a.Heads < 1 || a.Rkv < 1 || a.Dr < 0)
            throw new ArgumentException($"latent attention needs heads, Rkv ≥ 1 and Dr ≥ 0 (got {a.Heads}, {a.Rkv}, {a.Dr}).");
        if (a.Qc == null || a.O == null || (a.Dr > 0 && a.Qpe == null))
            throw new ArgumentException("latent attention: q_c, q_pe or o_c is null.");
        if (rows.IsEmpty) return;
        int units = 0, multiUnits = 0, multiHeads = 0;
        foreach (var r in rows)
        {
            if (r.Length < 1 || r.Ckv == null || (a.Dr > 0 && r.Kpe == null))
                throw new ArgumentException($"latent attention row {r.Row}: {r.Length} context positions, c_kv or k_pe null.");
            int c = Chunks(r.Length);
            units += c;
            if (c > 1) { multiUnits += c; multiHeads += a.Heads; }
        }
        var scratch = pool.GetScratch(static p => new LatentAttentionScratch(p.Threads));
        lock (scratch) Run(pool, a, rows, scratch, units, multiUnits, multiHeads);   // its buffers span two runs
    }

    private static void Run(WorkerPool pool, in LatentAttentionArgs a, ReadOnlySpan<LatentRow> rows, LatentAttentionScratch scratch,
        int units, int multiUnits, int multiHeads)
    {
        int* table = scratch.Units(2L * units);                  // (row index, chunk) per unit
        long partialFloats = (long)a.Rkv + 2;
        float* partials = multiUnits > 0 ? scratch.Partials((long)multiUnits * a.Heads * partialFloats) : null;
        int* partialOf = scratch.PartialIndex(rows.Length);      // first partial unit of a multi-chunk row, or -1
        int u = 0, pu = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            int c = Chunks(rows[i].Length);
            partialOf[i] = c > 1 ? pu : -1;
            if (c > 1) pu += c;
            for (int k = 0; k < c; k++, u++) { table[2 * u] = i; table[2 * u + 1] = k; }
        }
        int groups = units >= pool.Threads ? 1 : Math.Min(a.Heads, (pool.Threads + units - 1) / units);
        int perGroup = (a.Heads + groups - 1) / groups;
        groups = (a.Heads + perGroup - 1) / perGroup;
        fixed (LatentRow* pr = rows)
        {
            var job = new ChunkJob
            {
                A = a, Rows = pr, Table = table, PartialOf = partialOf, Partials = partials, Groups = groups, PerGroup = perGroup,
                Scratch = scratch, Level = Simd.Active,
            };
            pool.Run(units * groups, ref job);
            if (multiHeads == 0) return;
            int* merges = scratch.Merges(2L * multiHeads);            // (row index, head)
            int mi = 0;
            for (int i = 0; i < rows.Length; i++)
                if (partialOf[i] >= 0)
                    for (int h = 0; h < a.Heads; h++, mi++) { merges[2 * mi] = i; merges[2 * mi + 1] = h; }
            var merge = new MergeJob { A = a, Rows = pr, Merges = merges, PartialOf = partialOf, Partials = partials };
            pool.Run(multiHeads, ref merge);
        }
    }

    /// <summary>Hints the c_kv and k_pe rows of the block at <paramref name="j0"/> (up to <paramref name="end"/>) into
    /// L2. The cache comes from DRAM at every decode step (the weights streamed in between), and a block's rows are
    /// read through eight row streams 512 B apart, which the hardware prefetcher does not run ahead of: one block ahead
    /// into L2, the cold kernel ran 1.15–1.26× (8 rows × 1056 positions, 2 threads, alternating in one process; hot
    /// 1.007×; into L1 or two blocks ahead less); `small` decode at context ≈1K 1.014–1.025×, at ≈64 1.002–1.007×.</summary>
    private static void PrefetchBlock(in LatentRow row, int j0, int end, int rkv, int dr)
    {
        if (j0 >= end || !Sse.IsSupported) return;
        int j1 = Math.Min(end, j0 + Block);
        for (byte* a = (byte*)(row.Ckv + (long)j0 * rkv), ae = (byte*)(row.Ckv + (long)j1 * rkv); a < ae; a += 64) Sse.Prefetch1(a);
        for (byte* b = (byte*)(row.Kpe + (long)j0 * dr), be = (byte*)(row.Kpe + (long)j1 * dr); b < be; b += 64) Sse.Prefetch1(b);
    }

    private static int Chunks(int length) => (length + Chunk - 1) / Chunk;

    private struct ChunkJob : IParallelJob
    {
        public LatentAttentionArgs A;
        public LatentRow* Rows;
        public int* Table, PartialOf;
        public float* Partials;
        public int Groups, PerGroup;
        public LatentAttentionScratch Scratch;
        public SimdLevel Level;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Execute(int task, int worker)
        {
            int unit = task / Groups, g = task % Groups;
            int ri = Table[2 * unit], chunk = Table[2 * unit + 1];
            LatentRow row = Rows[ri];
            int h0 = g * PerGroup, h1 = Math.Min(A.Heads, h0 + PerGroup), heads = h1 - h0, rkv = A.Rkv;
            int c0 = chunk * Chunk, c1 = Math.Min(row.Length, c0 + Chunk);
            float* s = Scratch.Scores(worker, Block);
            float* m = stackalloc float[heads];
            float* l = stackalloc float[heads];
            float* partial = PartialOf[ri] < 0 ? null : Partials + ((long)(PartialOf[ri] + chunk) * A.Heads) * (rkv + 2);
            PrefetchBlock(row, c0, c1, rkv, A.Dr);
            for (int j0 = c0; j0 < c1; j0 += Block)
            {
                PrefetchBlock(row, j0 + Block, c1, rkv, A.Dr);   // the next block, while this one is computed
                int j1 = Math.Min(c1, j0 + Block), n = j1 - j0;
                float* ckvBlock = row.Ckv + (long)j0 * rkv;
                for (int i = 0; i < heads; i++)
                {
                    int h = h0 + i;
                    float* o = partial == null ? A.O + h * A.OHead + (long)row.Row * A.ORow : partial + (long)h * (rkv + 2) + 2;
                    RowDots(A.Qc + h * A.QcHead + (long)row.Row * A.QcRow, row.Ckv, rkv,
                        A.Qpe + h * A.QpeHead + (long)row.Row * A.QpeRow, row.Kpe, A.Dr, j0, j1, A.Scale, s - j0);
                    float blockMax = s[0];
                    for (int j = 1; j < n; j++) blockMax = MathF.Max(blockMax, s[j]);
                    bool first = j0 == c0;
                    float mNew = first ? blockMax : MathF.Max(m[i], blockMax);
                    float sum = ExpShifted(Level, s, mNew, n);
                    if (first) l[i] = sum;
                    else
                    {
                        float correction = MathF.Exp(m[i] - mNew);
                        l[i] = l[i] * correction + sum;
                        if (correction != 1f) ScaleRow(o, rkv, correction);
                    }
                    CombineRows(ckvBlock, n, rkv, s, o, accumulate: !first);
                    m[i] = mNew;
                }
            }
            for (int i = 0; i < heads; i++)
            {
                int h = h0 + i;
                if (partial == null) ScaleRow(A.O + h * A.OHead + (long)row.Row * A.ORow, rkv, 1f / l[i]);
                else
                {
                    float* p = partial + (long)h * (rkv + 2);
                    p[0] = m[i];
                    p[1] = l[i];
                }
            }
        }
    }

    /// <summary>o = Σ_c e^(m_c − M) · o_c / Σ_c e^(m_c − M) · l_c over a row's chunks, in chunk order.</summary>
    private struct MergeJob : IParallelJob
    {
        public LatentAttentionArgs A;
        public LatentRow* Rows;
        public int* Merges, PartialOf;
        public float* Partials;

        public readonly void Execute(int task, int worker)
        {
            int ri = Merges[2 * task], h = Merges[2 * task + 1], rkv = A.Rkv, chunks = Chunks(Rows[ri].Length);
            long stride = (long)A.Heads * (rkv + 2);
            float* first = Partials + (long)PartialOf[ri] * stride + (long)h * (rkv + 2);
            float max = first[0];
            for (int c = 1; c < chunks; c++) max = MathF.Max(max, first[c * stride]);
            float* o = A.O + h * A.OHead + (long)Rows[ri].Row * A.ORow;
            float l = 0;
            for (int c = 0; c < chunks; c++)
            {
                float* p = first + c * stride;
                float w = MathF.Exp(p[0] - max);
                l += w * p[1];
                if (c == 0) for (int k = 0; k < rkv; k++) o[k] = w * p[2 + k];
                else for (int k = 0; k < rkv; k++) o[k] += w * p[2 + k];
            }
            ScaleRow(o, rkv, 1f / l);
        }
    }

    private static float ExpShifted(SimdLevel level, float* x, float shift, int n) => level switch
    {
        SimdLevel.Vector512 => RowOps.ExpShifted<Vec512>(x, shift, x, n),
        SimdLevel.Vector256 => RowOps.ExpShifted<Vec256>(x, shift, x, n),
        SimdLevel.Vector128 => RowOps.ExpShifted<Vec128>(x, shift, x, n),
        _ => RowOps.ExpShifted<VecScalar>(x, shift, x, n),
    };

    /// <summary>x (n) *= factor (RowOps.Scale at the active level; exact per element, so any level gives the same bits).</summary>
    private static void ScaleRow(float* x, int n, float factor)
    {
        switch (Simd.Active)
        {
            case SimdLevel.Vector512: RowOps.Scale<Vec512>(x, factor, x, n); break;
            case SimdLevel.Vector256: RowOps.Scale<Vec256>(x, factor, x, n); break;
            case SimdLevel.Vector128: RowOps.Scale<Vec128>(x, factor, x, n); break;
            default: RowOps.Scale<VecScalar>(x, factor, x, n); break;
        }
    }

    // Small fused loops: the per-row TensorPrimitives calls they replace cost more in call overhead than in FLOPs at
    // these widths (Rkv = 128..512, Dr = 32..64).

    /// <summary>dst (n) (+)= Σ_r coef[r] · rows[r, :] over rows (count, n), the rows added in order onto 0 or onto
    /// dst: o_c += p · c_kv over a block.</summary>
    private static void CombineRows(float* rows, int count, int n, float* coef, float* dst, bool accumulate)
    {
        int c = 0;
        if (Fma.IsSupported)
            for (; c + 64 <= n; c += 64)   // 8 independent FMA chains (latency × 2 pipes), 64 columns a pass
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                if (accumulate)
                {
                    a0 = Avx.LoadVector256(dst + c); a1 = Avx.LoadVector256(dst + c + 8); a2 = Avx.LoadVector256(dst + c + 16);
                    a3 = Avx.LoadVector256(dst + c + 24); a4 = Avx.LoadVector256(dst + c + 32); a5 = Avx.LoadVector256(dst + c + 40);
                    a6 = Avx.LoadVector256(dst + c + 48); a7 = Avx.LoadVector256(dst + c + 56);
                }
                for (int r = 0; r < count; r++)
                {
                    float* row = rows + (long)r * n + c;
                    Vector256<float> s = Vector256.Create(coef[r]);
                    a0 = Fma.MultiplyAdd(s, Avx.LoadVector256(row), a0); a1 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 8), a1);
                    a2 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 16), a2); a3 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 24), a3);
                    a4 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 32), a4); a5 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 40), a5);
                    a6 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 48), a6); a7 = Fma.MultiplyAdd(s, Avx.LoadVector256(row + 56), a7);
                }
                Avx.Store(dst + c, a0); Avx.Store(dst + c + 8, a1); Avx.Store(dst + c + 16, a2); Avx.Store(dst + c + 24, a3);
                Avx.Store(dst + c + 32, a4); Avx.Store(dst + c + 40, a5); Avx.Store(dst + c + 48, a6); Avx.Store(dst + c + 56, a7);
            }
        if (Fma.IsSupported)
            for (; c + 8 <= n; c += 8)
            {
                Vector256<float> a = accumulate ? Avx.LoadVector256(dst + c) : default;
                for (int r = 0; r < count; r++) a = Fma.MultiplyAdd(Vector256.Create(coef[r]), Avx.LoadVector256(rows + (long)r * n + c), a);
                Avx.Store(dst + c, a);
            }
        for (; c < n; c++)
        {
            float sum = accumulate ? dst[c] : 0;
            for (int r = 0; r < count; r++) sum += coef[r] * rows[(long)r * n + c];
            dst[c] = sum;
        }
    }

    /// <summary>dst[j] = (p · a[j] + q · b[j]) · scale for j in [j0, j1), rows a (·, na) and b (·, nb): the scores
    /// over a block of the latent context (latent and rope parts). Eight rows at a time: one accumulator each (8
    /// independent FMA chains) over both parts, reduced together by one horizontal-add tree — a dot per row (two
    /// chains, then its own horizontal sum) is latency-bound.</summary>
    private static void RowDots(float* p, float* a, int na, float* q, float* b, int nb, int j0, int j1, float scale, float* dst)
    {
        int j = j0;
        if (Fma.IsSupported && na % 8 == 0 && nb % 8 == 0)
        {
            Vector256<float> vs = Vector256.Create(scale);
            for (; j + 8 <= j1; j += 8)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int part = 0; part < 2; part++)
                {
                    float* x = part == 0 ? p : q;
                    int n = part == 0 ? na : nb;
                    float* rows = part == 0 ? a + (long)j * na : b + (long)j * nb;
                    for (int c = 0; c < n; c += 8)
                    {
                        Vector256<float> v = Avx.LoadVector256(x + c);
                        float* r = rows + c;
                        a0 = Fma.MultiplyAdd(v, Avx.LoadVector256(r), a0);
                        a1 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + n), a1);
                        a2 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 2 * n), a2);
                        a3 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 3 * n), a3);
                        a4 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 4 * n), a4);
                        a5 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 5 * n), a5);
                        a6 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 6 * n), a6);
                        a7 = Fma.MultiplyAdd(v, Avx.LoadVector256(r + 7 * n), a7);
                    }
                }
                Vector256<float> u0 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));   // rows 0..3, per 128-bit half
                Vector256<float> u1 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));   // rows 4..7
                Avx.Store(dst + j, (Avx.Permute2x128(u0, u1, 0x20) + Avx.Permute2x128(u0, u1, 0x31)) * vs);
            }
        }
        for (; j < j1; j++)
            dst[j] = (Dot(p, a + (long)j * na, na) + (nb > 0 ? Dot(q, b + (long)j * nb, nb) : 0f)) * scale;
    }

    private static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Fma.IsSupported)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s0);
                s1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), Avx.LoadVector256(b + i + 8), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}

/// <summary>Per-pool buffers of <see cref="LatentAttention"/>, grown to the largest call (steady decode allocates
/// nothing).</summary>
internal sealed unsafe class LatentAttentionScratch : IDisposable
{
    private readonly NativeBuffer<float>?[] _scores;
    private NativeBuffer<int>? _units, _merges, _partialOf;
    private NativeBuffer<float>? _partials;

    public LatentAttentionScratch(int threads) => _scores = new NativeBuffer<float>?[threads];

    public float* Scores(int worker, int floats) => Grow(ref _scores[worker], floats);
    public int* Units(long ints) => Grow(ref _units, ints);
    public int* Merges(long ints) => Grow(ref _merges, ints);
    public int* PartialIndex(long ints) => Grow(ref _partialOf, ints);
    public float* Partials(long floats) => Grow(ref _partials, floats);

    private static T* Grow<T>(ref NativeBuffer<T>? buffer, long length) where T : unmanaged
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = new NativeBuffer<T>(Math.Max(length, 64));
        }
        return buffer.Pointer;
    }

    public void Dispose()
    {
        foreach (var b in _scores) b?.Dispose();
        _units?.Dispose();
        _merges?.Dispose();
        _partialOf?.Dispose();
        _partials?.Dispose();
    }
}
