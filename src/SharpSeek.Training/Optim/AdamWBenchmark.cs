// AdamWBenchmark — `sharpseek bench optimizer`: time of one optimizer step (FP64 global norm + fused AdamW update)
// over every parameter of a preset, for the naive scalar kernel and the vectorised one on 1 and N threads, with FP32
// and with BF16 moments, measured back to back in one process. Effective bandwidth counts the bytes a step must move:
// read g twice (norm, update), read p, m, v, write p, m, v = 32 bytes per trained parameter (24 with BF16 moments).
using System.Diagnostics;
using SharpSeek.Model;
using SharpSeek.Numerics;

namespace SharpSeek.Training;

public sealed record AdamWBenchmarkVariant(string Kernel, int Threads, double MillisecondsPerStep, double GigabytesPerSecond,
    long AllocatedBytesPerStep);

public sealed record AdamWBenchmarkResult(string Model, long TrainedParameters, int Steps, IReadOnlyList<AdamWBenchmarkVariant> Variants)
{
    public double VectorOverScalar => Variants[0].MillisecondsPerStep / Variants[1].MillisecondsPerStep;
    public double ThreadsSpeedup => Variants[1].MillisecondsPerStep / Variants[^1].MillisecondsPerStep;
}

public static class AdamWBenchmark
{
    public static AdamWBenchmarkResult Run(ModelConfig config, string name, int threads, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        using var store = ParameterStore.ForModel(config, Trainer.DecayRuleFor(config));
        ParameterInit.Initialize(store, 1, 0.006);
        var rng = new Xoshiro256(2);
        long trained = 0;
        for (int i = 0; i < store.Slots.Count; i++)
        {
            if (store.Slots[i].Treatment == ParameterTreatment.Frozen) continue;
            trained += store.Slots[i].Length;
            Span<float> g = store.Grads(i);
            for (int j = 0; j < g.Length; j++) g[j] = (float)(rng.NextDouble() - 0.5) * 1e-3f;
        }
        var variants = new List<AdamWBenchmarkVariant>
        {
            Measure(store, "scalar", 1, steps, trained, reference: true, bf16: false),
            Measure(store, "vector", 1, steps, trained, reference: false, bf16: false),
            Measure(store, "vector, BF16 moments", 1, steps, trained, reference: false, bf16: true),
        };
        if (threads > 1)
        {
            variants.Add(Measure(store, "vector", threads, steps, trained, reference: false, bf16: false));
            variants.Add(Measure(store, "vector, BF16 moments", threads, steps, trained, reference: false, bf16: true));
        }
        return new AdamWBenchmarkResult(name, trained, steps, variants);
    }

    private static AdamWBenchmarkVariant Measure(ParameterStore store, string kernel, int threads, int steps, long trained, bool reference, bool bf16)
    {
        using var pool = threads > 1 ? new WorkerPool(threads) : null;
        using var opt = new AdamW(store, new AdamWSettings(Bf16Moments: bf16), pool) { UseReferenceKernel = reference };
        opt.Step(1e-4); // warm-up: JIT, first touch of m and v
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (int s = 0; s < steps; s++) opt.Step(1e-4);
        double ms = clock.Elapsed.TotalMilliseconds / steps;
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - allocated) / steps;
        double bytesPerParameter = bf16 ? 24 : 32;   // g, p read; p written; m and v read and written (FP32 or BF16)
        return new AdamWBenchmarkVariant(kernel, threads, ms, trained * bytesPerParameter / (ms * 1e-3) / 1e9, perStep);
    }
}
