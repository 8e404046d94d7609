using BenchmarkDotNet.Attributes;
using SharpSeek.Numerics;

namespace SharpSeek.Benchmarks;

/// <summary>Dispatch overhead of one WorkerPool.Run with trivial tasks (what a small GEMM pays per call).</summary>
[MemoryDiagnoser]
public class WorkerPoolBenchmarks
{
    private WorkerPool _pool = null!;

    [Params(1, 2)] public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => _pool = new WorkerPool(Threads);

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    private struct Noop : IParallelJob
    {
        public readonly void Execute(int task, int worker) { }
    }

    [Benchmark]
    public void RunEightEmptyTasks()
    {
        var job = new Noop();
        _pool.Run(8, ref job);
    }
}
