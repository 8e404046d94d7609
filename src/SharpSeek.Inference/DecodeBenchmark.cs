// DecodeBenchmark — decode tokens/s at a batch size and the fraction of the memory-bandwidth roofline.
//
//   bytes/step  = weights a decode step reads: every attention / dense / shared-expert / router / norm tensor of
//                 the main layers, the absorbed-MLA kv_b maps (W_k and W_v per head, as copies in kv_b's dtype or
//                 kv_b's own rows: the bytes the absorbed path actually reads), the LM head, the embedding rows,
//                 and the routed experts actually chosen in the step (distinct experts over the batch, per layer).
//                 MTP modules are not run by decode and not counted.
//   roofline    = bytes/step ÷ read bandwidth (STREAM-style read over buffers ≫ L3, same pool)
//   fraction    = roofline time ÷ measured step time         (1.0 = decode runs at the memory bandwidth)
//   compute     = FLOPs/step ÷ FMA peak (2 per weight element a token uses — its own routed experts — plus the
//                 absorbed attention over the context; norms, softmax and sampling not counted)
//   compute fraction = compute time ÷ measured step time; `bound` names the larger of the two roofline times.
//                 A batch of 8 does 8× the FLOPs of batch 1 on about twice the bytes, yet on `small` it sits near
//                 neither roofline (≈1/3 of each, measured): each routed expert sees only one or two of the tokens.
// The machine is shared, so the run is split into rounds: each round measures the read bandwidth, then restarts
// from the prompt and times its decode steps one by one. A round's fraction uses its own bandwidth and its median
// step; the result is the median over rounds. The KV-cache bytes read per step are reported, not counted as weights.
// The same fraction is also computed from process CPU time (steps and a read probe alike, all threads' CPU seconds,
// spinning workers included), which the time slicing of a loaded machine does not inflate; wall-clock figures are
// the ones to quote on a quiet machine.
using System.Diagnostics;
using SharpSeek.Model;
using SharpSeek.Model.Layers;
using SharpSeek.Numerics;
using SharpSeek.Numerics.Benchmarks;

namespace SharpSeek.Inference;

public sealed record DecodeBenchResult(int Batch, int Steps, int Rounds, int Context, double StepSeconds, double TokensPerSecond,
    double WeightBytesPerStep, double KvBytesPerStep, double ReadGbps, double RooflineFraction,
    double CpuReadGbps, double CpuRooflineFraction, double FlopsPerStep, double FmaPeakGflops, double ComputeFraction)
{
    /// <summary>Which roofline time is the larger: "compute" or "memory".</summary>
    public string Bound => ComputeFraction > RooflineFraction ? "compute" : "memory";

    /// <summary>The same run read against another FMA peak (e.g. the higher of two measurements on a shared host).</summary>
    public DecodeBenchResult WithFmaPeak(double gflops) =>
        this with { FmaPeakGflops = gflops, ComputeFraction = ComputeFraction * FmaPeakGflops / gflops };
}

public static class DecodeBenchmark
{
    private const long ProbeBytes = 256L << 20;   // the bandwidth probe's buffer: 8× the L3, allocated once
    private const double WarmUpSeconds = 2;

