// The blocked GEMM driver (BLIS / GotoBLAS loop nest) shared by every packed kernel:
//
//   for jc in N step NC            B block (KC, NC) lives in L3, packed once per (jc, pc) per task
//     for pc in K step KC          KC = 384 (128 for FP8 block scaling: one scale block per pass)
//       pack B[pc.., jc..] -> Bp   (ceil(nc/NR) panels of (kc, NR))
//       for ic in M step MC        A block (MC, KC) lives in L2
//         pack A[ic.., pc..] -> Ap (ceil(mc/MR) panels of (kc, MR))
//         for jr in nc step NR     B micro-panel (KC, NR) stays in L1 across the ir loop
//           for ir in mc step MR
//             micro-kernel: C[ir.., jr..] (+)= Ap_ir · Bp_jr  (· rowScale for FP8 block)
//
// FP32 operands stored across K (A in TN, B in NN / TN) are not packed on a kernel with strided loads (InPlace):
// their full panels are read where they lie and only a ragged last panel is packed.
//
// Parallelism: a large single problem (M ≥ Threads·MC, M ≥ N and one K block) packs each B block once, shared by
// all threads, one block ahead: the pool run that computes block b (equal row chunks, ≥ 4 per thread, claimed
// dynamically) also packs block b+1 into a second shared buffer. Otherwise a problem is cut into row chunks ×
// column chunks (multiples of MR / NR), about one per thread, each a task with its own packing buffers; a wide
// problem (N > M, e.g. the LM head 2048×8192) splits its columns, so each thread packs only its own part of B and
// no run boundary stands between the B blocks (on 2 threads: 73% → 88% of the FMA peak for 2048×8192×256 NT). The
// cut depends only on the shape and the thread count and never splits K, so every C element is reduced in the
// same order whatever the thread count or path: bits are identical.
// Grouped GEMMs put every group's chunks into one task list of one Run, largest group first.
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

/// <summary>One C (+)= op(A)·op(B) problem for the driver, with its task partition.</summary>
internal unsafe struct GemmProblem
{
    public int M, N, K;
    public GemmOperand A, B;
    public float* C;
    public long Ldc;
    public bool Accumulate;
    public float* AScales, BScales;   // FP8 block: (M, KB) and (ceil(N/128), KB) applied per 128-wide K block
    public int ScaleCols;             // KB = ceil(K/128)
    public int FirstTask, RowChunks, ColChunks;
    public bool PackAll;              // pack every operand, none read in place (tests: the packed reference)
}

internal static unsafe class GemmDriver
{
    public const int KC = 384, MC = 96, NC = 2048;
    private const int Slack = 16;   // floats of slack after packed buffers (see IPanelPacker.Pack)

