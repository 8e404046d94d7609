// TrainBenchmark — `sharpseek bench train`: optimizer steps of a preset at B × T on synthetic tokens (uniform over
// the vocabulary, so no corpus download; routing at initialisation is near-uniform either way). Warm-up steps for
// at least 3 s (JIT, first-backward scratch), one step measured for managed allocation (on every thread of the
// process, so the pool's workers count too), then timed steps with the time split into forward (+ losses),
// backward and optimizer (+ bias update), and the process's CPU seconds per timed step (all threads; on a loaded
// machine a steadier measure than wall time, on one thread). FLOPs and MFU are the caller's (ModelAccounting).
// The warm-up's step count follows the clock, so the last loss reported is comparable only between runs that took
// the same number of steps; `sharpseek train` is the run to compare losses with.
using System.Diagnostics;
using SharpSeek.Model;
using SharpSeek.Numerics;
using SharpSeek.Training.Data;

namespace SharpSeek.Training;

public sealed record TrainBenchResult(
    string Model, int Threads, int Batch, int Seq, int MtpDepth, int Steps, double SecondsPerStep, double TokensPerSecond,
    double ForwardSeconds, double BackwardSeconds, double OptimizerSeconds, double CpuSecondsPerStep, long AllocatedBytesPerStep,
    long PeakWorkingSetBytes, long TrainedParameters, double FirstLoss, double LastLoss);

public static class TrainBenchmark
{
    private const double WarmUpSeconds = 3;
    private const int MaxWarmUpSteps = 16;

    public static TrainBenchResult Run(TrainingOptions options, ModelConfig config, string name, int steps, WorkerPool pool)
    {
        if (steps < 1) throw new ArgumentException($"--steps must be >= 1 (got {steps}).");
        string dir = Directory.CreateTempSubdirectory("sharpseek-bench-train-").FullName;
        try
        {
            int depth = options.EffectiveMtpDepth(config);
            long count = Math.Max(1L << 16, 4L * options.Batch * (options.Seq + 1 + depth));
            var rng = new Xoshiro256(options.Seed);
            var tokens = new int[count];
            for (long i = 0; i < count; i++) tokens[i] = (int)(rng.NextUInt64() % (ulong)config.VocabSize);
            string path = Path.Combine(dir, "train.tokens");
            TokenShard.Write(path, tokens, config.VocabSize, new byte[32]);
            using var shard = TokenShard.Open(path);
            using var trainer = new Trainer(options with { Steps = steps + 1 + MaxWarmUpSteps, WarmupSteps = 1, DecaySteps = 0 }, config, shard, null, pool);
            trainer.InitializeWeights();
            // warm-up: at least WarmUpSeconds (and one step), so the JIT has tiered the per-layer code up before a
            // step is timed (one warm-up step left the first timed steps partly in tier-0 code on 2 threads: ≈4% fewer
            // tokens/s than with tiered compilation off, measured in session 6)
            long w0 = Stopwatch.GetTimestamp();
            double first = trainer.Step().Loss;
            for (int w = 1; w < MaxWarmUpSteps && Stopwatch.GetElapsedTime(w0).TotalSeconds < WarmUpSeconds; w++) trainer.Step();
            long before = GC.GetTotalAllocatedBytes(precise: true);          // every thread: the pool's workers too
            trainer.Step();
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            trainer.ResetTimers();
            double last = 0;
            using var self = Process.GetCurrentProcess();
            self.Refresh();
            TimeSpan cpu0 = self.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            for (int s = 0; s < steps; s++) last = trainer.Step().Loss;
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            self.Refresh();
            double cpu = (self.TotalProcessorTime - cpu0).TotalSeconds;
            PhaseTimes times = trainer.Times;
            return new TrainBenchResult(name, pool.Threads, options.Batch, options.Seq, depth, steps, seconds / steps,
                (double)options.Batch * options.Seq * steps / seconds, times.ForwardSeconds / steps, times.BackwardSeconds / steps,
                times.OptimizerSeconds / steps, cpu / steps, allocated, self.PeakWorkingSet64, trainer.TrainedParameters, first, last);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