    /// <summary><paramref name="rounds"/> rounds of <paramref name="steps"/> timed steps (see the file header);
    /// <paramref name="fmaPeakGflops"/> is the pool's FMA peak (≤ 0: measured here).</summary>
    public static DecodeBenchResult Run(ModelWeights weights, ForwardContext ctx, int batch, int promptLength, int steps,
        int rounds = 5, int seed = 0, double fmaPeakGflops = 0)
    {
        if (batch < 1) throw new ArgumentException($"--batch sizes must be >= 1 (got {batch}).");
        if (promptLength < 1) throw new ArgumentException($"--prompt-length must be >= 1 (got {promptLength}).");
        if (steps < 1) throw new ArgumentException($"--steps must be >= 1 (got {steps}).");
        if (rounds < 1) throw new ArgumentException($"--rounds must be >= 1 (got {rounds}).");
        if (fmaPeakGflops <= 0) fmaPeakGflops = MachinePeak.FmaGflopsWidest(ctx.Pool).Gflops;
        var c = weights.Config;
        const int maxWarmupSteps = 64;
        int maxSeq = promptLength + Math.Max(steps, maxWarmupSteps) + 4;
        using var engine = new InferenceEngine(weights, ctx, batch, maxSeq, maxPrefillTokens: Math.Max(promptLength, batch));
        var rng = new Random(seed);
        var prompts = Enumerable.Range(0, batch)
            .Select(s => (s, Enumerable.Range(0, promptLength).Select(_ => rng.Next(c.VocabSize)).ToArray())).ToList();
        var logits = new float[batch * engine.Vocab];
        int[] slots = Enumerable.Range(0, batch).ToArray(), tokens = new int[batch];
        void Step()
        {
            for (int s = 0; s < batch; s++) tokens[s] = Sampler.ArgMax(logits.AsSpan(s * engine.Vocab, engine.Vocab));
            engine.Decode(slots, tokens, logits);
        }
        void Prefill()
        {
            foreach (int s in slots) engine.Reset(s);
            engine.Prefill(prompts, logits);
        }
        // warm-up: at least 2 s and 64 steps, from the prompt again whenever the cache is full, so the JIT has tiered
        // the hot paths up before a step is timed. (Until session 6 it stopped at 64 steps, 0.2 s on 2 threads:
        // the timed steps then ran partly tier-0 / OSR code while the JIT's background thread took a core — FP8 on
        // 2 threads read 0.39-0.40 of the roofline, 0.67-0.68 with tiered compilation off.)
        long w0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < maxWarmupSteps || Stopwatch.GetElapsedTime(w0).TotalSeconds < WarmUpSeconds; i++)
        {
            if (i % maxWarmupSteps == 0) Prefill();
            Step();
        }

        using var process = Process.GetCurrentProcess();
        double CpuSeconds()
        {
            process.Refresh();
            return process.TotalProcessorTime.TotalSeconds;
        }
        var fractions = new double[rounds];
        var cpuFractions = new double[rounds];
        var stepMedians = new double[rounds];
        var reads = new double[rounds];
        var cpuReads = new double[rounds];
        var stepTimes = new double[steps];
        var cpuTimes = new double[steps];
        var computeFractions = new double[rounds];
        double weightBytes = 0, flops = 0;
        using var probe = new NativeBuffer<float>(ProbeBytes / sizeof(float));
        probe.Span.Fill(1f);   // fault the pages in before any timing
        for (int r = 0; r < rounds; r++)
        {
            reads[r] = MachinePeak.ReadGbps(ctx.Pool, probe, repeats: 2);
            cpuReads[r] = MachinePeak.ReadGbps(ctx.Pool, probe, repeats: 2, CpuSeconds);
            Prefill();
            double roundBytes = 0, roundFlops = 0;
            for (int i = 0; i < steps; i++)
            {
                double c0 = CpuSeconds();
                long t0 = Stopwatch.GetTimestamp();
                Step();
                stepTimes[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                cpuTimes[i] = CpuSeconds() - c0;
                roundBytes += WeightBytesOfLastStep(engine.Model, batch);
                roundFlops += FlopsOfLastStep(engine.Model, batch, context: promptLength + 1 + i);
            }
            roundBytes /= steps;
            roundFlops /= steps;
            weightBytes += roundBytes / rounds;
            flops += roundFlops / rounds;
            stepMedians[r] = Median(stepTimes);
            fractions[r] = roundBytes / (reads[r] * 1e9) / stepMedians[r];
            cpuFractions[r] = roundBytes / (cpuReads[r] * 1e9) / Median(cpuTimes);
            computeFractions[r] = roundFlops / (fmaPeakGflops * 1e9) / stepMedians[r];
        }
        int context = promptLength + 2 + steps / 2;
        double kvBytes = (double)engine.KvBytesPerToken * context * batch;
        double step = Median(stepMedians);
        return new DecodeBenchResult(batch, steps, rounds, context, step, batch / step, weightBytes, kvBytes, Median(reads), Median(fractions),
            Median(cpuReads), Median(cpuFractions), flops, fmaPeakGflops, Median(computeFractions));
    }

