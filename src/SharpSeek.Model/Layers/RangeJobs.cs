// RangeJobs — the layers' own row loops (expert gathers and combines, embedding rows, per-token routing) split over
// the pool in contiguous unit ranges, about four per thread. Each unit's result depends only on its own inputs, so
// any split gives the same bits; small calls (decode) stay on the calling thread.
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

/// <summary>A loop body over units [begin, end) (rows, tokens) whose units are independent.</summary>
internal interface IRangeJob
{
    void Run(int begin, int end);
}

internal static class RangeJobs
{
    /// <summary>Below this many floats of work a loop stays on the calling thread (a pool run costs ~µs).</summary>
    public const long MinParallelFloats = 1 << 15;

    public static void Run<TJob>(WorkerPool? pool, int units, long floatsPerUnit, ref TJob job) where TJob : struct, IRangeJob
    {
        if (pool is null || pool.Threads == 1 || units < 2 || units * floatsPerUnit < MinParallelFloats)
        {
            job.Run(0, units);
            return;
        }
        var ranges = new Ranges<TJob> { Job = job, Units = units, Tasks = Math.Min(units, 4 * pool.Threads) };
        pool.Run(ranges.Tasks, ref ranges);
    }

    private struct Ranges<TJob> : IParallelJob where TJob : struct, IRangeJob
    {
        public TJob Job;
        public int Units, Tasks;

        public readonly void Execute(int task, int worker)
        {
            TJob job = Job;
            job.Run((int)((long)Units * task / Tasks), (int)((long)Units * (task + 1) / Tasks));
        }
    }
}