    /// <summary>Chooses the problems' task cuts (≈ Threads tasks in total, in proportion to each problem's
    /// work) and runs them all in one pool Run.</summary>
    public static void Run<TA, TB, TK>(WorkerPool pool, GemmProblem* problems, int count)
        where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        LargestFirst(problems, count);
        double total = 0;
        for (int i = 0; i < count; i++) total += Work(problems[i]);
        int tasks = 0;
        for (int i = 0; i < count; i++)
        {
            ref GemmProblem p = ref problems[i];
            int share = total == 0 ? 1 : (int)Math.Ceiling(pool.Threads * Work(p) / total - 1e-9);
            Cut(p.M, p.N, Math.Max(1, share), TK.MR, TK.NR, out p.RowChunks, out p.ColChunks);
            p.FirstTask = tasks;
            tasks += p.RowChunks * p.ColChunks;
        }
        GemmScratch scratch = pool.GetScratch(static pool => new GemmScratch(pool.Threads));
        if (count == 1 && !InPlace<TB, TK>(*problems, problems->B) && UsesSharedB(pool.Threads, problems->M, problems->N, problems->K, problems->AScales != null ? GemmArgs.ScaleBlock : KC))
        {
            RunSharedB<TA, TB, TK>(pool, problems, scratch);
            return;
        }
        var job = new Job<TA, TB, TK> { Problems = problems, Count = count, Scratch = scratch };
        pool.Run(tasks, ref job);
    }

    /// <summary>Orders the problems by work, largest first (stable insertion sort), so the task list is claimed
    /// longest-first and uneven groups (MoE experts) end together. Problems write disjoint parts of C, so the
    /// order changes no bit.</summary>
    private static void LargestFirst(GemmProblem* problems, int count)
    {
        for (int i = 1; i < count; i++)
        {
            GemmProblem x = problems[i];
            double w = Work(x);
            int j = i - 1;
            for (; j >= 0 && Work(problems[j]) < w; j--) problems[j + 1] = problems[j];
            problems[j + 1] = x;
        }
    }

    /// <summary>Whether one problem takes the shared-B pipeline: several threads, tall (M ≥ Threads·MC and M ≥ N)
    /// and one K block. With several K blocks (weight gradients, K = the tokens; the LM head's input gradient,
    /// K = the vocabulary) the pipeline's run per block costs a barrier and a chunk of tail imbalance each, more
    /// than packing B once per thread costs: tiny's training step on 2 threads, alternating per step in one
    /// process, 1.002–1.043× (median of six 1.03×) with those problems cut per thread instead.</summary>
    internal static bool UsesSharedB(int threads, int m, int n, int k, int kcMax) =>
        threads > 1 && k > 0 && k <= kcMax && m >= threads * MC && m >= n;

    private static double Work(in GemmProblem p) => (double)p.M * p.N * Math.Max(p.K, 1);

    /// <summary>Splits an M×N output into ≈ parts chunks. Each chunk packs all of the operand it does not split:
    /// row chunks each pack all of B (N·K), column chunks all of A (M·K). So the longer side is split first
    /// (rows when M ≥ N, else columns), and the other only when that side has too few MR / NR units.</summary>
    internal static void Cut(int m, int n, int parts, int mr, int nr, out int rowChunks, out int colChunks)
    {
        int rowUnits = Math.Max(1, (m + mr - 1) / mr), colUnits = Math.Max(1, (n + nr - 1) / nr);
        if (m >= n)
        {
            rowChunks = Math.Min(parts, rowUnits);
            colChunks = Math.Min((parts + rowChunks - 1) / rowChunks, colUnits);
        }
        else
        {
            colChunks = Math.Min(parts, colUnits);
            rowChunks = Math.Min((parts + colChunks - 1) / colChunks, rowUnits);
        }
    }

    private static int ChunkStart(int chunk, int chunks, int length, int unit)
    {
        int units = (length + unit - 1) / unit;
        return Math.Min(length, (int)((long)units * chunk / chunks) * unit);
    }

    private struct Job<TA, TB, TK> : IParallelJob where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        public GemmProblem* Problems;
        public int Count;
        public GemmScratch Scratch;

        public void Execute(int task, int worker)
        {
            int i = 0;
            while (i + 1 < Count && Problems[i + 1].FirstTask <= task) i++;
            ref GemmProblem p = ref Problems[i];
            int local = task - p.FirstTask, r = local / p.ColChunks, c = local % p.ColChunks;
            int m0 = ChunkStart(r, p.RowChunks, p.M, TK.MR), m1 = ChunkStart(r + 1, p.RowChunks, p.M, TK.MR);
            int n0 = ChunkStart(c, p.ColChunks, p.N, TK.NR), n1 = ChunkStart(c + 1, p.ColChunks, p.N, TK.NR);
            int kcMax = p.AScales != null ? GemmArgs.ScaleBlock : KC;
            Scratch.Buffers(worker, out float* ap, out float* bp);
            Tile<TA, TB, TK>(p, m0, m1, n0, n1, kcMax, ap, bp);
        }
    }

    private static void Tile<TA, TB, TK>(in GemmProblem p, int m0, int m1, int n0, int n1, int kcMax, float* ap, float* bp)
        where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        if (p.K == 0)
        {
            if (!p.Accumulate)
                for (int i = m0; i < m1; i++) new Span<float>(p.C + i * p.Ldc + n0, n1 - n0).Clear();
            return;
        }
        bool inB = InPlace<TB, TK>(p, p.B);
        for (int jc = n0; jc < n1; jc += NC)
        {
            int nc = Math.Min(NC, n1 - jc), nFull = nc - nc % TK.NR;
            for (int pc = 0; pc < p.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, p.K - pc);
                if (!inB) TB.Pack(p.B, jc, nc, pc, kc, TK.NR, bp, TK.VectorPacking);
                else if (nFull < nc) TB.Pack(p.B, jc + nFull, nc - nFull, pc, kc, TK.NR, bp, TK.VectorPacking);   // the ragged panel
                Macro<TA, TB, TK>(p, m0, m1, jc, nc, pc, kc, ap, bp);
            }
        }
    }

    /// <summary>Whether an operand is read in place rather than packed: FP32 stored k-major (what ColumnsPacker
    /// packs: A in TN, B in NN / TN) and a micro-kernel that takes strides. Its full MR / NR panels are then read
    /// where they lie (a contiguous run of MR or NR floats per k, ld apart); only a ragged last panel is packed,
    /// zero-padded, into the scratch. Packing these operands was a plain copy, half of a training step's packing
    /// time (ColumnsPacker 4.6% of its samples, all packing 9.3%).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool InPlace<TP, TK>(in GemmProblem p, in GemmOperand op) where TP : IPanelPacker where TK : IMicroKernel =>
        TK.Strided && typeof(TP) == typeof(ColumnsPacker) && op.Ld < MaxInPlaceLd && !p.PackAll;

    /// <summary>Row stride (floats) from which an operand is packed anyway: kc rows 4 KB or more apart fall into a
    /// few cache sets and a new page per k step (the LM head's weight gradient reads dLogits (T, V) as Aᵀ with
    /// ld = V = 8192: 0.82–0.95× in place).</summary>
    private const int MaxInPlaceLd = 1024;

    /// <summary>Rows [m0, m1) of C's (jc.., nc) block for one K block, from a packed B block (or B in place): the
    /// ic, jr, ir loops.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    private static void Macro<TA, TB, TK>(in GemmProblem p, int m0, int m1, int jc, int nc, int pc, int kc, float* ap, float* bp)
        where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        int mr = TK.MR, nr = TK.NR;
        float* edge = stackalloc float[mr * nr];
        float* rowScale = stackalloc float[mr];
        bool accumulate = p.Accumulate || pc > 0;
        bool inA = InPlace<TA, TK>(p, p.A), inB = InPlace<TB, TK>(p, p.B);
        float* aBase = (float*)p.A.Data + pc * p.A.Ld, bBase = (float*)p.B.Data + pc * p.B.Ld + jc;
        int nFull = inB ? nc - nc % nr : 0;
        for (int ic = m0; ic < m1; ic += MC)
        {
            int mc = Math.Min(MC, m1 - ic), mFull = inA ? mc - mc % mr : 0;
            if (!inA) TA.Pack(p.A, ic, mc, pc, kc, mr, ap, TK.VectorPacking);
            else if (mFull < mc) TA.Pack(p.A, ic + mFull, mc - mFull, pc, kc, mr, ap, TK.VectorPacking);   // the ragged panel
            for (int jr = 0; jr < nc; jr += nr)
            {
                int nw = Math.Min(nr, nc - jr);
                float* bPanel = !inB ? bp + (long)jr * kc : jr < nFull ? bBase + jr : bp;
                nint ldb = jr < nFull ? (nint)p.B.Ld : nr;
                for (int ir = 0; ir < mc; ir += mr)
                {
                    int mw = Math.Min(mr, mc - ir);
                    float* aPanel = !inA ? ap + (long)ir * kc : ir < mFull ? aBase + ic + ir : ap;
                    nint lda = ir < mFull ? (nint)p.A.Ld : mr;
                    float* c = p.C + (ic + ir) * p.Ldc + jc + jr;
                    float* scale = null;
                    if (p.AScales != null)
                    {
                        scale = rowScale;
                        BlockScales(p, ic + ir, mw, jc + jr, pc / GemmArgs.ScaleBlock, mr, scale);
                    }
                    bool full = mw == mr && nw == nr;
                    float* target = full ? c : edge;
                    nint ldt = full ? (nint)p.Ldc : nr;
                    bool acc = full && accumulate;
                    if (inA || inB) TK.RunStrided(kc, aPanel, lda, bPanel, ldb, target, ldt, scale, acc);
                    else TK.Run(kc, aPanel, bPanel, target, ldt, scale, acc);
                    if (!full) MergeEdge(edge, nr, c, p.Ldc, mw, nw, accumulate);
                }
            }
        }
    }

    /// <summary>Least tasks per thread in the shared-B runs: equal row chunks claimed dynamically, so a core taken
    /// by another process for a while hands its remaining chunks to the other threads instead of stalling the run.</summary>
    internal const int ChunksPerThread = 4;

    /// <summary>Row chunks of a shared-B run: a multiple of Threads (equal shares on a quiet machine), at least
    /// ChunksPerThread each, and more when that keeps every chunk within one MC block (no short ic block that
    /// would reuse each B micro-panel only a few times).</summary>
    internal static int SharedRowChunks(int threads, int m, int mr) =>
        Math.Min(threads * Math.Max(ChunksPerThread, (m + threads * MC - 1) / (threads * MC)), (m + mr - 1) / mr);

    /// <summary>One large problem with one K block on several threads (<see cref="UsesSharedB"/>). Its jc blocks of
    /// B (K × NC) are packed once into one of two pool-wide buffers shared by all threads, and the packing is
    /// pipelined: the run that computes block b (row chunks against buffer b%2) also packs block b+1 into the other
    /// buffer (NR-panel chunks, claimed after the compute chunks, so the first threads done with their rows pack).
    /// One run per block; the run boundary is the only barrier. C sees the blocks in the same order as on one
    /// thread: same bits.</summary>
    private static void RunSharedB<TA, TB, TK>(WorkerPool pool, GemmProblem* p, GemmScratch scratch)
        where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        int blocks = (p->N + NC - 1) / NC;
        int rowChunks = SharedRowChunks(pool.Threads, p->M, TK.MR);
        var job = new SharedBJob<TA, TB, TK>
        {
            P = p, RowChunks = rowChunks, Scratch = scratch, Compute = -1, Pack = 0, PackChunks = PackChunks(pool, p->N, 0, TK.NR),
        };
        // The shared buffers live across this method's runs: another thread's GEMM on the same pool must not run a
        // shared-B pipeline in between (the pool serialises single runs only).
        lock (scratch)
        {
            pool.Run(job.PackChunks, ref job);          // block 0 alone
            for (int b = 0; b < blocks; b++)
            {
                job.Compute = b;
                job.Pack = b + 1 < blocks ? b + 1 : -1;
                job.PackChunks = job.Pack < 0 ? 0 : PackChunks(pool, p->N, (b + 1) * NC, TK.NR);
                pool.Run(rowChunks + job.PackChunks, ref job);
            }
        }
    }

    private static int PackChunks(WorkerPool pool, int n, int jc, int nr) =>
        Math.Min(pool.Threads * ChunksPerThread, (Math.Min(NC, n - jc) + nr - 1) / nr);

    private struct SharedBJob<TA, TB, TK> : IParallelJob where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        public GemmProblem* P;
        public int RowChunks, PackChunks;
        public int Compute, Pack;                   // jc block indices, -1 for none
        public GemmScratch Scratch;

        public readonly void Execute(int task, int worker)
        {
            if (Compute < 0 || task >= RowChunks)
            {
                int chunk = Compute < 0 ? task : task - RowChunks, jc = Pack * NC, nc = Math.Min(NC, P->N - jc);
                // Whole NR panels per chunk; NR-wide panels are written exactly (no slack spills into a neighbour's).
                int first = ChunkStart(chunk, PackChunks, nc, TK.NR), last = ChunkStart(chunk + 1, PackChunks, nc, TK.NR);
                if (last > first)
                    TB.Pack(P->B, jc + first, last - first, 0, P->K, TK.NR, Scratch.SharedB(Pack & 1) + (long)first * P->K, TK.VectorPacking);
                return;
            }
            {
                int jc = Compute * NC, nc = Math.Min(NC, P->N - jc);
                int m0 = ChunkStart(task, RowChunks, P->M, TK.MR), m1 = ChunkStart(task + 1, RowChunks, P->M, TK.MR);
                Scratch.Buffers(worker, out float* ap, out _);
                if (m1 > m0) Macro<TA, TB, TK>(*P, m0, m1, jc, nc, 0, P->K, ap, Scratch.SharedB(Compute & 1));
            }
        }
    }

    /// <summary>FP8 promotion factors of one micro-tile: aScale[row, kb] · bScale[col/128, kb].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BlockScales(in GemmProblem p, int row, int rows, int col, int kb, int mr, float* scale)
    {
        float b = p.BScales[(col >> 7) * p.ScaleCols + kb];
        for (int i = 0; i < mr; i++) scale[i] = i < rows ? p.AScales[(row + i) * p.ScaleCols + kb] * b : 0f;
    }

    private static void MergeEdge(float* edge, int nr, float* c, long ldc, int rows, int cols, bool accumulate)
    {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
    }
}