    /// <summary>FLOPs of a decode step of <paramref name="batch"/> tokens at <paramref name="context"/> positions:
    /// 2 per weight element each token uses (its own routed experts, the absorbed kv_b) plus the absorbed attention
    /// (per head and position: the latent and rope dot products and the latent value sum).</summary>
    public static double FlopsOfLastStep(DeepSeekV3 model, int batch, int context)
    {
        var c = model.Config;
        double elements = model.Head.Head.GroupElements;   // per token
        foreach (var block in model.Blocks)
        {
            var a = block.Attention;
            elements += (a.QA?.GroupElements ?? 0) + a.Q.GroupElements + a.KvA.GroupElements + a.KvB.GroupElements + a.O.GroupElements;
            elements += (double)c.NumAttentionHeads * context * (2 * c.KvLoraRank + c.QkRopeHeadDim);
            if (block.Mlp is { } mlp) { elements += mlp.Gate.GroupElements + mlp.Up.GroupElements + mlp.Down.GroupElements; continue; }
            var moe = block.Moe!;
            elements += moe.Router.Gate.GroupElements;
            if (moe.Shared is { } sh) elements += sh.Gate.GroupElements + sh.Up.GroupElements + sh.Down.GroupElements;
            var ex = moe.Experts;
            elements += (double)moe.Router.TopK * (ex.Gate.GroupElements + ex.Up.GroupElements + ex.Down.GroupElements);
        }
        return 2 * elements * batch;
    }

    private static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>Weight bytes a decode step of <paramref name="batch"/> tokens reads (routed experts: those chosen).</summary>
    public static double WeightBytesOfLastStep(DeepSeekV3 model, int batch)
    {
        var c = model.Config;
        double bytes = model.Head.Head.Bytes + (double)batch * model.Embed.Table.BytesPerGroup / model.Embed.Vocab;
        bytes += model.Head.Norm.Weight.ByteLength;
        Span<bool> used = stackalloc bool[Math.Max(1, c.NRoutedExperts)];
        foreach (var block in model.Blocks)
        {
            var a = block.Attention;
            bytes += (a.QA?.Bytes ?? 0) + a.Q.Bytes + a.KvA.Bytes + a.AbsorbedKvBBytes(batch) + a.O.Bytes;
            bytes += block.AttnNorm.Weight.ByteLength + block.FfnNorm.Weight.ByteLength + a.KvNorm.Weight.ByteLength + (a.QNorm?.Weight.ByteLength ?? 0);
            if (block.Mlp is { } mlp) { bytes += mlp.Gate.Bytes + mlp.Up.Bytes + mlp.Down.Bytes; continue; }
            var moe = block.Moe!;
            bytes += moe.Router.Gate.Bytes + (c.HasRouterBias ? moe.Router.Bias.ByteLength : 0);
            if (moe.Shared is { } sh) bytes += sh.Gate.Bytes + sh.Up.Bytes + sh.Down.Bytes;
            used.Clear();
            int distinct = 0;
            for (int i = 0; i < batch * moe.Router.TopK; i++)
                if (!used[moe.Router.Experts[i]]) { used[moe.Router.Experts[i]] = true; distinct++; }
            var ex = moe.Experts;
            bytes += (double)distinct * (ex.Gate.BytesPerGroup + ex.Up.BytesPerGroup + ex.Down.BytesPerGroup);
        }
        return bytes;
    }
}
