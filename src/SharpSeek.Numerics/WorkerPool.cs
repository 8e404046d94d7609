// WorkerPool — a fixed set of threads created once, used by every parallel kernel (GEMM, row kernels).
//
//   pool.Run(tasks, ref job)   runs job.Execute(task, worker) for task in [0, tasks), worker in [0, Threads)
//
// Determinism: kernels split their work into `tasks` as a pure function of the problem shape and the thread
// count, and every task writes a disjoint part of the output with a fixed reduction order. Which thread happens
// to claim a task (tasks are claimed with an atomic counter so a busy core does not stall the run) therefore
// never changes a bit: same inputs + same thread count -> same bits.
//
// Dispatch costs no allocation, not even on a job type's first use: the workers run a copy of the job struct on
// the calling thread's stack (which stays put while the caller waits for the run) through a function pointer to
// that job type's Execute. The calling thread works as worker 0; the Threads-1 background workers spin briefly
// after a run (GEMMs issue runs back to back) and then sleep on a monitor.
//
// Claiming: one 64-bit ticket holds (run number << 32 | next task); a task is claimed by a compare-and-swap that
// also checks the run number, and the run's job and task count sit in one of two descriptors (run number & 1),
// written before the ticket publishes them. The caller returns as soon as every task of its run has *completed*
// — it never waits for a worker that did not get to start (on a loaded machine a descheduled worker would
// otherwise stall every run). A worker that wakes late sees a newer run number, or an exhausted ticket, and
// claims nothing of the old run; a descriptor is rewritten only two runs later, after its run completed.
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace SharpSeek.Numerics;

/// <summary>A unit of parallel work. <paramref name="worker"/> is in [0, pool.Threads) and identifies per-thread
/// scratch (packing buffers); two tasks never run at once on the same worker. Execute must not mutate the job's
/// fields: one copy is shared by all workers.</summary>
public interface IParallelJob
{
    void Execute(int task, int worker);
}

/// <summary>Fixed worker threads with allocation-free, deterministic task dispatch. Not reentrant: a job must
/// not call Run on the same pool (it throws <see cref="InvalidOperationException"/>).</summary>
public sealed class WorkerPool : IDisposable
{
    private const int SpinIterationsBeforeSleep = 2000;

    private readonly Thread[] _workers;             // Threads - 1 background threads; the caller is worker 0
    private readonly object _gate = new();          // sleeping workers wait here
    private readonly object _runLock = new();       // one Run at a time (per-worker scratch is not shared)
    private readonly Dictionary<Type, object> _scratch = new(); // per-pool kernel scratch (see GetScratch)
    private readonly RunDescriptor[] _runs = [new(), new()];   // run number & 1 -> its job and task count
    private long _ticket;                            // (run number << 32) | next task index
    private int _completed;                          // tasks of the current run finished (or skipped after a failure)
    private int _generation;                         // run number; workers wait for it to change
    private int _sleepers;
    private volatile bool _disposed;
    private ExceptionDispatchInfo? _failure;
    [ThreadStatic] private static WorkerPool? t_runningIn;

