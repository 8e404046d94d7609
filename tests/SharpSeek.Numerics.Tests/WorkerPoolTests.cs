using SharpSeek.Numerics;

namespace SharpSeek.Numerics.Tests;

public class WorkerPoolTests
{
    private unsafe struct MarkJob : IParallelJob
    {
        public int* Hits;     // (tasks)
        public int* Workers;  // (tasks) which worker ran the task
        public void Execute(int task, int worker)
        {
            Interlocked.Increment(ref Hits[task]);
            Workers[task] = worker;
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 1000)]
    [InlineData(3, 17)]
    public unsafe void Run_ExecutesEveryTaskExactlyOnce_OnAValidWorker(int threads, int tasks)
    {
        using var pool = new WorkerPool(threads);
        var hits = new int[tasks];
        var workers = new int[tasks];
        for (int repeat = 0; repeat < 20; repeat++)
        {
            Array.Clear(hits);
            fixed (int* h = hits, w = workers)
            {
                var job = new MarkJob { Hits = h, Workers = w };
                pool.Run(tasks, ref job);
            }
            Assert.All(hits, n => Assert.Equal(1, n));
            Assert.All(workers, w => Assert.InRange(w, 0, threads - 1));
        }
    }

    /// <summary>Each task adds its run's tag to its cell; a task run twice, run with another run's job, or run
    /// after its Run returned shows up as a wrong sum.</summary>
    private unsafe struct TagJob : IParallelJob
    {
        public long* Cells;
        public long Tag;
        public bool Yield;
        public void Execute(int task, int worker)
        {
            if (Yield && (task & 3) == 0) Thread.Yield();
            Interlocked.Add(ref Cells[task], Tag);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]   // more workers than cores: workers are descheduled mid-run, late ones must claim nothing stale
    public unsafe void Run_BackToBackRuns_NeverLeakTasksAcrossRuns(int threads)
    {
        using var pool = new WorkerPool(threads);
        const int maxTasks = 9;
        var cells = new long[maxTasks];
        fixed (long* c = cells)
        {
            for (int run = 1; run <= 4000; run++)
            {
                int tasks = 1 + run % maxTasks;
                Array.Clear(cells);
                var job = new TagJob { Cells = c, Tag = run, Yield = run % 7 == 0 };
                pool.Run(tasks, ref job);
                long[] seen = cells.ToArray();            // a leaked late task would change cells after Run returns
                for (int t = 0; t < maxTasks; t++)
                    Assert.True(seen[t] == (t < tasks ? run : 0), $"run {run}, task {t} of {tasks}: cell {seen[t]}");
            }
        }
    }

    private struct NoopJob : IParallelJob
    {
        public void Execute(int task, int worker) { }
    }

    [Fact]
    public void Run_AfterWarmUp_AllocatesNothing()
    {
        using var pool = new WorkerPool(2);
        var job = new NoopJob();
        for (int i = 0; i < 10; i++) pool.Run(8, ref job);
        Assert.Equal(0, TestSupport.AllocatedBy(() =>
        {
            for (int i = 0; i < 1000; i++) pool.Run(8, ref job);
        }));
    }

    private struct FirstUseJob : IParallelJob   // run by one test only: its first Run is measured
    {
        public int[] Seen;
        public void Execute(int task, int worker) => Seen[task] = task + 1;
    }

    [Fact]
    public void Run_FirstUseOfAJobType_AllocatesNothing()
    {
        // A data-dependent kernel (say the GEMV, once some expert gets ≤ 8 tokens) may first run long after
        // warm-up; its dispatch must not allocate then either (it once took a slot object per thread and job type).
        using var pool = new WorkerPool(2);
        var warm = new NoopJob();
        pool.Run(8, ref warm);
        var job = new FirstUseJob { Seen = new int[16] };
        long before = GC.GetAllocatedBytesForCurrentThread();
        pool.Run(16, ref job);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(Enumerable.Range(1, 16), job.Seen);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Run_TaskThrows_RethrowsOnCallerAndPoolStaysUsable()
    {
        using var pool = new WorkerPool(2);
        var e = Assert.Throws<InvalidOperationException>(() =>
            pool.Run(64, t => { if (t == 37) throw new InvalidOperationException("task 37 failed"); }));
        Assert.Equal("task 37 failed", e.Message);
        int sum = 0;
        pool.Run(10, t => Interlocked.Add(ref sum, t));
        Assert.Equal(45, sum);
    }

    [Fact]
    public void Run_FromInsideOwnJob_ThrowsInsteadOfDeadlocking()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<InvalidOperationException>(() => pool.Run(4, _ => pool.Run(2, _ => { })));
    }

    [Fact]
    public void Run_AfterIdleSleep_WakesWorkers()
    {
        using var pool = new WorkerPool(2);
        pool.Run(2, _ => { });
        Thread.Sleep(50);                                // workers have stopped spinning and sleep
        int ran = 0;
        pool.Run(100, _ => Interlocked.Increment(ref ran));
        Assert.Equal(100, ran);
    }

    [Fact]
    public void Constructor_ZeroThreads_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(0));
}
