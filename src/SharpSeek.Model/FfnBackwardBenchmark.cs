// FfnBackwardBenchmark — forward, B (dgrad) and W (wgrad) of the MoE-side layers at training size: one dense MLP,
// one MoE layer (router, routed experts, shared experts) and the LM head with its cross-entropy, on random FP32
// weights of a preset. Rounds interleave the three phases so load changes on a shared machine hit them alike;
// each phase reports its median. GEMM FLOPs per phase (forward = B = W for these layers):
//   dense  3 · 2·T·D·I           MoE  3 · 2·T·K·D·Im + 3 · 2·T·D·(Im·n_shared) + 2·T·D·E (router)      head  2·T·D·V
using System.Diagnostics;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;

namespace SharpSeek.Model;

public sealed record FfnPhaseTimes(string Layer, double ForwardMs, double BackwardInputMs, double BackwardWeightsMs,
    double GflopPerPhase, double ForwardGflops, double BackwardGflops, double BackwardOverForward);

public sealed record FfnBackwardBenchmarkResult(string Model, int Tokens, int Threads, int Rounds, IReadOnlyList<FfnPhaseTimes> Layers,
    long AllocatedBytesPerRound);

public static class FfnBackwardBenchmark
{
    public static FfnBackwardBenchmarkResult Run(ModelConfig c, string name, int tokens, int threads, int rounds)
    {
        if (tokens < 1 || threads < 1 || rounds < 1)
            throw new ArgumentException($"tokens, threads and rounds must be >= 1 (got {tokens}, {threads}, {rounds}).");
        int moeLayer = Enumerable.Range(0, c.NumHiddenLayers).FirstOrDefault(c.IsMoeLayer, -1);
        int denseLayer = Enumerable.Range(0, c.NumHiddenLayers).FirstOrDefault(l => !c.IsMoeLayer(l), -1);
        using var w = ModelWeights.Allocate(c, WeightDType.F32);
        w.InitRandom(seed: 1, std: 0.006);
        w.EnableGradients();
        using var pool = new WorkerPool(threads);
        var ctx = new ForwardContext(pool);
        int d = c.HiddenSize;
        var rng = new Random(7);
        float[] x = new float[tokens * d], dy = new float[tokens * d], y = new float[tokens * d], dx = new float[tokens * d];
        for (int i = 0; i < x.Length; i++) { x[i] = (float)(rng.NextDouble() * 2 - 1); dy[i] = (float)(rng.NextDouble() * 2 - 1) * 1e-3f; }
        int[] targets = new int[tokens];
        for (int i = 0; i < tokens; i++) targets[i] = rng.Next(c.VocabSize);

        using var mlp = denseLayer >= 0 ? new DenseMlp(w, $"model.layers.{denseLayer}.mlp.", tokens) : null;
        using var moe = moeLayer >= 0 ? new MoeLayer(c, w, $"model.layers.{moeLayer}.mlp.", tokens) : null;
        using var head = new LmHead(w, "model.norm.weight", "lm_head.weight", tokens);
        var phases = new List<(string Name, double Gflop, Action F, Action B, Action W)>();
        if (mlp is not null)
            phases.Add(("dense_mlp", 3 * 2.0 * tokens * d * mlp.Inter / 1e9,
                () => mlp.Forward(ctx, x, tokens, y), () => mlp.BackwardInput(ctx, dy, tokens, dx), () => mlp.BackwardWeights(ctx, x, tokens)));
        if (moe is not null)
        {
            double shared = moe.Shared is null ? 0 : moe.Shared.Inter;
            double gflop = (3 * 2.0 * tokens * c.NumExpertsPerTok * d * c.MoeIntermediateSize + 3 * 2.0 * tokens * d * shared
                + 2.0 * tokens * d * c.NRoutedExperts) / 1e9;
            phases.Add(("moe_layer", gflop,
                () => moe.Forward(ctx, x, tokens, y), () => moe.BackwardInput(ctx, dy, tokens, dx), () => moe.BackwardWeights(ctx, x, tokens)));
        }
        phases.Add(("lm_head_ce", 2.0 * tokens * d * c.VocabSize / 1e9,
            () => { head.Forward(ctx, x, tokens); head.Loss(ctx, targets, tokens); },
            () => head.BackwardInput(ctx, x, tokens, 1f, dx), () => head.BackwardWeights(ctx, tokens)));

        var times = phases.Select(_ => new double[3][]).ToArray();
        foreach (var t in times) for (int k = 0; k < 3; k++) t[k] = new double[rounds];
        foreach (var p in phases) { p.F(); p.B(); p.W(); p.F(); p.B(); p.W(); }   // warm-up: scratch, JIT tiers
        long allocated = 0;
        for (int r = 0; r < rounds; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < phases.Count; i++)
            {
                times[i][0][r] = Measure(phases[i].F);
                times[i][1][r] = Measure(phases[i].B);
                times[i][2][r] = Measure(phases[i].W);
            }
            allocated = Math.Max(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        var layers = new List<FfnPhaseTimes>();
        for (int i = 0; i < phases.Count; i++)
        {
            double f = Median(times[i][0]), b = Median(times[i][1]), wg = Median(times[i][2]), g = phases[i].Gflop;
            layers.Add(new FfnPhaseTimes(phases[i].Name, f, b, wg, g, g / (f / 1e3), 2 * g / ((b + wg) / 1e3), (b + wg) / f));
        }
        return new FfnBackwardBenchmarkResult(name, tokens, threads, rounds, layers, allocated);
    }

    private static double Measure(Action a)
    {
        long t0 = Stopwatch.GetTimestamp();
        a();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    private static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