    /// <summary>Creates <paramref name="threads"/> workers (the calling thread of Run counts as one).</summary>
    public WorkerPool(int threads)
    {
        if (threads < 1 || threads > 1024)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "A worker pool needs 1..1024 threads.");
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (int w = 1; w < threads; w++)
        {
            int worker = w;
            _workers[w - 1] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"SharpSeek worker {w}" };
            _workers[w - 1].Start();
        }
    }

    /// <summary>A pool with one thread per logical processor.</summary>
    public static WorkerPool CreateDefault() => new(Environment.ProcessorCount);

    /// <summary>Number of workers, including the thread that calls Run.</summary>
    public int Threads { get; }

    /// <summary>Runs <c>job.Execute(t, worker)</c> for every t in [0, tasks) and returns when all are done.
    /// The first exception thrown by a task is rethrown here after every worker has stopped.</summary>
    public void Run<TJob>(int tasks, ref TJob job) where TJob : struct, IParallelJob
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tasks <= 0) return;
        if (t_runningIn == this)
            throw new InvalidOperationException("WorkerPool.Run was called from inside one of its own jobs; split the work into tasks of one Run instead.");
        lock (_runLock)
        {
            WorkerPool? outer = t_runningIn;
            t_runningIn = this;
            try
            {
                if (Threads == 1 || tasks == 1)
                {
                    for (int t = 0; t < tasks; t++) job.Execute(t, 0);
                    return;
                }
                RunParallel(tasks, ref job);
            }
            finally { t_runningIn = outer; }
        }
    }

    /// <summary>Convenience overload; the delegate (and its closure) is the caller's allocation.</summary>
    public void Run(int tasks, Action<int> body)
    {
        var job = new DelegateJob(body);
        Run(tasks, ref job);
    }

    /// <summary>Per-pool scratch object of type <typeparamref name="T"/>, created on first use and kept (and
    /// disposed, if disposable) with the pool. Kernels keep their per-worker packing buffers here.</summary>
    internal T GetScratch<T>(Func<WorkerPool, T> create) where T : class
    {
        lock (_scratch)
        {
            if (!_scratch.TryGetValue(typeof(T), out object? s)) _scratch[typeof(T)] = s = create(this);
            return (T)s;
        }
    }

    private unsafe void RunParallel<TJob>(int tasks, ref TJob job) where TJob : struct, IParallelJob
    {
        // The workers read this copy through a raw pointer: a local whose address is taken lives in this frame (a
        // stack does not move) and is reported to the GC for the whole method, so references in the job stay
        // valid; `job` itself may be a field of a heap object, which the GC could move.
        TJob local = job;
        int run = _generation + 1;
        RunDescriptor d = _runs[run & 1];
        d.Job = Unsafe.AsPointer(ref local);
        d.Execute = &ExecuteJob<TJob>;
        d.Tasks = tasks;
        _failure = null;
        Volatile.Write(ref _completed, 0);
        Interlocked.Exchange(ref _ticket, (long)run << 32);   // full fence: publishes the descriptor
        Interlocked.Exchange(ref _generation, run);          // wakes spinning workers
        if (Volatile.Read(ref _sleepers) > 0)
            lock (_gate) Monitor.PulseAll(_gate);

        DrainTasks(run, 0);
        var spin = new SpinWait();
        while (Volatile.Read(ref _completed) != tasks) spin.SpinOnce(sleep1Threshold: -1);
        d.Job = null;
        d.Execute = null;
        local = default;   // the copy was in use up to here (and drops its references)
        _failure?.Throw();
    }

    private static unsafe void ExecuteJob<TJob>(void* job, int task, int worker) where TJob : struct, IParallelJob =>
        Unsafe.AsRef<TJob>(job).Execute(task, worker);

    /// <summary>Claims and runs tasks of run <paramref name="run"/> until its ticket is exhausted or a newer run
    /// has replaced it.</summary>
    private unsafe void DrainTasks(int run, int worker)
    {
        RunDescriptor d = _runs[run & 1];
        while (true)
        {
            long ticket = Volatile.Read(ref _ticket);
            if ((int)(ticket >> 32) != run) return;            // a newer run: this one is over
            int t = (int)ticket;
            void* job = d.Job;
            delegate*<void*, int, int, void> execute = d.Execute;
            int tasks = d.Tasks;
            if (t >= tasks || job is null || execute is null) return;
            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket) continue;
            // Claimed task t of this run: the descriptor read above is this run's (it was written before the
            // ticket was published and is rewritten only after this run's tasks have all completed).
            if (Volatile.Read(ref _failure) is null)
            {
                try { execute(job, t, worker); }
                catch (Exception e) { Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null); }
            }
            Interlocked.Increment(ref _completed);
        }
    }

    private void WorkerLoop(int worker)
    {
        t_runningIn = this;
        int seen = 0;
        while (true)
        {
            seen = WaitForGeneration(seen);
            if (_disposed) return;
            DrainTasks(seen, worker);
        }
    }

    private int WaitForGeneration(int seen)
    {
        for (int i = 0; i < SpinIterationsBeforeSleep; i++)
        {
            int g = Volatile.Read(ref _generation);
            if (g != seen || _disposed) return g;
            Thread.SpinWait(8);
        }
        lock (_gate)
        {
            Interlocked.Increment(ref _sleepers);      // full fence: pairs with the generation increment in Run
            int g;
            while ((g = Volatile.Read(ref _generation)) == seen && !_disposed) Monitor.Wait(_gate);
            Interlocked.Decrement(ref _sleepers);
            return g;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Increment(ref _generation);
        lock (_gate) Monitor.PulseAll(_gate);
        foreach (Thread t in _workers) t.Join();
        lock (_scratch)
        {
            foreach (object s in _scratch.Values) (s as IDisposable)?.Dispose();
            _scratch.Clear();
        }
    }

    private sealed unsafe class RunDescriptor
    {
        public void* Job;                                   // the caller's copy of the job (see RunParallel)
        public delegate*<void*, int, int, void> Execute;    // ExecuteJob<TJob>
        public int Tasks;
    }

    private readonly struct DelegateJob(Action<int> body) : IParallelJob
    {
        public void Execute(int task, int worker) => body(task);
    }
}
