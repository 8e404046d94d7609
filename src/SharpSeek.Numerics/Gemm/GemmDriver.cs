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
// Parallelism: a large single problem (M ≥ Threads·MC) packs each B block once, shared by all threads (two pool
// runs per (jc, pc): pack, then compute row chunks). Otherwise a problem is cut into row chunks × column chunks
// (multiples of MR / NR), about one per thread, each a task with its own packing buffers. The cut depends only on
// the shape and the thread count and never splits K, so every C element is reduced in the same order whatever the
// thread count or path: bits are identical.
// Grouped GEMMs put every group's chunks into one task list of one Run.
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
        if (count == 1 && pool.Threads > 1 && problems->K > 0 && problems->M >= pool.Threads * MC)
        {
            RunSharedB<TA, TB, TK>(pool, problems, scratch);
            return;
        }
        var job = new Job<TA, TB, TK> { Problems = problems, Count = count, Scratch = scratch };
        pool.Run(tasks, ref job);
    }

    private static double Work(in GemmProblem p) => (double)p.M * p.N * Math.Max(p.K, 1);

    /// <summary>Splits an M×N output into ≈ parts chunks: rows first (each chunk packs all of its B), columns
    /// when M is too short to give every part MR rows.</summary>
    internal static void Cut(int m, int n, int parts, int mr, int nr, out int rowChunks, out int colChunks)
    {
        int rowUnits = Math.Max(1, (m + mr - 1) / mr), colUnits = Math.Max(1, (n + nr - 1) / nr);
        rowChunks = Math.Min(parts, rowUnits);
        colChunks = Math.Min((parts + rowChunks - 1) / rowChunks, colUnits);
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
        for (int jc = n0; jc < n1; jc += NC)
        {
            int nc = Math.Min(NC, n1 - jc);
            for (int pc = 0; pc < p.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, p.K - pc);
                TB.Pack(p.B, jc, nc, pc, kc, TK.NR, bp, TK.VectorPacking);
                Macro<TA, TK>(p, m0, m1, jc, nc, pc, kc, ap, bp);
            }
        }
    }

    /// <summary>Rows [m0, m1) of C's (jc.., nc) block for one K block, from a packed B block: the ic, jr, ir loops.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tiering: hot from the first call
    private static void Macro<TA, TK>(in GemmProblem p, int m0, int m1, int jc, int nc, int pc, int kc, float* ap, float* bp)
        where TA : IPanelPacker where TK : IMicroKernel
    {
        int mr = TK.MR, nr = TK.NR;
        float* edge = stackalloc float[mr * nr];
        float* rowScale = stackalloc float[mr];
        bool accumulate = p.Accumulate || pc > 0;
        for (int ic = m0; ic < m1; ic += MC)
        {
            int mc = Math.Min(MC, m1 - ic);
            TA.Pack(p.A, ic, mc, pc, kc, mr, ap, TK.VectorPacking);
            for (int jr = 0; jr < nc; jr += nr)
            {
                int nw = Math.Min(nr, nc - jr);
                float* bPanel = bp + (long)jr * kc;
                for (int ir = 0; ir < mc; ir += mr)
                {
                    int mw = Math.Min(mr, mc - ir);
                    float* aPanel = ap + (long)ir * kc;
                    float* c = p.C + (ic + ir) * p.Ldc + jc + jr;
                    float* scale = null;
                    if (p.AScales != null)
                    {
                        scale = rowScale;
                        BlockScales(p, ic + ir, mw, jc + jr, pc / GemmArgs.ScaleBlock, mr, scale);
                    }
                    if (mw == mr && nw == nr)
                        TK.Run(kc, aPanel, bPanel, c, (nint)p.Ldc, scale, accumulate);
                    else
                    {
                        TK.Run(kc, aPanel, bPanel, edge, nr, scale, false);
                        MergeEdge(edge, nr, c, p.Ldc, mw, nw, accumulate);
                    }
                }
            }
        }
    }

    /// <summary>One large problem on several threads: per (jc, pc) block, all threads pack one shared B block
    /// (one run), then each computes its row chunk against it (a second run). B is packed once instead of once
    /// per thread and sits in L3 once; the run boundary is the barrier.</summary>
    private static void RunSharedB<TA, TB, TK>(WorkerPool pool, GemmProblem* p, GemmScratch scratch)
        where TA : IPanelPacker where TB : IPanelPacker where TK : IMicroKernel
    {
        int kcMax = p->AScales != null ? GemmArgs.ScaleBlock : KC;
        float* shared = scratch.SharedB();
        for (int jc = 0; jc < p->N; jc += NC)
        {
            int nc = Math.Min(NC, p->N - jc);
            for (int pc = 0; pc < p->K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, p->K - pc);
                var pack = new PackBJob<TB, TK> { P = p, Jc = jc, Nc = nc, Pc = pc, Kc = kc, Tasks = pool.Threads, B = shared };
                pool.Run(pool.Threads, ref pack);
                var compute = new MacroJob<TA, TK> { P = p, Jc = jc, Nc = nc, Pc = pc, Kc = kc, Tasks = pool.Threads, B = shared, Scratch = scratch };
                pool.Run(pool.Threads, ref compute);
            }
        }
    }

    private struct PackBJob<TB, TK> : IParallelJob where TB : IPanelPacker where TK : IMicroKernel
    {
        public GemmProblem* P;
        public int Jc, Nc, Pc, Kc, Tasks;
        public float* B;

        public readonly void Execute(int task, int worker)
        {
            // Whole NR panels per task; NR-wide panels are written exactly (no slack spills into a neighbour's).
            int first = ChunkStart(task, Tasks, Nc, TK.NR), last = ChunkStart(task + 1, Tasks, Nc, TK.NR);
            if (last > first) TB.Pack(P->B, Jc + first, last - first, Pc, Kc, TK.NR, B + (long)first * Kc, TK.VectorPacking);
        }
    }

    private struct MacroJob<TA, TK> : IParallelJob where TA : IPanelPacker where TK : IMicroKernel
    {
        public GemmProblem* P;
        public int Jc, Nc, Pc, Kc, Tasks;
        public float* B;
        public GemmScratch Scratch;

        public readonly void Execute(int task, int worker)
        {
            int m0 = ChunkStart(task, Tasks, P->M, TK.MR), m1 = ChunkStart(task + 1, Tasks, P->M, TK.MR);
            Scratch.Buffers(worker, out float* ap, out _);
            if (m1 > m0) Macro<TA, TK>(*P, m0, m1, Jc, Nc, Pc, Kc, ap, B);
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
    private NativeBuffer<float>? _shared;

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

    /// <summary>The pool's shared packed B block (KC, NC), filled by all workers in RunSharedB.</summary>
    public float* SharedB() => (_shared ??= new NativeBuffer<float>((long)(GemmDriver.NC + 16) * GemmDriver.KC + 64)).Pointer;

    public void Dispose()
    {
        _shared?.Dispose();
        _shared = null;
        for (int w = 0; w < _a.Length; w++)
        {
            _a[w]?.Dispose();
            _b[w]?.Dispose();
            _a[w] = _b[w] = null;
        }
    }
}