/// <summary>Per-worker packing buffers of one pool, allocated once on a worker's first GEMM and reused by every call.</summary>
internal sealed unsafe class GemmScratch : IDisposable
{
    private readonly NativeBuffer<float>?[] _a, _b;
    private readonly NativeBuffer<float>?[] _shared = new NativeBuffer<float>?[2];

    public GemmScratch(int threads)
    {
        _a = new NativeBuffer<float>?[threads];
        _b = new NativeBuffer<float>?[threads];
    }

    /// <summary>This worker's buffers for a packed (MC, KC) A block and a packed (KC, NC) B block; MC and NC are
    /// multiples of every kernel's MR and NR, so the same buffers serve every kernel.</summary>
    public void Buffers(int worker, out float* a, out float* b)
    {
        _a[worker] ??= new NativeBuffer<float>((long)(GemmDriver.MC + 16) * GemmDriver.KC + 64);
        _b[worker] ??= new NativeBuffer<float>((long)(GemmDriver.NC + 16) * GemmDriver.KC + 64);
        a = _a[worker]!.Pointer;
        b = _b[worker]!.Pointer;
    }

    /// <summary>One of the pool's two shared packed B blocks (KC, NC), filled by all workers in RunSharedB
    /// (allocated by the calling thread's first pack run, before any worker reads it).</summary>
    public float* SharedB(int which)
    {
        NativeBuffer<float>? buffer = _shared[which];
        if (buffer == null)
            lock (_shared) buffer = _shared[which] ??= new NativeBuffer<float>((long)(GemmDriver.NC + 16) * GemmDriver.KC + 64);
        return buffer.Pointer;
    }

    public void Dispose()
    {
        for (int i = 0; i < _shared.Length; i++)
        {
            _shared[i]?.Dispose();
            _shared[i] = null;
        }
        for (int w = 0; w < _a.Length; w++)
        {
            _a[w]?.Dispose();
            _b[w]?.Dispose();
            _a[w] = _b[w] = null;
        }
    }
}
